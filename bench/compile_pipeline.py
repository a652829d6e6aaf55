#!/usr/bin/python3
"""Times `ppc -stages=8 -o DIR` (import, canonicalize, cost, every partition
method compared, split, schedule, verify, emit) on GPT-2-small-shaped
decoders of 12, 24 and 48 layers, and prints the time per op so that growth
in the op count shows.

usage: bench/compile_pipeline.py PPC [--cache DIR] [--runs N] [--models M ...]
Goal (issue 3): under 5 s for 12 layers and 20 s for 48 on the 2-core
machine, growing no faster than n log n in ops.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import measure, model_path  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ppc")
    ap.add_argument("--cache", default="build/bench-models")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--stages", type=int, default=8)
    ap.add_argument("--models", nargs="*",
                    default=["gpt2-small", "gpt-l24", "gpt-l48"])
    args = ap.parse_args()
    rows = []
    for name in args.models:
        path = model_path(name, args.cache)
        with tempfile.TemporaryDirectory() as out:
            cmd = [args.ppc, path, f"-stages={args.stages}",
                   f"-batch={2 * args.stages}",
                   f"-microbatches={2 * args.stages}", "-o", out]
            runs = [measure(cmd) for _ in range(args.runs)]
            # Import alone, to separate the pipeline compiler's share.
            imp = [measure([args.ppc, path, "-batch=1", "-canonicalize",
                            "-emit=summary"]) for _ in range(args.runs)]
            summary = subprocess.run(
                [args.ppc, path, "-batch=1", "-canonicalize"],
                capture_output=True, text=True, check=True).stdout
        ops = int(re.search(r"ops: (\d+)", summary).group(1))
        wall = statistics.median(r[0] for r in runs)
        import_wall = statistics.median(r[0] for r in imp)
        rss = max(r[1] for r in runs)
        rows.append((name, os.path.getsize(path), ops, wall, import_wall, rss))
    print(f"{'model':<12} {'MB':>7} {'ops':>6} {'ppc -stages s':>14} "
          f"{'import s':>9} {'pipeline s':>11} {'ms/op':>7} {'peak RSS MB':>12}")
    for name, size, ops, wall, import_wall, rss in rows:
        print(f"{name:<12} {size / 2**20:>7.0f} {ops:>6} {wall:>14.2f} "
              f"{import_wall:>9.2f} {wall - import_wall:>11.2f} "
              f"{1e3 * (wall - import_wall) / ops:>7.2f} {rss / 2**20:>12.0f}")


if __name__ == "__main__":
    main()
