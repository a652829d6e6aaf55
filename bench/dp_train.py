#!/usr/bin/python3
"""Data parallel against pipeline parallel: one GPT training step at one
global batch, split as K stages x D replicas, over MPI, measured beside
ppc's prediction.

usage: bench/dp_train.py PPC PPRUN [--threads N] [--steps N] [--batch B]
       [--microbatches M] [--device PROFILE] [--splits K,D ...]

M is the count of micro-batches over all replicas (each replica runs M/D),
so every split computes the same micro-batches. The prediction is ppc's
report (step_time, which models each rank's gradient all-reduce from its
last backward); the measurement is pprun's mean step after the first.
Where the ranks outnumber the cores they share them, and the prediction
(one device per rank) is not what runs: the table says so.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "e2e"))
import models  # noqa: E402


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ppc")
    ap.add_argument("pprun")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--microbatches", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default="gpt-dp")
    ap.add_argument("--splits", nargs="*",
                    default=["4,1", "2,2", "1,4", "2,1", "1,2", "1,1"])
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        onnx = os.path.join(tmp, "model.onnx")
        model, input_name = models.export_train(args.model, onnx)
        _, example, _ = models.make(args.model)
        vocab = model.wte.num_embeddings
        g = torch.Generator().manual_seed(0)
        shape = (args.batch * 4,) + tuple(example.shape[1:])
        np.save(tmp + "/x.npy", torch.randint(0, vocab, shape, generator=g))
        np.save(tmp + "/y.npy", torch.randint(0, vocab, shape, generator=g))
        for split in args.splits:
            k, d = map(int, split.split(","))
            out = os.path.join(tmp, f"k{k}d{d}")
            r = subprocess.run(
                [args.ppc, onnx, "-train", f"-stages={k}",
                 f"-data-parallel={d}", f"-batch={args.batch}",
                 f"-microbatches={args.microbatches // d}", "-schedule=1f1b",
                 "-optimizer=adamw", "-lr=0.0001", f"-device={args.device}",
                 "-o", out], capture_output=True, text=True)
            if r.returncode:
                rows.append((k, d, None, None, r.stderr.strip()))
                continue
            predicted = json.load(open(out + "/report.json"))["step_time"]
            metrics = out + "/m.jsonl"
            r = subprocess.run(
                [args.pprun, out, "--transport=mpi",
                 f"--threads={args.threads}", "--steps", str(args.steps + 1),
                 f"--data={input_name}={tmp}/x.npy",
                 f"--data=labels={tmp}/y.npy", "--metrics", metrics],
                capture_output=True, text=True)
            if r.returncode:
                rows.append((k, d, predicted, None, r.stderr.strip()))
                continue
            times = [json.loads(l)["step_time"] for l in open(metrics)][1:]
            rows.append((k, d, predicted, sum(times) / len(times), ""))
    cores = os.cpu_count() or 1
    print(f"\n{args.model} training step (AdamW), global batch {args.batch} "
          f"in {args.microbatches} micro-batches, 1F1B, MPI, "
          f"--threads {args.threads}; {cpu_name()}, {cores} cores; "
          f"predicted with ppc -device={args.device}; mean of "
          f"{args.steps} steps after the first\n")
    print("| K stages | D replicas | ranks | predicted ms | measured ms | "
          "measured/predicted | note |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for k, d, p, m, note in rows:
        ranks = k * d
        if not note and ranks > cores:
            note = f"{ranks} ranks share {cores} cores"
        ps = f"{p * 1e3:.1f}" if p is not None else "-"
        ms = f"{m * 1e3:.1f}" if m is not None else "-"
        ratio = f"{m / p:.2f}" if p and m else "-"
        print(f"| {k} | {d} | {ranks} | {ps} | {ms} | {ratio} | {note} |")


if __name__ == "__main__":
    main()
