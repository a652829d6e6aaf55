#!/usr/bin/env bash
# Builds the fuzz targets and the runtime's tests with clang under
# AddressSanitizer and UndefinedBehaviorSanitizer (build-fuzz/), runs the
# runtime's tests there, then each fuzz target for SECONDS (default 60).
# scripts/test.sh runs it after the main tests; alone:
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
scripts/setup.sh --no-build
clang=/usr/lib/llvm-22/bin
mkdir -p build-fuzz
cmake -G Ninja -S . -B build-fuzz -DPPC_FUZZ=ON \
  -DCMAKE_C_COMPILER=$clang/clang -DCMAKE_CXX_COMPILER=$clang/clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPPC_FUZZ_SECONDS="$seconds" -DPPRT_FUZZ_SECONDS="$seconds" \
  -DPPRT_USE_CUDA=OFF > build-fuzz/configure.log 2>&1 \
  || { tail -20 build-fuzz/configure.log; exit 1; }
ninja -C build-fuzz ppc-fuzzers pprt-tests
cd build-fuzz
# LeakSanitizer reports need ptrace, which some sandboxes refuse.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --output-on-failure -j2 -R '^(runtime\.|fuzz\.)' -E 'cuda'
