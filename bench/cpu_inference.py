#!/usr/bin/python3
"""CPU inference: pprun against ONNX Runtime (Python, build/venv's) on the
same model, input and thread count, in one run; and a 4-stage pipeline on the
local transport against 1 stage at the same micro-batches.

usage: bench/cpu_inference.py PPC PPRUN [--cache DIR] [--threads N]
       [--runs N] [--models M ...]
ONNX Runtime is the onnxruntime package that scripts/setup.sh installs into
build/venv (bench/ort_run.py runs there). Goals (issue 4): pprun at least
0.5x ONNX Runtime's throughput; 4 stages at most 1.2x the wall time of 1.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import model_path  # noqa: E402
import ort_venv  # noqa: E402  (test/e2e, on benchlib's path)

BATCH = {"resnet18": 8, "gpt-bench": 4}
CONV_MODELS = {"resnet18"}


def pprun_ms(pprun, out, args, env=None):
    r = subprocess.run([pprun, out] + args, capture_output=True, text=True,
                       check=True, env=dict(os.environ, **(env or {})))
    return float(re.search(r"([0-9.]+) ms per batch", r.stdout).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ppc")
    ap.add_argument("pprun")
    ap.add_argument("--cache", default="build/bench-models")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--models", nargs="*", default=["resnet18", "gpt-bench"])
    args = ap.parse_args()
    try:
        ort_version = ort_venv.version()
    except RuntimeError as e:
        sys.exit(f"cpu_inference.py: {e}")
    rows, pipe_rows = [], []
    for name in args.models:
        import models
        path = model_path(name, args.cache)
        _, example, input_name = models.make(name)
        batch = BATCH.get(name, 4)
        rng = np.random.default_rng(0)
        if str(example.dtype) == "torch.int64":
            x = rng.integers(0, 256, (batch,) + tuple(example.shape[1:]))
        else:
            x = rng.standard_normal((batch,) + tuple(example.shape[1:]),
                                    dtype=np.float32)
        with tempfile.TemporaryDirectory() as tmp:
            inp = os.path.join(tmp, "x.npy")
            np.save(inp, x)
            one = os.path.join(tmp, "one")
            subprocess.run([args.ppc, path, "-stages=1", f"-batch={batch}",
                            "-microbatches=1", "-device=cpu", "-o", one],
                           check=True, capture_output=True)
            one_args = [f"--input={input_name}={inp}",
                        f"--threads={args.threads}",
                        f"--iterations={args.runs + 1}"]
            ms = pprun_ms(args.pprun, one,
                          one_args + ["--output-dir", tmp + "/o1"])
            # The two convolution methods of the CPU backend, side by side.
            im2col_ms = None
            if name in CONV_MODELS:
                im2col_ms = pprun_ms(args.pprun, one,
                                     one_args + ["--output-dir", tmp + "/o2"],
                                     env={"PPRT_CONV": "im2col"})
            got = np.load(os.path.join(tmp, "o1", "output.npy"))
            try:
                ort_ms, want = ort_venv.run(
                    path, input_name, inp, args.threads, args.runs,
                    os.path.join(tmp, "ort.bin"), got.shape)
            except RuntimeError as e:
                sys.exit(f"cpu_inference.py: {name}: {e}")
            err = np.abs(got - want).max() / np.abs(want).max()
            rows.append((name, batch, ms, ort_ms, err, im2col_ms))

            # The pipeline's own overhead: 4 stages against 1 at the same
            # micro-batches, one thread per rank.
            m = 4
            pipe = {}
            for k in (1, 4):
                out = os.path.join(tmp, f"k{k}")
                subprocess.run([args.ppc, path, f"-stages={k}",
                                f"-batch={batch}",
                                f"-microbatches={m}", "-device=cpu", "-o", out],
                               check=True, capture_output=True)
            for k in (1, 4):
                pipe[k] = pprun_ms(args.pprun, os.path.join(tmp, f"k{k}"), [
                    f"--input={input_name}={inp}", "--threads=1",
                    f"--iterations={args.runs + 1}",
                    "--output-dir", tmp + f"/p{k}"])
            pipe_rows.append((name, batch, m, pipe[1], pipe[4]))
    core = os.environ.get("OPENBLAS_CORETYPE")
    print(f"CPU inference against ONNX Runtime {ort_version} (Python), "
          f"{args.threads} threads, {os.cpu_count()} cores; "
          "times are ms per batch (mean of the timed runs, after a warm-up)"
          + (f"; OPENBLAS_CORETYPE={core}" if core else ""))
    print(f"{'model':<10} {'batch':>5} {'pprun ms':>9} {'ORT ms':>8} "
          f"{'pprun/ORT throughput':>21} {'max rel diff':>13} "
          f"{'conv by im2col ms':>18}")
    for name, batch, ms, ort_ms, err, im2col_ms in rows:
        im2col = f"{im2col_ms:.1f}" if im2col_ms is not None else "-"
        print(f"{name:<10} {batch:>5} {ms:>9.1f} {ort_ms:>8.1f} "
              f"{ort_ms / ms:>21.2f} {err:>13.1e} {im2col:>18}")
    print(f"\n{'model':<10} {'batch':>5} {'M':>3} {'1 stage ms':>11} "
          f"{'4 stages ms':>12} {'ratio':>6}  (local transport, 1 "
          "thread per rank)")
    for name, batch, m, t1, t4 in pipe_rows:
        print(f"{name:<10} {batch:>5} {m:>3} {t1:>11.1f} {t4:>12.1f} "
              f"{t4 / t1:>6.2f}")


if __name__ == "__main__":
    main()
