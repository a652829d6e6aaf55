#!/usr/bin/python3
"""Compiles the GPT-2-small-shaped model (12 layers, d 768, 12 heads,
vocabulary 50257, 1024 tokens) here for e2e_bench.py on the GPU machine,
into DIR/: train/ (ppc -train, one stage, batch 8, AdamW), infer/ (one
stage, batch 8) and infer4/ (four stages on one GPU, batch 8 in 4
micro-batches: the runtime-overhead measurement).

The weights (500 MB) are too large to carry: each stage<k>.safetensors is
replaced by stage<k>.header.json (names, types and shapes) and
stage<k>.rest.safetensors (the tensors ppc made itself, such as folded
constants), and e2e_bench.py writes the weights on the device from the
same torch module, seeded, by name.

usage: make_e2e.py PPC DIR
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "test", "e2e"))
import models  # noqa: E402
import safetensors_io  # noqa: E402

PPC, DIR = sys.argv[1:3]
os.makedirs(DIR, exist_ok=True)
onnx = os.path.join(DIR, "gpt2-small.onnx")
# The training export keeps every parameter under its torch name (no
# constant folding), which is what lets the device rebuild the weights.
model, _ = models.export_train("gpt2-small", onnx)
state = set(model.state_dict())
common = ["-batch=8", "-device=h100", "-memory-limit=80GB"]
for name, flags in (("train", ["-train", "-stages=1", "-microbatches=1",
                               "-optimizer=adamw", "-lr=1e-4"]),
                    ("infer", ["-stages=1", "-microbatches=1"]),
                    ("infer4", ["-stages=4", "-microbatches=4"])):
    out = os.path.join(DIR, name)
    r = subprocess.run([PPC, onnx, *flags, *common, "-o", out],
                       capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"make_e2e: ppc {name}: {r.stderr.strip()}")
    for f in sorted(os.listdir(out)):
        if f.endswith(".safetensors"):
            # The module's tensors travel as names; what ppc made itself
            # (folded constants, a few KB) travels as it is.
            path = os.path.join(out, f)
            stem = path[:-len(".safetensors")]
            with open(stem + ".header.json", "w") as fh:
                json.dump(safetensors_io.read_header(path), fh)
            safetensors_io.write(stem + ".rest.safetensors",
                                 {n: a for n, a in
                                  safetensors_io.read(path).items()
                                  if n not in state})
            os.remove(path)
    print(f"{name}: {out}")
os.remove(onnx)
