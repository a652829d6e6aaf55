#!/usr/bin/python3
"""Writes broken and hostile ONNX models for ppc's lit tests.

usage: make_hostile.py NAME DIR
Writes DIR/model.onnx, and for external-data cases the data files beside it
(DIR/w.bin) and outside it (DIR/../secret.bin). The checker is bypassed:
the point is what ppc does with a file an exporter (or an attacker) wrote.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT


def model(nodes, inputs, outputs, inits=(), opsets=(("", 17),)):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(
        g, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])
    m.ir_version = 8
    return m


def vi(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


def bias_too_long(d):
    # A bias one element longer than the product: a broadcast error, which
    # once went through a dangling error emitter and crashed.
    w = numpy_helper.from_array(np.ones((4, 8), np.float32), "w")
    b = numpy_helper.from_array(np.zeros(9, np.float32), "b")
    return model([
        helper.make_node("MatMul", ["x", "w"], ["h"], name="/fc/MatMul"),
        helper.make_node("Add", ["h", "b"], ["y"], name="/fc/Add"),
    ], [vi("x", F, [2, 4])], [vi("y", F, [2, 8])], [w, b])


def gemm_bias_too_long(d):
    w = numpy_helper.from_array(np.ones((8, 4), np.float32), "w")
    b = numpy_helper.from_array(np.zeros(9, np.float32), "b")
    return model([
        helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="/fc/Gemm", transB=1),
    ], [vi("x", F, [2, 4])], [vi("y", F, [2, 8])], [w, b])


def external(d, location, offset=None, length=None):
    """y = x @ w with w (4x8 float32) in external data named `location`."""
    w = np.arange(32, dtype=np.float32).reshape(4, 8)
    with open(os.path.join(d, "w.bin"), "wb") as f:
        f.write(w.tobytes())
    with open(os.path.join(d, "..", "secret.bin"), "wb") as f:
        f.write(w.tobytes())
    t = TensorProto(name="w", data_type=F, dims=[4, 8])
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", offset),
                       ("length", length)):
        if value is not None:
            e = t.external_data.add()
            e.key, e.value = key, value
    return model([helper.make_node("MatMul", ["x", "w"], ["y"], name="/fc/MatMul")],
                 [vi("x", F, [2, 4])], [vi("y", F, [2, 8])], [t])


def ext_ok(d):
    return external(d, "w.bin")


def ext_slice(d):
    return external(d, "w.bin", offset="0", length="128")


def ext_dotdot(d):
    return external(d, "../secret.bin")


def ext_absolute(d):
    return external(d, os.path.abspath(os.path.join(d, "..", "secret.bin")))


def ext_symlink(d):
    m = external(d, "link.bin")
    link = os.path.join(d, "link.bin")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(os.path.join("..", "secret.bin"), link)
    return m


def ext_bad_offset(d):
    return external(d, "w.bin", offset="abc")


def ext_negative_length(d):
    return external(d, "w.bin", length="-4")


def ext_past_end(d):
    return external(d, "w.bin", offset="64", length="128")


def opset_twice(d):
    return model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                 [vi("x", F, [4])], [vi("y", F, [4])],
                 opsets=(("", 13), ("ai.onnx", 17)))


def newline_name(d):
    return model([helper.make_node("TopK", ["x", "k"], ["v", "i"],
                                   name="evil\nerror: forged")],
                 [vi("x", F, [4])], [vi("v", F, [2]), vi("i", TensorProto.INT64, [2])],
                 [numpy_helper.from_array(np.array([2], np.int64), "k")])


def zero_length_add(d):
    # Initializers of shapes (0,) and (1,) added (onnx/onnx#6294): libonnx
    # 1.12's data propagation indexed past the empty one and crashed.
    a = numpy_helper.from_array(np.zeros([0], np.int64), "a")
    b = numpy_helper.from_array(np.zeros([1], np.int64), "b")
    return model([
        helper.make_node("Add", ["a", "b"], ["s"], name="/shape/Add"),
        helper.make_node("Add", ["x", "s"], ["y"], name="/out/Add"),
    ], [vi("x", TensorProto.INT64, [2, 3])], [vi("y", TensorProto.INT64, [2, 3])],
        [a, b])


BUILDERS = {f.__name__: f for f in [zero_length_add, 
    bias_too_long, gemm_bias_too_long, ext_ok, ext_slice, ext_dotdot,
    ext_absolute, ext_symlink, ext_bad_offset, ext_negative_length,
    ext_past_end, opset_twice, newline_name]}

if __name__ == "__main__":
    name, d = sys.argv[1], sys.argv[2]
    os.makedirs(d, exist_ok=True)
    m = BUILDERS[name](d)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(m.SerializeToString())
