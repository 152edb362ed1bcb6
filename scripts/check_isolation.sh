#!/usr/bin/env bash
# check_isolation.sh - does every test of a file pass on its own? A test that leans on
# state an earlier test left (a file-scope local set in one test and read in the next, a
# guest file written by another test) passes when its file runs whole but fails when
# `--rerun-failed` runs just that test. This runs each FILE whole once, then each of its
# tests that passed there alone, and reports every test that fails alone.
#
#   scripts/check_isolation.sh [--exe PROVIUM] [--config FILE] [--only SUBSTR]
#                              FILE... [-- PROVIUM ARGS]
#
# --only (repeatable) tries alone only the tests whose name contains SUBSTR.
#
# `--filter` cannot pick one test (it matches file paths, src/run/discover.c), so a test
# runs alone the way --rerun-failed runs it: from a rerun state (a private
# PROVIUM_RERUN_STATE, provium-rerun/1, src/run/rerun.c) that names only that test.
# The test names come from the whole-file run's --json report. Every test alone pays
# for its file scope again (boots included): meant for a chosen set of files, not CI.
# Defaults: build/provium and tests/e2e/provium.toml of this tree; paths are relative to
# the current directory. Exit 0 when every test passed alone; 1 when one did not (or did
# not run alone at all, its file failing first: reported as ERR); 2 on a usage error.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
exe=$root/build/provium
config=$root/tests/e2e/provium.toml
files=() only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --exe) exe=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --only) only+=("$2"); shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "check_isolation: unknown option '$1'" >&2; exit 2 ;;
    *) files+=("$1"); shift ;;
  esac
done
extra=("$@")
if [ ${#files[@]} -eq 0 ]; then
  echo "usage: scripts/check_isolation.sh [--exe PROVIUM] [--config FILE] [--only SUBSTR] FILE... [-- PROVIUM ARGS]" >&2
  exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The tests of the file record in a --json report on stdin, one "status<TAB>name" a
# line (names as the report escapes them, which is how a rerun state names them).
statuses() {
  python3 -c '
import json, sys
for line in sys.stdin:
    if not line.startswith("{"):
        continue
    rec = json.loads(line)
    if rec.get("kind") != "file":
        continue
    if rec.get("chunk_error"):
        print("chunk_error\t(file)")
    for t in rec.get("tests", []):
        print(t["status"] + "\t" + t["name"])
'
}

# The message of test $1 in the --json report on stdin (first line only).
message_of() {
  python3 -c '
import json, sys
name = sys.argv[1]
for line in sys.stdin:
    if line.startswith("{"):
        rec = json.loads(line)
        if rec.get("kind") == "file":
            if rec.get("chunk_error"):
                print("chunk error: " + rec["chunk_error"].splitlines()[0])
            for t in rec.get("tests", []):
                if t["name"] == name:
                    print((t.get("message") or "").splitlines()[0] if t.get("message") else "")
' "$1"
}

# Whether test name $1 is one --only picks (all when none given).
picked() {
  [ ${#only[@]} -eq 0 ] && return 0
  local s
  for s in "${only[@]}"; do
    case "$1" in *"$s"*) return 0 ;; esac
  done
  return 1
}

# A rerun state naming only test $2 of file $1.
state_for() {
  python3 -c '
import json, sys
print(json.dumps({"format": "provium-rerun/1",
                  "files": [{"path": sys.argv[1], "whole_file": False, "tests": [sys.argv[2]]}]}))
' "$1" "$2"
}

run() { # provium with a private rerun state $1, then the rest of the arguments
  local state=$1
  shift
  PROVIUM_RERUN_STATE=$state "$exe" --config "$config" --no-progress --json "$@" ${extra[@]+"${extra[@]}"} 2>&1
}

bad=0 alone=0 errs=0
for f in "${files[@]}"; do
  abs=$(realpath "$f") || { echo "check_isolation: $f: no such file" >&2; exit 2; }
  start=$SECONDS
  run "$tmp/whole.json" "$abs" > "$tmp/whole.out"
  statuses < "$tmp/whole.out" > "$tmp/whole.tsv"
  if ! [ -s "$tmp/whole.tsv" ] || grep -q '^chunk_error' "$tmp/whole.tsv"; then
    echo "FILE $f: no test results from the whole run:"
    tail -20 "$tmp/whole.out" | sed 's/^/    /'
    bad=$((bad + 1))
    continue
  fi
  echo "FILE $f ($(grep -c '^passed' "$tmp/whole.tsv") passed whole, $((SECONDS - start)) s)"
  while IFS=$'\t' read -r status name; do
    picked "$name" || continue
    if [ "$status" != passed ]; then
      echo "  --   $name ($status in the whole run; not tried alone)"
      continue
    fi
    state_for "$abs" "$name" > "$tmp/state.json"
    start=$SECONDS
    # the whole run built the dynamic profiles; alone, only the test runs
    run "$tmp/state.json" --rerun-failed --no-build > "$tmp/alone.out"
    got=$(statuses < "$tmp/alone.out" | awk -F'\t' -v n="$name" '$2 == n {print $1}')
    alone=$((alone + 1))
    case "$got" in
      passed) echo "  ok   $name ($((SECONDS - start)) s)" ;;
      skipped) echo "  skip $name (skipped alone, passed whole)" ;;
      "")
        # the file failed before the test (a boot that timed out on a loaded host,
        # say): nothing learnt about the test itself
        errs=$((errs + 1))
        echo "  ERR  $name: did not run alone"
        message_of "$name" < "$tmp/alone.out" | sed 's/^/         /'
        ;;
      *)
        bad=$((bad + 1))
        echo "  FAIL $name: $got alone, passed in its file"
        message_of "$name" < "$tmp/alone.out" | sed 's/^/         /'
        ;;
    esac
  done < "$tmp/whole.tsv"
done
echo "$alone tests run alone, $bad failed alone, $errs did not run"
[ $bad -eq 0 ] && [ $errs -eq 0 ]
