#!/bin/sh
# shard.sh - a set of e2e files as one shard against two shards, as if on two machines:
# after a warm-up run (fixtures and profile builds cached, each file's seconds recorded
# with --save-durations), the files run as one unsharded run, then --shard 1/2 and
# --shard 2/2 each alone, one after the other (two machines would run them at once),
# balanced by those durations. The figure is the slowest shard against the single run.
# The cache is the local fixture cache, warm (not the remote one: on one machine the
# shards share it anyway).
#
#   bench/shard.sh [FILES...]   e2e files (default: 8 files, a few minutes under TCG)
#   BENCH_JOBS=2                --jobs of every run (one "machine")
#   BENCH_RESULTS=F             also append KEY=VALUE figures to F
#
# Figures are printed, never asserted on. Under load (other work on the machine) the
# shards' times are noisy: run it on an idle machine for a figure worth quoting.
set -eu
BENCH_SELF=$0
. "$(dirname "$0")/lib/common.sh"

if [ $# -eq 0 ]; then
    # files of comparable length: one file is never split, so a file of half the
    # set's time (fixtures.test.lua, ~90 s) would bound the ratio by itself
    set -- tests/e2e/basics.test.lua tests/e2e/files.test.lua tests/e2e/process_io.test.lua \
        tests/e2e/lifecycle.test.lua tests/e2e/errors.test.lua tests/e2e/network.test.lua \
        tests/e2e/batch.test.lua tests/e2e/power.test.lua
fi
JOBS=${BENCH_JOBS:-2}
DUR="$BENCH_TMP/durations.json"

now() { python3 -c 'import time; print(time.monotonic())'; }

# e2e ARGS...: one run of the files on the e2e config; its seconds on stdout
e2e() {
    t0=$(now)
    if ! "$PROVIUM" --config "$ROOT/tests/e2e/provium.toml" --no-progress --cpu-overcommit 4 \
            --jobs "$JOBS" --timeout 3600 "$@" >"$BENCH_TMP/out.txt" 2>&1; then
        echo "shard: a run failed (provium $*):" >&2
        tail -20 "$BENCH_TMP/out.txt" >&2
        exit 1
    fi
    t1=$(now)
    python3 -c "print(f'{$t1 - $t0:.2f}')"
}

echo "shard: $# e2e files, --jobs $JOBS; warm-up run (builds, fixtures, durations) ..."
warm=$(e2e --save-durations "$DUR" "$@")
echo "  warm-up        ${warm}s; seconds per file:"
python3 -c 'import json, sys
for k, v in sorted(json.load(open(sys.argv[1])).items(), key=lambda kv: -kv[1]):
    print(f"    {v:8.2f}  {k}")' "$DUR"
one=$(e2e "$@")
echo "  1 shard        ${one}s"
s1=$(e2e --durations "$DUR" --shard 1/2 "$@")
n1=$("$PROVIUM" list --config "$ROOT/tests/e2e/provium.toml" --durations "$DUR" --shard 1/2 "$@" | wc -l)
echo "  shard 1/2      ${s1}s  ($n1 files)"
s2=$(e2e --durations "$DUR" --shard 2/2 "$@")
echo "  shard 2/2      ${s2}s  ($(($# - n1)) files)"
python3 - "$one" "$s1" "$s2" "${BENCH_RESULTS:-}" <<'PY'
import sys
one, s1, s2, out = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
slow = max(s1, s2)
print(f"shard: slowest of 2 shards / 1 shard = {slow:.2f}s / {one:.2f}s = {slow / one:.2f}x"
      f" (target <= 0.6x); shard balance {min(s1, s2) / slow:.2f}")
if out:
    with open(out, "a") as f:
        f.write(f"shard_one_s={one:.2f}\nshard_slowest_of_2_s={slow:.2f}\n"
                f"shard_ratio={slow / one:.3f}\n")
PY
