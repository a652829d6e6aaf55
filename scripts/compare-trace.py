#!/usr/bin/python3
"""Prints the compiler's predicted trace (DIR/trace.json) and the runtime's
measured one (pprun --trace) side by side: per rank and action, predicted
and measured start and duration, and the step time of each.

usage: compare-trace.py PREDICTED.json MEASURED.json [--all]
Without --all, the first 12 actions of each rank.
"""
import json
import sys


def events(path):
    with open(path) as f:
        trace = json.load(f)
    out = {}
    for e in trace["traceEvents"]:
        if e.get("ph") != "X":
            continue
        rank = e["tid"] // 2
        out.setdefault(rank, []).append(
            (e["name"], e["ts"], e["dur"], e.get("cat", "")))
    for rank in out:
        out[rank].sort(key=lambda x: x[1])
    return out


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 1
    predicted, measured = events(sys.argv[1]), events(sys.argv[2])
    limit = None if "--all" in sys.argv else 12

    def span(evs):
        return max(t + d for _, t, d, _ in evs) - min(t for _, t, _, _ in evs)

    print(f"{'rank':<5} {'action':<34} {'predicted us':>22} {'measured us':>22}")
    print(f"{'':<5} {'':<34} {'start':>11}{'dur':>11} {'start':>11}{'dur':>11}")
    p0 = min((e[1] for evs in predicted.values() for e in evs), default=0)
    m0 = min((e[1] for evs in measured.values() for e in evs), default=0)
    for rank in sorted(set(predicted) | set(measured)):
        # Compute actions appear in both; match them by name in order.
        pred = [e for e in predicted.get(rank, []) if e[3] == "compute"]
        meas = [e for e in measured.get(rank, []) if e[3] == "compute"]
        names = {e[0]: e for e in meas}
        for i, (name, t, d, _) in enumerate(pred[:limit]):
            m = names.get(name)
            ms = f"{m[1] - m0:>11.1f}{m[2]:>11.1f}" if m else f"{'-':>22}"
            print(f"{rank:<5} {name:<34} {t - p0:>11.1f}{d:>11.1f} {ms}")
        if limit and len(pred) > limit:
            print(f"{rank:<5} ... {len(pred) - limit} more")
    all_pred = [e for evs in predicted.values() for e in evs]
    all_meas = [e for evs in measured.values() for e in evs]
    if all_pred and all_meas:
        p, m = span(all_pred), span(all_meas)
        print(f"step: predicted {p / 1e3:.3f} ms, measured {m / 1e3:.3f} ms "
              f"({m / p:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
