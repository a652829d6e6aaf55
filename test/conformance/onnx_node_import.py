#!/usr/bin/python3
"""Imports every ONNX backend node test (Debian's libonnx-testdata) whose ops
ppc supports, and checks each one imports and verifies.

Inputs that ppc needs at compile time (a Reshape's shape, Slice bounds, ...)
are frozen with -bind from the test's own input data, as a user freezes them.
A test that fails must be listed in import_xfail.txt with its reason; a
listed test that passes is an error too, so the list stays true.

usage: onnx_node_import.py PPC [--data DIR] [--verbose]
"""
import argparse
import os
import subprocess
import sys

import onnx

# The ops the foundation issue names (torch.onnx.export output for CNNs,
# transformers and encoder-decoders).
ISSUE_OPS = {
    "Conv", "Clip", "Relu", "BatchNormalization", "Concat", "Pad",
    "AveragePool", "MaxPool", "GlobalAveragePool", "Gemm", "Flatten",
    "MatMul", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Erf", "Tanh",
    "Sigmoid", "LayerNormalization", "ReduceMean", "Softmax", "Split",
    "Slice", "Gather", "Reshape", "Transpose", "Squeeze", "Unsqueeze",
    "Expand", "Where", "Equal", "Not", "Trilu", "Cast", "Identity",
    "Constant", "Resize", "Shape", "ConstantOfShape", "Range",
}
# Further ops the importer handles.
EXTRA_OPS = {
    "Exp", "Log", "Neg", "Abs", "Reciprocal", "Floor", "Ceil", "Round",
    "Sin", "Cos", "Softplus", "Sign", "LeakyRelu", "Dropout", "Less",
    "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor", "Max",
    "Min", "Sum", "Mean", "LogSoftmax", "ReduceSum", "ReduceMax",
    "ReduceMin", "ReduceProd", "GlobalMaxPool", "Size", "Upsample",
    "LSTM", "GRU", "RNN",
    # Opsets 18 to 23 (no Debian test data; onnx_node_current.py runs them).
    "Gelu", "GroupNormalization",
    "HardSigmoid", "HardSwish", "Mod", "GatherND", "ScatterND", "CumSum",
    "Einsum",
    # Issue 16: what torch 2.x's exports of GPT-2, LLaMA and BERT need.
    "IsNaN", "IsInf", "CastLike", "GatherElements", "SplitToSequence",
    "SequenceAt", "SequenceConstruct", "SequenceLength", "SequenceEmpty",
    "SequenceInsert", "SequenceErase", "ConcatFromSequence",
}
# Inputs read at compile time, by op: frozen from the test data.
COMPILE_TIME_INPUTS = {
    "Reshape": [1], "Expand": [1], "Slice": [1, 2, 3, 4], "Pad": [1, 2, 3],
    "Resize": [1, 2, 3], "Upsample": [1], "Split": [1], "Squeeze": [1],
    "Unsqueeze": [1], "ConstantOfShape": [0], "Range": [0, 1, 2],
    "Trilu": [1], "Clip": [1, 2], "ReduceSum": [1], "Dropout": [1, 2],
    "LSTM": [4], "GRU": [4], "RNN": [4],
    # axes, an input from opset 18
    "ReduceMean": [1], "ReduceMax": [1], "ReduceMin": [1], "ReduceProd": [1],
    "CumSum": [1],
    # a sequence's length and positions are resolved while importing
    "SplitToSequence": [1], "SequenceAt": [1], "SequenceInsert": [2],
    "SequenceErase": [1],
}


def test_ops(model):
    return {n.op_type for n in model.graph.node}


def frozen_inputs(model):
    graph_inputs = [i.name for i in model.graph.input]
    names = set()
    for node in model.graph.node:
        for idx in COMPILE_TIME_INPUTS.get(node.op_type, []):
            if idx < len(node.input) and node.input[idx] in graph_inputs:
                names.add(node.input[idx])
    return [(graph_inputs.index(n), n) for n in sorted(names)]


def load_xfail(path):
    xfail = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, _, reason = line.partition(":")
            xfail[name.strip()] = reason.strip()
    return xfail


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ppc")
    ap.add_argument("--data", default="/usr/share/libonnx-testdata/data/node")
    ap.add_argument("--xfail", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "import_xfail.txt"))
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    if not os.path.isdir(args.data):
        print(f"no ONNX test data at {args.data} (install libonnx-testdata)")
        return 1
    xfail = load_xfail(args.xfail)
    supported = ISSUE_OPS | EXTRA_OPS
    counts = {}  # op family -> [passed, total]
    unexpected = []
    for name in sorted(os.listdir(args.data)):
        model_path = os.path.join(args.data, name, "model.onnx")
        if not os.path.exists(model_path):
            continue
        model = onnx.load(model_path)
        ops = test_ops(model)
        if not ops or not ops <= supported:
            continue
        cmd = [args.ppc, model_path, "-emit=mlir", "-o", os.devnull]
        for idx, inp in frozen_inputs(model):
            cmd.append(f"-bind={inp}=" + os.path.join(
                args.data, name, "test_data_set_0", f"input_{idx}.pb"))
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        ok = r.returncode == 0
        family = "issue list" if ops <= ISSUE_OPS else "further ops"
        c = counts.setdefault(family, [0, 0, 0])
        c[1] += 1
        if ok:
            c[0] += 1
        elif name in xfail:
            c[2] += 1
        err = (r.stderr.strip().splitlines() or ["(no message)"])[0]
        if ok and name in xfail:
            unexpected.append(f"XPASS {name} (listed: {xfail[name]})")
        elif not ok and name not in xfail:
            unexpected.append(f"FAIL  {name}: {err}")
        elif args.verbose:
            print(("PASS  " if ok else "XFAIL ") + name + ("" if ok else ": " + err))
    for line in unexpected:
        print(line)
    for family, (p, t, x) in sorted(counts.items()):
        print(f"{family}: {p} of {t} node tests import and verify; "
              f"{x} known failures (import_xfail.txt)")
    total_pass = sum(c[0] for c in counts.values())
    print(f"{total_pass} passed, {len(unexpected)} failed")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
