#!/usr/bin/python3
"""Times `ppc -emit=mlir` on a GPT-2-small-shaped model (12 layers, d=768,
vocab 50257, seq 1024, ~124M parameters), exported once with torch.

usage: bench/import_gpt2.py PPC [--cache DIR] [--runs N] [--layers L ...]
Prints a table: model size, wall time (median of N), peak resident memory
and its ratio to the model's bytes. Goal: under 3 s and under 2x.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "test", "e2e"))


def measure(cmd):
    """Wall time and peak RSS (bytes) of one run of cmd, in a fresh child."""
    probe = ("import resource,subprocess,sys,time;"
             "t=time.perf_counter();"
             "r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL);"
             "w=time.perf_counter()-t;"
             "m=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss;"
             "print(r.returncode,w,m)")
    out = subprocess.run([sys.executable, "-c", probe] + cmd,
                         capture_output=True, text=True, check=True).stdout
    rc, wall, maxrss = out.split()
    if int(rc) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with {rc}")
    return float(wall), int(maxrss) * 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ppc")
    ap.add_argument("--cache", default="build/bench-models")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--models", nargs="*", default=["gpt2-small"])
    args = ap.parse_args()
    os.makedirs(args.cache, exist_ok=True)
    rows = []
    for name in args.models:
        path = os.path.join(args.cache, f"{name}.onnx")
        if not os.path.exists(path):
            import models
            t = time.perf_counter()
            models.export(name, path + ".tmp", 17)
            os.replace(path + ".tmp", path)
            print(f"exported {path} in {time.perf_counter() - t:.0f} s",
                  file=sys.stderr)
        size = os.path.getsize(path)
        cmd = [args.ppc, path, "-batch=1", "-emit=mlir", "-o", os.devnull]
        runs = [measure(cmd) for _ in range(args.runs)]
        wall = statistics.median(r[0] for r in runs)
        rss = max(r[1] for r in runs)
        rows.append((name, size, wall, rss))
    print(f"{'model':<12} {'model MB':>9} {'ppc -emit=mlir s':>17} "
          f"{'peak RSS MB':>12} {'RSS/model':>10}")
    for name, size, wall, rss in rows:
        print(f"{name:<12} {size / 2**20:>9.1f} {wall:>17.2f} "
              f"{rss / 2**20:>12.1f} {rss / size:>10.2f}")


if __name__ == "__main__":
    main()
