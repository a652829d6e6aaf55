#!/usr/bin/python3
"""Compiles the CUDA backend's check pipelines here (the GPU machine has no
ppc) into DIR/<name>/: out/ (the pipeline), its inputs or training data as
.npy, and check.json saying how cuda_check.py runs and compares it.

usage: make_checks.py PPC DIR

The models are the test suite's small torch modules (test/e2e/models.py):
MLP, GPT, ViT and a small conv net with batch normalisation and pooling:
inference on 1 and 4 stages, training on 1, 2 and 4 ranks, and the bad
inputs (a token outside the vocabulary, a batch that fits no GPU), so that the GPU run checks the CUDA kernels those models use
against the CPU backend, and the bad-input lines.

DIR/conformance/<test>/ holds every ONNX node test that passes on the CPU
(test/conformance: not listed in its xfail files), compiled, with its
inputs and expected outputs as .npy and case.json naming them.
"""
import concurrent.futures
import json
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "test", "e2e"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "test", "conformance"))
import models  # noqa: E402
import onnx_node_run  # noqa: E402

NODE_DATA = "/usr/share/libonnx-testdata/data/node"


def ppc(*args):
    r = subprocess.run([PPC, *args], capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"make_checks: ppc {' '.join(args)}: {r.stderr.strip()}")


def check(name, spec):
    with open(os.path.join(DIR, name, "check.json"), "w") as f:
        json.dump(spec, f, indent=1)
    print(f"{name}: {spec['mode']}")


PPC, DIR = sys.argv[1:3]
os.makedirs(DIR, exist_ok=True)
g = torch.Generator().manual_seed(7)

# Inference: the exported eval-mode modules, 1 and 4 stages (4 ranks on one
# GPU: the single-GPU mode).
for name, batch in (("mlp", 8), ("gpt", 8), ("vit", 8), ("cnn", 8)):
    onnx = os.path.join(DIR, f"{name}.onnx")
    models.export(name, onnx)
    _, example, input_name = models.make(name)
    if name == "gpt":
        x = torch.randint(0, 256, (batch, 32), generator=g)
    else:
        x = torch.randn((batch,) + tuple(example.shape[1:]), generator=g)
    for stages in (1, 4):
        tag = f"{name}-infer-{stages}"
        os.makedirs(os.path.join(DIR, tag), exist_ok=True)
        ppc(onnx, f"-stages={stages}", f"-batch={batch}", "-microbatches=4",
            "-o", os.path.join(DIR, tag, "out"))
        np.save(os.path.join(DIR, tag, "x.npy"), x.numpy())
        check(tag, {"mode": "infer", "inputs": {input_name: "x.npy"},
                    "rtol": 1e-4, "rtol_tf32": 2e-2})
        if name == "gpt" and stages == 1:
            bad = x.clone()
            bad[3, 5] = 300  # the vocabulary has 256 tokens
            np.save(os.path.join(DIR, tag, "bad.npy"), bad.numpy())
            os.makedirs(os.path.join(DIR, "gpt-bad-token"), exist_ok=True)
            os.replace(os.path.join(DIR, tag, "bad.npy"),
                       os.path.join(DIR, "gpt-bad-token", "x.npy"))
            ppc(onnx, "-stages=1", f"-batch={batch}", "-microbatches=4",
                "-o", os.path.join(DIR, "gpt-bad-token", "out"))
            check("gpt-bad-token",
                  {"mode": "error", "inputs": {input_name: "x.npy"},
                   "expect": "index 300 at position"})

# Out of device memory: the small GPT at a batch whose activations (an
# arena of terabytes; 262144 samples fitted the H200's 141 GB) fit no GPU. No input: pprun makes random tokens,
# and the stage fails at load, before any is read. (ppc itself refuses it
# under the H100's 80 GB: -memory-limit lifts that.)
os.makedirs(os.path.join(DIR, "gpt-oom"), exist_ok=True)
ppc(os.path.join(DIR, "gpt.onnx"), "-stages=1", "-batch=4194304",
    "-microbatches=1", "-memory-limit=100000GB",
    "-o", os.path.join(DIR, "gpt-oom", "out"))
check("gpt-oom", {"mode": "error", "inputs": {},
                  "expect": "of device memory"})

# Training: 5 steps of AdamW; the losses and the last step's gradients
# against the CPU backend.
for name, batch, classes in (("mlp", 8, 10), ("gpt", 4, 256), ("cnn", 8, 10)):
    onnx = os.path.join(DIR, f"{name}-train.onnx")
    _, input_name = models.export_train(name, onnx)
    if name == "mlp":
        x = torch.randn(64, 32, generator=g)
        y = torch.randint(0, classes, (64,), generator=g)
    elif name == "cnn":
        x = torch.randn(64, 3, 16, 16, generator=g)
        y = torch.randint(0, classes, (64,), generator=g)
    else:
        x = torch.randint(0, 256, (64, 32), generator=g)
        y = torch.randint(0, 256, (64, 32), generator=g)
    for ranks, schedule in ((1, "1f1b"), (2, "zb-h1"), (4, "1f1b")):
        tag = f"{name}-train-{ranks}-{schedule}"
        os.makedirs(os.path.join(DIR, tag), exist_ok=True)
        ppc(onnx, "-train", f"-stages={ranks}", f"-batch={batch}",
            "-microbatches=4", f"-schedule={schedule}", "-partition=uniform",
            "-optimizer=adamw", "-lr=1e-3", "-o", os.path.join(DIR, tag, "out"))
        np.save(os.path.join(DIR, tag, "x.npy"), x.numpy())
        np.save(os.path.join(DIR, tag, "y.npy"), y.numpy())
        check(tag, {"mode": "train", "data": {input_name: "x.npy",
                                              "labels": "y.npy"},
                    "steps": 5, "rtol": 1e-4, "grad_rtol": 1e-3})
for f in os.listdir(DIR):
    if f.endswith(".onnx"):
        os.remove(os.path.join(DIR, f))


def conformance_case(name):
    case = os.path.join(DIR, "conformance", name)
    os.makedirs(case, exist_ok=True)
    error, inputs, outputs = onnx_node_run.compile_case(
        PPC, NODE_DATA, name, os.path.join(case, "out"))
    if error:
        return f"{name}: {error}"
    spec = {"inputs": [], "outputs": []}
    for i, (inp, value) in enumerate(inputs):
        np.save(os.path.join(case, f"in{i}.npy"), value)
        spec["inputs"].append([inp, f"in{i}.npy"])
    for i, (out, value) in enumerate(outputs):
        np.save(os.path.join(case, f"want{i}.npy"), value)
        spec["outputs"].append([out, f"want{i}.npy"])
    with open(os.path.join(case, "case.json"), "w") as f:
        json.dump(spec, f)
    return ""


tests, run_xfail = onnx_node_run.runnable_tests(NODE_DATA)
tests = [name for name, _ in tests if name not in run_xfail]
with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
    errors = [e for e in pool.map(conformance_case, tests) if e]
for e in errors:
    print("make_checks: conformance", e)
print(f"conformance: {len(tests) - len(errors)} node tests compiled")

