#!/usr/bin/env bash
# Sets up (packages, build) and runs every test: lit, GoogleTest, the ONNX
# conformance sweep and the PyTorch model imports; then the runtime's tests
# and the fuzz targets under ASan and UBSan (scripts/fuzz.sh, each target
# for PPC_FUZZ_SECONDS, default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd build
ctest --output-on-failure -j2
cd ..
scripts/fuzz.sh "${PPC_FUZZ_SECONDS:-30}"
