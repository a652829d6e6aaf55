#!/usr/bin/python3
"""Runs every ONNX backend node test (Debian's libonnx-testdata) that ppc
imports through `ppc -stages=1` and `pprun`, and compares the outputs with
the test's expected outputs at ONNX's tolerances (rtol 1e-3, atol 1e-7).

Tests the importer cannot take are listed in import_xfail.txt already; tests
that import but do not run or do not match must be listed, with their cause,
in run_xfail.txt. A listed test that passes is an error, so the list stays
true.

usage: onnx_node_run.py PPC PPRUN [--data DIR] [--verbose] [--jobs N]
"""
import argparse
import concurrent.futures
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_node_import import (EXTRA_OPS, ISSUE_OPS, frozen_inputs,  # noqa: E402
                              load_xfail, test_ops)

HERE = os.path.dirname(os.path.abspath(__file__))


def read_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def compile_case(ppc, data, name, out):
    """Compiles node test `name` into `out` (`ppc -stages=1`). Returns
    (error or "", [(input name, array)] to pass to pprun, [(output name,
    expected array)])."""
    test = os.path.join(data, name)
    model = onnx.load(os.path.join(test, "model.onnx"))
    sets = os.path.join(test, "test_data_set_0")
    frozen = dict(frozen_inputs(model))
    cmd = [ppc, os.path.join(test, "model.onnx"), "-stages=1",
           "-microbatches=1", "-device=cpu", "-o", out]
    for idx, inp in frozen.items():
        cmd.append(f"-bind={inp}=" + os.path.join(sets, f"input_{idx}.pb"))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode:
        return "ppc: " + (r.stderr.strip().splitlines() or ["?"])[0], [], []
    initializers = {i.name for i in model.graph.initializer}
    graph_inputs = [i.name for i in model.graph.input
                    if i.name not in initializers]
    inputs = [(inp, read_pb(os.path.join(sets, f"input_{idx}.pb")))
              for idx, inp in enumerate(graph_inputs) if idx not in frozen]
    outputs = [(o.name, read_pb(os.path.join(sets, f"output_{idx}.pb")))
               for idx, o in enumerate(model.graph.output)]
    return "", inputs, outputs


def compare(name, got, want):
    """(ok, message): one output against ONNX's expected values, at ONNX's
    tolerances (rtol 1e-3, atol 1e-7) for floats, exactly otherwise."""
    if want.dtype.name == "bfloat16":
        # onnx >= 1.15 reads bfloat16 as ml_dtypes' type; pprun writes its
        # bits as uint16 (numpy has none).
        if got.dtype == np.uint16:
            got = got.view(want.dtype)
        got, want = got.astype(np.float32), want.astype(np.float32)
    if got.shape != want.shape:
        return False, f"output {name}: shape {got.shape}, want {want.shape}"
    if want.dtype.kind in "fc":
        if not np.allclose(got, want, rtol=1e-3, atol=1e-7, equal_nan=True):
            err = np.nanmax(np.abs(got.astype(np.float64) - want))
            return False, f"output {name}: max abs error {err:.3g}"
    elif not np.array_equal(got, want):
        return False, f"output {name}: values differ"
    return True, ""


def run_one(ppc, pprun, data, name, check=None):
    """(ok, message) for one node test. `check`, when given, is called with
    the compiled directory and returns a message for a failure or ""."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        error, inputs, outputs = compile_case(ppc, data, name, out)
        if error:
            return False, error
        if check:
            error = check(out)
            if error:
                return False, error
        run = [pprun, out, "--output-dir", os.path.join(tmp, "res")]
        for idx, (inp, value) in enumerate(inputs):
            npy = os.path.join(tmp, f"in{idx}.npy")
            if value.dtype.name == "bfloat16":
                value = value.view(np.uint16)  # pprun reads bfloat16 bits so
            np.save(npy, value)
            run.append(f"--input={inp}={npy}")
        r = subprocess.run(run, capture_output=True, text=True, timeout=120)
        if r.returncode:
            return False, "pprun: " + (r.stderr.strip().splitlines() or ["?"])[0]
        for oname, want in outputs:
            ok, message = compare(
                oname, np.load(os.path.join(tmp, "res", f"{oname}.npy")), want)
            if not ok:
                return False, message
    return True, ""


def runnable_tests(data):
    """The node tests to run: every one ppc imports (not in
    import_xfail.txt) whose ops are all supported, with its ops; and the
    known run failures (run_xfail.txt)."""
    import_xfail = load_xfail(os.path.join(HERE, "import_xfail.txt"))
    run_xfail = load_xfail(os.path.join(HERE, "run_xfail.txt"))
    supported = ISSUE_OPS | EXTRA_OPS
    tests = []
    for name in sorted(os.listdir(data)):
        path = os.path.join(data, name, "model.onnx")
        if not os.path.exists(path) or name in import_xfail:
            continue
        ops = test_ops(onnx.load(path))
        if ops and ops <= supported:
            tests.append((name, sorted(ops)))
    return tests, run_xfail


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ppc")
    ap.add_argument("pprun")
    ap.add_argument("--data", default="/usr/share/libonnx-testdata/data/node")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    if not os.path.isdir(args.data):
        print(f"no ONNX test data at {args.data} (install libonnx-testdata)")
        return 1
    tests, run_xfail = runnable_tests(args.data)
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(
            lambda t: run_one(args.ppc, args.pprun, args.data, t[0]), tests))
    families = {}  # op -> [passed, total, listed]
    unexpected = []
    for (name, ops), (ok, message) in zip(tests, results):
        family = ops[0] if len(ops) == 1 else "+".join(ops)
        f = families.setdefault(family, [0, 0, 0])
        f[1] += 1
        f[0] += ok
        f[2] += (not ok) and name in run_xfail
        if ok and name in run_xfail:
            unexpected.append(f"XPASS {name} (listed: {run_xfail[name]})")
        elif not ok and name not in run_xfail:
            unexpected.append(f"FAIL  {name}: {message}")
        elif args.verbose:
            print(("PASS  " if ok else "XFAIL ") + name +
                  ("" if ok else ": " + message))
    for line in unexpected:
        print(line)
    print("op family: passed/run (known failures)")
    for family, (p, t, x) in sorted(families.items()):
        print(f"  {family}: {p}/{t}" + (f" ({x} in run_xfail.txt)" if x else ""))
    passed = sum(f[0] for f in families.values())
    print(f"{passed} of {len(tests)} node tests run and match; "
          f"{len(unexpected)} unexpected")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
