"""safetensors files with numpy alone (the test and bench scripts read what
pprun writes, and write weights for it): a u64 header length, a JSON
header of names, dtypes, shapes and offsets, then the bytes."""
import glob
import json

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64,
          "I32": np.int32, "BOOL": np.bool_, "U8": np.uint8, "I8": np.int8}


def read_header(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(n))


def read(path):
    """name -> array."""
    with open(path, "rb") as f:
        b = f.read()
    n = int.from_bytes(b[:8], "little")
    header = json.loads(b[8:8 + n])
    out = {}
    for name, v in header.items():
        if name == "__metadata__":
            continue
        s, e = v["data_offsets"]
        out[name] = np.frombuffer(b[8 + n + s:8 + n + e],
                                  dtype=DTYPES[v["dtype"]]).reshape(v["shape"])
    return out


def read_all(pattern):
    """Every file matching the pattern, merged (a checkpoint's stages, a
    run's FILE.rank<r>)."""
    out = {}
    for f in sorted(glob.glob(pattern)):
        out.update(read(f))
    return out


def write(path, tensors):
    """tensors: name -> array (of a type in DTYPES), in the given order."""
    names = {np.dtype(t): name for name, t in DTYPES.items()}
    meta, at = {}, 0
    arrays = [(n, np.ascontiguousarray(a)) for n, a in tensors.items()]
    for n, a in arrays:
        if a.dtype not in names:
            raise ValueError(f"{n}: no safetensors type for {a.dtype}")
        meta[n] = {"dtype": names[a.dtype], "shape": list(a.shape),
                   "data_offsets": [at, at + a.nbytes]}
        at += a.nbytes
    text = json.dumps(meta).encode()
    text += b" " * ((8 - (len(text) + 8) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for _, a in arrays:
            f.write(a.tobytes())
