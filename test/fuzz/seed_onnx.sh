#!/usr/bin/env bash
# Writes the seed corpus of the ONNX importer's fuzzer into DIR: every model
# the lit tests generate (make_model.py, make_hostile.py) and a sample of
# ONNX's own node-test models (libonnx-testdata).
#   seed_onnx.sh DIR PYTHON
set -euo pipefail
dir=$1 python=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$dir"
gen=$src/test/Import/ONNX/Inputs/make_model.py
for name in $("$python" -c "import sys; sys.path.insert(0, '$(dirname "$gen")'); import make_model; print(' '.join(make_model.BUILDERS))"); do
  "$python" "$gen" "$name" "$dir/lit-$name.onnx"
done
hostile=$src/test/ppc/Inputs/make_hostile.py
scratch=$(mktemp -d)
for name in $("$python" -c "import sys; sys.path.insert(0, '$(dirname "$hostile")'); import make_hostile; print(' '.join(make_hostile.BUILDERS))"); do
  "$python" "$hostile" "$name" "$scratch/$name/m" && cp "$scratch/$name/m/model.onnx" "$dir/hostile-$name.onnx"
done
rm -rf "$scratch"
# ONNX's node-test models (opsets up to 17).
data=/usr/share/libonnx-testdata/data/node
if [ -d "$data" ]; then
  for t in "$data"/test_*; do
    [ -f "$t/model.onnx" ] && cp "$t/model.onnx" "$dir/node-$(basename "$t").onnx"
  done
fi
