#!/usr/bin/python3
"""Sequence-first models (issue 16 item 5): PyTorch's nn.TransformerEncoder
and nn.Transformer keep the batch on axis 1 by default. Exported with that
axis dynamic, ppc finds the batch there, splits micro-batches on it (in
pprun's .npy inputs and outputs too) and keeps nn.Transformer's target mask
the same for every micro-batch. Checks, per model: 1, 2 and 4 stages within
1e-4 of PyTorch, local and mpi, and bitwise equal to 1 stage.

usage: seq_first_check.py PPC PPRUN WORK
"""
import os
import subprocess
import sys

try:
    import numpy as np
    import torch
except ImportError:
    print("PyTorch not installed: skipped")
    sys.exit(77)

PPC, PPRUN, WORK = sys.argv[1:4]
BATCH, MICROBATCHES, TOLERANCE = 8, 4, 1e-4
failures = []


def check(ok, what):
    print(("PASS " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def encoder():
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0)
    m = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    return m.eval(), {"src": torch.randn(10, BATCH, 32)}, {"src": 1}


class Seq2Seq(torch.nn.Module):
    """nn.Transformer with its causal target mask as an input."""

    def __init__(self):
        super().__init__()
        self.t = torch.nn.Transformer(32, 4, 2, 2, 64, dropout=0.0)

    def forward(self, src, tgt, tgt_mask):
        return self.t(src, tgt, tgt_mask=tgt_mask)


def transformer():
    torch.manual_seed(0)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(7)
    return Seq2Seq().eval(), {"src": torch.randn(10, BATCH, 32),
                              "tgt": torch.randn(7, BATCH, 32),
                              "tgt_mask": mask}, {"src": 1, "tgt": 1}


def run(name, make):
    module, inputs, batch_axes = make()
    path = os.path.join(WORK, f"{name}.onnx")
    names = list(inputs)
    dynamic = {n: {a: "batch"} for n, a in batch_axes.items()}
    dynamic["output"] = {1: "batch"}
    with torch.no_grad():
        want = module(*inputs.values()).numpy()
        torch.onnx.export(module, tuple(inputs.values()), path, opset_version=17,
                          input_names=names, output_names=["output"],
                          dynamic_axes=dynamic)
    args = []
    for n, t in inputs.items():
        f = os.path.join(WORK, f"{name}.{n}.npy")
        np.save(f, t.numpy())
        args.append(f"--input={n}={f}")
    outputs = {}
    for stages in (1, 2, 4):
        out = os.path.join(WORK, f"{name}-s{stages}")
        r = subprocess.run([PPC, path, f"-stages={stages}", f"-batch={BATCH}",
                            f"-microbatches={MICROBATCHES}", "-device=cpu",
                            "-o", out], capture_output=True, text=True)
        if r.returncode:
            check(False, f"{name} {stages} stages: ppc: {r.stderr.strip()}")
            continue
        for transport in ("local", "mpi") if stages > 1 else ("local",):
            label = f"{name} {stages} stages {transport}"
            res = os.path.join(out, transport)
            r = subprocess.run([PPRUN, out, *args, f"--transport={transport}",
                                f"--output-dir={res}", "--threads=2"],
                               capture_output=True, text=True, timeout=600)
            if r.returncode:
                check(False, f"{label}: pprun: {r.stderr.strip()}")
                continue
            got = np.load(os.path.join(res, "output.npy"))
            err = float(np.abs(got - want).max() / np.abs(want).max()) \
                if got.shape == want.shape else float("inf")
            check(err < TOLERANCE, f"{label}: shape {got.shape}, max rel err "
                                   f"{err:.2e}")
            outputs[(stages, transport)] = got
    one = outputs.get((1, "local"))
    if one is not None:
        same = [k for k, v in outputs.items() if np.array_equal(v, one)]
        check(len(same) == len(outputs) == 5,
              f"{name}: {len(same) - 1} of 4 multi-stage runs bitwise equal "
              "to 1 stage")


def data_parallel():
    """nn.Transformer over 2 pipeline ranks x 2 replicas (mpi): each
    replica's micro-batches are its columns of axis 1."""
    out = os.path.join(WORK, "transformer-dp")
    r = subprocess.run([PPC, os.path.join(WORK, "transformer.onnx"),
                        "-stages=2", "-data-parallel=2", f"-batch={BATCH}",
                        "-microbatches=2", "-device=cpu", "-o", out],
                       capture_output=True, text=True)
    if r.returncode:
        return check(False, f"transformer K=2 D=2: ppc: {r.stderr.strip()}")
    args = [f"--input={n}=" + os.path.join(WORK, f"transformer.{n}.npy")
            for n in ("src", "tgt", "tgt_mask")]
    r = subprocess.run([PPRUN, out, *args, "--transport=mpi", "--threads=2",
                        f"--output-dir={out}/o"], capture_output=True,
                       text=True, timeout=600)
    if r.returncode:
        return check(False, f"transformer K=2 D=2 mpi: pprun: {r.stderr.strip()}")
    one = np.load(os.path.join(WORK, "transformer-s1", "local", "output.npy"))
    check(np.array_equal(np.load(f"{out}/o/output.npy"), one),
          "transformer K=2 D=2 mpi: bitwise equal to 1 stage")


def training():
    """nn.TransformerEncoder trained with an MSE loss: the samples of
    --data, and the labels ppc adds, on axis 1. Losses against PyTorch's
    loop over the same micro-batches (SGD), and 2 stages (1F1B) bitwise
    equal to 1."""
    module, inputs, _ = encoder()
    torch.manual_seed(2)
    samples, steps, lr = 2 * BATCH, 6, 0.05
    x = torch.randn(10, samples, 32)
    y = torch.randn(10, samples, 32)
    path = os.path.join(WORK, "encoder-train.onnx")
    # Fresh norm weights and biases are equal (ones, zeros), and torch's
    # exporter in eval mode merges equal initializers into one, which would
    # tie them (issue 16 item 6): make every parameter distinct.
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.01 * torch.randn_like(p))
    state = {k: v.clone() for k, v in module.state_dict().items()}
    # Dropout is 0: exported for inference, without constant folding, so
    # every parameter stays an initializer of its own.
    torch.onnx.export(module, (inputs["src"],), path, opset_version=17,
                      input_names=["src"], output_names=["output"],
                      dynamic_axes={"src": {1: "batch"}, "output": {1: "batch"}},
                      do_constant_folding=False)
    module.train()
    module.load_state_dict(state)
    opt = torch.optim.SGD(module.parameters(), lr=lr)
    want, pos = [], 0
    for _ in range(steps):
        idx = torch.arange(pos, pos + BATCH) % samples
        pos = (pos + BATCH) % samples
        opt.zero_grad()
        total = 0.0
        for part in idx.chunk(MICROBATCHES):
            loss = torch.nn.functional.mse_loss(module(x[:, part]),
                                                y[:, part]) / MICROBATCHES
            loss.backward()
            total += loss.item()
        opt.step()
        want.append(total)
    print("PyTorch losses:", " ".join(f"{v:.7f}" for v in want))
    np.save(os.path.join(WORK, "train.x.npy"), x.numpy())
    np.save(os.path.join(WORK, "train.y.npy"), y.numpy())
    curves = {}
    for stages in (1, 2):
        out = os.path.join(WORK, f"encoder-train-s{stages}")
        r = subprocess.run([PPC, path, "-train", "-loss=mse", "-labels=target",
                            f"-stages={stages}", f"-batch={BATCH}",
                            f"-microbatches={MICROBATCHES}", "-schedule=1f1b",
                            "-optimizer=sgd", f"-lr={lr}", "-device=cpu", "-o",
                            out], capture_output=True, text=True)
        if r.returncode:
            check(False, f"encoder training {stages} stages: ppc: "
                         f"{r.stderr.strip()}")
            continue
        metrics = os.path.join(out, "metrics.jsonl")
        r = subprocess.run([PPRUN, out, "--steps", str(steps), "--threads=2",
                            "--data", "src=" + os.path.join(WORK, "train.x.npy"),
                            "--data", "target=" + os.path.join(WORK, "train.y.npy"),
                            "--metrics", metrics], capture_output=True,
                           text=True, timeout=600)
        if r.returncode:
            check(False, f"encoder training {stages} stages: pprun: "
                         f"{r.stderr.strip()}")
            continue
        import json
        got = [json.loads(line)["loss"] for line in open(metrics)]
        err = max(abs(a - b) / abs(b) for a, b in zip(got, want))
        check(len(got) == steps and err < TOLERANCE,
              f"encoder training {stages} stages: {steps} losses within "
              f"{err:.1e} of PyTorch's ({got[0]:.6f} -> {got[-1]:.6f})")
        curves[stages] = got
    if len(curves) == 2:
        check(curves[1] == curves[2],
              "encoder training: 2 stages' losses bitwise equal to 1 stage's")


def main():
    os.makedirs(WORK, exist_ok=True)
    for name, make in (("transformer-encoder", encoder),
                       ("transformer", transformer)):
        run(name, make)
    data_parallel()
    training()
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
