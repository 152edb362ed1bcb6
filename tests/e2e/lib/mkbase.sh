#!/usr/bin/env bash
# mkbase.sh OUTDIR - the guest bases of the e2e image matrix (images*.test.lua): initrds
# that provium did not build, made from busybox-static with cpio, deterministically.
#
#   OUTDIR/vmlinuz                 -> /boot/vmlinuz-<version> (the host's Debian kernel)
#   OUTDIR/nolib/initrd.img        busybox in /bin only: no /lib, no /sbin
#   OUTDIR/usrmerge/initrd.img     bin, sbin, lib -> usr/bin, usr/sbin, usr/lib
#   OUTDIR/libdir/initrd.img       real /bin, /sbin, /lib, /usr/bin, /usr/sbin directories
#   OUTDIR/{gzip,zstd,xz,lz4}/initrd.img   the libdir cpio compressed (lz4: legacy format)
#   OUTDIR/debian/initrd.img       -> /boot/initrd.img-<version> (initramfs-tools)
#
# Every base's /init is a busybox shell script that records its PID and the kind in /run
# (proof that it ran, as PID 1) and then idles forever; /etc/base-kind names the kind.
# Files have mtime 0 and owner root, and cpio gets a sorted list, so the same busybox
# gives byte-identical archives. The dynamic profile runs this before every e2e run: a
# stamp of this script, busybox and the kernel makes a second run return at once.
set -euo pipefail

out=${1:?usage: mkbase.sh OUTDIR}
script=$(readlink -f "$0")
busybox=${PROVIUM_BUSYBOX:-/bin/busybox}
kinds=(nolib usrmerge libdir gzip zstd xz lz4 debian)
mkdir -p "$out"
out=$(cd "$out" && pwd)

say() { echo "mkbase: $*" >&2; }

exec 9>"$out/.lock" # two provium runs building at once: one waits
flock 9

. "$(dirname "$(readlink -f "$0")")/bootfiles.sh" # kernel_version

# The guest's /init: $1 is the kind. PID 1 must never exit.
write_init() {
    cat >"$2" <<EOF
#!/bin/sh
# /init of the e2e base "$1", written by tests/e2e/lib/mkbase.sh.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
[ -d /run ] || mkdir /run
echo \$\$ >/run/init-pid
echo "$1" >/run/init-kind
echo "mkbase-init: $1 running as PID \$\$" >/dev/console 2>/dev/null
while :; do sleep 3600; done
EOF
    chmod 0755 "$2"
}

# Puts busybox at $2/$1/busybox and every applet beside it (or, with $3 = full, where
# `busybox --list-full` says: bin, sbin, usr/bin, usr/sbin) as relative symlinks.
install_busybox() {
    local root="$1" bindir="$2" mode="${3:-flat}" a dir up
    install -m 0755 "$busybox" "$root/$bindir/busybox"
    if [ "$mode" = full ]; then
        "$busybox" --list-full | while read -r a; do
            dir=${a%/*}
            up=$(echo "$dir" | sed 's|[^/]*|..|g')
            [ -e "$root/$a" ] || ln -s "$up/$bindir/busybox" "$root/$a"
        done
    else
        "$busybox" --list | while read -r a; do
            [ -e "$root/$bindir/$a" ] || ln -s busybox "$root/$bindir/$a"
        done
    fi
}

# A staging tree for one kind in $2.
stage() {
    local kind="$1" root="$2"
    mkdir -p "$root"/{dev,etc,proc,root,run,sys,tmp}
    case "$kind" in
    nolib)
        mkdir -p "$root/bin"
        install_busybox "$root" bin
        ;;
    usrmerge)
        mkdir -p "$root"/usr/{bin,sbin,lib}
        ln -s usr/bin "$root/bin"
        ln -s usr/sbin "$root/sbin"
        ln -s usr/lib "$root/lib"
        install_busybox "$root" usr/bin
        ;;
    libdir)
        mkdir -p "$root"/{bin,sbin,lib,usr/bin,usr/sbin,usr/lib}
        install_busybox "$root" bin full
        echo "a real /lib directory" >"$root/lib/README"
        ;;
    esac
    echo "$kind" >"$root/etc/base-kind"
    write_init "$kind" "$root/init"
    chmod 1777 "$root/tmp"
}

# newc archive of the tree $1 into $2: sorted names, mtime 0, owner root.
pack() {
    local root="$1" dest="$2"
    find "$root" -exec touch -h -d @0 {} +
    (cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
        cpio -o -H newc --reproducible -R 0:0 --quiet) >"$dest"
}

# The kernel reads these formats; xz must use CRC32 and lz4 the legacy frame.
compress() {
    case "$1" in
    gzip) gzip -9 -n -c ;;
    zstd) zstd -q -19 -c ;;
    xz) xz -9 --check=crc32 -c ;;
    lz4) lz4 -l -9 -q -c ;;
    esac
}

build_kind() {
    local kind="$1" ver="$2" tmp
    mkdir -p "$out/$kind"
    case "$kind" in
    nolib | usrmerge | libdir)
        tmp=$(mktemp -d "$out/.stage.XXXXXX")
        stage "$kind" "$tmp/root"
        pack "$tmp/root" "$out/$kind/initrd.img.tmp"
        rm -rf "$tmp"
        ;;
    gzip | zstd | xz | lz4)
        compress "$kind" <"$out/libdir/initrd.img" >"$out/$kind/initrd.img.tmp"
        ;;
    debian)
        [ -r "/boot/initrd.img-$ver" ] || { say "/boot/initrd.img-$ver is missing or unreadable"; exit 1; }
        ln -sfn "/boot/initrd.img-$ver" "$out/$kind/initrd.img"
        return
        ;;
    esac
    mv "$out/$kind/initrd.img.tmp" "$out/$kind/initrd.img"
}

# What the outputs depend on: this script, busybox and the kernel.
stamp() {
    sha256sum "$script" "$busybox" | cut -d' ' -f1
    echo "$1"
    for t in gzip zstd xz lz4 cpio; do command -v "$t"; done
}

main() {
    local ver kind
    ver=$(kernel_version)
    if [ -f "$out/stamp" ] && [ "$(stamp "$ver")" = "$(cat "$out/stamp")" ]; then
        return 0
    fi
    for t in cpio gzip zstd xz lz4; do
        command -v "$t" >/dev/null || { say "$t is not installed (scripts/setup.sh)"; exit 1; }
    done
    "$busybox" --list-full >/dev/null 2>&1 || { say "$busybox is not busybox-static"; exit 1; }
    ln -sfn "/boot/vmlinuz-$ver" "$out/vmlinuz"
    for kind in "${kinds[@]}"; do
        build_kind "$kind" "$ver"
    done
    stamp "$ver" >"$out/stamp"
    say "built ${kinds[*]} in $out"
}

main
