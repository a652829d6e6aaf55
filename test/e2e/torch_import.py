#!/usr/bin/python3
"""Exports real models with torch.onnx.export (opsets 17 and 13) and checks
that ppc imports and verifies each, raw and after -pp-canonicalize.

usage: torch_import.py PPC CACHE_DIR
Exit 77 (skipped) when PyTorch is not installed.
"""
import os
import subprocess
import sys

try:
    import torch  # noqa: F401
    import torchvision  # noqa: F401
except ImportError:
    print("PyTorch/torchvision not installed: skipped")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402

MODELS = ["gpt", "vit", "resnet50", "mobilenet_v2", "densenet121", "vgg11"]
OPSETS = [17, 13]


def main():
    ppc, cache = sys.argv[1], sys.argv[2]
    passed, failed = 0, []
    for name in MODELS:
        for opset in OPSETS:
            path = models.cached_export(name, cache, opset)
            for extra in ([], ["-canonicalize"]):
                cmd = [ppc, path, "-batch=2"] + extra
                r = subprocess.run(cmd, capture_output=True, text=True)
                label = f"{name} opset {opset} {' '.join(extra)}".strip()
                if r.returncode == 0:
                    passed += 1
                    ops = [l for l in r.stdout.splitlines() if "ops:" in l]
                    print(f"PASS {label}: {ops[0].strip() if ops else ''}")
                else:
                    failed.append(label)
                    print(f"FAIL {label}: {r.stderr.strip()}")
    print(f"{passed} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
