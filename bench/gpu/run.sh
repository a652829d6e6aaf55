#!/bin/bash
# The GPU checks and timings, in one run on the device machine (the tool
# library's `device` entry: one H100 or H200, CUDA, CMake, ninja, no
# network, no flatc/OpenBLAS/MPI/LLVM). Prepare .carry/ here first
# (bench/gpu/carry.sh) and carry it:
#
#   bench/gpu/run.sh [STEP...]  # writes $OUT/gpu.md (or ./gpu-out/gpu.md)
#
# STEPs (default: all but compile, in this order, each under its own time
# limit so that one hang costs one step; one device call runs at most 10
# minutes): build gemm-check gemm-bench e2e cuda-check compile.
# Where the build fails there and .carry/prebuilt/ holds the runtime built
# here (carry.sh --prebuilt), those binaries run; the step `prebuilt`
# instead of `build` runs them first, building only where they don't load.
#
# What it does (issue 6 is in progress; docs/gpu.md says what is built
# and what is not):
#   1. The runtime alone (cmake -S runtime) with CUDA and the carried
#      headers: pprun (the CPU backend without BLAS or MPI, and the CUDA
#      backend) and pprt_cuda.
#   2. gemm_check: the GEMM path (each transpose, batch, epilogue and type)
#      against a float64 CPU reference.
#   3. cuda_check.py: the pipelines make_checks.py compiled (inference on
#      1 and 4 stages, training on 1, 2 and 4 ranks, the bad-input lines)
#      through --backend=cuda against --backend=cpu.
#   4. gemm_bench: every GEMM of the GPT-2-small-shaped model (bf16, TF32)
#      through the CUDA backend's cuBLASLt path against cuBLASLt's best
#      algorithm, and against the card's measured peak.
#   5. e2e_bench.py: the GPT-2-small-shaped model (make_e2e.py compiled it)
#      through pprun --backend=cuda against PyTorch on the same GPU:
#      inference, a training step, and the runtime's overhead on 4 stages;
#      `compile` adds torch.compile (a minute or more of compiling).
set -uo pipefail
steps="${*:-build gemm-check gemm-bench e2e cuda-check}"
want() { [[ " $steps " == *" $1 "* ]]; }
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
  echo "# GPU run, $(date -u +%Y-%m-%dT%H:%MZ): $steps"
  nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv || true
  nvcc --version | tail -1 || true
  echo
} > "$out/gpu.md"
export PYTHONUNBUFFERED=1 E2E_TRACE_DIR="$out"
# timed LIMIT NAME CMD...: runs one step under its limit, noting its time.
timed() {
  local limit=$1 name=$2 t0=$SECONDS rc=0; shift 2
  timeout --kill-after=10 "$limit" "$@" || rc=$?
  [ $rc = 124 ] && echo "$name: stopped at its limit of ${limit}s" | tee -a "$out/gpu.md"
  echo "($name: $((SECONDS - t0)) s, exit $rc)" >> "$out/gpu.md"
  return $rc
}

# `prebuilt`: the binaries carry.sh --prebuilt built on the CPU machine,
# where they load here (a minute saved); else the build.
if want prebuilt && [ -x "$carry/prebuilt/pprun" ] \
    && "$carry/prebuilt/pprun" --help > /dev/null 2>&1; then
  mkdir -p "$build/bin" && cp "$carry/prebuilt/"* "$build/bin/"
  echo "## Build: the binaries built on the CPU machine (.carry/prebuilt)" >> "$out/gpu.md"
  echo >> "$out/gpu.md"
elif want build || want prebuilt || [ ! -x "$build/bin/pprun" ]; then
built=0
timed 300 build "$here/build_alone.sh" "$carry/schema" "$carry/include" \
  "$build" > "$out/build.log" 2>&1 && built=1
if [ $built = 1 ]; then
  echo "## Build: cmake -S runtime with CUDA alone: ok" >> "$out/gpu.md"
  grep -E '^(-- |  )pprt: ' "$out/build.log" >> "$out/gpu.md" || true
else
  tail -40 "$out/build.log"
  echo "## Build: FAILED (build.log)" >> "$out/gpu.md"
  if [ -x "$carry/prebuilt/pprun" ]; then
    mkdir -p "$build/bin" && cp "$carry/prebuilt/"* "$build/bin/"
    echo "running the binaries built on the CPU machine (.carry/prebuilt)" \
      | tee -a "$out/gpu.md"
  else
    exit 1
  fi
fi
echo >> "$out/gpu.md"
fi

if want gemm-check; then
echo "## GEMM correctness (bench/gpu/gemm_check.cpp)" >> "$out/gpu.md"
rc=0; timed 60 gemm-check "$build/bin/gemm_check" > "$out/gemm_check.log" 2>&1 || rc=$?
case $rc in 0) check=ok ;; 77) check="skipped: no GPU" ;; *) check=FAILED ;; esac
grep -E '^FAIL|GEMM cases pass' "$out/gemm_check.log" >> "$out/gpu.md" || true
echo "gemm_check: $check" >> "$out/gpu.md"
echo >> "$out/gpu.md"
fi

if want gemm-bench; then
echo "## GEMMs (bench/gpu/gemm_bench.cpp)" >> "$out/gpu.md"
timed 90 gemm-bench "$build/bin/gemm_bench" --iters 20 | tee -a "$out/gpu.md"
echo >> "$out/gpu.md"
fi

if { want e2e || want compile; } && [ -d "$carry/e2e" ]; then
  flags=""; want compile && flags=--compile
  timed 300 e2e python3 "$here/e2e_bench.py" "$build/bin/pprun" "$carry/e2e" \
    "$out/gpu.md" $flags > "$out/e2e.log" 2>&1 \
    || { echo "e2e_bench: FAILED"; tail -20 "$out/e2e.log"; }
fi
if want cuda-check; then
echo "## The CUDA backend against the CPU backend (bench/gpu/cuda_check.py)" >> "$out/gpu.md"
if [ -d "$carry/checks" ]; then
  timed 240 cuda-check python3 "$here/cuda_check.py" "$build/bin/pprun" \
    "$carry/checks" "$out/gpu.md" > "$out/cuda_check.log" 2>&1 \
    && cuda=ok || cuda=FAILED
  tail -25 "$out/cuda_check.log"
else
  cuda="not run (no .carry/checks)"
fi
echo "cuda_check: $cuda" >> "$out/gpu.md"
echo >> "$out/gpu.md"
fi

cat "$out/gpu.md"
echo "wrote $out/gpu.md"
