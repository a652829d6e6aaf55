#!/usr/bin/python3
"""Compiles real models into 1, 2 and 4 stages and runs them with pprun on
both transports, against PyTorch running the very module that was exported.

usage: pipeline_run.py PPC PPRUN CACHE_DIR [MODEL ...]
Checks, per model: max relative error (max |got - want| / max |want|)
under 1e-4 for every stage count and transport, and the 4-stage output
bitwise equal to the 1-stage one. Exit 77 (skipped) without PyTorch.
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
except ImportError:
    print("PyTorch not installed: skipped")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402

MODELS = ["gpt", "vit", "resnet50", "mobilenet_v2", "densenet121"]
MICROBATCHES = 4
TOLERANCE = 1e-4


# The steps, for this check and test/e2e/export_check.py.
def compile_pipeline(ppc, path, out, stages, batch, microbatches, *extra):
    """ppc's inference pipeline of `path` on the CPU in `out`: the
    CompletedProcess."""
    return subprocess.run(
        [ppc, path, f"-stages={stages}", f"-batch={batch}",
         f"-microbatches={microbatches}", "-device=cpu", "-o", out, *extra],
        capture_output=True, text=True)


def run_pipeline(pprun, out, inputs, res, transport="local", timeout=600):
    """pprun on the pipeline in `out` with inputs {name: file.npy}, the
    outputs written to `res`: the CompletedProcess."""
    return subprocess.run(
        [pprun, out] + [f"--input={n}={p}" for n, p in inputs.items()] +
        [f"--transport={transport}", f"--output-dir={res}"],
        capture_output=True, text=True, timeout=timeout)


def max_rel_err(got, want):
    """max |got - want| / max |want|."""
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))


def main():
    ppc, pprun, cache = sys.argv[1:4]
    names = sys.argv[4:] or MODELS
    failures = []
    for name in names:
        module, example, input_name = models.make(name)
        path = models.cached_export(name, cache)
        batch = example.shape[0] * MICROBATCHES
        torch.manual_seed(1)
        if example.dtype == torch.int64:
            x = torch.randint(0, 256, (batch,) + tuple(example.shape[1:]))
        else:
            x = torch.randn((batch,) + tuple(example.shape[1:]))
        with torch.no_grad():
            want = module(x).numpy()
        with tempfile.TemporaryDirectory() as tmp:
            inp = os.path.join(tmp, "input.npy")
            np.save(inp, x.numpy())
            outputs = {}
            for stages in (1, 2, 4):
                out = os.path.join(tmp, f"s{stages}")
                r = compile_pipeline(ppc, path, out, stages, batch,
                                     MICROBATCHES)
                if r.returncode:
                    failures.append(f"{name} {stages} stages: ppc: {r.stderr}")
                    continue
                for transport in ("local", "mpi"):
                    label = f"{name} {stages} stages {transport}"
                    res = os.path.join(out, transport)
                    r = run_pipeline(pprun, out, {input_name: inp}, res,
                                     transport)
                    if r.returncode:
                        failures.append(f"{label}: pprun: {r.stderr.strip()}")
                        print(f"FAIL {label}: {r.stderr.strip()}")
                        continue
                    got = np.load(os.path.join(res, "output.npy"))
                    err = max_rel_err(got, want)
                    ok = got.shape == want.shape and err < TOLERANCE
                    print(f"{'PASS' if ok else 'FAIL'} {label}: "
                          f"max rel err {err:.2e}")
                    if not ok:
                        failures.append(f"{label}: max rel err {err:.2e}")
                    outputs[(stages, transport)] = got
            one = outputs.get((1, "local"))
            for key, got in outputs.items():
                if one is not None and not np.array_equal(got, one):
                    failures.append(f"{name} {key[0]} stages {key[1]}: not "
                                    "bitwise equal to 1 stage")
                    print(f"FAIL {name} {key}: not bitwise equal to 1 stage")
            if one is not None and len(outputs) == 6:
                print(f"PASS {name}: 2 and 4 stages, local and mpi, bitwise "
                      "equal to 1 stage")
    for f in failures:
        print("failure:", f)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
