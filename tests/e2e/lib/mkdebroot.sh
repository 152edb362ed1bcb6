#!/usr/bin/env bash
# mkdebroot.sh OUTDIR - a small Debian root disk for the e2e suite (debroot.test.lua).
#
# Builds a minbase Debian of the host's suite with systemd from Debian's packages
# (mmdebstrap, as root), packs it as ext4 with `mke2fs -d` (no loop mounts), and links the
# host's kernel and its initramfs-tools initrd beside it:
#
#   OUTDIR/root.img      ext4, label "root", booted as root=/dev/vda
#   OUTDIR/vmlinuz       -> /boot/vmlinuz-<version>
#   OUTDIR/initrd.img    -> /boot/initrd.img-<same version>
#   OUTDIR/build-seconds how long the last real build took
#
# The dynamic profile runs this before every e2e run, so it returns at once when
# root.img is newer than this script. When the package mirror cannot be reached the
# script does not fail (that would abort the whole run): it writes OUTDIR/unavailable
# with the reason and a placeholder root.img, and the test skips, printing the reason;
# the same happens when not run as root. Any other failure is a real one and exits
# non-zero.
#
# Environment: PROVIUM_DEBIAN_MIRROR overrides the mirror (default: the host's apt
# sources, else http://deb.debian.org/debian); PROVIUM_DEBIAN_SUITE the suite (default:
# the host's VERSION_CODENAME, else bookworm).
set -euo pipefail

out=${1:?usage: mkdebroot.sh OUTDIR}
script=$(readlink -f "$0")
mkdir -p "$out"
out=$(cd "$out" && pwd)

say() { echo "mkdebroot: $*" >&2; }

# Two runs may build at once (several provium invocations): one builds, the other waits.
exec 9>"$out/.lock"
flock 9

. "$(dirname "$(readlink -f "$0")")/bootfiles.sh" # kernel_version

link_boot_files() {
    local ver
    ver=$(kernel_version)
    [ -r "/boot/initrd.img-$ver" ] || { say "/boot/initrd.img-$ver is missing or unreadable"; exit 1; }
    ln -sfn "/boot/vmlinuz-$ver" "$out/vmlinuz"
    ln -sfn "/boot/initrd.img-$ver" "$out/initrd.img"
}

host_mirror() {
    local m=""
    if [ -r /etc/apt/sources.list.d/debian.sources ]; then
        m=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
    fi
    if [ -z "$m" ] && [ -r /etc/apt/sources.list ]; then
        m=$(awk '$1 == "deb" && $2 !~ /^\[/ { print $2; exit }' /etc/apt/sources.list)
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

host_suite() {
    local s=""
    [ -r /etc/os-release ] && s=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    echo "${s:-bookworm}"
}

# The mirror is reachable when its Release file downloads; apt-helper ships with apt.
mirror_reachable() {
    local url="$1/dists/$2/Release" tmp
    tmp=$(mktemp -d)
    if timeout 30 /usr/lib/apt/apt-helper download-file "$url" "$tmp/Release" >/dev/null 2>&1; then
        rm -rf "$tmp"
        return 0
    fi
    rm -rf "$tmp"
    return 1
}

unavailable() {
    say "skipping the Debian root: $1"
    printf '%s\n' "$1" >"$out/unavailable"
    rm -f "$out/root.img"
    truncate -s 1M "$out/root.img"
    exit 0
}

# Inside the new root, before it is packed: a usable, quick-booting guest.
customize() {
    local root="$1"
    echo debroot >"$root/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\tdebroot\n' >"$root/etc/hosts"
    printf 'LABEL=root\t/\text4\trw,errors=remount-ro\t0\t1\n' >"$root/etc/fstab"
    chroot "$root" passwd -d root >/dev/null
    # nothing in this guest waits for a network or a hardware clock
    for unit in systemd-networkd-wait-online.service systemd-timesyncd.service \
        apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service; do
        ln -sfn /dev/null "$root/etc/systemd/system/$unit"
    done
    : >"$root/etc/machine-id" # first boot makes one
}

build() {
    local mirror suite tree start
    mirror=${PROVIUM_DEBIAN_MIRROR:-$(host_mirror)}
    suite=${PROVIUM_DEBIAN_SUITE:-$(host_suite)}
    command -v mmdebstrap >/dev/null || { say "mmdebstrap is not installed (scripts/setup.sh)"; exit 1; }
    command -v mke2fs >/dev/null || { say "mke2fs is not installed (scripts/setup.sh)"; exit 1; }
    # without root the tree's owners could not be packed; do not abort everyone's run
    [ "$(id -u)" -eq 0 ] || unavailable "building the Debian root needs root (mmdebstrap --mode=root, as in CI)"
    mirror_reachable "$mirror" "$suite" || unavailable "package mirror $mirror ($suite) cannot be reached"

    start=$(date +%s)
    tree="$out/tree"
    rm -rf "$tree" "$out/root.img.tmp"
    say "mmdebstrap $suite from $mirror (a few minutes)"
    mmdebstrap --mode=root --variant=minbase --include=systemd,systemd-sysv,udev \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-include=/usr/share/locale/locale.alias' \
        --quiet "$suite" "$tree" "$mirror" </dev/null
    customize "$tree"
    truncate -s 1G "$out/root.img.tmp"
    mke2fs -q -F -t ext4 -L root -d "$tree" "$out/root.img.tmp"
    rm -rf "$tree" "$out/unavailable"
    mv "$out/root.img.tmp" "$out/root.img"
    echo $(($(date +%s) - start)) >"$out/build-seconds"
    say "built $out/root.img in $(cat "$out/build-seconds") s"
}

link_boot_files
if [ -f "$out/root.img" ] && [ ! -e "$out/unavailable" ] && [ "$out/root.img" -nt "$script" ]; then
    exit 0
fi
build
