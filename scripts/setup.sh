#!/usr/bin/env bash
# Installs the Debian packages ppc needs and, into the virtual environment
# build/venv, the PyPI packages pinned in scripts/requirements.txt (ONNX
# Runtime; the current torch, transformers and timm for export-check);
# quietly, and nothing when they are there. Then configures and builds into
# build/.
#   scripts/setup.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build
  llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
  libprotobuf-dev protobuf-compiler libonnx-dev libonnx-testdata python3-onnx
  libgtest-dev python3-numpy python3-torch python3-torchvision python3-venv
  libflatbuffers-dev flatbuffers-compiler nlohmann-json3-dev libopenblas-dev
  libdnnl-dev
  libopenmpi-dev openmpi-bin
  clang-22 libclang-rt-22-dev libomp-22-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" > /tmp/ppc-apt.log 2>&1 || { tail -20 /tmp/ppc-apt.log; exit 1; }
fi

# build/venv is made afresh from Debian's python3 whenever its copy of the
# requirements differs from scripts/requirements.txt; the copy is written
# last, so a venv whose install failed halfway is made again. --no-deps and
# pip check: every dependency must be pinned there, none comes unasked.
VENV=build/venv
if ! { [ -x $VENV/bin/python ] && cmp -s scripts/requirements.txt $VENV/requirements.txt; }; then
  echo "setup: installing scripts/requirements.txt into $VENV"
  rm -rf $VENV
  mkdir -p build
  { /usr/bin/python3 -m venv $VENV &&
    $VENV/bin/python -m pip install --quiet --no-input --disable-pip-version-check \
      --no-deps --requirement scripts/requirements.txt &&
    $VENV/bin/python -m pip check --disable-pip-version-check; } > /tmp/ppc-pip.log 2>&1 \
    || { tail -20 /tmp/ppc-pip.log; exit 1; }
  cp scripts/requirements.txt $VENV/requirements.txt
fi

[ "${1:-}" = "--no-build" ] && exit 0
cmake -G Ninja -S . -B build > /dev/null
ninja -C build
