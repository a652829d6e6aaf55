#!/usr/bin/python3
"""Runs the ONNX node tests of the opset-23 transformer ops (Attention,
RMSNormalization, RotaryEmbedding) through `ppc -stages=1` and pprun, as
onnx_node_run.py does for Debian's test data (opsets to 17).

Debian's libonnx-testdata stops at ONNX 1.12, so the cases are generated
from the case scripts of the current onnx package (build/venv's, the ONNX
reference implementation computes their outputs). Tests that import but
fail, or that ppc refuses by name (a KV cache, softcap, ...), are listed
with the cause in onnx23_run_xfail.txt; a listed test that passes is an
error. Exits 77 (skipped) while ppc does not take opset 23, or without the
venv (PPC_ONNX_PYTHON names another interpreter with onnx >= 1.18).

usage: onnx23_node_run.py PPC PPRUN WORKDIR
"""
import concurrent.futures
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import ort_venv  # noqa: E402
from onnx_node_import import load_xfail  # noqa: E402
from onnx_node_run import run_one  # noqa: E402

OPS = ["Attention", "RMSNormalization", "RotaryEmbedding"]

# Run by the venv's python: writes op's node tests as the ONNX backend test
# data lays them out (model.onnx, test_data_set_0/{input,output}_N.pb).
GENERATE = r'''
import os, sys
import warnings
warnings.simplefilter("ignore")
from onnx import TensorProto, numpy_helper
from onnx.backend.test.case import node
out, op = sys.argv[1], sys.argv[2]
for case in node.collect_testcases(op):
    if "expanded" in case.name:
        continue
    d = os.path.join(out, case.name)
    for i, (inputs, outputs) in enumerate(case.data_sets):
        ds = os.path.join(d, f"test_data_set_{i}")
        os.makedirs(ds, exist_ok=True)
        for kind, values, infos in (("input", inputs, case.model.graph.input),
                                    ("output", outputs, case.model.graph.output)):
            for j, x in enumerate(values):
                t = x if isinstance(x, TensorProto) else \
                    numpy_helper.from_array(x, infos[j].name)
                with open(os.path.join(ds, f"{kind}_{j}.pb"), "wb") as f:
                    f.write(t.SerializeToString())
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(case.model.SerializeToString())
'''


def main():
    ppc, pprun, work = sys.argv[1:4]
    # PPC_ONNX_PYTHON: another interpreter with a current onnx package.
    py = os.environ.get("PPC_ONNX_PYTHON")
    if not py:
        try:
            py = ort_venv.python()
        except RuntimeError as e:
            print(f"skipped: {e}")
            return 77
    data = os.path.join(work, "node")
    os.makedirs(data, exist_ok=True)
    for op in OPS:  # one process each: the case modules register once
        r = subprocess.run([py, "-c", GENERATE, data, op], capture_output=True,
                           text=True)
        if r.returncode:
            print(f"generating the {op} node tests failed: {r.stderr.strip()}")
            return 1
    names = sorted(os.listdir(data))
    probe = subprocess.run([ppc, os.path.join(data, names[0], "model.onnx"),
                            "-emit=mlir", "-o", os.devnull],
                           capture_output=True, text=True)
    if "supports opsets" in probe.stderr:
        print(f"skipped: {probe.stderr.strip()}")
        return 77
    xfail = load_xfail(os.path.join(HERE, "onnx23_run_xfail.txt"))

    def one(name):
        try:
            return run_one(ppc, pprun, data, name)
        except Exception as e:  # an output ONNX 1.12 cannot read (bf16)
            return False, f"{type(e).__name__}: {e}"
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        results = list(pool.map(one, names))
    unexpected, counts = [], {}
    for name, (ok, message) in zip(names, results):
        op = next(o for o in ("attention", "rms_normalization",
                              "rotary_embedding") if o in name)
        c = counts.setdefault(op, [0, 0, 0])
        c[1] += 1
        c[0] += ok
        c[2] += (not ok) and name in xfail
        if ok and name in xfail:
            unexpected.append(f"XPASS {name} (listed: {xfail[name]})")
        elif not ok and name not in xfail:
            unexpected.append(f"FAIL  {name}: {message}")
    for line in unexpected:
        print(line)
    for op, (p, t, x) in sorted(counts.items()):
        print(f"{op}: {p} of {t} node tests run and match; {x} known "
              "failures (onnx23_run_xfail.txt)")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
