#!/bin/bash
# The GPU checks and timings, in one run on the device machine (the tool
# library's `device` entry: one H100 or H200, CUDA, no network):
#
#   bench/gpu/run.sh            # writes $OUT/gpu.md (or ./gpu-out/gpu.md)
#
# What exists so far (issue 6 is in progress; docs/gpu.md says what is
# built and what is not):
#   1. gemm_bench: every GEMM of the GPT-2-small-shaped model (bf16, TF32)
#      through the CUDA backend's cuBLASLt path against cuBLASLt's best
#      algorithm, and against the card's measured peak.
# Builds with CUDA alone (no MPI, BLAS or LLVM needed).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${OUT:-$root/gpu-out}"
mkdir -p "$out"
cuda="${CUDA_HOME:-/usr/local/cuda}"
build="$out/build"
mkdir -p "$build"

{
  echo "# GPU run, $(date -u +%Y-%m-%dT%H:%MZ)"
  nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv || true
  echo
  echo "## GEMMs (bench/gpu/gemm_bench.cpp)"
} > "$out/gpu.md"

g++ -std=c++17 -O2 -I"$root/runtime/include" -I"$cuda/include" \
  "$root/bench/gpu/gemm_bench.cpp" "$root/runtime/src/cuda/LtGemm.cpp" \
  "$root/runtime/src/Status.cpp" -L"$cuda/lib64" -lcublasLt -lcudart \
  -Wl,-rpath,"$cuda/lib64" -o "$build/gemm_bench"
"$build/gemm_bench" --iters 20 | tee -a "$out/gpu.md"
echo "wrote $out/gpu.md"
