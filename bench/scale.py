#!/usr/bin/python3
"""Compiles a LLaMA-7B-shaped ONNX model (bf16 weights in external data,
sharded one file per layer) with `ppc -stages=8` and prints the time and the
memory of each phase.

usage: bench/scale.py PPC [--dir DIR] [--layers 32] [--keep] [--seq 128]

The model: 32 decoder layers, d 4096, 32 heads, FFN 11008 (SwiGLU as
MatMul, Sigmoid * x, Mul), vocab 32000, RMSNorm decomposed (Mul, ReduceMean,
Add, Sqrt, Div, Mul), rotary embeddings (Slice, Neg, Concat), causal
softmax attention, opset 17, everything bf16: 6.74e9 parameters, 13.5 GB.
The weights are written a chunk at a time, never held (the script's own
peak RSS is printed too), into DIR (default build/bench-models/llama7b),
and DIR is deleted after measuring unless --keep. Before ppc runs, the
model's files are written out and dropped from the page cache
(posix_fadvise), so that ppc reads them from the disk, as it would a model
larger than memory.

Goal (issue 16): ppc under 90 s and peak RSS under 3 GB.
"""
import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import TensorProto, helper

BF16 = TensorProto.BFLOAT16
I64 = TensorProto.INT64
ALIGN = 4096  # tensor offsets, as onnx's external-data writer aligns them


def to_bf16(a):
    """float32 array -> bf16 bit patterns (round to nearest even)."""
    u = np.asarray(a, np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


class Shards:
    """Writes tensors into external-data files without holding them."""

    def __init__(self, folder, chunk_elems=1 << 22):
        self.folder = folder
        rng = np.random.default_rng(0)
        # A pool of N(0, 0.02) values that tensors are cut from, so that
        # writing 13.5 GB costs disk time, not random-number time.
        self.pool = to_bf16(rng.standard_normal(chunk_elems) * 0.02).tobytes()
        self.files = {}
        self.written = 0

    def tensor(self, name, shape, location, fill=None):
        """An external-data TensorProto; its bytes go to `location` now."""
        n = int(np.prod(shape))
        f = self.files.get(location)
        if f is None:
            f = self.files[location] = open(os.path.join(self.folder, location), "wb")
        offset = (f.tell() + ALIGN - 1) // ALIGN * ALIGN
        f.seek(offset)
        left = 2 * n
        if fill is not None:
            f.write(to_bf16(np.full(n, fill, np.float32)).tobytes())
        else:
            start = (self.written // 2) % (len(self.pool) // 2) * 2
            while left:
                piece = self.pool[start:start + left]
                f.write(piece)
                left -= len(piece)
                start = 0
        self.written += 2 * n
        t = TensorProto()
        t.name = name
        t.data_type = BF16
        t.dims.extend(shape)
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", location), ("offset", str(offset)),
                     ("length", str(2 * n))):
            e = t.external_data.add()
            e.key, e.value = k, v
        return t

    def close(self):
        for f in self.files.values():
            f.close()


def bf16_const(name, array, shape=None):
    a = np.asarray(array, np.float32)
    return helper.make_node(
        "Constant", [], [name], name=name,
        value=helper.make_tensor("", BF16, list(a.shape if shape is None else shape),
                                 to_bf16(a).tobytes(), raw=True))


def i64_const(name, values):
    return helper.make_node("Constant", [], [name], name=name,
                            value=helper.make_tensor("", I64, [len(values)], values))


def build(folder, layers, d, heads, ffn, vocab, seq):
    os.makedirs(folder, exist_ok=True)
    shards = Shards(folder)
    nodes, inits = [], []
    hd = d // heads

    def node(op, inputs, output, name, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], name=name, **attrs))
        return output

    # Shared constants.
    nodes.append(bf16_const("eps", 1e-5, []))
    nodes.append(bf16_const("attn_scale", 1.0 / np.sqrt(hd), []))
    mask = np.triu(np.full((seq, seq), -np.inf, np.float32), 1)
    nodes.append(bf16_const("causal_mask", mask))
    inv = 1.0 / (10000 ** (np.arange(0, hd, 2) / hd))
    ang = np.outer(np.arange(seq), inv)
    ang = np.concatenate([ang, ang], axis=1)
    nodes.append(bf16_const("rope_cos", np.cos(ang)))
    nodes.append(bf16_const("rope_sin", np.sin(ang)))
    nodes.append(i64_const("split_shape", [0, seq, heads, hd]))
    nodes.append(i64_const("merge_shape", [0, seq, d]))
    nodes.append(i64_const("half_lo", [0]))
    nodes.append(i64_const("half_mid", [hd // 2]))
    nodes.append(i64_const("half_hi", [hd]))
    nodes.append(i64_const("last_axis", [3]))

    def rmsnorm(x, weight, p):
        sq = node("Mul", [x, x], p + "/sq", p + "/Mul")
        ms = node("ReduceMean", [sq], p + "/ms", p + "/ReduceMean", axes=[-1], keepdims=1)
        e = node("Add", [ms, "eps"], p + "/e", p + "/Add")
        r = node("Sqrt", [e], p + "/r", p + "/Sqrt")
        n = node("Div", [x, r], p + "/n", p + "/Div")
        return node("Mul", [n, weight], p + "/y", p + "/Mul_1")

    def rope(x, p):
        lo = node("Slice", [x, "half_lo", "half_mid", "last_axis"], p + "/lo", p + "/Slice")
        hi = node("Slice", [x, "half_mid", "half_hi", "last_axis"], p + "/hi", p + "/Slice_1")
        neg = node("Neg", [hi], p + "/neg", p + "/Neg")
        rot = node("Concat", [neg, lo], p + "/rot", p + "/Concat", axis=-1)
        a = node("Mul", [x, "rope_cos"], p + "/cos", p + "/Mul")
        b = node("Mul", [rot, "rope_sin"], p + "/sin", p + "/Mul_1")
        return node("Add", [a, b], p + "/y", p + "/Add")

    embed = "model.embed_tokens.weight"
    inits.append(shards.tensor(embed, [vocab, d], "model-embed.bin"))
    h = node("Gather", [embed, "input_ids"], "/embed/out", "/embed_tokens/Gather", axis=0)
    for i in range(layers):
        L = f"model.layers.{i}"
        P = f"/model/layers.{i}"
        loc = f"model-layer-{i:02d}.bin"
        w = {}
        for part, shape in (("input_layernorm.weight", [d]),
                            ("self_attn.q_proj.weight", [d, d]),
                            ("self_attn.k_proj.weight", [d, d]),
                            ("self_attn.v_proj.weight", [d, d]),
                            ("self_attn.o_proj.weight", [d, d]),
                            ("post_attention_layernorm.weight", [d]),
                            ("mlp.gate_proj.weight", [d, ffn]),
                            ("mlp.up_proj.weight", [d, ffn]),
                            ("mlp.down_proj.weight", [ffn, d])):
            w[part] = f"{L}.{part}"
            inits.append(shards.tensor(w[part], shape, loc,
                                       fill=1.0 if "norm" in part else None))
        n = rmsnorm(h, w["input_layernorm.weight"], P + "/input_layernorm")
        heads_of = {}
        for x in "qkv":
            t = node("MatMul", [n, w[f"self_attn.{x}_proj.weight"]],
                     f"{P}/{x}", f"{P}/self_attn/{x}_proj/MatMul")
            t = node("Reshape", [t, "split_shape"], f"{P}/{x}4", f"{P}/self_attn/Reshape_{x}")
            t = node("Transpose", [t], f"{P}/{x}t", f"{P}/self_attn/Transpose_{x}",
                     perm=[0, 2, 1, 3])
            heads_of[x] = t
        q = rope(heads_of["q"], P + "/self_attn/rope_q")
        k = rope(heads_of["k"], P + "/self_attn/rope_k")
        kt = node("Transpose", [k], P + "/kT", P + "/self_attn/Transpose_kT", perm=[0, 1, 3, 2])
        s = node("MatMul", [q, kt], P + "/scores", P + "/self_attn/MatMul")
        s = node("Mul", [s, "attn_scale"], P + "/scaled", P + "/self_attn/Mul")
        s = node("Add", [s, "causal_mask"], P + "/masked", P + "/self_attn/Add")
        a = node("Softmax", [s], P + "/probs", P + "/self_attn/Softmax", axis=-1)
        o = node("MatMul", [a, heads_of["v"]], P + "/ctx", P + "/self_attn/MatMul_1")
        o = node("Transpose", [o], P + "/ctxT", P + "/self_attn/Transpose_o", perm=[0, 2, 1, 3])
        o = node("Reshape", [o, "merge_shape"], P + "/ctx3", P + "/self_attn/Reshape_o")
        o = node("MatMul", [o, w["self_attn.o_proj.weight"]], P + "/attn",
                 P + "/self_attn/o_proj/MatMul")
        h = node("Add", [h, o], P + "/h1", P + "/Add")
        n = rmsnorm(h, w["post_attention_layernorm.weight"], P + "/post_attention_layernorm")
        g = node("MatMul", [n, w["mlp.gate_proj.weight"]], P + "/gate", P + "/mlp/gate_proj/MatMul")
        sg = node("Sigmoid", [g], P + "/sig", P + "/mlp/act_fn/Sigmoid")
        g = node("Mul", [g, sg], P + "/silu", P + "/mlp/act_fn/Mul")
        u = node("MatMul", [n, w["mlp.up_proj.weight"]], P + "/up", P + "/mlp/up_proj/MatMul")
        m = node("Mul", [g, u], P + "/gated", P + "/mlp/Mul")
        m = node("MatMul", [m, w["mlp.down_proj.weight"]], P + "/down", P + "/mlp/down_proj/MatMul")
        h = node("Add", [h, m], P + "/h2", P + "/Add_1")
    inits.append(shards.tensor("model.norm.weight", [d], "model-head.bin", fill=1.0))
    inits.append(shards.tensor("lm_head.weight", [d, vocab], "model-head.bin"))
    n = rmsnorm(h, "model.norm.weight", "/model/norm")
    node("MatMul", [n, "lm_head.weight"], "logits", "/lm_head/MatMul")
    shards.close()
    graph = helper.make_graph(
        nodes, "llama7b",
        [helper.make_tensor_value_info("input_ids", I64, ["batch", seq])],
        [helper.make_tensor_value_info("logits", BF16, ["batch", seq, vocab])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="ppc-bench-scale")
    model.ir_version = 8
    path = os.path.join(folder, "model.onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    params = sum(int(np.prod(t.dims)) for t in inits)
    return path, params, shards.written, len(nodes)


def run_ppc(cmd):
    """Wall time, peak RSS (bytes) and stderr of one ppc run, measured by
    GNU time: a child of this script would inherit the script's own peak
    (Linux keeps ru_maxrss across exec)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        p = subprocess.run(["/usr/bin/time", "-o", tf.name, "-f", "%e %M"] + cmd,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr}")
        wall, kb = tf.read().split()[-2:]
    return float(wall), int(kb) * 1024, p.stderr


def evict(folder):
    """Writes the model out and drops its files from the page cache, so that
    ppc reads them from the disk as a model larger than memory would be."""
    os.sync()
    for f in os.listdir(folder):
        fd = os.open(os.path.join(folder, f), os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)


def check_stage_weights(out, folder, names):
    """A few emitted tensors, byte for byte against the model's files."""
    import json
    import struct
    want = {}
    m = onnx.load(os.path.join(folder, "model.onnx"), load_external_data=False)
    for t in m.graph.initializer:
        if t.name in names:
            e = {x.key: x.value for x in t.external_data}
            want[t.name] = (e["location"], int(e["offset"]), int(e["length"]))
    found = 0
    for f in sorted(os.listdir(out)):
        if not f.endswith(".safetensors"):
            continue
        with open(os.path.join(out, f), "rb") as st:
            (n,) = struct.unpack("<Q", st.read(8))
            header = json.loads(st.read(n))
            for name, (loc, off, length) in want.items():
                if name not in header:
                    continue
                b, e = header[name]["data_offsets"]
                assert e - b == length, name
                for probe in (0, length // 2, length - 4096):
                    st.seek(8 + n + b + probe)
                    with open(os.path.join(folder, loc), "rb") as src:
                        src.seek(off + probe)
                        if st.read(4096) != src.read(4096):
                            raise SystemExit(f"{f}: {name} differs from {loc}")
                found += 1
    if found != len(want):
        raise SystemExit(f"only {found} of {len(want)} checked tensors emitted")
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ppc")
    ap.add_argument("--dir", default="build/bench-models/llama7b")
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--stages", type=int, default=8)
    ap.add_argument("--keep", action="store_true",
                    help="keep the model and the compiled directory")
    ap.add_argument("--reuse", action="store_true",
                    help="compile the model a --keep run left in --dir")
    args = ap.parse_args()
    folder = os.path.abspath(args.dir)
    out = folder + ".out"
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    if args.reuse:
        path = os.path.join(folder, "model.onnx")
        m = onnx.load(path, load_external_data=False)
        params = sum(int(np.prod(i.dims)) for i in m.graph.initializer)
        nbytes, nodes = 2 * params, len(m.graph.node)
    else:
        path, params, nbytes, nodes = build(folder, args.layers, 4096, 32,
                                            11008, 32000, args.seq)
    gen = time.perf_counter() - t
    gen_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    evict(folder)
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    print(f"model: {args.layers} layers, {params / 1e9:.2f}e9 parameters, "
          f"{nbytes / 1e9:.2f} GB bf16 in {args.layers + 2} files, {nodes} nodes; "
          f"written in {gen:.1f} s, generator peak RSS {gen_rss / 1e6:.0f} MB")
    cmd = [args.ppc, path, f"-batch={args.stages}", f"-stages={args.stages}",
           "-o", out, "-time-phases"]
    try:
        wall, rss, err = run_ppc(cmd)
        checked = check_stage_weights(
            out, folder, {"model.embed_tokens.weight", "lm_head.weight",
                          f"model.layers.{args.layers // 2}.mlp.up_proj.weight"})
        emitted = sum(os.path.getsize(os.path.join(out, f))
                      for f in os.listdir(out) if f.endswith(".safetensors"))
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(folder, ignore_errors=True)
    print(f"{cpu}, {os.cpu_count()} cores; {' '.join(cmd)}")
    print()
    print("| phase | s | RSS at end MB | peak RSS so far MB |")
    print("|---|---:|---:|---:|")
    for line in err.splitlines():
        m = re.match(r"\s+(.+?)\s+([\d.]+) s\s+([\d.]+) MB\s+([\d.]+) MB$", line)
        if m:
            print(f"| {m.group(1)} | {float(m.group(2)):.2f} | "
                  f"{float(m.group(3)):.0f} | {float(m.group(4)):.0f} |")
    print(f"| **ppc total (wall)** | **{wall:.2f}** | | **{rss / 1e6:.0f}** |")
    print()
    print(f"emitted {emitted / 1e9:.2f} GB of stage weights; {checked} tensors "
          f"checked byte for byte against the model's files; goal: under 90 s "
          f"({'met' if wall < 90 else 'missed'}) and under 3 GB peak RSS "
          f"({'met' if rss < 3e9 else 'missed'})")


if __name__ == "__main__":
    main()
