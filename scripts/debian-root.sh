#!/usr/bin/env bash
# Makes the Debian roots that the prebuilt binaries are built and tested in, from Debian's packages
# (debootstrap; needs root). Each is made once: a finished root has a .natgrad-root stamp.
#   bash scripts/debian-root.sh bullseye-amd64 [folder]
#       Debian 11 (glibc 2.31, g++ 10, OpenBLAS 0.3.13): g++, cmake, make, libopenblas-dev, and for the
#       arm64 cross build g++-aarch64-linux-gnu and libopenblas-dev:arm64 (multiarch). The linux-x64 and
#       linux-arm64 prebuilds are compiled here, so they need no glibc newer than 2.31.
#   bash scripts/debian-root.sh bookworm-arm64 [folder]
#       Debian 12's arm64 nodejs (18.20, Node-API 9) and its libraries, unpacked without running any
#       package script (they are arm64 programs): a sysroot for qemu-aarch64 -L, to load the arm64 build.
# The folder defaults to build-roots/<name>. Mirror: $NATGRAD_DEBIAN_MIRROR or deb.debian.org.
set -euo pipefail
name="${1:?usage: debian-root.sh bullseye-amd64|bookworm-arm64 [folder]}"
cd "$(dirname "$0")/.."
dir="$(realpath -m "${2:-build-roots/$name}")"
mirror="${NATGRAD_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
stamp="$dir/.natgrad-root"
if [ -f "$stamp" ]; then echo "debian-root: $dir is ready"; exit 0; fi
if [ "$(id -u)" -ne 0 ]; then echo "debian-root: needs root (debootstrap, chroot)" >&2; exit 1; fi
if ! command -v debootstrap >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi
rm -rf --one-file-system "$dir"
mkdir -p "$dir"
log="$dir.log"
case "$name" in
  bullseye-amd64)
    echo "debian-root: debootstrap bullseye (amd64) into $dir"
    debootstrap --variant=minbase --include=g++,make,cmake,libopenblas-dev bullseye "$dir" "$mirror" >"$log" 2>&1 ||
      { tail -20 "$log"; exit 1; }
    cp /etc/resolv.conf "$dir/etc/resolv.conf"
    echo "debian-root: arm64 cross toolchain and libopenblas-dev:arm64 in $dir"
    chroot "$dir" /bin/sh -c 'dpkg --add-architecture arm64 && apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends g++-aarch64-linux-gnu libopenblas-dev:arm64 &&
      apt-get clean' >>"$log" 2>&1 || { tail -20 "$log"; exit 1; }
    ;;
  bookworm-arm64)
    echo "debian-root: Debian 12 arm64 nodejs into $dir (unpacked, for qemu-aarch64 -L)"
    debootstrap --download-only --arch=arm64 --variant=minbase --include=nodejs bookworm "$dir" "$mirror" >"$log" 2>&1 ||
      { tail -20 "$log"; exit 1; }
    for deb in "$dir"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$dir"; done
    rm -rf "$dir"/var/cache/apt/archives/*.deb
    ;;
  *) echo "debian-root: unknown root '$name' (bullseye-amd64 | bookworm-arm64)" >&2; exit 2 ;;
esac
date -u +%FT%TZ >"$stamp"
echo "debian-root: $dir ready ($(du -sh "$dir" | cut -f1))"
