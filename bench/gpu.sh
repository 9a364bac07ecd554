#!/usr/bin/env bash
# bash bench/gpu.sh [--quick]
#
# On a machine with an NVIDIA GPU, its driver, Node ≥ 20 and the CUDA libraries (a CUDA toolkit, or
# the Python wheels nvidia-cublas / nvidia-cusolver / nvidia-cuda-runtime; NATGRAD_CUDA_PATH may name
# their folder): builds natgrad if needed, runs the GPU tests (test/cuda.test.ts with
# NATGRAD_REQUIRE_GPU=1, so that a missing GPU fails instead of skipping; float32 and NATGRAD_TF32=1)
# and the kernel / exact-step benchmarks (bench/gpu.js), which write bench/results/gpu.json.
# Building needs what the CPU build needs (cmake, a C++ compiler, libopenblas-dev; no CUDA headers);
# a machine without network access needs node_modules/ (and build/, dist/) brought along.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "gpu.sh: $(node --version) on $(uname -m); $(nproc) cores"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader || true
else
  echo "gpu.sh: nvidia-smi not found (the driver may still be there; the loader decides)"
fi

# An offline GPU machine can be given just build/Release/natgrad.node and dist/ (≈ 27 MB; the addon links
# OpenBLAS statically): then nothing is built, and without node_modules/ the vitest run is skipped
# (bench/gpu.js's accuracy section still compares every kernel and the exact direction with the CPU).
need_build=0
if [ ! -f build/Release/natgrad.node ] || [ ! -f dist/index.js ] || [ "${NATGRAD_REBUILD:-0}" = 1 ]; then need_build=1; fi
if [ "$need_build" = 1 ] && [ ! -d node_modules ]; then npm ci --no-audit --no-fund; fi
if [ ! -f build/Release/natgrad.node ] || [ "${NATGRAD_REBUILD:-0}" = 1 ]; then npx cmake-js compile; fi
if [ ! -f dist/index.js ] || [ "${NATGRAD_REBUILD:-0}" = 1 ]; then npx tsc -p tsconfig.json; fi
export NATGRAD_ADDON="$PWD/build/Release/natgrad.node"

echo "gpu.sh: backend selection"
node -e '
  const { native } = require("./dist/native.js");
  try { const i = native.selectBackend("cuda"); console.log(`  cuda: ${i.device}\n  ${i.blas}\n  ${i.note}`); }
  catch (e) { console.log(`  ${e.code}: ${e.message}`); process.exit(1); }'

if [ -x node_modules/.bin/vitest ]; then
  echo "gpu.sh: GPU tests (test/cuda.test.ts)"
  NATGRAD_REQUIRE_GPU=1 node_modules/.bin/vitest run test/cuda.test.ts
else
  echo "gpu.sh: node_modules/.bin/vitest missing: GPU tests skipped (bench/gpu.js still checks accuracy)"
fi

echo "gpu.sh: benchmarks (bench/gpu.js)"
NATGRAD_CUDA_TIMING=1 node bench/gpu.js "$@"
