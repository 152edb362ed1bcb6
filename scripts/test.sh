#!/usr/bin/env bash
# test.sh - the whole test suite: unit tests (also under ASan/UBSan), the fuzz-corpus
# replay, a minute of libFuzzer per fuzz target, then the end-to-end suites that boot
# real VMs. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

total_pass=0
total_fail=0
count() { # parse "N passed, M failed" lines from a log
  local p f
  p=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | awk '{s+=$1} END {print s+0}')
  f=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | awk '{s+=$3} END {print s+0}')
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
}
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

echo "== unit tests"
meson test -C build --suite unit --print-errorlogs --verbose --no-stdsplit > "$log/unit" 2>&1
rc=$?
grep -E '^[0-9]+ passed, [0-9]+ failed|^ *[0-9]+/[0-9]+ ' "$log/unit" | sed 's/^/  /'
count "$log/unit"
[ $rc -eq 0 ] || { total_fail=$((total_fail + 1)); tail -40 "$log/unit"; }

echo "== unit tests under ASan/UBSan"
if [ ! -d build-asan ]; then
  meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
if ninja -C build-asan >/dev/null; then
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --suite unit --print-errorlogs --verbose > "$log/asan" 2>&1
  rc=$?
  grep -E '^[0-9]+ passed, [0-9]+ failed' "$log/asan" | sed 's/^/  /'
  count "$log/asan"
  [ $rc -eq 0 ] || { total_fail=$((total_fail + 1)); tail -40 "$log/asan"; }
else
  echo "  ASan build failed"; total_fail=$((total_fail + 1))
fi

echo "== fuzz corpus replay"
if build-asan/fuzz_toml_replay tests/fuzz/corpus/toml/* > "$log/fuzz" 2>&1 &&
   build-asan/fuzz_wire_replay tests/fuzz/corpus/wire/* >> "$log/fuzz" 2>&1 &&
   build-asan/fuzz_cjson_replay tests/fuzz/corpus/cjson/* >> "$log/fuzz" 2>&1; then
  echo "  ok"; total_pass=$((total_pass + 1))
else
  cat "$log/fuzz"; total_fail=$((total_fail + 1))
fi

echo "== fuzzing: every target under libFuzzer for ${FUZZ_SECONDS:-60} s, on a copy of its corpus"
# scripts/fuzz.sh builds build-fuzz with clang; one pass per target, a crash is a failure
# (its reproducer printed); skipped with the reason when clang or libFuzzer is missing
scripts/fuzz.sh "${FUZZ_SECONDS:-60}" > "$log/fuzzrun" 2>&1
rc=$?
grep -vE '^[0-9]+ passed, [0-9]+ failed' "$log/fuzzrun"
grep -E '^[0-9]+ passed, [0-9]+ failed' "$log/fuzzrun" | sed 's/^/  /'
count "$log/fuzzrun"
if [ $rc -ne 0 ] && ! grep -qE '^[0-9]+ passed, [1-9][0-9]* failed' "$log/fuzzrun"; then
  total_fail=$((total_fail + 1))
fi

echo "== spec method list (scripts/spec_methods.py --check: tests/e2e/lib/spec_methods.lua vs the spec)"
# spec_coverage.test.lua calls every method of that list; the list must follow the spec
if [ -f ../shared/spec/provium-api.md ]; then
  if scripts/spec_methods.py --check > "$log/specm" 2>&1; then
    sed 's/^/  /' "$log/specm"; total_pass=$((total_pass + 1))
  else
    sed 's/^/  /' "$log/specm" | tail -40; total_fail=$((total_fail + 1))
  fi
else
  echo "  skipped: no ../shared/spec/provium-api.md beside the project"
fi

echo "== CI recipes (scripts/check_ci_examples.py: examples/ci/ against build/provium --help)"
# YAML syntax, every provium flag known to the binary, --shard consistent with the
# matrix / Indexed Job size; its own "N passed, M failed" line goes into the totals
scripts/check_ci_examples.py build/provium > "$log/ci" 2>&1
rc=$?
grep -E 'FAIL|^[0-9]+ passed, [0-9]+ failed' "$log/ci" | sed 's/^/  /'
count "$log/ci"
if [ $rc -ne 0 ] && ! grep -qE '^[0-9]+ passed, [1-9][0-9]* failed' "$log/ci"; then
  tail -5 "$log/ci"; total_fail=$((total_fail + 1))
fi

echo "== end-to-end suites (real VMs; the host binary built with ASan/UBSan)"
# Several files boot two VMs at once; with a vCPU pool of 2 (this machine's CPUs) two
# such files could hold one vCPU each and wait for the other: the pool would refuse one
# as deadlocked. Overcommit the pool (TCG guests share the cores anyway).
exe=build-asan/provium
[ -x "$exe" ] || exe=build/provium
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
"$exe" --config tests/e2e/provium.toml --no-progress --cpu-overcommit 4 "$@" 2>&1 | tee "$log/e2e"
rc=${PIPESTATUS[0]}
p=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log/e2e" | tail -1 | awk '{print $1}')
f=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log/e2e" | tail -1 | awk '{print $3}')
total_pass=$((total_pass + ${p:-0})); total_fail=$((total_fail + ${f:-0}))
if [ $rc -ne 0 ] && [ "${f:-0}" -eq 0 ]; then total_fail=$((total_fail + 1)); fi

echo "== forge qemu-up recipe (the built-in backend boots examples/forge/with-source)"
# one step in the totals; a missing tool prints the recipe's "skip:" line instead
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  PROVIUM_EXE="$PWD/$exe" scripts/forge/qemu-up.sh > "$log/qemu-up" 2>&1
rc=$?
sed 's/^/  /' "$log/qemu-up" | tail -45
if grep -q '^skip:' "$log/qemu-up"; then :
elif [ $rc -eq 0 ]; then total_pass=$((total_pass + 1))
else total_fail=$((total_fail + 1)); fi

echo "== installed binary (meson install into a DESTDIR, then one end-to-end suite)"
# the installed provium must find its installed agent (src/run/agentpath.c), not build/'s
if meson install -C build --destdir "$log/inst" > "$log/install" 2>&1 &&
   inst_exe=$(find "$log/inst" -path '*/bin/provium' -type f | head -1) && [ -n "$inst_exe" ] &&
   [ -n "$(find "$log/inst" -path '*/man1/provium.1' -type f)" ]; then
  env -u PROVIUM_EXE -u PROVIUM_AGENT "$inst_exe" --config tests/e2e/provium.toml --no-progress \
    --cpu-overcommit 4 tests/e2e/basics.test.lua > "$log/e2e-inst" 2>&1
  rc=$?
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log/e2e-inst" | tail -1)
  echo "  ${summary:-no summary}"
  p=$(echo "$summary" | awk '{print $1}'); f=$(echo "$summary" | awk '{print $3}')
  total_pass=$((total_pass + ${p:-0})); total_fail=$((total_fail + ${f:-0}))
  if [ $rc -ne 0 ]; then
    tail -20 "$log/e2e-inst"
    [ "${f:-0}" -eq 0 ] && total_fail=$((total_fail + 1))
  fi
else
  cat "$log/install"; echo "  install failed (or no bin/provium, man1/provium.1)"
  total_fail=$((total_fail + 1))
fi

# no VM may outlive the suite: a leaked QEMU of ours would be orphaned (parent 1)
if pgrep -P 1 -u "$(id -u)" -f 'qemu-system-x86_64.*/provium-[A-Za-z0-9]{6}/vm-' > "$log/leak"; then
  echo "leaked QEMU processes: $(tr '\n' ' ' < "$log/leak")"; total_fail=$((total_fail + 1))
fi

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
