#!/usr/bin/env bash
# bash bench/gpu.sh [--smoke | --quick] [--out DIR] [--budget SECONDS] [--no-vitest] [--no-torch]
#
# Everything a one-time GPU run needs (issue #19), in at most ~8 minutes on an H100/H200, on a machine
# with the NVIDIA driver, the CUDA libraries (CUDA toolkit, or the Python wheels nvidia-cublas /
# nvidia-cusolver / nvidia-cuda-runtime, which natgrad's loader finds by itself; NATGRAD_CUDA_PATH may
# name their folder(s), ':'-separated), Python 3 with PyTorch, and NO network: bring build/Release/natgrad.node
# and dist/ (node_modules/ too for the vitest run), and node — on PATH, in $NODE, or as a file in the
# repository root: node, node.xz, node.gz, node.zst or node-v*.tar.{xz,gz} (or $NODE_ARCHIVE), which is
# unpacked into a temporary folder.
#
# Writes everything under ONE folder, DIR (default bench/results/gpu/):
#   gpu.log       all console output of this script (tee)
#   env.json      card, driver and CUDA versions (nvidia-smi), the nvidia-* wheel folders and their
#                 libraries, torch's view of the GPU, Python, CPU; plus natgrad's backend info (which
#                 CUDA libraries it loaded, and from where), node version
#   gpu.json      bench/gpu.js: accuracy GPU vs CPU (float32, TF32), kernel rates at M = 1024…16384 with the
#                 SGEMM rate of the same run, the exact step at N = 256, 1024, 4096 on GPU and CPU, what was
#                 skipped and why, wall time per section
#   torch.json    bench/gpu_torch.py: PyTorch's exact direction of the same model, θ, x, y on the same GPU
#   numpy.json    gpu_torch.py --numpy: the math checked in float64, and natgrad's directions (N ≤ 256)
#                 against a float64 numpy reference
#   summary.json  the final summary's numbers and the targets (also printed at the end of gpu.log)
#   run.json      this script's steps: exit status and seconds of each
#   data/         θ, x, y and natgrad's directions (binary, data/meta.json), read by gpu_torch.py
#
# Steps: environment → backend selection (exit 1 here if the CUDA backend cannot be used at all; when
# NATGRAD_CUDA_PATH is unset and the loader misses the wheels, it is retried with the wheel folders that
# Python reports) → test/cuda.test.ts with NATGRAD_REQUIRE_GPU=1 (float32 and NATGRAD_TF32=1; when
# node_modules/.bin/vitest exists) → bench/gpu.js → bench/gpu_torch.py → gpu_torch.py --numpy → summary.
# A time guard: the whole run gets --budget seconds (default 450; --quick 240, --smoke 300); gpu.js skips
# its optional parts (kernels at M = 16384, the CPU step at N = 4096) when they would not fit, leaving
# PyTorch its reserve, and records what it skipped; every step also runs under `timeout`.
# Exit status: 1 when the CUDA backend cannot be used at all (or natgrad cannot run); otherwise 0, with
# every failure recorded in the JSON and the log.
#
# The lent device machine of this project's tools (no Node there): make `node.xz` in the repository root
# (`xz -T2 -6 -c "$(readlink -f "$(command -v node)")" > node.xz`, ≈ 24 MB: the official Node 20 binary needs
# glibc 2.28), carry node.xz, build/Release/natgrad.node and dist (≈ 52 MB in all), and run
# `bash bench/gpu.sh --out "$OUT/gpu"`.
#
# Try it without a GPU, on natgrad's CPU emulation of the CUDA libraries (slow: --smoke uses tiny sizes):
#   bash scripts/mock-cuda.sh /tmp/mockcuda
#   NATGRAD_CUDA_PATH=/tmp/mockcuda bash bench/gpu.sh --smoke --out /tmp/gpuout
# (PYTHON=/usr/bin/python3 picks the Python with torch; without a CUDA device --smoke runs torch on the CPU.)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT="$PWD"

mode=full
OUT=""
BUDGET=""
run_vitest=1
run_torch=1
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) mode=smoke ;;
    --quick) mode=quick ;;
    --out) OUT="${2:?--out needs a folder}"; shift ;;
    --out=*) OUT="${1#--out=}" ;;
    --budget) BUDGET="${2:?--budget needs seconds}"; shift ;;
    --budget=*) BUDGET="${1#--budget=}" ;;
    --no-vitest) run_vitest=0 ;;
    --no-torch) run_torch=0 ;;
    -h | --help)
      sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "gpu.sh: unknown argument $1 (see bash bench/gpu.sh --help)" >&2
      exit 2
      ;;
  esac
  shift
done
case "$mode" in
  smoke) BUDGET="${BUDGET:-300}"; TORCH_RESERVE=60; modeflag=(--smoke) ;;
  quick) BUDGET="${BUDGET:-240}"; TORCH_RESERVE=60; modeflag=(--quick) ;;
  *) BUDGET="${BUDGET:-450}"; TORCH_RESERVE=100; modeflag=() ;;
esac
OUT="${OUT:-bench/results/gpu}"
mkdir -p "$OUT" || exit 1
OUT="$(cd "$OUT" && pwd)"
START=$(date +%s)
: >"$OUT/gpu.log"
exec > >(tee -a "$OUT/gpu.log") 2>&1

now() { date +%s; }
left() { echo $((START + BUDGET - $(now))); }
RUN_JSON=""
record() { # record NAME STATUS SECONDS
  RUN_JSON="${RUN_JSON:+$RUN_JSON, }\"$1\": {\"status\": $2, \"seconds\": $3}"
  printf '{%s, "budgetS": %s, "totalS": %s}\n' "$RUN_JSON" "$BUDGET" $(($(now) - START)) >"$OUT/run.json"
}
# timed NAME LIMIT CMD...: runs CMD under `timeout LIMIT` (when timeout exists), records its status and seconds
timed() {
  local name="$1" limit="$2" t s
  shift 2
  t=$(now)
  if [ "$limit" -lt 5 ]; then limit=5; fi
  if command -v timeout >/dev/null; then timeout -k 10 "$limit" "$@"; else "$@"; fi
  s=$?
  if [ "$s" = 124 ] || [ "$s" = 137 ]; then echo "gpu.sh: $name stopped by the time guard after ${limit} s"; fi
  record "$name" "$s" $(($(now) - t))
  return "$s"
}

echo "gpu.sh: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname 2>/dev/null || echo ?) ($(uname -srm)); $(nproc 2>/dev/null || echo ?) cores; mode $mode, budget ${BUDGET} s; output in $OUT"

# ---- Python (env probe, PyTorch) ----
PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for p in python3 python; do
    if command -v "$p" >/dev/null; then PYTHON="$(command -v "$p")"; break; fi
  done
fi

# ---- node: on PATH, $NODE, or a (compressed) binary brought along ----
unpack() { # unpack FILE DEST: node.xz / node.gz / node.zst into DEST, with Python's lzma/gzip as fallback
  case "$1" in
    *.xz) xz -dc "$1" >"$2" 2>/dev/null || "$PYTHON" -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2" ;;
    *.gz) gzip -dc "$1" >"$2" 2>/dev/null || "$PYTHON" -c 'import gzip,shutil,sys; shutil.copyfileobj(gzip.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2" ;;
    *.zst) zstd -dc "$1" >"$2" ;;
    *) return 1 ;;
  esac
}
find_node() {
  if [ -n "${NODE:-}" ] && [ -x "$NODE" ]; then return 0; fi
  if command -v node >/dev/null; then NODE="$(command -v node)"; return 0; fi
  local c tmp
  for c in "$ROOT/node" "$ROOT/bin/node"; do
    if [ -f "$c" ] && [ -x "$c" ]; then NODE="$c"; return 0; fi
  done
  for c in ${NODE_ARCHIVE:-} "$ROOT"/node.xz "$ROOT"/node.gz "$ROOT"/node.zst "$ROOT"/bin/node.xz "$ROOT"/bin/node.gz "$ROOT"/node-v*.tar.xz "$ROOT"/node-v*.tar.gz; do
    [ -f "$c" ] || continue
    tmp="$(mktemp -d)"
    NODE_TMP="$tmp"
    trap 'rm -rf "${NODE_TMP:-}"' EXIT # the unpacked node goes when this script ends
    case "$c" in
      *.tar.xz | *.tar.gz)
        tar -xf "$c" -C "$tmp" && NODE="$(find "$tmp" -path '*/bin/node' -type f | head -n 1)"
        ;;
      *) unpack "$c" "$tmp/node" && chmod +x "$tmp/node" && NODE="$tmp/node" ;;
    esac
    if [ -n "${NODE:-}" ] && "$NODE" --version >/dev/null 2>&1; then
      echo "gpu.sh: node unpacked from $c into $NODE"
      return 0
    fi
    echo "gpu.sh: $c did not give a working node"
    NODE=""
  done
  return 1
}
if ! find_node; then
  echo "gpu.sh: no node found (PATH, \$NODE, ./node, ./node.xz, ./node.gz, ./node.zst, ./node-v*.tar.*): natgrad cannot run"
  exit 1
fi
export NODE
export PATH="$(dirname "$NODE"):$PATH" # vitest's #!/usr/bin/env node
echo "gpu.sh: node $("$NODE" --version) ($NODE); Python ${PYTHON:-none} $([ -n "$PYTHON" ] && "$PYTHON" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null)"

# ---- environment: nvidia-smi, the nvidia-* wheels, torch → env.json ----
if command -v nvidia-smi >/dev/null; then
  nvidia-smi || true
else
  echo "gpu.sh: nvidia-smi not found (the driver may still be there; the loader decides)"
fi
WHEEL_DIRS=""
if [ -n "$PYTHON" ]; then
  t=$(now)
  probe="$(timeout 120 "$PYTHON" bench/gpu_torch.py --env "$OUT/env.json" 2>&1)"
  s=$?
  printf '%s\n' "$probe" | grep -v '^NVIDIA_WHEEL_LIB_DIRS='
  WHEEL_DIRS="$(printf '%s\n' "$probe" | sed -n 's/^NVIDIA_WHEEL_LIB_DIRS=//p' | tail -n 1)"
  record env "$s" $(($(now) - t))
else
  echo "gpu.sh: no Python: env.json has natgrad's part only, and PyTorch is skipped"
  echo '{}' >"$OUT/env.json"
fi

# ---- natgrad: built here, or brought along ----
# An offline GPU machine can be given just build/Release/natgrad.node and dist/ (≈ 27 MB; the addon links
# OpenBLAS statically): then nothing is built, and without node_modules/ the vitest run is skipped
# (bench/gpu.js's accuracy section still compares every kernel and the exact direction with the CPU).
if [ ! -f build/Release/natgrad.node ] || [ ! -f dist/index.js ] || [ "${NATGRAD_REBUILD:-0}" = 1 ]; then
  echo "gpu.sh: building natgrad (build/Release/natgrad.node or dist/ missing, or NATGRAD_REBUILD=1)"
  if [ ! -d node_modules ]; then npm ci --no-audit --no-fund || { echo "gpu.sh: npm ci failed: natgrad cannot run"; exit 1; }; fi
  if [ ! -f build/Release/natgrad.node ] || [ "${NATGRAD_REBUILD:-0}" = 1 ]; then npx cmake-js compile || { echo "gpu.sh: the native build failed"; exit 1; }; fi
  if [ ! -f dist/index.js ] || [ "${NATGRAD_REBUILD:-0}" = 1 ]; then npx tsc -p tsconfig.json || { echo "gpu.sh: tsc failed"; exit 1; }; fi
fi
export NATGRAD_ADDON="$PWD/build/Release/natgrad.node"

# ---- backend selection (natgrad's loader: NATGRAD_CUDA_PATH, CUDA_PATH, LD_LIBRARY_PATH, the nvidia-*
# wheels under the usual site-packages, the usual install folders, the system loader) ----
select_cuda() {
  OUT_DIR="$OUT" "$NODE" -e '
    const fs = require("node:fs"), path = require("node:path");
    const { native } = require("./dist/native.js");
    const file = path.join(process.env.OUT_DIR, "env.json");
    let env = {};
    try { env = JSON.parse(fs.readFileSync(file, "utf8")); } catch {}
    const ng = { node: process.version, versions: process.versions, NATGRAD_CUDA_PATH: process.env.NATGRAD_CUDA_PATH ?? null };
    let ok = true;
    try {
      const i = native.selectBackend("cuda");
      Object.assign(ng, { device: i.device, blas: i.blas, note: i.note, kernels: i.kernels, libraries: /libraries: ([^;]+)/.exec(i.note)?.[1].split(", ") ?? [] });
      console.log(`  cuda: ${i.device}\n  ${i.blas}\n  ${i.note}`);
    } catch (e) {
      ok = false;
      ng.error = `${e.code}: ${e.message}`;
      console.log(`  ${ng.error}`);
    }
    try { const c = native.selectBackend("cpu"); ng.cpuBackend = { blas: c.blas, threads: c.threads, cpu: c.cpu }; } catch {}
    (env.natgradTries ??= []).push(ng);
    if (ok) env.natgrad = ng;
    fs.writeFileSync(file, JSON.stringify(env, null, 2) + "\n");
    process.exit(ok ? 0 : 1);'
}
echo "gpu.sh: backend selection (NATGRAD_CUDA_PATH=${NATGRAD_CUDA_PATH:-unset})"
t=$(now)
select_cuda
s=$?
if [ "$s" != 0 ] && [ -z "${NATGRAD_CUDA_PATH:-}" ] && [ -n "$WHEEL_DIRS" ]; then
  echo "gpu.sh: retrying with NATGRAD_CUDA_PATH=$WHEEL_DIRS (the nvidia-* wheel folders Python reports)"
  export NATGRAD_CUDA_PATH="$WHEEL_DIRS"
  select_cuda
  s=$?
fi
record backend "$s" $(($(now) - t))
if [ "$s" != 0 ]; then
  echo "gpu.sh: the CUDA backend cannot be used (reason above; env.json has the details): stopping"
  exit 1
fi

# ---- the cross-backend tests (float32 and NATGRAD_TF32=1 inside) ----
if [ "$run_vitest" = 1 ] && [ -x node_modules/.bin/vitest ]; then
  echo "gpu.sh: GPU tests (test/cuda.test.ts, NATGRAD_REQUIRE_GPU=1)"
  limit=$(($(left) - TORCH_RESERVE - 120))
  if [ "$limit" -gt 300 ]; then limit=300; fi
  if [ "$limit" -lt 30 ]; then
    echo "gpu.sh: GPU tests skipped: only $(left) s left of the budget"
    record vitest '"skipped: time budget"' 0
  else
    NO_COLOR=1 NATGRAD_REQUIRE_GPU=1 timed vitest "$limit" node_modules/.bin/vitest run test/cuda.test.ts
    echo "gpu.sh: vitest exit status $?"
  fi
elif [ "$run_vitest" = 1 ]; then
  echo "gpu.sh: node_modules/.bin/vitest missing: GPU tests skipped (bench/gpu.js still checks accuracy)"
  record vitest '"skipped: no node_modules/.bin/vitest"' 0
fi

# ---- natgrad's benchmarks ----
echo "gpu.sh: benchmarks (bench/gpu.js), $(left) s left of the budget, ${TORCH_RESERVE} s of it kept for PyTorch"
NATGRAD_CUDA_TIMING=1 NATGRAD_BENCH_DEADLINE=$(((START + BUDGET - TORCH_RESERVE) * 1000)) \
  timed gpu.js $(($(left) - TORCH_RESERVE + 30)) "$NODE" bench/gpu.js --out="$OUT" ${modeflag[@]+"${modeflag[@]}"}
echo "gpu.sh: gpu.js exit status $?"

# ---- PyTorch's version of the same direction (fails soft: errors land in torch.json) ----
if [ "$run_torch" = 1 ] && [ -n "$PYTHON" ] && [ -f "$OUT/data/meta.json" ]; then
  echo "gpu.sh: PyTorch (bench/gpu_torch.py), $(left) s left"
  timed torch $(($(left) - 5)) "$PYTHON" bench/gpu_torch.py --data "$OUT/data" --out "$OUT/torch.json" --deadline $((START + BUDGET - 15)) ${modeflag[@]+"${modeflag[@]}"}
  s=$?
  if [ "$s" != 0 ] && [ ! -s "$OUT/torch.json" ]; then printf '{"error": "gpu_torch.py exited with status %s (see gpu.log)"}\n' "$s" >"$OUT/torch.json"; fi
else
  why="$([ "$run_torch" = 1 ] || echo '--no-torch')$([ -n "$PYTHON" ] || echo 'no Python')$([ -f "$OUT/data/meta.json" ] || echo ' no data/meta.json from gpu.js')"
  echo "gpu.sh: PyTorch skipped: $why"
  printf '{"error": "skipped: %s"}\n' "$why" >"$OUT/torch.json"
fi
if [ -n "$PYTHON" ] && [ "$(left)" -gt 10 ]; then
  echo "gpu.sh: the math in float64 (bench/gpu_torch.py --numpy), and natgrad's directions N ≤ 256 against numpy float64"
  timed numpy $(($(left) - 5)) "$PYTHON" bench/gpu_torch.py --numpy --data "$OUT/data" --out "$OUT/numpy.json"
fi

# ---- the summary ----
record total 0 $(($(now) - START))
"$NODE" bench/gpu.js --summary --out="$OUT"
echo "gpu.sh: done in $(($(now) - START)) s (budget ${BUDGET} s); everything is in $OUT"
exit 0
