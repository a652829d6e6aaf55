#!/usr/bin/python3
"""Exports one of the models in test/e2e/models.py to ONNX.

usage: export_example.py NAME OUT.onnx [--opset N]
NAME: gpt, vit, gpt2-small, gpt-lN (N layers, GPT-2-small widths), or a
torchvision model name (resnet50, mobilenet_v2, ...).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "test", "e2e"))
import models  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("name")
ap.add_argument("out")
ap.add_argument("--opset", type=int, default=17)
args = ap.parse_args()
models.export(args.name, args.out + ".tmp", args.opset)
os.replace(args.out + ".tmp", args.out)
print(f"wrote {args.out}")
