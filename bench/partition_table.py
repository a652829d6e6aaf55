#!/usr/bin/python3
"""Partition quality: for each model and stage count, the predicted step time
of every partition method (from ppc's report.json), and how far the cost
partition's slowest stage is from the ideal total/K.

usage: bench/partition_table.py PPC [--cache DIR] [--models M ...]
       [--stages K ...] [--schedule S] [--device D]
Micro-batches are 2K of one sample each (batch 2K). The bound column is the
best any contiguous cut could do: max(total/K, the single slowest op).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import model_path  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ppc")
    ap.add_argument("--cache", default="build/bench-models")
    ap.add_argument("--models", nargs="*",
                    default=["gpt-l12-v8192", "gpt-l48-v8192", "gpt2-small",
                             "resnet50"])
    ap.add_argument("--stages", nargs="*", type=int, default=[2, 4, 8])
    ap.add_argument("--schedule", default="1f1b")
    ap.add_argument("--device", default="h100")
    args = ap.parse_args()
    print(f"schedule {args.schedule}, device {args.device}, "
          f"micro-batches 2K of 1 sample; step times in ms")
    print(f"{'model':<15} {'K':>2} {'uniform':>9} {'params':>9} {'cost':>9} "
          f"{'cost<=min':>9} {'slowest':>9} {'total/K':>9} {'bound':>9} "
          f"{'slow/(T/K)':>10}")
    worse = 0
    for name in args.models:
        path = model_path(name, args.cache)
        for k in args.stages:
            with tempfile.TemporaryDirectory() as out:
                cmd = [args.ppc, path, f"-stages={k}", f"-batch={2 * k}",
                       f"-microbatches={2 * k}", f"-schedule={args.schedule}",
                       f"-device={args.device}", "-o", out]
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode:
                    print(f"{name:<15} {k:>2} failed: {r.stderr.strip()}")
                    continue
                with open(os.path.join(out, "report.json")) as f:
                    report = json.load(f)
                with open(os.path.join(out, "pipeline.mlir")) as f:
                    slowest_op = max(
                        (float(t) for t in __import__("re").findall(
                            r"(?<![a-z_])time = ([0-9.eE+-]+) : f64", f.read())),
                        default=0)
            alts = {a["method"]: a for a in report["alternatives"]}
            step = {m: alts[m]["step_time"] for m in
                    ("uniform", "parameters", "cost")}
            ok = step["cost"] <= min(step["uniform"], step["parameters"]) * (1 + 1e-9)
            worse += not ok
            cost = alts["cost"]
            ideal = cost["total_stage_time"] / k
            bound = max(ideal, slowest_op)
            print(f"{name:<15} {k:>2} {step['uniform'] * 1e3:>9.3f} "
                  f"{step['parameters'] * 1e3:>9.3f} {step['cost'] * 1e3:>9.3f} "
                  f"{'yes' if ok else 'NO':>9} {cost['slowest_stage'] * 1e3:>9.3f} "
                  f"{ideal * 1e3:>9.3f} {bound * 1e3:>9.3f} "
                  f"{cost['slowest_stage'] / ideal:>10.3f}")
    if worse:
        print(f"{worse} rows where cost was worse than another method")


if __name__ == "__main__":
    main()
