#!/usr/bin/python3
"""Writes small ONNX models for the importer's lit tests.

usage: make_model.py NAME OUT.onnx
Each builder below returns a ModelProto; bad-input models are built too,
bypassing onnx.checker where the point is to make ppc see a broken file.
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
I64 = TensorProto.INT64


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


def mlp():
    w1 = const("fc1.weight", np.ones((4, 8), np.float32))
    b1 = const("fc1.bias", np.zeros(8, np.float32))
    w2 = const("fc2.weight", np.ones((3, 8), np.float32))
    b2 = const("fc2.bias", np.zeros(3, np.float32))
    return model([
        helper.make_node("MatMul", ["x", "fc1.weight"], ["h"], name="/fc1/MatMul"),
        helper.make_node("Add", ["h", "fc1.bias"], ["h2"], name="/fc1/Add"),
        helper.make_node("Relu", ["h2"], ["h3"], name="/relu/Relu"),
        helper.make_node("Gemm", ["h3", "fc2.weight", "fc2.bias"], ["y"],
                         name="/fc2/Gemm", transB=1),
    ], [vi("x", F, ["batch", 4])], [vi("y", F, ["batch", 3])], [w1, b1, w2, b2])


def shape_chain():
    # Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as exporters write
    # x.view(x.size(0), -1).
    return model([
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("Constant", [], ["zero"], name="c0",
                         value=helper.make_tensor("", I64, [], [0])),
        helper.make_node("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="unsqueeze"),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], name="concat",
                         axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"], name="reshape"),
    ], [vi("x", F, ["batch", 3, 4])], [vi("y", F, ["batch", 12])],
        [const("axes", np.array([0], np.int64)),
         const("minus1", np.array([-1], np.int64))])


def constants():
    # ConstantOfShape and Range fold; a large non-splat constant becomes a
    # pp.param constant; a small one stays inline.
    big = np.arange(1000, dtype=np.float32).reshape(10, 100)
    return model([
        helper.make_node("Constant", [], ["shape"], name="shape",
                         value=helper.make_tensor("", I64, [2], [10, 100])),
        helper.make_node("ConstantOfShape", ["shape"], ["ones"], name="cos",
                         value=helper.make_tensor("", F, [1], [1.0])),
        helper.make_node("Constant", [], ["big"], name="big",
                         value=numpy_helper.from_array(big, "")),
        helper.make_node("Add", ["x", "ones"], ["a"], name="add_ones"),
        helper.make_node("Add", ["a", "big"], ["b"], name="add_big"),
        helper.make_node("Range", ["start", "limit", "delta"], ["r"], name="range"),
        helper.make_node("Cast", ["r"], ["rf"], name="cast", to=F),
        helper.make_node("Add", ["b", "rf"], ["y"], name="add_range"),
    ], [vi("x", F, [10, 100])], [vi("y", F, [10, 100])],
        [const("start", np.array(0, np.int64)),
         const("limit", np.array(100, np.int64)),
         const("delta", np.array(1, np.int64))])


def softmax_opset11():
    return model([helper.make_node("Softmax", ["x"], ["y"], name="sm", axis=1)],
                 [vi("x", F, [2, 3, 4])], [vi("y", F, [2, 3, 4])], opset=11)


def conv_same():
    return model([
        helper.make_node("Conv", ["x", "w"], ["y"], name="conv",
                         auto_pad="SAME_UPPER", strides=[2, 2]),
    ], [vi("x", F, [1, 3, 7, 7])], [vi("y", F, [1, 8, 4, 4])],
        [const("w", np.ones((8, 3, 3, 3), np.float32))])


def split():
    return model([
        helper.make_node("Split", ["x", "sizes"], ["a", "b"], name="split", axis=1),
        helper.make_node("Mul", ["a", "b"], ["y"], name="mul"),
    ], [vi("x", F, [2, 8])], [vi("y", F, [2, 4])],
        [const("sizes", np.array([4, 4], np.int64))])


def symbolic():
    return model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                 [vi("x", F, ["batch", "seq", 4])], [vi("y", F, ["batch", "seq", 4])])


def unsupported_op():
    return model([helper.make_node("TopK", ["x", "k"], ["v", "i"], name="/topk/TopK")],
                 [vi("x", F, [4])], [vi("v", F, [2]), vi("i", I64, [2])],
                 [const("k", np.array([2], np.int64))])


def opset_18():
    return model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                 [vi("x", F, [4])], [vi("y", F, [4])], opset=18)


def opset_6():
    return model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                 [vi("x", F, [4])], [vi("y", F, [4])], opset=6)


def missing_initializer():
    return model([helper.make_node("MatMul", ["x", "w"], ["y"], name="/fc/MatMul")],
                 [vi("x", F, [2, 4])], [vi("y", F, [2, 3])])


def zero_dim():
    return model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                 [vi("x", F, [2, 0])], [vi("y", F, [2, 0])])


def negative_dim():
    return model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                 [vi("x", F, [2, -3])], [vi("y", F, [2, -3])])


def overflow():
    d = 1 << 31
    return model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                 [vi("x", F, [d, d, d])], [vi("y", F, [d, d, d])])


def bad_reshape():
    return model([helper.make_node("Reshape", ["x", "s"], ["y"], name="/view/Reshape")],
                 [vi("x", F, [2, 3])], [vi("y", F, [5])],
                 [const("s", np.array([5], np.int64))])


def runtime_shape():
    return model([helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape")],
                 [vi("x", F, [2, 3]), vi("s", I64, [1])], [vi("y", F, [6])])


def seq_first():
    # The batch on axis 1, as nn.Transformer, nn.LSTM and nn.GRU keep it; the
    # mask is the same for every micro-batch.
    w = const("fc.weight", np.eye(8, dtype=np.float32))
    return model([
        helper.make_node("MatMul", ["x", "fc.weight"], ["h"], name="/fc/MatMul"),
        helper.make_node("Add", ["h", "mask"], ["y"], name="/add/Add"),
    ], [vi("x", F, [5, "batch_size", 8]), vi("mask", F, [5, 1, 8])],
        [vi("y", F, [5, "batch_size", 8])], [w])


def fixed_batch():
    w = const("fc.weight", np.ones((4, 3), np.float32))
    return model([helper.make_node("MatMul", ["x", "fc.weight"], ["y"], name="mm")],
                 [vi("x", F, [2, 4])], [vi("y", F, [2, 3])], [w])


def batch_names():
    return model([helper.make_node("Add", ["a", "b"], ["y"], name="add")],
                 [vi("a", F, ["batch_a", 4]), vi("b", F, ["batch_b", 4])],
                 [vi("y", F, ["batch_a", 4])])


BUILDERS = {f.__name__: f for f in [
    seq_first, fixed_batch, batch_names,
    mlp, shape_chain, constants, softmax_opset11, conv_same, split, symbolic,
    unsupported_op, opset_18, opset_6, missing_initializer, zero_dim,
    negative_dim, overflow, bad_reshape, runtime_shape]}

if __name__ == "__main__":
    name, out = sys.argv[1], sys.argv[2]
    m = BUILDERS[name]()
    with open(out, "wb") as f:
        f.write(m.SerializeToString())
