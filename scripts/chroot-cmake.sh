#!/bin/sh
# cmake, run inside the Debian root $NATGRAD_BUILD_ROOT in the current folder: cmake-js's --cmake-path
# for the prebuilt binaries (scripts/prebuilds.js), so their compiler, C library and OpenBLAS are that
# root's (Debian 11: glibc 2.31) while cmake-js drives the build from this machine. The repository is
# bind-mounted at the same path inside the root, so every path cmake-js passes is valid there.
set -e
: "${NATGRAD_BUILD_ROOT:?NATGRAD_BUILD_ROOT is not set}"
exec chroot "$NATGRAD_BUILD_ROOT" /usr/bin/env -u NODE_EXTRA_CA_CERTS -C "$(pwd -P)" PATH=/usr/local/bin:/usr/bin:/bin \
  NATGRAD_TARGET_ARCH="${NATGRAD_TARGET_ARCH:-}" cmake "$@"
