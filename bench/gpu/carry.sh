#!/bin/bash
# Prepares .carry/ (git-ignored) for the GPU machine, which has CUDA, CMake
# and ninja but no flatc, OpenBLAS, MPI or LLVM: the generated stage
# program schema and the header-only libraries the runtime includes
# (flatbuffers, nlohmann-json). Run it here after building (build/ holds
# the generated header), then name .carry in the device call's `carry`:
#
#   bench/gpu/carry.sh && <device run, carry [".carry"]> bench/gpu/run.sh
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
du -sh "$root/.carry"
