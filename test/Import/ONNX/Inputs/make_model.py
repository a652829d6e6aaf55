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


# The IR version that onnx releases write for an opset (8 up to opset 18).
IR_FOR_OPSET = {19: 9, 20: 9, 21: 10, 22: 10, 23: 11, 24: 11}


def model(nodes, inputs, outputs, inits=(), opset=17, value_info=(), ir=None):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits),
                          value_info=list(value_info))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir or IR_FOR_OPSET.get(opset, 8)
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


def opset_24():
    return model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                 [vi("x", F, [4])], [vi("y", F, [4])], opset=24)


# Opsets 18 to 23: what changed for the ops ppc imports.

def ints(name, values):
    return const(name, np.array(values, np.int64))


def reduce_axes_18():
    return model([
        helper.make_node("ReduceMean", ["x", "axes"], ["m"], name="mean",
                         keepdims=0),
        helper.make_node("ReduceMax", ["x"], ["y"], name="noop",
                         noop_with_empty_axes=1),
        helper.make_node("ReduceProd", ["x"], ["p"], name="all"),
    ], [vi("x", F, [2, 3, 4])],
        [vi("m", F, [2, 4]), vi("y", F, [2, 3, 4]), vi("p", F, [1, 1, 1])],
        [ints("axes", [-2])], opset=18)


def reduce_axes_attr_18():
    return model([helper.make_node("ReduceMean", ["x"], ["m"], name="mean",
                                   axes=[1])],
                 [vi("x", F, [2, 3])], [vi("m", F, [2, 1])], opset=18)


def split_18():
    return model([helper.make_node("Split", ["x"], ["a", "b", "c"],
                                   name="split", num_outputs=3)],
                 [vi("x", F, [5, 2])],
                 [vi("a", F, [2, 2]), vi("b", F, [2, 2]), vi("c", F, [1, 2])],
                 opset=18)


def split_none_18():
    return model([helper.make_node("Split", ["x"], ["a", "b"], name="split")],
                 [vi("x", F, [4])], [vi("a", F, [2]), vi("b", F, [2])],
                 opset=18)


def pad_19():
    return model([
        helper.make_node("Pad", ["x", "pads", "", "axes"], ["y"], name="axes"),
        helper.make_node("Pad", ["x", "wpads"], ["w"], name="wrap",
                         mode="wrap"),
    ], [vi("x", F, [2, 3])], [vi("y", F, [2, 6]), vi("w", F, [3, 8])],
        [ints("pads", [1, 2]), ints("axes", [-1]),
         ints("wpads", [0, 4, 1, 1])], opset=19)


def pad_wrap_wide_19():
    return model([helper.make_node("Pad", ["x", "wpads"], ["w"], name="wide",
                                   mode="wrap")],
                 [vi("x", F, [2, 3])], [vi("w", F, [11, 21])],
                 [ints("wpads", [9, 13, 0, 5])], opset=19)


def pad_wrap_18():
    return model([helper.make_node("Pad", ["x", "pads"], ["y"], name="wrap",
                                   mode="wrap")],
                 [vi("x", F, [3])], [vi("y", F, [5])], [ints("pads", [1, 1])],
                 opset=18)


def floats(name, values):
    return const(name, np.array(values, np.float32))


def resize_18():
    return model([
        helper.make_node("Resize", ["x", "", "scales"], ["a"], name="axes",
                         axes=[2, 3], mode="linear"),
        helper.make_node("Resize", ["x", "", "", "sizes"], ["b"],
                         name="aspect", axes=[2, 3],
                         keep_aspect_ratio_policy="not_larger"),
    ], [vi("x", F, [1, 1, 2, 4])],
        [vi("a", F, [1, 1, 4, 8]), vi("b", F, [1, 1, 3, 6])],
        [floats("scales", [2, 2]), ints("sizes", [3, 7])], opset=18)


def resize_antialias_18():
    return model([helper.make_node("Resize", ["x", "", "scales"], ["y"],
                                   name="down", mode="linear", antialias=1)],
                 [vi("x", F, [1, 1, 4, 4])], [vi("y", F, [1, 1, 2, 2])],
                 [floats("scales", [1, 1, 0.5, 0.5])], opset=18)


def gelu_20():
    return model([helper.make_node("Gelu", ["x"], ["y"], name="gelu",
                                   approximate="tanh"),
                  helper.make_node("Gelu", ["y"], ["z"], name="exact")],
                 [vi("x", F, [2, 3])], [vi("z", F, [2, 3])], opset=20)


def group_norm(opset):
    n = 2 if opset < 21 else 4
    return model([helper.make_node("GroupNormalization", ["x", "s", "b"],
                                   ["y"], name="gn", num_groups=2)],
                 [vi("x", F, [1, 4, 3])], [vi("y", F, [1, 4, 3])],
                 [floats("s", np.ones(n)), floats("b", np.zeros(n))],
                 opset=opset)


def group_norm_18():
    return group_norm(18)


def group_norm_21():
    return group_norm(21)


def avgpool_19():
    return model([helper.make_node("AveragePool", ["x"], ["y"], name="pool",
                                   kernel_shape=[2], dilations=[2],
                                   pads=[1, 1])],
                 [vi("x", F, [1, 3, 6])], [vi("y", F, [1, 3, 6])], opset=19)


def cast_19():
    return model([helper.make_node("Cast", ["x"], ["h"], name="half", to=10,
                                   saturate=0),
                  helper.make_node("Cast", ["h"], ["y"], name="f8", to=17)],
                 [vi("x", F, [2])], [vi("y", 17, [2])], opset=19)


def bad_attr_18():
    # An op libonnx 1.12 still knows at 18: its checker runs.
    return model([helper.make_node("Softmax", ["x"], ["y"], name="sm",
                                   axis=1.5)],
                 [vi("x", F, [2, 3])], [vi("y", F, [2, 3])], opset=18)


def not_ssa_18():
    return model([helper.make_node("ReduceMean", ["x"], ["y"], name="a"),
                  helper.make_node("Relu", ["x"], ["y"], name="b")],
                 [vi("x", F, [2, 3])], [vi("y", F, [2, 3])], opset=18)


def ir10_17():
    return model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                 [vi("x", F, [4])], [vi("y", F, [4])], opset=17, ir=10)


def opset_6():
    return model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                 [vi("x", F, [4])], [vi("y", F, [4])], opset=6)


def missing_initializer():
    return model([helper.make_node("MatMul", ["x", "w"], ["y"], name="/fc/MatMul")],
                 [vi("x", F, [2, 4])], [vi("y", F, [2, 3])])


def zero_dim():
    return model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                 [vi("x", F, [2, 0])], [vi("y", F, [2, 0])])


def zero_batch():
    return model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                 [vi("x", F, [0, 5])], [vi("y", F, [0, 5])])


def zero_size():
    """Zero-size tensors through ops that read them: a product over an
    empty inner axis (the bias alone), softmax and layer norm of no rows,
    an empty concat operand, and reductions of an empty set."""
    w = numpy_helper.from_array(np.zeros((0, 3), np.float32), "w")
    b = numpy_helper.from_array(np.array([1, 2, 3], np.float32), "b")
    g = numpy_helper.from_array(np.ones(3, np.float32), "g")
    ax = numpy_helper.from_array(np.array([1], np.int64), "ax")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["xw"], name="mm"),
        helper.make_node("Add", ["xw", "b"], ["z"], name="bias"),
        helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0], name="t"),
        helper.make_node("Softmax", ["xt"], ["s"], name="softmax"),
        helper.make_node("Concat", ["x", "z"], ["c"], axis=1, name="cat"),
        helper.make_node("Slice", ["c", "ax", "ax"], ["e"], name="slice"),
        helper.make_node("LayerNormalization", ["e", "g"], ["n"],
                         name="norm"),
        helper.make_node("ReduceSum", ["x", "ax"], ["rs"], name="rsum"),
        helper.make_node("ReduceMax", ["x", "ax"], ["rm"], keepdims=0,
                         name="rmax"),
    ]
    return model(nodes, [vi("x", F, [2, 0])],
                 [vi("z", F, [2, 3]), vi("s", F, [0, 2]), vi("c", F, [2, 3]),
                  vi("n", F, [0, 3]), vi("rs", F, [2, 1]), vi("rm", F, [2])],
                 [w, b, g, ax], opset=18)


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


def isnan_isinf():
    return model([
        helper.make_node("IsNaN", ["x"], ["nan"], name="isnan"),
        helper.make_node("IsInf", ["x"], ["inf"], name="isinf"),
        helper.make_node("IsInf", ["x"], ["pos"], name="ispos",
                         detect_negative=0),
        helper.make_node("Constant", [], ["c"], name="c",
                         value=numpy_helper.from_array(
                             np.array([np.inf, -np.inf, np.nan, 1], np.float32))),
        helper.make_node("IsInf", ["c"], ["cinf"], name="cinf"),
        helper.make_node("IsNaN", ["c"], ["cnan"], name="cnan"),
    ], [vi("x", F, [2, 3])],
        [vi("nan", TensorProto.BOOL, [2, 3]), vi("inf", TensorProto.BOOL, [2, 3]),
         vi("pos", TensorProto.BOOL, [2, 3]), vi("cinf", TensorProto.BOOL, [4]),
         vi("cnan", TensorProto.BOOL, [4])])


def castlike():
    # Input 1 gives only its type; the constant folds through, the graph
    # input becomes a pp.cast.
    return model([
        helper.make_node("CastLike", ["x", "like"], ["y"], name="cl"),
        helper.make_node("Constant", [], ["c"], name="c",
                         value=numpy_helper.from_array(
                             np.array([1.5, -2.5], np.float32))),
        helper.make_node("CastLike", ["c", "like"], ["z"], name="cc"),
    ], [vi("x", F, [2, 3]), vi("like", I64, [5])],
        [vi("y", I64, [2, 3]), vi("z", I64, [2])])


def gather_elements():
    idx = helper.make_node("Constant", [], ["ci"], name="ci",
                           value=numpy_helper.from_array(
                               np.array([[2, -1], [0, 1]], np.int64)))
    return model([
        helper.make_node("GatherElements", ["x", "i"], ["y"], name="ge", axis=1),
        idx,
        helper.make_node("GatherElements", ["c", "ci"], ["z"], name="gc", axis=1),
    ], [vi("x", F, [2, 3]), vi("i", I64, [2, 4])],
        [vi("y", F, [2, 4]), vi("z", I64, [2, 2])],
        [const("c", np.array([[10, 11, 12], [20, 21, 22]], np.int64))])


def gather_elements_range():
    return model([
        helper.make_node("GatherElements", ["x", "i"], ["y"], name="ge", axis=0),
    ], [vi("x", F, [2, 3])], [vi("y", F, [1, 3])],
        [const("i", np.array([[0, 2, 1]], np.int64))])


def sequences():
    # What torch writes for split / cat of lists without the optimizer:
    # SplitToSequence + SequenceAt, SequenceConstruct + ConcatFromSequence,
    # SequenceEmpty + SequenceInsert, SequenceErase and SequenceLength.
    return model([
        helper.make_node("SplitToSequence", ["x"], ["s"], name="split", axis=1,
                         keepdims=0),
        helper.make_node("SequenceAt", ["s", "minus1"], ["last"], name="at"),
        helper.make_node("SplitToSequence", ["x", "two"], ["s2"], name="split2",
                         axis=1),
        helper.make_node("SequenceLength", ["s2"], ["n2"], name="len"),
        helper.make_node("SequenceConstruct", ["last", "last"], ["pair"],
                         name="construct"),
        helper.make_node("ConcatFromSequence", ["pair"], ["stacked"],
                         name="stack", axis=1, new_axis=1),
        helper.make_node("SequenceEmpty", [], ["e"], name="empty"),
        helper.make_node("SequenceInsert", ["e", "last"], ["e1"], name="ins"),
        helper.make_node("SequenceInsert", ["e1", "x0", "zero"], ["e2"],
                         name="ins0"),
        helper.make_node("SequenceErase", ["e2", "minus1"], ["e3"], name="erase"),
        helper.make_node("ConcatFromSequence", ["e3"], ["cat"], name="cat",
                         axis=0),
    ], [vi("x", F, [2, 3]), vi("x0", F, [2])],
        [vi("last", F, [2]), vi("n2", I64, []), vi("stacked", F, [2, 2]),
         vi("cat", F, [2])],
        [const("minus1", np.array(-1, np.int64)),
         const("zero", np.array(0, np.int64)),
         const("two", np.array(2, np.int64))])


def sequence_runtime_position():
    return model([
        helper.make_node("SplitToSequence", ["x"], ["s"], name="split", axis=1),
        helper.make_node("SequenceAt", ["s", "p"], ["y"], name="at"),
    ], [vi("x", F, [2, 3]), vi("p", I64, [])], [vi("y", F, [2, 1])])


def sequence_output():
    return model([
        helper.make_node("SplitToSequence", ["x"], ["s"], name="split", axis=1),
    ], [vi("x", F, [2, 3])],
        [helper.make_tensor_sequence_value_info("s", F, [2, 1])])


def split_num_outputs_17():
    # torch's dynamo exporter at opset 17 writes opset 18's num_outputs.
    return model([helper.make_node("Split", ["x"], ["a", "b"], name="node_Split_3",
                                   axis=1, num_outputs=2)],
                 [vi("x", F, [2, 4])], [vi("a", F, [2, 2]), vi("b", F, [2, 2])])


def dropout_train_ratio0():
    return model([helper.make_node("Dropout", ["x", "r", "t"], ["y"], name="drop")],
                 [vi("x", F, [2, 3])], [vi("y", F, [2, 3])],
                 [const("r", np.array(0.0, np.float32)),
                  const("t", np.array(True))])


def dropout_train_ratio():
    return model([helper.make_node("Dropout", ["x", "r", "t"], ["y"], name="drop")],
                 [vi("x", F, [2, 3])], [vi("y", F, [2, 3])],
                 [const("r", np.array(0.1, np.float32)),
                  const("t", np.array(True))])


BUILDERS = {f.__name__: f for f in [
    seq_first, fixed_batch, batch_names,
    mlp, shape_chain, constants, softmax_opset11, conv_same, split, symbolic,
    unsupported_op, opset_24, opset_6, missing_initializer, zero_dim,
    zero_batch, zero_size,
    negative_dim, overflow, bad_reshape, runtime_shape, reduce_axes_18,
    reduce_axes_attr_18, split_18, split_none_18, pad_19, pad_wrap_wide_19, pad_wrap_18,
    resize_18, resize_antialias_18, gelu_20, group_norm_18, group_norm_21,
    avgpool_19, cast_19, bad_attr_18, not_ssa_18, ir10_17,
    isnan_isinf, castlike, gather_elements, gather_elements_range, sequences,
    sequence_runtime_position, sequence_output, split_num_outputs_17,
    dropout_train_ratio0, dropout_train_ratio]}

if __name__ == "__main__":
    name, out = sys.argv[1], sys.argv[2]
    m = BUILDERS[name]()
    with open(out, "wb") as f:
        f.write(m.SerializeToString())
