#!/usr/bin/python3
"""LSTM, GRU and RNN end to end, against oracles ppc did not write.

usage: recurrent_check.py PPC PPRUN WORKDIR

1. PyTorch's exports: nn.LSTM, nn.GRU and nn.RNN(relu), 1 and 2 layers,
   uni- and bidirectional, sequence first (the default) and batch_first,
   learned initial states; every output (y and the final states).
   1 stage within 1e-4 of torch (max |got - want| / max |want|), 4 stages
   bitwise equal to 1. Sequence-first models have their batch on axis 1,
   which ppc does not micro-batch: they run as one micro-batch of the
   whole batch (-microbatches=1). batch_first models run 4 micro-batches.
2. Forms torch does not export, built as ONNX nodes (weights as
   initializers): layout 1, peepholes, initial_c, reverse, GRU without
   linear_before_reset, explicit activations, opset 7, full-length
   sequence_lens. Run by ONNX Runtime (build/venv, scripts/setup.sh), or,
   for layout 1, which ONNX Runtime refuses, by onnx.reference (the venv's
   onnx). Every output, flattened into one, within 1e-4.
3. Training (batch_first LSTM and GRU, 2 layers, bidirectional, a Linear
   head, cross-entropy over every step; 4 micro-batches): one step's
   gradients of every parameter within 1e-4 of torch's (1 and 4 stages),
   10 SGD-momentum steps' losses within 1e-4 of torch's, 4 stages bitwise
   equal to 1 (losses and trained parameters), and the trained parameters,
   named as torch names them, within 1e-4 of torch's.
"""
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
import ort_venv  # noqa: E402
import train_ref  # noqa: E402
from safetensors_io import read_all  # noqa: E402

PPC, PPRUN, WORK = sys.argv[1:4]
os.makedirs(WORK, exist_ok=True)
TOLERANCE = 1e-4
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def rel_err(got, want):
    if got.shape != want.shape:
        return float("inf")
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))


def ppc(onnx_path, out, *flags):
    return subprocess.run([PPC, onnx_path, "-device=cpu", "-o", out, *flags],
                          capture_output=True, text=True)


def run(out, inputs, names):
    """pprun on out with inputs {name: npy}: {output name: array}, or the
    error line."""
    res = os.path.join(out, "res")
    args = [PPRUN, out, f"--output-dir={res}"]
    for name, path in inputs.items():
        args.append(f"--input={name}={path}")
    r = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if r.returncode:
        return r.stderr.strip() or f"pprun exited {r.returncode}"
    return {n: np.load(os.path.join(res, n + ".npy")) for n in names}


# 1. PyTorch's exports.
INPUT, HIDDEN, SEQ, BATCH = 8, 16, 6, 8


class Recurrent(nn.Module):
    """An nn.LSTM/GRU/RNN returning its output and final states; batch-first
    models return the states batch first too, so that every output has its
    batch on axis 0 and micro-batches concatenate."""

    def __init__(self, kind, layers, bidirectional, batch_first,
                 learned_state):
        super().__init__()
        kw = {"nonlinearity": "relu"} if kind == "RNN" else {}
        self.kind, self.batch_first = kind, batch_first
        self.rnn = getattr(nn, kind)(INPUT, HIDDEN, num_layers=layers,
                                     bidirectional=bidirectional,
                                     batch_first=batch_first, **kw)
        n = layers * (2 if bidirectional else 1)
        self.h0 = nn.Parameter(torch.randn(n, 1, HIDDEN) * 0.5) \
            if learned_state else None
        self.c0 = nn.Parameter(torch.randn(n, 1, HIDDEN) * 0.5) \
            if learned_state and kind == "LSTM" else None

    def forward(self, x):
        state = None
        if self.h0 is not None:
            b = x.shape[0 if self.batch_first else 1]
            h0 = self.h0.expand(-1, b, -1).contiguous()
            state = h0 if self.c0 is None else \
                (h0, self.c0.expand(-1, b, -1).contiguous())
        y, state = self.rnn(x, state)
        states = list(state) if self.kind == "LSTM" else [state]
        if self.batch_first:
            states = [s.transpose(0, 1) for s in states]
        return (y, *states)


# name: kind, layers, bidirectional, batch_first, learned initial state,
# export opset (LSTM/GRU/RNN-7 up to 13, -14 from 14).
TORCH_MODELS = {
    "lstm-1": ("LSTM", 1, False, False, False, 11),
    "lstm-2-bidirectional": ("LSTM", 2, True, False, False, 17),
    "lstm-2-bidirectional-batch-first": ("LSTM", 2, True, True, True, 17),
    "gru-1": ("GRU", 1, False, False, False, 11),
    "gru-2-bidirectional": ("GRU", 2, True, False, True, 17),
    "gru-2-bidirectional-batch-first": ("GRU", 2, True, True, False, 14),
    "rnn-relu-2-bidirectional-batch-first": ("RNN", 2, True, True, True, 17),
}

for name, (kind, layers, bi, bf, learned, opset) in TORCH_MODELS.items():
    torch.manual_seed(0)
    module = Recurrent(kind, layers, bi, bf, learned).eval()
    outputs = ["y", "h", "c"] if kind == "LSTM" else ["y", "h"]
    x = torch.randn((BATCH, SEQ, INPUT) if bf else (SEQ, BATCH, INPUT))
    path = os.path.join(WORK, name + ".onnx")
    # batch_first: a symbolic batch, micro-batched; sequence first: static.
    dynamic = {n: {0: "batch"} for n in ["x"] + outputs} if bf else None
    with torch.no_grad():
        want = [t.numpy() for t in module(x)]
        torch.onnx.export(module, (x,), path, opset_version=opset,
                          input_names=["x"], output_names=outputs,
                          dynamic_axes=dynamic)
    xin = os.path.join(WORK, name + ".x.npy")
    np.save(xin, x.numpy())
    flags = [f"-batch={BATCH}", "-microbatches=4"] if bf else \
        ["-microbatches=1"]
    results = {}
    for stages in (1, 4):
        out = os.path.join(WORK, f"{name}-s{stages}")
        r = ppc(path, out, f"-stages={stages}", *flags)
        if r.returncode:
            check(False, f"{name} {stages} stages: ppc: {r.stderr.strip()}")
            continue
        got = run(out, {"x": xin}, outputs)
        if isinstance(got, str):
            check(False, f"{name} {stages} stages: pprun: {got}")
            continue
        results[stages] = got
    if 1 in results:
        errs = {n: rel_err(results[1][n], w) for n, w in zip(outputs, want)}
        check(max(errs.values()) <= TOLERANCE,
              f"{name} (opset {opset}, {flags[-1]}) against torch: " +
              ", ".join(f"{n} {e:.1e}" for n, e in errs.items()))
    if 1 in results and 4 in results:
        check(all(np.array_equal(results[1][n], results[4][n])
                  for n in outputs),
              f"{name}: 4 stages bitwise equal to 1")

# 2. ONNX nodes torch does not write, against ONNX Runtime.
F = TensorProto.FLOAT
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def node_model(op, opset=14, dirs=1, layout=0, optional=("B",),
               seq_lens=False, **attrs):
    """One `op` node with random weights (initializers) and every output,
    flattened and joined into the graph's one output 'out'."""
    rng = np.random.RandomState(7)
    g = GATES[op]
    state = [BATCH, dirs, HIDDEN] if layout else [dirs, BATCH, HIDDEN]

    def init(n, shape):
        return numpy_helper.from_array(
            (rng.randn(*shape) * 0.4).astype(np.float32), n)
    inits = [init("W", [dirs, g * HIDDEN, INPUT]),
             init("R", [dirs, g * HIDDEN, HIDDEN])]
    shapes = {"B": [dirs, 2 * g * HIDDEN], "initial_h": state,
              "initial_c": state, "P": [dirs, 3 * HIDDEN]}
    for n in optional:
        inits.append(init(n, shapes[n]))
    if seq_lens:
        inits.append(numpy_helper.from_array(
            np.full(BATCH, SEQ, np.int32), "sequence_lens"))
    names = ["X", "W", "R", "B" if "B" in optional else "",
             "sequence_lens" if seq_lens else "",
             "initial_h" if "initial_h" in optional else ""]
    if op == "LSTM":
        names += ["initial_c" if "initial_c" in optional else "",
                  "P" if "P" in optional else ""]
    while not names[-1]:
        names.pop()
    if layout:
        attrs["layout"] = layout
    if dirs == 2:
        attrs.setdefault("direction", "bidirectional")
    outs = ["Y", "Y_h", "Y_c"] if op == "LSTM" else ["Y", "Y_h"]
    nodes = [helper.make_node(op, names, outs, name="rnn",
                              hidden_size=HIDDEN, **attrs)]
    inits.append(numpy_helper.from_array(np.array([-1], np.int64), "flat"))
    for o in outs:
        nodes.append(helper.make_node("Reshape", [o, "flat"], [o + "_flat"]))
    nodes.append(helper.make_node("Concat", [o + "_flat" for o in outs],
                                  ["out"], axis=0))
    x_shape = [BATCH, SEQ, INPUT] if layout else [SEQ, BATCH, INPUT]
    total = (SEQ * dirs * BATCH * HIDDEN +
             (len(outs) - 1) * dirs * BATCH * HIDDEN)
    graph = helper.make_graph(
        nodes, op.lower(), [helper.make_tensor_value_info("X", F, x_shape)],
        [helper.make_tensor_value_info("out", F, [total])], inits)
    m = helper.make_model(graph,
                          opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7
    onnx.checker.check_model(m)
    return m, x_shape, total


# ONNX Runtime refuses layout 1 ("Batchwise recurrent operations are not
# supported"): those models go to onnx.reference (build/venv's onnx), which
# reads layout, peepholes and linear_before_reset but not `activations`,
# so they keep the default activations.
NODE_MODELS = {
    "lstm-reverse-peepholes-activations": ("ort", dict(
        op="LSTM", direction="reverse", optional=("B", "initial_c", "P"),
        activations=["Sigmoid", "Relu", "Tanh"])),
    "lstm-opset7-sequence-lens": ("ort", dict(
        op="LSTM", opset=7, seq_lens=True, optional=("B", "initial_h"))),
    "gru-bidirectional-states": ("ort", dict(
        op="GRU", dirs=2, optional=("B", "initial_h"))),
    "gru-no-bias-activations": ("ort", dict(
        op="GRU", dirs=2, optional=(),
        activations=["Sigmoid", "Tanh", "Sigmoid", "Relu"])),
    "rnn-bidirectional-tanh-relu": ("ort", dict(
        op="RNN", dirs=2, optional=("B", "initial_h"),
        activations=["Tanh", "Relu"])),
    "lstm-layout1-bidirectional-peepholes-states": ("reference", dict(
        op="LSTM", dirs=2, layout=1,
        optional=("B", "initial_h", "initial_c", "P"))),
    "gru-layout1-reverse-linear-before-reset": ("reference", dict(
        op="GRU", layout=1, direction="reverse", linear_before_reset=1,
        optional=("B", "initial_h"))),
    "gru-layout1-bidirectional": ("reference", dict(
        op="GRU", dirs=2, layout=1, optional=("B",))),
    "rnn-layout1-bidirectional": ("reference", dict(
        op="RNN", dirs=2, layout=1, optional=("B", "initial_h"))),
}

REFERENCE = """
import sys
import numpy as np
import onnx
from onnx.reference import ReferenceEvaluator
model, x, out = sys.argv[1:4]
got = ReferenceEvaluator(onnx.load(model)).run(None, {"X": np.load(x)})[0]
np.save(out, got)
print(onnx.__version__)
"""


def oracle(kind, path, xin, total):
    """(oracle's name, its output) for a node model; raises RuntimeError."""
    if kind == "ort":
        _, want = ort_venv.run(path, "X", xin, 1, 1, path + ".ort.bin",
                               (total,))
        return f"ONNX Runtime {ort_venv.version()}", want
    r = subprocess.run([ort_venv.python(), "-c", REFERENCE, path, xin,
                        path + ".ref.npy"], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(" ".join(r.stderr.split()[-20:]))
    return f"onnx.reference {r.stdout.strip()}", np.load(path + ".ref.npy")


for name, (kind, spec) in NODE_MODELS.items():
    m, x_shape, total = node_model(**spec)
    path = os.path.join(WORK, name + ".onnx")
    onnx.save(m, path)
    xin = os.path.join(WORK, name + ".x.npy")
    np.save(xin, np.random.RandomState(3).randn(*x_shape).astype(np.float32))
    try:
        who, want = oracle(kind, path, xin, total)
    except RuntimeError as e:
        check(False, f"{name}: {kind}: {e}")
        continue
    out = os.path.join(WORK, name)
    r = ppc(path, out, "-stages=1")
    got = run(out, {"X": xin}, ["out"]) if r.returncode == 0 \
        else "ppc: " + r.stderr.strip()
    if isinstance(got, str):
        check(False, f"{name}: {got}")
        continue
    check(rel_err(got["out"], want) <= TOLERANCE,
          f"{name} against {who}: {rel_err(got['out'], want):.1e}")


# 3. Training.
class Tagger(nn.Module):
    """A batch-first recurrent encoder and a Linear head on every step."""

    def __init__(self, kind):
        super().__init__()
        self.rnn = getattr(nn, kind)(INPUT, HIDDEN, num_layers=2,
                                     bidirectional=True, batch_first=True)
        self.head = nn.Linear(2 * HIDDEN, CLASSES)

    def forward(self, x):
        return self.head(self.rnn(x)[0])


CLASSES, MICROBATCHES, STEPS, LR = 5, 4, 10, 0.2
for kind in ("LSTM", "GRU"):
    torch.manual_seed(0)
    model = Tagger(kind)
    onnx_path = os.path.join(WORK, f"train-{kind.lower()}.onnx")
    model.train()
    models._export_for_training(model, torch.randn(2, SEQ, INPUT), "x",
                                onnx_path, 17)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, SEQ, INPUT, generator=g)
    # Labels that need the recurrence: a fixed projection of the running
    # sum of the inputs, so that the loss can fall.
    y = (x.cumsum(1) @ torch.randn(INPUT, CLASSES, generator=g)).argmax(-1)
    data = {"x": os.path.join(WORK, f"train-{kind}.x.npy"),
            "labels": os.path.join(WORK, f"train-{kind}.y.npy")}
    np.save(data["x"], x.numpy())
    np.save(data["labels"], y.numpy())
    data_args = [a for n, p in data.items() for a in ("--data", f"{n}={p}")]

    # One step's gradients.
    model.load_state_dict(state)
    model.zero_grad()
    train_ref.backward(model, x[:BATCH], y[:BATCH], MICROBATCHES)
    ref = {n: p.grad.numpy() for n, p in model.named_parameters()}
    curves = {}
    for stages in (1, 4):
        what = f"training {kind} {stages} stages"
        out = os.path.join(WORK, f"train-{kind}-s{stages}")
        r = ppc(onnx_path, out, "-train", f"-stages={stages}",
                f"-batch={BATCH}", f"-microbatches={MICROBATCHES}",
                "-schedule=1f1b", "-optimizer=sgd", f"-lr={LR}",
                "-momentum=0.9")
        if r.returncode:
            check(False, f"{what}: ppc: {r.stderr.strip()}")
            continue
        r = subprocess.run([PPRUN, out, "--threads", "2", *data_args,
                            "--save-gradients", out + "/grads"],
                           capture_output=True, text=True)
        if r.returncode:
            check(False, f"{what}: pprun: {r.stderr.strip()}")
            continue
        got = read_all(out + "/grads*")
        errs = {n: rel_err(got[n], gr) if n in got else float("inf")
                for n, gr in ref.items()}
        worst = max(errs, key=errs.get)
        check(errs[worst] <= TOLERANCE and len(got) == len(ref),
              f"{what}: gradients of {len(got)}/{len(ref)} parameters, "
              f"worst {worst} {errs[worst]:.1e}")
        metrics = out + "/metrics.jsonl"
        r = subprocess.run([PPRUN, out, "--threads", "2", *data_args,
                            "--steps", str(STEPS), "--metrics", metrics,
                            "--checkpoint-dir", out + "/ck"],
                           capture_output=True, text=True)
        if r.returncode:
            check(False, f"{what}: pprun --steps: {r.stderr.strip()}")
            continue
        losses = [json.loads(line)["loss"] for line in open(metrics)]
        curves[stages] = (losses, read_all(
            out + f"/ck/step-{STEPS}/stage*.safetensors"))
    want, trained = train_ref.torch_curve(model, state, "sgd", STEPS, LR,
                                          BATCH, x, y, MICROBATCHES,
                                          momentum=0.9)
    for stages, (losses, params) in curves.items():
        rel = max(abs(a - b) / abs(b) for a, b in zip(losses, want))
        check(len(losses) == STEPS and rel <= TOLERANCE,
              f"training {kind} {stages} stages: {STEPS} losses from "
              f"{want[0]:.4f} to {want[-1]:.4f} (torch), worst relative "
              f"error {rel:.1e}")
        errs = {n: rel_err(params[n], p.detach().numpy())
                if n in params else float("inf")
                for n, p in trained.named_parameters()}
        worst = max(errs, key=errs.get)
        check(errs[worst] <= TOLERANCE,
              f"training {kind} {stages} stages: trained parameters under "
              f"torch's names against torch's, worst {worst} "
              f"{errs[worst]:.1e}")
    if 1 in curves and 4 in curves:
        (l1, p1), (l4, p4) = curves[1], curves[4]
        check(l1 == l4 and p1.keys() == p4.keys() and
              all(np.array_equal(p1[k], p4[k]) for k in p1),
              f"training {kind}: 4 stages bitwise equal to 1 (losses and "
              f"{len(p1)} checkpoint tensors after {STEPS} steps)")

print(f"{len(failures)} failed" if failures else "all passed")
sys.exit(1 if failures else 0)
