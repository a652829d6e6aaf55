#!/usr/bin/python3
"""Models whose weights are stored as real models store them, and checks of
what ppc and pprun make of them.

usage: make_weights.py MODEL DIR          writes DIR/model.onnx (and its
                                          weight files), DIR/x.npy and
                                          DIR/expected.npy (numpy's result)
       make_weights.py compare A.npy B.npy
                                          exits 1 unless equal (NaN = NaN)
       make_weights.py tensor DIR NAME DTYPE EXPECTED.npy
                                          exits 1 unless the stage weights in
                                          DIR hold NAME as DTYPE with
                                          EXPECTED's bytes
"""
import json
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F, F16, BF16 = TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16
rng = np.random.default_rng(0)


def to_bf16(a):
    """bf16 bit patterns of float32 `a` (round to nearest even)."""
    u = np.asarray(a, np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def from_bf16(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def model(nodes, inits, x_type=F, y_type=F, x_shape=(2, 4), y_shape=(2, 3)):
    g = helper.make_graph(nodes, "g",
                          [helper.make_tensor_value_info("x", x_type, list(x_shape))],
                          [helper.make_tensor_value_info("y", y_type, list(y_shape))],
                          inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def mlp_nodes():
    return [helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
            helper.make_node("Add", ["h", "b1"], ["h1"], name="add1"),
            helper.make_node("Relu", ["h1"], ["h2"], name="relu"),
            helper.make_node("MatMul", ["h2", "w2"], ["h3"], name="fc2"),
            helper.make_node("Add", ["h3", "b2"], ["y"], name="add2")]


def mlp_weights():
    return (rng.standard_normal((4, 8)).astype(np.float32),
            rng.standard_normal(8).astype(np.float32),
            rng.standard_normal((8, 3)).astype(np.float32),
            rng.standard_normal(3).astype(np.float32))


def mlp(x, w1, b1, w2, b2):
    return np.maximum(x @ w1 + b1, 0) @ w2 + b2


def external(name, array, folder, location, offset):
    """`array` written into folder/location at `offset`, and its proto."""
    path = os.path.join(folder, location)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "r+b" if os.path.exists(path) else "wb") as f:
        f.seek(offset)
        f.write(array.tobytes())
    t = numpy_helper.from_array(array, name)
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)),
                 ("length", str(array.nbytes))):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def sharded(folder):
    # Each initializer names its own file: two in one file (the second at a
    # page-aligned offset), one in a subfolder, one at an odd offset after
    # other bytes, as sharded checkpoints and hand-written tools leave them.
    w1, b1, w2, b2 = mlp_weights()
    inits = [external("w1", w1, folder, "shard-0.bin", 0),
             external("b1", b1, folder, "shard-0.bin", 4096),
             external("w2", w2, folder, "more/shard-1.bin", 0),
             external("b2", b2, folder, "shard-2.bin", 13)]
    x = rng.standard_normal((2, 4)).astype(np.float32)
    return model(mlp_nodes(), inits), x, mlp(x, w1, b1, w2, b2)


def onnx_external(folder):
    # onnx's own writer, one file per tensor.
    w1, b1, w2, b2 = mlp_weights()
    m = model(mlp_nodes(), [numpy_helper.from_array(a, n) for a, n in
                            ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))])
    onnx.save_model(m, os.path.join(folder, "model.onnx"),
                    save_as_external_data=True, all_tensors_to_one_file=False,
                    size_threshold=0)
    x = rng.standard_normal((2, 4)).astype(np.float32)
    return None, x, mlp(x, w1, b1, w2, b2)


def half_weights(folder):
    # Weights stored in bf16 and f16 (external and raw), cast to f32 at use.
    w1, b1, w2, b2 = mlp_weights()
    w1b = to_bf16(w1)
    inits = [external("w1", w1b, folder, "w1.bin", 0)]
    inits[0].data_type = BF16
    inits += [numpy_helper.from_array(b1.astype(np.float16), "b1"),
              numpy_helper.from_array(w2.astype(np.float16), "w2"),
              numpy_helper.from_array(b2, "b2")]
    nodes = [helper.make_node("Cast", [n], [n + "_f"], name="cast_" + n, to=F)
             for n in ("w1", "b1", "w2")]
    nodes += [helper.make_node("MatMul", ["x", "w1_f"], ["h"], name="fc1"),
              helper.make_node("Add", ["h", "b1_f"], ["h1"], name="add1"),
              helper.make_node("Relu", ["h1"], ["h2"], name="relu"),
              helper.make_node("MatMul", ["h2", "w2_f"], ["h3"], name="fc2"),
              helper.make_node("Add", ["h3", "b2"], ["y"], name="add2")]
    x = rng.standard_normal((2, 4)).astype(np.float32)
    want = mlp(x, from_bf16(w1b), b1.astype(np.float16).astype(np.float32),
               w2.astype(np.float16).astype(np.float32), b2)
    return model(nodes, inits), x, want


SPECIAL = np.array([0.0, -0.0, 1.0, -2.5, 6.1e-5, 5.96e-8, -3.0e-7, 65504.0,
                    np.inf, -np.inf, np.nan, 1e-3], np.float32)


def all_half(folder):
    # A model computed in f16 throughout, as model.half() exports: input,
    # weights and output f16. One weight holds every kind of half value
    # (signed zeros, subnormals, the largest, infinities, NaN).
    special = SPECIAL.astype(np.float16).reshape(1, 12)
    w = (rng.standard_normal((12, 12)) * 0.5).astype(np.float16)
    nodes = [helper.make_node("Add", ["x", "special"], ["s"], name="add"),
             helper.make_node("MatMul", ["x", "w"], ["m"], name="mm"),
             helper.make_node("Concat", ["s", "m"], ["y"], name="cat", axis=0)]
    inits = [external("special", special, folder, "special.bin", 0),
             numpy_helper.from_array(w, "w")]
    np.save(os.path.join(folder, "special_f32.npy"), special.astype(np.float32))
    x = (rng.standard_normal((1, 12)) * 0.5).astype(np.float16)
    xf = x.astype(np.float32)
    want = np.concatenate([xf + special.astype(np.float32),
                           xf @ w.astype(np.float32)]).astype(np.float16)
    return (model(nodes, inits, F16, F16, (1, 12), (2, 12)), x, want)


def bf16_training(folder):
    # bf16 weights cast to f32, trained: the parameters become f32.
    w1, b1, w2, b2 = mlp_weights()
    inits = [helper.make_tensor(n, BF16, a.shape, to_bf16(a).tobytes(), raw=True)
             for n, a in (("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2))]
    nodes = [helper.make_node("Cast", [n], [n + "_f"], name="cast_" + n, to=F)
             for n in ("w1", "b1", "w2", "b2")]
    nodes += [helper.make_node("MatMul", ["x", "w1_f"], ["h"], name="fc1"),
              helper.make_node("Add", ["h", "b1_f"], ["h1"], name="add1"),
              helper.make_node("Relu", ["h1"], ["h2"], name="relu"),
              helper.make_node("MatMul", ["h2", "w2_f"], ["h3"], name="fc2"),
              helper.make_node("Add", ["h3", "b2_f"], ["y"], name="add2")]
    x = rng.standard_normal((2, 4)).astype(np.float32)
    np.save(os.path.join(folder, "w1_f32.npy"), from_bf16(to_bf16(w1)).reshape(4, 8))
    # Training data: two micro-batches of two samples.
    np.save(os.path.join(folder, "data_x.npy"),
            rng.standard_normal((4, 4)).astype(np.float32))
    np.save(os.path.join(folder, "labels.npy"), np.array([0, 2, 1, 0], np.int64))
    return model(nodes, inits), x, mlp(x, *(from_bf16(to_bf16(a)) for a in (w1, b1, w2, b2)))


def typed_fields(folder):
    # Weights in the proto's typed fields, not raw_data: float_data (80000
    # values, more than ppc folds), and f16 bit patterns in int32_data.
    w = rng.standard_normal((4, 20000)).astype(np.float32)
    b = rng.standard_normal(20000).astype(np.float16)
    wt = helper.make_tensor("w", F, w.shape, w.flatten().tolist())
    bt = helper.make_tensor("b", F16, b.shape, b.view(np.uint16).tolist())
    bt.ClearField("int32_data")
    bt.int32_data.extend(b.view(np.uint16).astype(np.int32).tolist())
    assert not wt.raw_data and not bt.raw_data
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
             helper.make_node("Cast", ["b"], ["bf"], name="cast", to=F),
             helper.make_node("Add", ["h", "bf"], ["y"], name="add")]
    x = rng.standard_normal((2, 4)).astype(np.float32)
    return (model(nodes, [wt, bt], y_shape=(2, 20000)), x,
            x @ w + b.astype(np.float32))


MODELS = {f.__name__: f for f in
          [sharded, onnx_external, half_weights, all_half, bf16_training,
           typed_fields]}


def compare(a, b):
    x, y = np.load(a), np.load(b)
    if x.dtype != y.dtype or x.shape != y.shape:
        sys.exit(f"{a}: {x.dtype}{list(x.shape)}, {b}: {y.dtype}{list(y.shape)}")
    xf, yf = x.astype(np.float64), y.astype(np.float64)
    same = (xf == yf) | (np.isnan(xf) & np.isnan(yf))
    # Sums in another order: a few f32 ulps apart, which may round to the
    # neighbouring f16.
    tol = {np.dtype(np.float32): (1e-5, 1e-6), np.dtype(np.float16): (2e-3, 1e-4)}
    rtol, atol = tol.get(x.dtype, (0, 0))
    close = np.isfinite(xf) & np.isfinite(yf) & np.isclose(xf, yf, rtol=rtol, atol=atol)
    if not np.all(same | close):
        sys.exit(f"{a} and {b} differ:\n{x}\n{y}")


def tensor(folder, name, dtype, expected):
    for file in sorted(os.listdir(folder)):
        if not file.endswith(".safetensors"):
            continue
        path = os.path.join(folder, file)
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
            if name not in header:
                continue
            entry = header[name]
            b, e = entry["data_offsets"]
            f.seek(8 + n + b)
            data = f.read(e - b)
            break
    else:
        sys.exit(f"{folder}: no stage holds '{name}'")
    want = np.load(expected)
    if entry["dtype"] != dtype or data != want.tobytes():
        sys.exit(f"{path}: '{name}' is {entry['dtype']} {entry['shape']}, "
                 f"not {dtype} with the bytes of {expected}")


if __name__ == "__main__":
    if sys.argv[1] == "compare":
        compare(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "tensor":
        tensor(*sys.argv[2:6])
    else:
        folder = sys.argv[2]
        os.makedirs(folder, exist_ok=True)
        m, x, want = MODELS[sys.argv[1]](folder)
        if m is not None:
            onnx.save(m, os.path.join(folder, "model.onnx"))
        np.save(os.path.join(folder, "x.npy"), x)
        np.save(os.path.join(folder, "expected.npy"), want)
