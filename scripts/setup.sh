#!/usr/bin/env bash
# setup.sh - install what Provium needs from Debian's packages (idempotent), then build.
# Run as root (CI) or with sudo available. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(
  build-essential meson ninja-build pkg-config musl-tools
  liblua5.4-dev libjansson-dev libzstd-dev libssl-dev libarchive-dev libedit-dev
  libcurl4-openssl-dev nginx python3-yaml
  qemu-system-x86 qemu-utils busybox-static linux-image-amd64 cpio
  gzip zstd xz-utils lz4 mmdebstrap e2fsprogs util-linux
  clang libclang-rt-dev
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# the guest kernel must be readable by the user running provium
for k in /boot/vmlinuz-*; do
  [ -r "$k" ] || echo "setup: warning: $k is not readable; run: sudo chmod 0644 $k" >&2
done

if [ ! -d build ]; then
  meson setup build
fi
ninja -C build
echo "setup: built build/provium and build/provium-agent"
