#!/usr/bin/python3
"""CPU training step: pprun (ppc -train, one stage) against PyTorch CPU on
the same module, batch, optimizer and thread count, in one run.

usage: bench/cpu_train.py PPC PPRUN [--threads N] [--steps N]
       [--models M ...] [--batch B] [--microbatches M]
       [--precision fp32|bf16]

The step is forward, backward and an SGD-with-momentum update; PyTorch
runs the very module that was exported. Goal (issue 5): at least 0.5x
PyTorch's speed (pprun/torch is the ratio of samples per second).
With --precision=bf16, ppc compiles with -precision=bf16 and PyTorch runs
its forward and loss under torch.autocast("cpu", dtype=torch.bfloat16).
"""
import contextlib
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "e2e"))
import models  # noqa: E402


def torch_step_ms(model, x, y, steps, threads, bf16=False):
    torch.set_num_threads(threads)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step():
        opt.zero_grad()
        with (torch.autocast("cpu", dtype=torch.bfloat16) if bf16
              else contextlib.nullcontext()):
            out = model(x)
            loss = F.cross_entropy(out.reshape(-1, out.shape[-1]),
                                   y.reshape(-1))
        loss.backward()
        opt.step()
    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ppc")
    ap.add_argument("pprun")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--models", nargs="*", default=["gpt-bench"])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--microbatches", type=int, default=1)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    args = ap.parse_args()
    if os.environ.get("OPENBLAS_CORETYPE"):
        print(f"note: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']}")
    rows = []
    for name in args.models:
        with tempfile.TemporaryDirectory() as tmp:
            onnx = os.path.join(tmp, name + ".onnx")
            model, input_name = models.export_train(name, onnx)
            _, example, _ = models.make(name)
            vocab = model.wte.num_embeddings if hasattr(model, "wte") else 10
            g = torch.Generator().manual_seed(0)
            shape = (args.batch,) + tuple(example.shape[1:])
            if example.is_floating_point():
                # An image classifier: images, and one class per image.
                x = torch.randn(shape, generator=g)
                y = torch.randint(0, vocab, (args.batch,), generator=g)
            else:
                x = torch.randint(0, vocab, shape, generator=g)
                y = torch.randint(0, vocab, shape, generator=g)
            np.save(tmp + "/x.npy", x.numpy())
            np.save(tmp + "/y.npy", y.numpy())
            out = os.path.join(tmp, "out")
            subprocess.run([args.ppc, onnx, "-train", "-stages=1",
                            f"-batch={args.batch}",
                            f"-microbatches={args.microbatches}",
                            "-optimizer=sgd", "-lr=0.001", "-momentum=0.9",
                            "-device=cpu", f"-precision={args.precision}",
                            "-o", out],
                           check=True, capture_output=True)
            metrics = tmp + "/m.jsonl"
            subprocess.run([args.pprun, out, f"--threads={args.threads}",
                            "--steps", str(args.steps + 1),
                            f"--data={input_name}={tmp}/x.npy",
                            f"--data=labels={tmp}/y.npy",
                            "--metrics", metrics],
                           check=True, capture_output=True)
            times = [json.loads(line)["step_time"] for line in open(metrics)]
            ppc_ms = sum(times[1:]) / len(times[1:]) * 1e3  # first warms up
            torch_ms = torch_step_ms(model, x, y, args.steps, args.threads,
                                     args.precision == "bf16")
            rows.append((name, args.batch, ppc_ms, torch_ms))
    print(f"\nCPU training step ({args.precision}), {args.threads} threads, "
          f"SGD with momentum, "
          f"{args.microbatches} micro-batch(es), mean of {args.steps} steps\n")
    print("| model | batch | pprun ms | PyTorch ms | pprun/PyTorch speed |")
    print("|---|---:|---:|---:|---:|")
    for name, batch, p, t in rows:
        print(f"| {name} | {batch} | {p:.1f} | {t:.1f} | **{t / p:.2f}** |")


if __name__ == "__main__":
    main()
