#!/usr/bin/python3
"""Times `ppc -emit=mlir` on a GPT-2-small-shaped model (12 layers, d=768,
vocab 50257, seq 1024, ~124M parameters), exported once with torch.

usage: bench/import_gpt2.py PPC [--cache DIR] [--runs N] [--layers L ...]
Prints a table: model size, wall time (median of N), peak resident memory
and its ratio to the model's bytes. Goal: under 3 s and under 2x.
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import measure, model_path  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ppc")
    ap.add_argument("--cache", default="build/bench-models")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--models", nargs="*", default=["gpt2-small"])
    args = ap.parse_args()
    rows = []
    for name in args.models:
        path = model_path(name, args.cache)
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
