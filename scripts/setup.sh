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
npm ci --no-audit --no-fund
npm run build
