#!/bin/sh
# boot.sh - cold boot to ready: provium (QEMU spawn -> agent answered) against bare
# QEMU booting the same kernel + initrd to its first userspace line
# ("provium-image: ready" from the image's /init), in the same run.
#
#   BENCH_N=5        boots on each side (alternating: provium, bare, provium, ...)
#   BENCH_RESULTS=F  also append KEY=VALUE figures to F (used by run-all.sh)
#
# Figures are printed, never asserted on.
set -eu
BENCH_SELF=$0
. "$(dirname "$0")/lib/common.sh"

N=${BENCH_N:-5}
IMG="$ROOT/build/bench-image"

# The two sides alternate, one boot each per round, so that load from other
# processes (other VMs on this machine) hits both alike.
: >"$BENCH_TMP/events.jsonl"
: >"$BENCH_TMP/bare.txt"
i=1
while [ "$i" -le "$N" ]; do
    echo "boot: round $i/$N: provium ..."
    # -v -v makes provium print its QEMU command line, where tsc_early_khz is;
    # the bench profile (re)builds build/bench-image first if needed
    if ! BENCH_N=1 bench_provium -v -v --json --events "$BENCH_TMP/events.$i.jsonl" \
            "$ROOT/bench/boot.test.lua" >"$BENCH_TMP/report.json" 2>"$BENCH_TMP/stderr.txt"; then
        echo "boot: the provium run failed:" >&2
        cat "$BENCH_TMP/stderr.txt" "$BENCH_TMP/report.json" >&2
        exit 1
    fi
    cat "$BENCH_TMP/events.$i.jsonl" >>"$BENCH_TMP/events.jsonl"

    # bare QEMU gets the image's cmdline plus the tsc_early_khz provium just used,
    # so both guests skip the same TSC calibration
    APPEND=$(tr -s ' \n' ' ' <"$IMG/cmdline" | sed 's/ *$//')
    TSC=$(python3 "$BENCH_PY" tsc "$BENCH_TMP/stderr.txt" || true)
    if [ -n "$TSC" ]; then
        APPEND="$APPEND tsc_early_khz=$TSC"
    else
        echo "boot: note: no tsc_early_khz in provium's QEMU line (KVM?); bare boot without it" >&2
    fi
    echo "boot: round $i/$N: bare QEMU, -append \"$APPEND\" ..."
    python3 "$BENCH_PY" bare-boot 1 "$IMG/vmlinuz" "$IMG/initrd.img" "$APPEND" \
        "$BENCH_TMP/pids" 180 >>"$BENCH_TMP/bare.txt"
    i=$((i + 1))
done

python3 "$BENCH_PY" boot-report "$BENCH_TMP/events.jsonl" "$BENCH_TMP/bare.txt" "${BENCH_RESULTS:-}"
