#!/usr/bin/env bash
# Sets up, exports the built-in example (a small GPT-style decoder written
# in plain PyTorch) to ONNX, and compiles it with ppc into a 4-stage 1F1B
# pipeline in build/examples/gpt-pipeline/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p build/examples
model=build/examples/gpt.onnx
if [ ! -f "$model" ]; then
  /usr/bin/python3 examples/export_example.py gpt "$model"
fi
build/bin/ppc "$model" -batch=8 -canonicalize
build/bin/ppc "$model" -stages=4 -batch=16 -microbatches=8 -schedule=1f1b -device=cpu \
  -o build/examples/gpt-pipeline
