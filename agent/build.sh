#!/bin/sh
# build.sh - builds the guest agent by hand (meson does it for real builds).
#
#   agent/build.sh [OUTDIR]   -> OUTDIR/provium-agent       static musl binary for the guest
#                                OUTDIR/provium-agent-host  glibc build for the unit test
#                                OUTDIR/test_agent          tests/unit/test_agent.c
#   OUTDIR/test_agent OUTDIR/provium-agent-host             runs the unit test
#   SAN=1 agent/build.sh         host build and test under ASan/UBSan
#
# The guest binary must be static: it runs as PID 1 from an initrd that has no libc.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$root/build/agent"}
mkdir -p "$out"
srcs="$root/agent/main.c $root/agent/boot.c $root/agent/port.c $root/agent/conn.c
      $root/agent/dispatch.c $root/agent/exec.c $root/agent/files.c $root/proto/wire.c"
flags="-std=c17 -Wall -Wextra -Werror -D_GNU_SOURCE -I$root"

# shellcheck disable=SC2086
musl-gcc $flags -Os -static -s -o "$out/provium-agent" $srcs
san=""
[ "${SAN:-0}" = 1 ] && san="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
# shellcheck disable=SC2086
${CC:-cc} $flags $san -O2 -g -o "$out/provium-agent-host" $srcs
# shellcheck disable=SC2086
${CC:-cc} $flags $san -O2 -g -o "$out/test_agent" "$root/tests/unit/test_agent.c" "$root/proto/wire.c" -lm
echo "built $out/provium-agent, $out/provium-agent-host and $out/test_agent"
