#!/usr/bin/env python3
"""The CUDA backend against the CPU backend, on the GPU machine: every
pipeline that make_checks.py compiled (DIR/<name>/check.json) runs through
`pprun --backend=cpu` and `--backend=cuda` (and `--backend=cuda --tf32`
for inference), and the results are compared:

  infer  the outputs, max |cuda - cpu| / max |cpu| under rtol (fp32) or
         rtol_tf32 (TF32 products);
  train  the loss of every step (rtol) and the last step's gradients
         (grad_rtol), from --metrics and --save-gradients;
  error  the run fails with one line containing `expect` (a token out of
         the vocabulary, a kernel not on CUDA yet, out of device memory).

DIR/conformance/<test>/ (ONNX node tests that pass on the CPU) run through
--backend=cuda against ONNX's expected outputs at ONNX's tolerances, the
comparison test/conformance/onnx_node_run.py makes; failures are grouped
by their first line.

usage: cuda_check.py PPRUN DIR REPORT.md     exit 1 when a check fails
       (CUDA_CHECK_ONLY=REGEX: only the node tests and pipelines whose
       names it matches)
"""
import collections
import concurrent.futures
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "test", "conformance"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "test", "e2e"))
import safetensors_io  # noqa: E402


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)) \
        if a.size else 0.0


def pprun(*args, timeout=600):
    r = subprocess.run([PPRUN, *args], capture_output=True, text=True,
                       timeout=timeout)
    return r.returncode, (r.stderr.strip() or r.stdout.strip())


PPRUN, DIR, REPORT = sys.argv[1:4]
ONLY = re.compile(os.environ.get("CUDA_CHECK_ONLY", ""))


def wanted(path):
    return ONLY.search(os.path.basename(os.path.dirname(path)))
rows, failures, checks = [], [], [0]


def result(name, what, value, ok, note=""):
    checks[0] += 1
    rows.append(f"| {name} | {what} | {value} | {'ok' if ok else 'FAIL'} "
                f"| {note} |")
    print(f"{'PASS' if ok else 'FAIL'} {name} {what}: {value} {note}",
          flush=True)
    if not ok:
        failures.append(f"{name} {what}")


def conformance_case(case):
    """"" or the failure, for one compiled node test on --backend=cuda."""
    from onnx_node_run import compare
    spec = json.load(open(os.path.join(case, "case.json")))
    with tempfile.TemporaryDirectory() as tmp:
        args = [f"--input={n}={os.path.join(case, f)}" for n, f in spec["inputs"]]
        rc, text = pprun(os.path.join(case, "out"), *args, "--backend=cuda",
                         f"--output-dir={tmp}", timeout=120)
        if rc:
            return (text.splitlines() or ["?"])[-1]
        for n, f in spec["outputs"]:
            ok, message = compare(n, np.load(os.path.join(tmp, f"{n}.npy")),
                                  np.load(os.path.join(case, f)))
            if not ok:
                return message
    return ""


cases = sorted(c for c in glob.glob(os.path.join(DIR, "conformance", "*",
                                                 "case.json")) if wanted(c))
if cases:
    names = [os.path.basename(os.path.dirname(c)) for c in cases]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        outcome = list(pool.map(conformance_case,
                                [os.path.dirname(c) for c in cases]))
    causes = collections.Counter()
    for name, why in zip(names, outcome):
        if why:
            # Group "... kernel 'conv' is not implemented ..." and the like
            # by their text without the node's name.
            key = why.split("': ", 1)[-1] if "node '" in why else why
            causes[key[:160]] += 1
            print(f"FAIL conformance {name}: {why}", flush=True)
    passed = outcome.count("")
    result("ONNX node tests", "on --backend=cuda against ONNX's outputs",
           f"{passed} of {len(cases)} pass", passed == len(cases))
    for why, count in causes.most_common(25):
        rows.append(f"| | {count} fail: | `{why}` | | |")

for spec_path in sorted(p for p in glob.glob(os.path.join(DIR, "*", "check.json"))
                        if wanted(p)):
    case = os.path.dirname(spec_path)
    name = os.path.basename(case)
    spec = json.load(open(spec_path))
    out = os.path.join(case, "out")
    with tempfile.TemporaryDirectory() as tmp:
        if spec["mode"] in ("infer", "error"):
            args = [f"--input={k}={os.path.join(case, v)}"
                    for k, v in spec["inputs"].items()]
            if spec["mode"] == "error":
                rc, text = pprun(out, *args, "--backend=cuda")
                line = text.splitlines()[-1] if text else ""
                ok = rc != 0 and spec["expect"] in line
                result(name, "error line", f"`{line}`", ok)
                continue
            res = {}
            for backend in ("cpu", "cuda", "tf32"):
                flags = ["--backend=cuda", "--tf32"] if backend == "tf32" \
                    else [f"--backend={backend}"]
                d = os.path.join(tmp, backend)
                rc, text = pprun(out, *args, *flags, f"--output-dir={d}")
                if rc:
                    result(name, backend, f"`{text}`", False)
                    break
                res[backend] = {os.path.basename(f): np.load(f)
                                for f in glob.glob(os.path.join(d, "*.npy"))}
            else:
                for backend, tol in (("cuda", spec["rtol"]),
                                     ("tf32", spec["rtol_tf32"])):
                    err = max(rel(res[backend][k], v)
                              for k, v in res["cpu"].items())
                    result(name, f"outputs {backend} vs cpu", f"{err:.2e}",
                           err < tol, f"tolerance {tol:g}")
        else:
            data = [f"--data={k}={os.path.join(case, v)}"
                    for k, v in spec["data"].items()]
            got = {}
            for backend in ("cpu", "cuda"):
                metrics = os.path.join(tmp, f"{backend}.jsonl")
                grads = os.path.join(tmp, f"{backend}.safetensors")
                rc, text = pprun(out, *data, f"--backend={backend}",
                                 f"--steps={spec['steps']}",
                                 f"--metrics={metrics}",
                                 f"--save-gradients={grads}")
                if rc:
                    result(name, backend, f"`{text}`", False)
                    break
                losses = [json.loads(l)["loss"] for l in open(metrics)]
                # One file per rank (FILE.rank<r>) beyond one rank.
                got[backend] = (losses, safetensors_io.read_all(grads + "*"))
            else:
                err = rel(got["cuda"][0], got["cpu"][0])
                result(name, f"losses of {spec['steps']} steps", f"{err:.2e}",
                       err < spec["rtol"], f"tolerance {spec['rtol']:g}")
                g_cpu, g_cuda = got["cpu"][1], got["cuda"][1]
                # Relative to each gradient's size, but never below 1e-4 of
                # the largest: a bias before batch normalisation has a
                # gradient of zero in exact arithmetic (rounding noise).
                scale = max((float(np.abs(v).max()) for v in g_cpu.values()
                             if v.size), default=0.0)
                errs = {k: float(np.abs(g_cuda[k].astype(np.float64) - v).max()
                                 / max(float(np.abs(v).max()), 1e-4 * scale,
                                       1e-30))
                        if k in g_cuda and g_cuda[k].shape == v.shape and v.size
                        else (0.0 if k in g_cuda and not v.size
                              else float("inf"))
                        for k, v in g_cpu.items()}
                worst = max(errs, key=errs.get) if errs else "-"
                err = errs.get(worst, float("inf"))
                result(name, f"gradients ({len(g_cpu)})", f"{err:.2e}",
                       err < spec["grad_rtol"] and set(g_cpu) == set(g_cuda),
                       f"worst {worst}, tolerance {spec['grad_rtol']:g}")

with open(REPORT, "a") as f:
    f.write("| pipeline | check | value | | note |\n|---|---|---|---|---|\n")
    f.write("\n".join(rows) + "\n\n")
    f.write(f"{checks[0] - len(failures)} of {checks[0]} checks pass\n\n")
print(f"{checks[0] - len(failures)} of {checks[0]} checks pass")
sys.exit(1 if failures else 0)
