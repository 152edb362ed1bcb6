# common.sh - sourced by the bench scripts (not run on its own).
#
# Sets ROOT (the repository), PROVIUM (the host binary), BENCH_TMP (a private
# mktemp -d removed on exit), makes sure provium is built, and provides
#   bench_provium ARGS...  run provium on the bench config (no progress line).
# $BENCH_TMP/pids lists the QEMU PIDs the script started itself and has not reaped
# yet (bench.py bare-boot keeps it); the exit trap kills those, and only those.
# The caller must `set -eu` and define BENCH_SELF (its own path) before sourcing.

ROOT=$(cd "$(dirname "$BENCH_SELF")/.." && pwd)
cd "$ROOT"
PROVIUM="${BENCH_PROVIUM:-$ROOT/build/provium}" # BENCH_PROVIUM: another build's binary
BENCH_CFG="$ROOT/bench/provium.toml"
BENCH_PY="$ROOT/bench/lib/bench.py"

if ! command -v python3 >/dev/null 2>&1; then
    echo "bench: python3 is needed to parse the results" >&2
    exit 1
fi
if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
    echo "bench: qemu-system-x86_64 is not on PATH" >&2
    exit 1
fi
if [ ! -x "$PROVIUM" ]; then
    if [ ! -d "$ROOT/build" ]; then
        echo "bench: $ROOT/build does not exist; run \`meson setup build\` in $ROOT first" >&2
        exit 1
    fi
    echo "bench: build/provium is missing; running ninja -C build" >&2
    ninja -C "$ROOT/build" >&2
fi

BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/provium-bench.XXXXXX")
: >"$BENCH_TMP/pids"

bench_cleanup() {
    if [ -f "$BENCH_TMP/pids" ]; then
        # only PIDs this script started itself, and only while they are still QEMU
        while read -r pid; do
            [ -n "$pid" ] || continue
            if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = qemu-system-x86 ]; then
                kill -KILL "$pid" 2>/dev/null || true
            fi
        done <"$BENCH_TMP/pids"
    fi
    rm -rf "$BENCH_TMP"
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs provium on the bench config with a generous per-file limit (TCG is slow and
# other VMs may share the CPUs). Extra args go through.
bench_provium() {
    "$PROVIUM" --config "$BENCH_CFG" --no-progress --timeout 3600 "$@"
}
