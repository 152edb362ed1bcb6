#!/bin/sh
# qemu-up.sh [ENTRY] - local recipe that also runs in CI (scripts/test.sh), spec §10.7:
# the built-in backend, no Nix. Compiles ENTRY (default: the examples/forge/with-source
# workload) and checks that flake.nix, launch.json and src/ exist, then boots it with
# `provium forge up` and checks that the guest booted, ran its service to the end
# ("forge: service NAME exited with status 0") and that the workload's greeting, which
# its service reads from the bundled source through the working directory that preStart
# linked, reached the console. Greeting: $QEMU_UP_GREETING, else the example's
# "hello from a bundled forge workload (cwd /app".
# Needs qemu-system-x86_64, a kernel ($PROVIUM_FORGE_KERNEL, else the running kernel's
# /boot/vmlinuz-$(uname -r), else the e2e image's build/e2e-image/vmlinuz) and busybox
# ($PROVIUM_FORGE_BUSYBOX or on PATH); without one it prints one "skip:" line, exit 0.
set -u
recipe=qemu-up
. "$(dirname "$0")/lib.sh"

command -v qemu-system-x86_64 >/dev/null 2>&1 || skip "qemu-system-x86_64 is not on PATH"
if [ -z "${PROVIUM_FORGE_KERNEL:-}" ]; then
    for k in "/boot/vmlinuz-$(uname -r)" "$root/build/e2e-image/vmlinuz"; do
        if [ -r "$k" ]; then
            PROVIUM_FORGE_KERNEL=$k
            break
        fi
    done
fi
[ -r "${PROVIUM_FORGE_KERNEL:-}" ] || skip "no readable kernel (set PROVIUM_FORGE_KERNEL)"
export PROVIUM_FORGE_KERNEL
if [ -z "${PROVIUM_FORGE_BUSYBOX:-}" ]; then
    command -v busybox >/dev/null 2>&1 || skip "no busybox on PATH (set PROVIUM_FORGE_BUSYBOX)"
fi
need_provium
entry=$(default_entry "${1:-}")
if [ ! -e "$entry" ]; then
    [ -n "${1:-}" ] && die "no entry $entry"
    skip "the example $entry is not there yet"
fi
# the with-source example's greet.sh, run as `sh greet.sh` in /app, says where it ran
greeting=${QEMU_UP_GREETING:-hello from a bundled forge workload (cwd /app}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME="$tmp/cache" XDG_RUNTIME_DIR="$tmp/run"

"$exe" forge compile "$entry" --out "$tmp/artifact" >"$tmp/compile" 2>&1 ||
    { cat "$tmp/compile"; die "compile of $entry failed"; }
[ -f "$tmp/artifact/flake.nix" ] || die "the artifact has no flake.nix"
[ -f "$tmp/artifact/launch.json" ] || die "the artifact has no launch.json"
[ -d "$tmp/artifact/src" ] || die "the artifact has no src/"

start=$(date +%s)
timeout -s INT -k 15 "${QEMU_UP_TIMEOUT:-300}" "$exe" forge up "$entry" >"$tmp/console" 2>&1
rc=$?
secs=$(($(date +%s) - start))
fails=0
check() { # check WHAT PATTERN: a fixed string the console must hold
    grep -qF -- "$2" "$tmp/console" || { echo "FAIL $recipe: $1: no '$2' on the console"; fails=1; }
}
[ "$rc" -eq 0 ] || { echo "FAIL $recipe: forge up exited $rc"; fails=1; }
check "the guest did not run its service to the end" "exited with status 0"
check "the greeting did not reach the console" "$greeting"
if [ "$fails" -ne 0 ]; then
    echo "--- console (last 40 lines)"
    tail -n 40 "$tmp/console"
    exit 1
fi
echo "ok: qemu-up: $entry booted, greeted and stopped in ${secs}s"
