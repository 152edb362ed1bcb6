#!/bin/sh
# forge_canonicalize.sh - `provium forge canonicalize FILE` (spec §10.6): the canonical
# bytes alone on stdout (no final newline) and exit 0; on failure nothing on stdout, one
# "provium: FILE: detail" line on stderr, exit 2 (unreadable, not JSON) or 1 (a number
# that is not an integer within +-(2^53-1)); the hash of the output is the ir_hash.
# Usage: forge_canonicalize.sh PROVIUM_BINARY
set -u
exe=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# run NAME WANT_RC: canonicalize $tmp/NAME into $tmp/out, $tmp/err
run() {
    (cd "$tmp" && "$exe" forge canonicalize "$1" >out 2>err)
    rc=$?
    [ "$rc" -eq "$2" ] || fail "canonicalize $1: exit $rc, expected $2"
}

# run_bad NAME WANT_RC: the failure shape
run_bad() {
    run "$1" "$2"
    [ -s "$tmp/out" ] && fail "canonicalize $1: wrote on stdout: $(cat "$tmp/out")"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "canonicalize $1: not one stderr line: $(cat "$tmp/err")"
    grep -q "^provium: $1: ." "$tmp/err" || fail "canonicalize $1: stderr is $(cat "$tmp/err")"
}

printf '{ "b": [1, -0, "\\u00e9\\n"],\n  "a": {"y": null, "x": true} }\n' >"$tmp/ok.json"
printf '{"a":{"x":true,"y":null},"b":[1,0,"\303\251\\n"]}' >"$tmp/want"
run ok.json 0
cmp -s "$tmp/out" "$tmp/want" || fail "canonicalize ok.json: got $(od -c "$tmp/out")"
[ -s "$tmp/err" ] && fail "canonicalize ok.json: said on stderr: $(cat "$tmp/err")"
# the ir_hash is canonicalize | sha256sum
h=$(sha256sum <"$tmp/out" | cut -d' ' -f1)
[ "$h" = "$(sha256sum <"$tmp/want" | cut -d' ' -f1)" ] || fail "hash of the canonical form"

printf '{"a":1.5}' >"$tmp/float.json"
printf '[9007199254740992]' >"$tmp/big.json"
printf '{"a":1,"a":2}' >"$tmp/dup.json"
printf '"\\udc00"' >"$tmp/lone.json"
printf '"\300\200"' >"$tmp/overlong.json"
printf '{"a":1} x' >"$tmp/trailing.json"
printf '[1.5,' >"$tmp/float_then_eof.json"
run_bad float.json 1
run_bad big.json 1
run_bad dup.json 2
run_bad lone.json 2
run_bad overlong.json 2
run_bad trailing.json 2
run_bad float_then_eof.json 2
run_bad missing.json 2
mkdir "$tmp/dir.json"
run_bad dir.json 2

(cd "$tmp" && "$exe" forge canonicalize >out 2>err)
[ $? -eq 2 ] || fail "canonicalize without FILE: not exit 2"
grep -q '^provium: ' "$tmp/err" || fail "canonicalize without FILE: stderr is $(cat "$tmp/err")"
"$exe" forge canonicalize --help >"$tmp/out" 2>&1 || fail "canonicalize --help: not exit 0"
grep -q 'canonicalize' "$tmp/out" || fail "canonicalize --help: $(cat "$tmp/out")"

[ "$fails" -eq 0 ] && echo "forge canonicalize: ok"
[ "$fails" -eq 0 ]
