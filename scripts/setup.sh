#!/usr/bin/env bash
# One-time set-up on a fresh Debian/Ubuntu machine with Node ≥ 20:
# system packages (compiler, cmake, OpenBLAS), npm dependencies, then the
# native addon (cmake-js) and the TypeScript library.
#   bash scripts/setup.sh              everything
#   bash scripts/setup.sh --deps-only  only the system packages
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
need=()
for p in build-essential cmake python3 libopenblas-dev; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
[ "${1:-}" = "--deps-only" ] && exit 0

# node-gyp (npm's install script) builds against this Node's own headers when they are installed
if [ -f /usr/include/node/node_api.h ]; then export npm_config_nodedir=/usr; fi
# Quiet unless something fails: each step's output goes to a log, whose end is shown on failure.
log="$(mktemp -t natgrad-setup.XXXXXX.log)"
step() {
  local what="$1"; shift
  echo "setup: $what"
  if ! "$@" >>"$log" 2>&1; then
    echo "setup: $what failed; the last lines of $log:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
}
step "npm ci (dependencies; the native addon builds from source here)" npm ci --no-audit --no-fund
step "building the native addon (cmake-js) and the TypeScript library" npm run build
echo "setup: done ($(node -e "console.log(require('./dist/native').backend().blas)")); the build log is $log"
