#!/usr/bin/python3
"""Writes small LSTM, GRU and RNN models for the recurrent importer's lit
tests (recurrent.test, recurrent-errors.test).

usage: make_recurrent.py NAME OUT.onnx
Sizes: sequence 2, batch 3, input 4, hidden 2, so that every dimension
reads apart in the checks. Weights are initializers (parameters).
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
SEQ, BATCH, INPUT, HIDDEN = 2, 3, 4, 2
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def vi(name, shape, dtype=F):
    return helper.make_tensor_value_info(name, dtype, shape)


def init(name, shape, dtype=np.float32):
    rng = np.random.RandomState(len(name))
    return numpy_helper.from_array(rng.randn(*shape).astype(dtype), name)


def recurrent(op, opset=14, dirs=1, layout=0, optional=(), outputs=("Y",),
              graph_outputs=None, seq_lens=None, seq_lens_input=False,
              **attrs):
    """One `op` node on X with W, R and the inputs named in `optional` (B,
    initial_h, initial_c, P); `outputs` lists the node's outputs by name,
    '' for an absent one; `graph_outputs` those the graph returns."""
    g = GATES[op]
    x_shape = [BATCH, SEQ, INPUT] if layout else [SEQ, BATCH, INPUT]
    state = [BATCH, dirs, HIDDEN] if layout else [dirs, BATCH, HIDDEN]
    inits = [init("W", [dirs, g * HIDDEN, INPUT]),
             init("R", [dirs, g * HIDDEN, HIDDEN])]
    shapes = {"B": [dirs, 2 * g * HIDDEN], "initial_h": state,
              "initial_c": state, "P": [dirs, 3 * HIDDEN]}
    for name in optional:
        inits.append(init(name, shapes[name]))
    inputs = [vi("X", x_shape)]
    if seq_lens is not None:
        inits.append(numpy_helper.from_array(
            np.array(seq_lens, np.int32), "sequence_lens"))
    if seq_lens_input:
        inputs.append(vi("sequence_lens", [BATCH], TensorProto.INT32))
    names = ["X", "W", "R", "B" if "B" in optional else "",
             "sequence_lens" if seq_lens is not None or seq_lens_input else "",
             "initial_h" if "initial_h" in optional else ""]
    if op == "LSTM":
        names += ["initial_c" if "initial_c" in optional else "",
                  "P" if "P" in optional else ""]
    while names[-1] == "":
        names.pop()
    if layout:
        attrs["layout"] = layout
    if dirs == 2:
        attrs["direction"] = "bidirectional"
    node = helper.make_node(op, names, list(outputs), name="rnn",
                            hidden_size=HIDDEN, **attrs)
    y = [BATCH, SEQ, dirs, HIDDEN] if layout else [SEQ, dirs, BATCH, HIDDEN]
    out_shapes = {outputs[0]: y}
    for o in outputs[1:]:
        out_shapes[o] = state
    graph_outputs = graph_outputs or [o for o in outputs if o]
    g = helper.make_graph([node], op.lower(), inputs,
                          [vi(o, out_shapes[o]) for o in graph_outputs], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def wrong_hidden_size(m):
    for a in m.graph.node[0].attribute:
        if a.name == "hidden_size":
            a.i = 3
    # Symbolic output dimensions, so that ONNX's inference takes the
    # attribute and ppc's check is the one to see the mismatch.
    for o in m.graph.output:
        for i, d in enumerate(o.type.tensor_type.shape.dim):
            d.dim_param = f"d{i}"
    return m


MODELS = {
    # Every optional input and output.
    "lstm_full": lambda: recurrent(
        "LSTM", optional=("B", "initial_h", "initial_c", "P"),
        outputs=("Y", "Y_h", "Y_c")),
    "lstm_bidirectional_layout1": lambda: recurrent(
        "LSTM", dirs=2, layout=1, optional=("B",),
        outputs=("Y", "Y_h", "Y_c")),
    # Opset 7 has no layout attribute.
    "lstm_opset7": lambda: recurrent("LSTM", opset=7, optional=("B",)),
    "lstm_reverse": lambda: recurrent("LSTM", direction="reverse",
                                      outputs=("Y", "Y_h")),
    # Only Y_h listed, Y absent; Y_c listed but not returned.
    "lstm_outputs": lambda: recurrent("LSTM", outputs=("", "Y_h", "Y_c"),
                                      graph_outputs=["Y_h"]),
    "lstm_full_lens": lambda: recurrent("LSTM", seq_lens=[SEQ] * BATCH),
    "gru": lambda: recurrent("GRU", optional=("B",), outputs=("Y", "Y_h")),
    "gru_linear_before_reset": lambda: recurrent(
        "GRU", optional=("B",), linear_before_reset=1),
    "rnn_relu": lambda: recurrent("RNN", dirs=2, optional=("B",),
                                  activations=["Relu", "Relu"]),
    "lstm_explicit_activations": lambda: recurrent(
        "LSTM", activations=["sigmoid", "Relu", "tanh"]),
    # Errors.
    "lstm_clip": lambda: recurrent("LSTM", clip=3.0),
    "lstm_input_forget": lambda: recurrent("LSTM", input_forget=1),
    "lstm_hard_sigmoid": lambda: recurrent(
        "LSTM", activations=["HardSigmoid", "Tanh", "Tanh"]),
    "lstm_activation_count": lambda: recurrent(
        "LSTM", dirs=2, activations=["Sigmoid", "Tanh", "Tanh"]),
    "lstm_activation_alpha": lambda: recurrent(
        "LSTM", activations=["Sigmoid", "Tanh", "Tanh"],
        activation_alpha=[0.5]),
    "lstm_short_lens": lambda: recurrent("LSTM", seq_lens=[SEQ, 1, SEQ]),
    "lstm_runtime_lens": lambda: recurrent("LSTM", seq_lens_input=True),
    "gru_layout2": lambda: recurrent("GRU", layout=2),
    "gru_hidden_size": lambda: wrong_hidden_size(recurrent("GRU")),
}


def main():
    name, out = sys.argv[1:3]
    onnx.save(MODELS[name](), out)


if __name__ == "__main__":
    main()
