#!/usr/bin/env bash
# Sets up, exports the built-in example (a small GPT-style decoder written
# in plain PyTorch) to ONNX, compiles it with ppc into a 4-stage pipeline in
# build/examples/gpt-pipeline/, runs it with pprun and compares the measured
# timeline with the predicted one.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p build/examples
model=build/examples/gpt.onnx
if [ ! -f "$model" ]; then
  /usr/bin/python3 examples/export_example.py gpt "$model"
fi
out=build/examples/gpt-pipeline
build/bin/ppc "$model" -stages=4 -batch=16 -microbatches=8 -device=cpu -o "$out"
build/bin/pprun "$out" --trace "$out/measured-trace.json"
/usr/bin/python3 scripts/compare-trace.py "$out/trace.json" "$out/measured-trace.json"
