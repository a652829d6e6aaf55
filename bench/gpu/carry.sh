#!/bin/bash
# Prepares .carry/ (git-ignored) for the GPU machine, which has CUDA, CMake
# and ninja but no flatc, OpenBLAS, MPI or LLVM (and so no ppc): the
# generated stage program schema, the header-only libraries the runtime
# includes (flatbuffers, nlohmann-json), and the check pipelines compiled
# here by make_checks.py and make_e2e.py. Run it here after building (build/ holds the
# generated header and ppc), then name .carry in the device call's `carry`:
#
#   bench/gpu/carry.sh [--prebuilt] && <device run, carry [".carry"]> bench/gpu/run.sh
#
# --prebuilt also builds the runtime alone here as run.sh does there
# (build_alone.sh) and carries its binaries (9 MB) in .carry/prebuilt,
# which run.sh runs where its own build fails.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
schema="$root/build/runtime/schema-include/pprt/stage_generated.h"
if [ ! -f "$schema" ]; then
  echo "carry.sh: $schema is missing: build first (scripts/setup.sh)" >&2
  exit 1
fi
rm -rf "$root/.carry"
mkdir -p "$root/.carry/schema/pprt" "$root/.carry/include"
cp "$schema" "$root/.carry/schema/pprt/"
cp -r /usr/include/flatbuffers /usr/include/nlohmann "$root/.carry/include/"
/usr/bin/python3 "$root/bench/gpu/make_checks.py" "$root/build/bin/ppc" \
  "$root/.carry/checks" 2>&1 | grep -v Warning | grep -v '^ ' || true
[ -f "$root/.carry/checks/gpt-infer-1/check.json" ] || {
  echo "carry.sh: make_checks.py failed" >&2; exit 1; }
/usr/bin/python3 "$root/bench/gpu/make_e2e.py" "$root/build/bin/ppc" \
  "$root/.carry/e2e" 2>&1 | grep -v Warning | grep -v '^ ' || true
[ -f "$root/.carry/e2e/train/pipeline.json" ] || {
  echo "carry.sh: make_e2e.py failed" >&2; exit 1; }
if [ "${1:-}" = --prebuilt ]; then
  rt="${TMPDIR:-/tmp}/pprt-rt"
  "$root/bench/gpu/build_alone.sh" "$root/.carry/schema" \
    "$root/.carry/include" "$rt" > /dev/null
  mkdir -p "$root/.carry/prebuilt"
  cp "$rt/bin/pprun" "$rt/bin/gemm_check" "$rt/bin/gemm_bench" \
    "$root/.carry/prebuilt/"
fi
du -sh "$root/.carry"
