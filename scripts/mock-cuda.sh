#!/usr/bin/env bash
# bash scripts/mock-cuda.sh DIR
#
# Compiles natgrad's CPU emulation of the CUDA libraries (native/cuda/mock/mock_cuda.cpp) four times
# into DIR, as libcuda.so.1, libcudart.so.13, libcublas.so.13 and libcusolver.so.12 — exactly as
# test/cuda.test.ts does — so that the CUDA backend, and scripts such as bench/gpu.sh, can be tried on
# a machine without a GPU:
#
#   bash scripts/mock-cuda.sh /tmp/mockcuda
#   NATGRAD_CUDA_PATH=/tmp/mockcuda bash bench/gpu.sh --smoke --out /tmp/gpuout
#
# The emulation runs on the CPU (slowly) and says nothing about a real GPU's speed or numerics.
# Needs a C++17 compiler (c++, g++ or clang++; CXX overrides). The four compiles run in parallel.
# --rev REV compiles native/cuda/{mock/mock_cuda.cpp,kernels.cu,cuda_api.h} as committed at REV (read with
# git show, into a temporary folder; the working tree is not touched) — for when native/ is mid-edit and
# the addon in build/ was built from REV.
set -euo pipefail
rev=""
if [ "${1:-}" = "--rev" ]; then
  rev="${2:?--rev needs a revision}"
  shift 2
fi
if [ $# -ne 1 ]; then
  echo "usage: bash scripts/mock-cuda.sh [--rev REV] DIR" >&2
  exit 2
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/native/cuda/mock/mock_cuda.cpp"
dir="$1"
if [ -n "$rev" ]; then
  tree="$(mktemp -d)"
  trap 'rm -rf "$tree"' EXIT
  mkdir -p "$tree/cuda/mock"
  for f in cuda/mock/mock_cuda.cpp cuda/kernels.cu cuda/cuda_api.h; do
    git -C "$root" show "$rev:native/$f" >"$tree/$f"
  done
  src="$tree/cuda/mock/mock_cuda.cpp"
fi
cxx="${CXX:-}"
if [ -z "$cxx" ]; then
  for c in c++ g++ clang++; do
    if command -v "$c" >/dev/null; then cxx="$c"; break; fi
  done
fi
if [ -z "$cxx" ]; then
  echo "mock-cuda.sh: no C++ compiler (c++, g++, clang++) found" >&2
  exit 1
fi
mkdir -p "$dir"
pids=()
for so in libcuda.so.1 libcudart.so.13 libcublas.so.13 libcusolver.so.12; do
  "$cxx" -std=c++17 -O1 -shared -fPIC "-Wl,-soname,$so" -o "$dir/$so" "$src" &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
if [ "$status" != 0 ]; then
  echo "mock-cuda.sh: $src did not compile" >&2
  exit 1
fi
echo "mock-cuda.sh: $(cd "$dir" && pwd): libcuda.so.1 libcudart.so.13 libcublas.so.13 libcusolver.so.12 (CPU emulation, $cxx${rev:+, native/cuda at $rev})"
