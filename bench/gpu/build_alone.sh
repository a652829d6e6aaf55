#!/bin/bash
# The runtime built as the GPU machine builds it (docs/gpu.md): alone
# (cmake -S runtime), with the generated schema header from SCHEMA_DIR
# (SCHEMA_DIR/pprt/stage_generated.h), the header-only libraries from
# INCLUDE_DIR ("": the system's), and no OpenBLAS, MPI or oneDNN (the
# machine has none; its CPU backend is only the CUDA backend's reference).
# run.sh builds with it there, carry.sh --prebuilt here, and ctest's
# runtime-alone checks what it builds.
#
#   build_alone.sh SCHEMA_DIR INCLUDE_DIR BUILD_DIR [NINJA_TARGET...]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
schema="$1" include="$2" build="$3"
shift 3
cmake -S "$root/runtime" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DPPRT_SCHEMA_PREBUILT="$schema" -DPPRT_EXTRA_INCLUDE="$include" \
  -DPPRT_BUILD_TESTS=OFF -DPPRT_USE_BLAS=OFF -DPPRT_USE_MPI=OFF \
  -DPPRT_USE_DNNL=OFF
ninja -C "$build" "$@"
