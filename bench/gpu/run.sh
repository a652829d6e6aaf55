#!/bin/bash
# The GPU checks and timings, in one run on the device machine (the tool
# library's `device` entry: one H100 or H200, CUDA, CMake, ninja, no
# network, no flatc/OpenBLAS/MPI/LLVM). Prepare .carry/ here first
# (bench/gpu/carry.sh) and carry it:
#
#   bench/gpu/run.sh            # writes $OUT/gpu.md (or ./gpu-out/gpu.md)
#
# What exists so far (issue 6 is in progress; docs/gpu.md says what is
# built and what is not):
#   1. The runtime alone (cmake -S runtime) with CUDA and the carried
#      headers: pprun (CPU backend without BLAS or MPI) and pprt_cuda.
#   2. gemm_check: the GEMM path (each transpose, batch, epilogue and type)
#      against a float64 CPU reference.
#   3. gemm_bench: every GEMM of the GPT-2-small-shaped model (bf16, TF32)
#      through the CUDA backend's cuBLASLt path against cuBLASLt's best
#      algorithm, and against the card's measured peak.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${OUT:-$root/gpu-out}"
mkdir -p "$out"
build="${TMPDIR:-/tmp}/pprt-gpu-build"
carry="$root/.carry"
if [ ! -d "$carry" ]; then
  echo "run.sh: no .carry/: run bench/gpu/carry.sh here and carry .carry" >&2
  exit 1
fi

{
  echo "# GPU run, $(date -u +%Y-%m-%dT%H:%MZ)"
  nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv || true
  echo
} > "$out/gpu.md"

cmake -S "$root/runtime" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DPPRT_SCHEMA_PREBUILT="$carry/schema" -DPPRT_EXTRA_INCLUDE="$carry/include" \
  -DPPRT_BUILD_TESTS=OFF > "$out/cmake.log" 2>&1 || {
  tail -30 "$out/cmake.log"; exit 1; }
ninja -C "$build" > "$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
echo "## Build: cmake -S runtime with CUDA alone: ok" >> "$out/gpu.md"
grep 'pprt:' "$out/cmake.log" >> "$out/gpu.md" || true
echo >> "$out/gpu.md"

echo "## GEMM correctness (bench/gpu/gemm_check.cpp)" >> "$out/gpu.md"
"$build/bin/gemm_check" > "$out/gemm_check.log" 2>&1 && check=ok || check=FAILED
grep -E '^FAIL|GEMM cases pass' "$out/gemm_check.log" >> "$out/gpu.md" || true
echo "gemm_check: $check" >> "$out/gpu.md"
echo >> "$out/gpu.md"

echo "## GEMMs (bench/gpu/gemm_bench.cpp)" >> "$out/gpu.md"
"$build/bin/gemm_bench" --iters 20 | tee -a "$out/gpu.md"
echo "wrote $out/gpu.md"
