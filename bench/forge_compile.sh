#!/bin/sh
# forge_compile.sh - `provium forge compile` of a generated source tree (by default
# 10,000 files, 200 MiB of random bytes in 100 directories): seconds per compile, and
# the MB/s at which it hashes (and copies) the tree against `sha256sum` of the same
# bytes in the same run (target >= 0.8x). `cp -R` of the tree is shown for scale: a
# compile reads every byte once and writes it once, so it does sha256sum's work and
# cp's. The page cache is warmed first, so all runs read from memory.
#
#   BENCH_FILES=10000   number of files
#   BENCH_MIB=200       total size in MiB
#   BENCH_REPS=3        compiles (the best and the median are printed)
#   BENCH_PROVIUM=BIN   the provium binary (default build/provium)
#   BENCH_RESULTS=F     also append KEY=VALUE figures to F (used by run-all.sh)
#
# Figures are printed, never asserted on.
set -eu
BENCH_SELF=$0
. "$(dirname "$0")/lib/common.sh"
PROVIUM=${BENCH_PROVIUM:-$PROVIUM}

FILES=${BENCH_FILES:-10000}
MIB=${BENCH_MIB:-200}
REPS=${BENCH_REPS:-3}
TREE="$BENCH_TMP/w/app"
mkdir -p "$TREE"

echo "forge_compile: generating $FILES files, $MIB MiB ..."
python3 - "$TREE" "$FILES" "$MIB" <<'EOF'
import os, sys
root, files, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
total = mib * 1024 * 1024
block = os.urandom(1 << 20)
for i in range(files):
    d = os.path.join(root, "d%02d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    size = total // files + (1 if i < total % files else 0)
    with open(os.path.join(d, "f%05d.bin" % i), "wb") as f:
        off = (i * 4099) % (len(block) - min(size, len(block)) + 1)
        while size > 0:
            n = min(size, len(block) - off)
            f.write(block[off:off + n])
            size -= n
            off = 0
EOF
cat >"$BENCH_TMP/w/manifest.json" <<'EOF'
{"schema_version":"0.1","id":"bench","apps":[{"name":"app",
 "source":{"kind":"local_path","path":"app"},
 "image":{"kind":"nix_packages","packages":[]},
 "entrypoint":{"command":["true"]}}]}
EOF
BYTES=$(find "$TREE" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
find "$TREE" -type f -print0 | xargs -0 cat >/dev/null # warm the page cache

ns() { date +%s%N; }
mbs() { awk -v b="$BYTES" -v t="$1" 'BEGIN {printf "%.0f", b / (t / 1e9) / 1e6}'; }

a=$(ns)
(cd "$TREE" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum >/dev/null)
sha_ns=$(($(ns) - a))
a=$(ns)
cp -R "$TREE" "$BENCH_TMP/cp"
cp_ns=$(($(ns) - a))
rm -rf "$BENCH_TMP/cp"

: >"$BENCH_TMP/compile.txt"
i=0
while [ "$i" -lt "$REPS" ]; do
    a=$(ns)
    "$PROVIUM" forge compile "$BENCH_TMP/w/manifest.json" --out "$BENCH_TMP/out" >"$BENCH_TMP/env.json"
    echo "$(($(ns) - a))" >>"$BENCH_TMP/compile.txt"
    grep -q '"ok":true' "$BENCH_TMP/env.json" || { cat "$BENCH_TMP/env.json" >&2; exit 1; }
    i=$((i + 1))
done
count=$(grep -o '"file_count":[0-9]*' "$BENCH_TMP/out/launch.json" | cut -d: -f2)
best=$(sort -n "$BENCH_TMP/compile.txt" | head -1)
median=$(sort -n "$BENCH_TMP/compile.txt" | sed -n "$(((REPS + 1) / 2))p")

sec() { awk -v t="$1" 'BEGIN {printf "%.2f", t / 1e9}'; }
ratio=$(awk -v c="$best" -v s="$sha_ns" 'BEGIN {printf "%.2f", s / c}')
echo "forge_compile: $count files, $BYTES bytes"
echo "  compile     $(sec "$median") s median, $(sec "$best") s best ($(mbs "$best") MB/s hashed and copied)"
echo "  sha256sum   $(sec "$sha_ns") s ($(mbs "$sha_ns") MB/s hashed)"
echo "  cp -R       $(sec "$cp_ns") s ($(mbs "$cp_ns") MB/s copied)"
echo "  ratio       compile / sha256sum throughput = ${ratio}x (target >= 0.8)"
if [ -n "${BENCH_RESULTS:-}" ]; then
    {
        echo "forge.compile.median_s=$(sec "$median")"
        echo "forge.compile.best_s=$(sec "$best")"
        echo "forge.compile.mbs=$(mbs "$best")"
        echo "forge.sha256sum.mbs=$(mbs "$sha_ns")"
        echo "forge.cp.mbs=$(mbs "$cp_ns")"
        echo "forge.ratio=$ratio"
    } >>"$BENCH_RESULTS"
fi
