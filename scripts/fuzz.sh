#!/usr/bin/env bash
# fuzz.sh - run every fuzz target (meson.build's fuzz_targets: tests/fuzz/fuzz_<name>.c)
# under libFuzzer for SECONDS each (default 60), on a copy of its corpus in a temp dir:
# tests/fuzz/corpus grows only by hand, with the reproducer of a crash that was fixed.
# Ends with "N passed, M failed" (one per target); a crash, leak, timeout or OOM is a
# failure, printed with its reproducer (kept in BUILDDIR/crashes/) and its bytes. Without
# clang or its libFuzzer runtime the step is skipped with the reason ("0 passed, 0 failed").
#
#   scripts/fuzz.sh [SECONDS]        BUILDDIR: $FUZZ_BUILDDIR, default build-fuzz
set -uo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
dir=${FUZZ_BUILDDIR:-build-fuzz}
jobs=$(nproc 2>/dev/null || echo 1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

skip() {
  echo "  skipped: $1"
  echo "0 passed, 0 failed"
  exit 0
}

# clang and libFuzzer (Debian: clang, libclang-rt-dev; scripts/setup.sh installs them)
command -v clang > /dev/null || skip "clang is not installed"
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
  > "$tmp/probe.c"
clang -fsanitize=fuzzer,address,undefined "$tmp/probe.c" -o "$tmp/probe" > "$tmp/probe.log" 2>&1 ||
  skip "clang cannot link libFuzzer: $(head -1 "$tmp/probe.log")"

if [ ! -f "$dir/build.ninja" ]; then
  rm -rf "$dir"
  CC=clang meson setup "$dir" > "$tmp/setup.log" 2>&1 ||
    { cat "$tmp/setup.log"; echo "  meson setup $dir (CC=clang) failed"; echo "0 passed, 1 failed"; exit 1; }
fi
names=$(meson introspect "$dir" --targets | python3 -c '
import json, re, sys
for t in json.load(sys.stdin):
    m = re.fullmatch(r"fuzz_(\w+)", t["name"])
    if m and not t["name"].endswith("_replay"):
        print(m.group(1))')
[ -n "$names" ] || { echo "  no libFuzzer targets in $dir"; echo "0 passed, 1 failed"; exit 1; }
targets=$(for n in $names; do printf 'fuzz_%s ' "$n"; done)
# shellcheck disable=SC2086
ninja -C "$dir" $targets > "$tmp/build.log" 2>&1 ||
  { tail -30 "$tmp/build.log"; echo "  building $targets failed"; echo "0 passed, 1 failed"; exit 1; }

# One target: a private copy of its corpus (new inputs land there), artifacts in $tmp.
run_one() {
  local n=$1
  mkdir -p "$tmp/$n.corpus"
  cp -r "tests/fuzz/corpus/$n/." "$tmp/$n.corpus/" 2> /dev/null
  "$dir/fuzz_$n" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$tmp/$n-" "$tmp/$n.corpus" > "$tmp/$n.log" 2>&1
  echo $? > "$tmp/$n.rc"
}

running=0
for n in $names; do
  run_one "$n" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait

pass=0
fail=0
for n in $names; do
  rc=$(cat "$tmp/$n.rc")
  seeds=$(find "tests/fuzz/corpus/$n" -type f 2> /dev/null | wc -l)
  now=$(find "$tmp/$n.corpus" -type f | wc -l)
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$tmp/$n.log" | grep -o '[0-9]*$')
  found=$(find "$tmp" -maxdepth 1 -name "$n-*" -type f \
    \( -name "$n-crash-*" -o -name "$n-leak-*" -o -name "$n-timeout-*" -o -name "$n-oom-*" \) | head -1)
  if [ "$rc" -eq 0 ] && [ -z "$found" ]; then
    echo "  $n: ok, ${runs:-?} runs in ${secs}s, corpus $seeds -> $now inputs"
    pass=$((pass + 1))
    continue
  fi
  fail=$((fail + 1))
  echo "  $n: FAILED (libFuzzer exit $rc)"
  grep -E '^==[0-9]+==|ERROR|SUMMARY|^ +#[0-9]+ ' "$tmp/$n.log" | head -24 |
    sed -e 's/ (BuildId: [0-9a-f]*)//' -e 's/^/    /'
  if [ -n "$found" ]; then
    mkdir -p "$dir/crashes"
    cp "$found" "$dir/crashes/"
    echo "    reproducer: $dir/crashes/$(basename "$found") ($(stat -c %s "$found") bytes):"
    od -A x -t x1z -v "$found" | head -32 | sed 's/^/    /'
    echo "    replay: $dir/fuzz_${n} $dir/crashes/$(basename "$found"); once fixed, add it to tests/fuzz/corpus/$n/"
  else
    tail -20 "$tmp/$n.log" | sed 's/^/    /'
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
