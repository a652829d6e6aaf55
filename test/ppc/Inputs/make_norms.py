#!/usr/bin/python3
"""Writes models whose normalization nodes share parameters, as
torch.onnx.export (eval mode, its default) writes a freshly made model: one
initializer of ones and one of zeros, the other norms' parameters Identity
nodes of them.

usage: make_norms.py NAME OUT.onnx
"""
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT


def const(name, array):
    return numpy_helper.from_array(np.asarray(array, np.float32), name)


def model(nodes, inits):
    g = helper.make_graph(
        nodes + [helper.make_node("MatMul", ["h", "fc.weight"], ["y"], name="/fc/MatMul")],
        "g", [helper.make_tensor_value_info("x", F, ["batch", 4])],
        [helper.make_tensor_value_info("y", F, ["batch", 4])],
        inits + [const("fc.weight", np.eye(4))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)],
                          producer_name="pytorch")
    m.ir_version = 8
    return m


def layer_norms(merged):
    nodes, x = [], "x"
    inits = [const("ln1.weight", np.ones(4)), const("ln1.bias", np.zeros(4))]
    for i in (1, 2, 3):
        w, b = f"ln{i}.weight", f"ln{i}.bias"
        if i > 1 and merged:
            nodes += [helper.make_node("Identity", ["ln1.weight"], [w], name=f"Identity_w{i}"),
                      helper.make_node("Identity", ["ln1.bias"], [b], name=f"Identity_b{i}")]
        elif i > 1:
            inits += [const(w, np.ones(4)), const(b, np.zeros(4))]
        out = "h" if i == 3 else f"t{i}"
        nodes.append(helper.make_node("LayerNormalization", [x, w, b], [out],
                                      name=f"/ln{i}/LayerNormalization", axis=-1))
        x = out
    return model(nodes, inits)


def rms_norms():
    # x / sqrt(mean(x^2) + eps) * weight, twice, one weight.
    nodes, x = [], "x"
    for i in (1, 2):
        p = f"/norm{i}"
        out = "h" if i == 2 else "t"
        nodes += [
            helper.make_node("Mul", [x, x], [p + "/sq"], name=p + "/Mul"),
            helper.make_node("ReduceMean", [p + "/sq"], [p + "/ms"], name=p + "/ReduceMean",
                             axes=[-1], keepdims=1),
            helper.make_node("Add", [p + "/ms", "eps"], [p + "/e"], name=p + "/Add"),
            helper.make_node("Sqrt", [p + "/e"], [p + "/r"], name=p + "/Sqrt"),
            helper.make_node("Div", [x, p + "/r"], [p + "/n"], name=p + "/Div"),
            helper.make_node("Mul", [p + "/n", "norm.weight"], [out], name=p + "/Mul_1"),
        ]
        x = out
    nodes.insert(0, helper.make_node("Constant", [], ["eps"], name="eps",
                                     value=helper.make_tensor("", F, [], [1e-6])))
    return model(nodes, [const("norm.weight", np.ones(4))])


BUILDERS = {
    "layer_norms_merged": lambda: layer_norms(True),
    "layer_norms_separate": lambda: layer_norms(False),
    "rms_norms_merged": rms_norms,
}

if __name__ == "__main__":
    with open(sys.argv[2], "wb") as f:
        f.write(BUILDERS[sys.argv[1]]().SerializeToString())
