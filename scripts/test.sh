#!/usr/bin/env bash
# Sets up (packages, build) and runs every test: lit, GoogleTest, the ONNX
# conformance sweep and the PyTorch model imports.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd build
ctest --output-on-failure -j2
