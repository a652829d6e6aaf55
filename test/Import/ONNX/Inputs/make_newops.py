#!/usr/bin/python3
"""Writes small ONNX models of the ops OpImportersPointwise, -Indexing,
-Einsum and -Transformer import, for the lit tests beside this folder.

usage: make_newops.py NAME OUT.onnx
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
I64 = TensorProto.INT64
B = TensorProto.BOOL


def model(nodes, inputs, outputs, inits=(), opset=17, value_info=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits),
                          value_info=list(value_info))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def vi(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


def const(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def hard():
    return model([
        helper.make_node("HardSigmoid", ["x"], ["h"], name="hs", alpha=0.25,
                         beta=0.5),
        helper.make_node("HardSwish", ["h"], ["y"], name="hw"),
    ], [vi("x", F, [2, 3])], [vi("y", F, [2, 3])])


def mod():
    return model([
        helper.make_node("Mod", ["a", "b"], ["r"], name="mod"),
        helper.make_node("Mod", ["x", "y"], ["f"], name="fmod", fmod=1),
    ], [vi("a", I64, [2, 3]), vi("b", I64, [3]), vi("x", F, [4]),
        vi("y", F, [4])], [vi("r", I64, [2, 3]), vi("f", F, [4])])


def mod_shape():
    # Swin's padding: (window - H % window) % window on shape values folds.
    return model([
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("Mod", ["s", "w"], ["m"], name="mod"),
        helper.make_node("Sub", ["w", "m"], ["d"], name="sub"),
        helper.make_node("Mod", ["d", "w"], ["p"], name="mod2"),
        helper.make_node("Concat", ["zeros", "p"], ["pads"], name="cat", axis=0),
        helper.make_node("Pad", ["x", "pads"], ["y"], name="pad"),
    ], [vi("x", F, [5, 6])], [vi("y", F, [8, 8])],
        [const("w", np.array([4, 4], np.int64)),
         const("zeros", np.array([0, 0], np.int64))])


def gathernd():
    return model([
        helper.make_node("GatherND", ["x", "i"], ["y"], name="gnd",
                         batch_dims=1),
    ], [vi("x", F, [2, 3, 4]), vi("i", I64, [2, 5, 1])], [vi("y", F, [2, 5, 4])])


def scatternd():
    return model([
        helper.make_node("ScatterND", ["x", "i", "u"], ["y"], name="snd",
                         reduction="add"),
    ], [vi("x", F, [4, 3]), vi("i", I64, [2, 1]), vi("u", F, [2, 3])],
        [vi("y", F, [4, 3])], opset=16)


def scatternd_max():
    return model([
        helper.make_node("ScatterND", ["x", "i", "u"], ["y"], name="snd",
                         reduction="max"),
    ], [vi("x", F, [4, 3]), vi("i", I64, [2, 1]), vi("u", F, [2, 3])],
        [vi("y", F, [4, 3])], opset=16)


def cumsum():
    return model([
        helper.make_node("CumSum", ["x", "axis"], ["y"], name="cs",
                         exclusive=1, reverse=1),
    ], [vi("x", F, [2, 3])], [vi("y", F, [2, 3])],
        [const("axis", np.array(-1, np.int64))])


def cumsum_runtime_axis():
    return model([
        helper.make_node("CumSum", ["x", "axis"], ["y"], name="cs"),
    ], [vi("x", F, [2, 3]), vi("axis", I64, [])], [vi("y", F, [2, 3])])


def range_runtime():
    # start is a model input; the exporter recorded the output's length.
    return model([
        helper.make_node("Range", ["start", "limit", "delta"], ["r"],
                         name="range"),
        helper.make_node("Add", ["r", "x"], ["y"], name="add"),
    ], [vi("start", F, []), vi("x", F, [5])], [vi("y", F, [5])],
        [const("limit", np.array(5, np.float32)),
         const("delta", np.array(1, np.float32))],
        value_info=[vi("r", F, [5])])


def range_unknown():
    return model([
        helper.make_node("Range", ["start", "limit", "delta"], ["y"],
                         name="range"),
    ], [vi("start", F, [])], [vi("y", F, [None])],
        [const("limit", np.array(5, np.float32)),
         const("delta", np.array(1, np.float32))])


def einsum(equation, shapes, out_shape):
    names = [f"x{i}" for i in range(len(shapes))]
    return model([helper.make_node("Einsum", names, ["y"], name="einsum",
                                   equation=equation)],
                 [vi(n, F, s) for n, s in zip(names, shapes)],
                 [vi("y", F, out_shape)])


EINSUMS = {
    "einsum_bmm": ("bij,bjk->bik", [[2, 3, 4], [2, 4, 5]], [2, 3, 5]),
    "einsum_scores": ("bhid,bhjd->bhij", [[2, 2, 3, 4], [2, 2, 5, 4]],
                      [2, 2, 3, 5]),
    "einsum_transpose": ("ij->ji", [[2, 3]], [3, 2]),
    "einsum_sum": ("ij->i", [[2, 3]], [2]),
    "einsum_outer": ("i,j->ij", [[2], [3]], [2, 3]),
    "einsum_ellipsis": ("...ij,...jk->...ik", [[2, 3, 4], [4, 5]], [2, 3, 5]),
    "einsum_three": ("ij,jk,kl->il", [[2, 3], [3, 4], [4, 5]], [2, 5]),
    "einsum_diagonal": ("ii->i", [[3, 3]], [3]),
    "einsum_sizes": ("ij,jk->ik", [[2, 3], [4, 5]], [2, 5]),
}


def rms():
    return model([
        helper.make_node("RMSNormalization", ["x", "s"], ["y"], name="rms",
                         axis=-1, epsilon=1e-6),
    ], [vi("x", F, [2, 3, 8])], [vi("y", F, [2, 3, 8])],
        [const("s", np.ones(8, np.float32))], opset=23)


def rotary():
    return model([
        helper.make_node("RotaryEmbedding", ["x", "cos", "sin", "pos"], ["y"],
                         name="rope", num_heads=2),
    ], [vi("x", F, [2, 3, 8]), vi("pos", I64, [2, 3])], [vi("y", F, [2, 3, 8])],
        [const("cos", np.ones((16, 2), np.float32)),
         const("sin", np.zeros((16, 2), np.float32))], opset=23)


def attention_3d():
    # GQA: 4 query heads over 2 kv heads, causal, with a short bool mask.
    return model([
        helper.make_node("Attention", ["q", "k", "v", "m"], ["y"], name="attn",
                         q_num_heads=4, kv_num_heads=2, is_causal=1),
    ], [vi("q", F, [2, 5, 16]), vi("k", F, [2, 5, 8]), vi("v", F, [2, 5, 8]),
        vi("m", B, [5, 4])], [vi("y", F, [2, 5, 16])], opset=23)


def attention_past():
    return model([
        helper.make_node("Attention", ["q", "k", "v", "", "pk", "pv"],
                         ["y", "pko", "pvo"], name="attn"),
    ], [vi("q", F, [1, 2, 3, 4]), vi("k", F, [1, 2, 3, 4]),
        vi("v", F, [1, 2, 3, 4]), vi("pk", F, [1, 2, 2, 4]),
        vi("pv", F, [1, 2, 2, 4])],
        [vi("y", F, [1, 2, 3, 4]), vi("pko", F, [1, 2, 5, 4]),
         vi("pvo", F, [1, 2, 5, 4])], opset=23)


def attention_softcap():
    return model([
        helper.make_node("Attention", ["q", "k", "v"], ["y"], name="attn",
                         softcap=30.0),
    ], [vi("q", F, [1, 2, 3, 4]), vi("k", F, [1, 2, 3, 4]),
        vi("v", F, [1, 2, 3, 4])], [vi("y", F, [1, 2, 3, 4])], opset=23)


BUILDERS = {f.__name__: f for f in [
    hard, mod, mod_shape, gathernd, scatternd, scatternd_max, cumsum,
    cumsum_runtime_axis, range_runtime, range_unknown, rms, rotary,
    attention_3d, attention_past, attention_softcap]}
for _name, (_eq, _shapes, _out) in EINSUMS.items():
    BUILDERS[_name] = (lambda e=_eq, s=_shapes, o=_out: einsum(e, s, o))

if __name__ == "__main__":
    name, out = sys.argv[1], sys.argv[2]
    with open(out, "wb") as f:
        f.write(BUILDERS[name]().SerializeToString())
