#!/bin/sh
# forge_validate.sh - `provium forge validate` on every manifest of tests/forge/manifests/:
# a file named CODE.json or CODE-variant.json prints an envelope whose errors include CODE
# with "ok":false and exits 1 (2 for a file that is not JSON at all); ok-*.json prints
# {"errors":[],"ok":true} and exits 0. Whatever the outcome, stdout is one canonical
# envelope line, stderr stays empty, and usage errors exit 2 with "provium: " lines.
# test_forge_ir.c checks the exact paths of the same files through ir_validate.
# Usage (from the source root): forge_validate.sh PROVIUM_BINARY
set -u
exe=$1
dir=tests/forge/manifests
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

n=0
for f in "$dir"/*.json; do
    n=$((n + 1))
    base=$(basename "$f" .json)
    code=${base%%-*}
    "$exe" forge validate "$f" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    want=1
    case $base in
    ok-*) want=0 ;;
    *-notjson) want=2 ;;
    esac
    [ "$rc" -eq "$want" ] || fail "$base: exit $rc, expected $want"
    [ -s "$tmp/err" ] && { fail "$base: wrote on stderr:"; cat "$tmp/err"; }
    [ "$(wc -l <"$tmp/out")" -eq 1 ] || { fail "$base: not one line on stdout:"; cat "$tmp/out"; }
    if [ "$want" -eq 0 ]; then
        [ "$(cat "$tmp/out")" = '{"errors":[],"ok":true}' ] || { fail "$base:"; cat "$tmp/out"; }
        continue
    fi
    grep -q "\"code\":\"$code\"" "$tmp/out" || { fail "$base: no $code:"; cat "$tmp/out"; }
    grep -q '"ok":false}$' "$tmp/out" || { fail "$base: not ok:false:"; cat "$tmp/out"; }
    # canonical: no whitespace between tokens, keys code < detail < path
    grep -q '^{"errors":\[{"code":"[A-Z_]*","detail":"' "$tmp/out" || { fail "$base: not canonical:"; cat "$tmp/out"; }
done
[ "$n" -ge 30 ] || fail "only $n manifests found in $dir (run from the source root)"

# the manifest's own directory resolves source.path, whatever the cwd
(cd / && "$exe" forge validate "$OLDPWD/$dir/ok-full.json" >"$tmp/out" 2>&1) ||
    { fail "ok-full.json from /:"; cat "$tmp/out"; }
# a non-integer number read by the forge's own reader: exit 1, at the whole document
"$exe" forge validate "$dir/E_MALFORMED_MANIFEST-fraction.json" >"$tmp/out"
grep -q '"path":""' "$tmp/out" || { fail "fraction: not at the document:"; cat "$tmp/out"; }
# unreadable: exit 2 with the envelope
"$exe" forge validate "$tmp/nowhere.json" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 2 ] || fail "missing file: exit $rc"
grep -q '"code":"E_MALFORMED_MANIFEST"' "$tmp/out" || { fail "missing file:"; cat "$tmp/out"; }

# usage errors: exit 2, nothing on stdout, prefixed stderr
for args in "" "--bogus" "a.json b.json"; do
    # shellcheck disable=SC2086
    "$exe" forge validate $args >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ "$rc" -eq 2 ] || fail "validate $args: exit $rc"
    [ -s "$tmp/out" ] && fail "validate $args: wrote on stdout"
    grep -qv '^provium: ' "$tmp/err" && { fail "validate $args: unprefixed stderr:"; cat "$tmp/err"; }
    [ -s "$tmp/err" ] || fail "validate $args: said nothing"
done
"$exe" forge validate --help >"$tmp/out" 2>&1 && grep -q validate "$tmp/out" || fail "validate --help"

[ "$fails" -eq 0 ] && echo "ok ($n manifests)" || exit 1
