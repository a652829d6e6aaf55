#!/usr/bin/python3
"""Writes ONNX models with model-local functions for the importer's lit tests.

usage: make_functions.py NAME OUT.onnx

Runs with Debian's onnx 1.12, whose onnx.proto predates IR 9 and 10: the
fields those added (FunctionProto.attribute_proto = 11, FunctionProto.overload
= 13, NodeProto.overload = 8) are written in protobuf's wire format, as a
newer onnx writes them, and read back by ppc from the unknown fields.
"""
import sys

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
DOMAIN = "pkg.test"


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def with_field(message, number, payload):
    """`message` with length-delimited field `number` = `payload` appended."""
    raw = message.SerializeToString() + varint(number << 3 | 2) + \
        varint(len(payload)) + payload
    out = type(message)()
    out.ParseFromString(raw)
    return out


def ref(name, kind, ref_name=None):
    """An attribute that refers to the calling node's attribute."""
    return AttributeProto(name=name, ref_attr_name=ref_name or name, type=kind)


def function(name, inputs, outputs, nodes, attributes=(), defaults=(),
             opset=17, overload=None, domains=(DOMAIN,)):
    f = helper.make_function(
        DOMAIN, name, inputs, outputs, nodes,
        [helper.make_opsetid("", opset)] +
        [helper.make_opsetid(d, 1) for d in domains],
        attributes=list(attributes) + [d.name for d in defaults])
    for d in defaults:
        f = with_field(f, 11, d.SerializeToString())
    if overload is not None:
        f = with_field(f, 13, overload.encode())
    return f


def call(op, inputs, outputs, name, overload=None, **attrs):
    n = helper.make_node(op, inputs, outputs, name=name, domain=DOMAIN, **attrs)
    if overload is not None:
        n = with_field(n, 8, overload.encode())
    return n


def node(op, inputs, outputs, name, **attrs):
    return helper.make_node(op, inputs, outputs, name=name, **attrs)


def vi(name, shape):
    return helper.make_tensor_value_info(name, F, shape)


def const(name, array):
    return numpy_helper.from_array(np.asarray(array, np.float32), name)


def model(nodes, functions, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset),
                                            helper.make_opsetid(DOMAIN, 1)],
                          functions=functions)
    m.ir_version = 8
    return m


def linear_relu():
    return function("LinearRelu", ["x", "w", "b"], ["y"], [
        node("MatMul", ["x", "w"], ["h"], "mm"),
        node("Add", ["h", "b"], ["h2"], "add"),
        node("Relu", ["h2"], ["y"], "relu"),
    ])


def simple():
    # Two calls of one function; the graph already has a value named
    # 'layer1/h', the name the first call's inner 'h' would take.
    return model([
        node("Identity", ["x"], ["layer1/h"], "id"),
        call("LinearRelu", ["layer1/h", "w1", "b1"], ["y1"], "layer1"),
        call("LinearRelu", ["y1", "w2", "b2"], ["y"], "layer2"),
    ], [linear_relu()], [vi("x", [2, 4])], [vi("y", [2, 4])],
        [const("w1", np.ones((4, 4))), const("b1", np.zeros(4)),
         const("w2", np.ones((4, 4))), const("b2", np.zeros(4))])


def nested():
    # Block calls LinearRelu twice; the graph calls Block twice.
    block = function("Block", ["x", "w", "b"], ["y"], [
        call("LinearRelu", ["x", "w", "b"], ["t"], "first"),
        call("LinearRelu", ["t", "w", "b"], ["y"], "second"),
    ])
    return model([
        call("Block", ["x", "w", "b"], ["t"], "block0"),
        call("Block", ["t", "w", "b"], ["y"], "block1"),
    ], [block, linear_relu()], [vi("x", [2, 4])], [vi("y", [2, 4])],
        [const("w", np.ones((4, 4))), const("b", np.zeros(4))])


def attributes():
    # alpha: a reference the first call sets and the second leaves unset
    # (LeakyRelu's own default applies); axis: a reference with a function
    # default (attribute_proto), overridden by the second call.
    act = function("Act", ["x"], ["y"], [
        node("LeakyRelu", ["x"], ["a"], "leaky"),
        node("Softmax", ["a"], ["y"], "softmax"),
    ], attributes=["alpha"],
        defaults=[helper.make_attribute("axis", 0)])
    act.node[0].attribute.append(ref("alpha", AttributeProto.FLOAT))
    act.node[1].attribute.append(ref("axis", AttributeProto.INT))
    return model([
        call("Act", ["x"], ["t"], "act0", alpha=0.25),
        call("Act", ["t"], ["y"], "act1", axis=1),
    ], [act], [vi("x", [2, 4])], [vi("y", [2, 4])])


def attribute_type():
    act = function("Act", ["x"], ["y"], [node("LeakyRelu", ["x"], ["y"], "leaky")],
                   attributes=["alpha"])
    act.node[0].attribute.append(ref("alpha", AttributeProto.FLOAT))
    return model([call("Act", ["x"], ["y"], "act", alpha=3)], [act],
                 [vi("x", [2, 4])], [vi("y", [2, 4])])


def overloads():
    # Two functions of one name told apart by their overload (IR 10).
    double = function("Scale", ["x"], ["y"], [node("Add", ["x", "x"], ["y"], "add")],
                      overload="double")
    square = function("Scale", ["x"], ["y"], [node("Mul", ["x", "x"], ["y"], "mul")],
                      overload="square")
    return model([
        call("Scale", ["x"], ["t"], "d", overload="double"),
        call("Scale", ["t"], ["y"], "s", overload="square"),
    ], [double, square], [vi("x", [2, 4])], [vi("y", [2, 4])])


def passthrough():
    # An output that is the input itself, and an unused output.
    f = function("Pair", ["x"], ["same", "neg", "unused"], [
        node("Neg", ["x"], ["neg"], "neg"),
        node("Abs", ["x"], ["unused"], "abs"),
    ])
    f.output[0] = "x"
    return model([
        call("Pair", ["x"], ["a", "n"], "pair"),
        node("Add", ["a", "n"], ["y"], "sum"),
    ], [f], [vi("x", [2, 4])], [vi("y", [2, 4])])


def opset_compatible():
    # Opset 14 and 17 give MatMul, Add and Relu the same schemas.
    f = function("LinearRelu", ["x", "w", "b"], ["y"],
                 linear_relu().node, opset=14)
    return model([call("LinearRelu", ["x", "w", "b"], ["y"], "layer")], [f],
                 [vi("x", [2, 4])], [vi("y", [2, 4])],
                 [const("w", np.ones((4, 4))), const("b", np.zeros(4))])


def opset_mismatch():
    # Squeeze takes its axes as an attribute at opset 11, an input from 13.
    f = function("Flat", ["x"], ["y"],
                 [node("Squeeze", ["x"], ["y"], "squeeze", axes=[0])], opset=11)
    return model([call("Flat", ["x"], ["y"], "flat")], [f],
                 [vi("x", [1, 4])], [vi("y", [4])])


def recursive():
    f = function("Loop", ["x"], ["y"], [call("Loop", ["x"], ["y"], "again")])
    return model([call("Loop", ["x"], ["y"], "start")], [f],
                 [vi("x", [2, 4])], [vi("y", [2, 4])])


def mutual():
    f = function("Ping", ["x"], ["y"], [call("Pong", ["x"], ["y"], "to_pong")])
    g = function("Pong", ["x"], ["y"], [call("Ping", ["x"], ["y"], "to_ping")])
    return model([call("Ping", ["x"], ["y"], "start")], [f, g],
                 [vi("x", [2, 4])], [vi("y", [2, 4])])


def custom_op():
    n = helper.make_node("FusedGelu", ["x"], ["y"], name="gelu",
                         domain="com.example")
    m = model([n], [], [vi("x", [2, 4])], [vi("y", [2, 4])])
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    return m


def custom_op_in_function():
    f = function("Block", ["x"], ["y"], [
        helper.make_node("FusedGelu", ["x"], ["y"], name="gelu",
                         domain="com.example")], domains=("com.example",))
    return model([call("Block", ["x"], ["y"], "block")], [f],
                 [vi("x", [2, 4])], [vi("y", [2, 4])])


def undefined_inner():
    f = function("Bad", ["x"], ["y"], [node("Add", ["x", "bias"], ["y"], "add")])
    return model([call("Bad", ["x"], ["y"], "bad")], [f],
                 [vi("x", [2, 4])], [vi("y", [2, 4])])


BUILDERS = {f.__name__: f for f in [
    simple, nested, attributes, attribute_type, overloads, passthrough,
    opset_compatible, opset_mismatch, recursive, mutual, custom_op,
    custom_op_in_function, undefined_inner]}

if __name__ == "__main__":
    name, out = sys.argv[1], sys.argv[2]
    with open(out, "wb") as f:
        f.write(BUILDERS[name]().SerializeToString())
