# shellcheck shell=sh disable=SC2154
# lib.sh - what the local forge recipes (real-check.sh, real-up.sh, qemu-up.sh) share:
# the repository root, the provium binary, the default entry, skip/fail lines.
# Sourced, not run. A recipe whose tools are absent prints one "skip: ..." line and
# exits 0; a failure prints "FAIL ..." lines and exits 1; success ends with "ok: ...".

root=$(cd "$(dirname "$0")/../.." && pwd)
# $PROVIUM_EXE, else the build of scripts/test.sh
exe=${PROVIUM_EXE:-$root/build/provium}

skip() { echo "skip: $recipe: $*"; exit 0; }
die() { echo "FAIL $recipe: $*"; exit 1; }

# the entry to compile: $1, else the with-source example (its first entry file found)
default_entry() {
    if [ -n "${1:-}" ]; then
        echo "$1"
        return
    fi
    for f in app.py manifest.json workload.json app.json; do
        if [ -e "$root/examples/forge/with-source/$f" ]; then
            echo "$root/examples/forge/with-source/$f"
            return
        fi
    done
    echo "$root/examples/forge/with-source"
}

need_provium() {
    [ -x "$exe" ] || die "no provium binary at $exe (build it, or set PROVIUM_EXE)"
}
