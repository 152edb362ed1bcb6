#!/bin/sh
# forge_compile.sh - `provium forge compile` (spec §10.6): compiling twice gives
# byte-identical directories and .tar.gz archives (times of the source do not count), a
# different PROVIUM_FORGE_MVM_FLAKE_URL changes only the pin line of flake.nix, the
# archive is normalised (0/0, mtime 0, gzip header without time), an existing artifact
# is replaced whole, and failures (an escaping symlink, an output that is a file) leave
# the output untouched and no staging directory behind.
# Usage: forge_compile.sh PROVIUM_BINARY   (run from the source root)
set -u
exe=$1
root=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# a listing with types, modes and link targets (not times), then every file's bytes
snapshot() {
    (cd "$1" && find . -printf '%y %m %p %l\n' | LC_ALL=C sort && find . -type f | LC_ALL=C sort | xargs cat)
}

compile() { # MANIFEST OUT [env...]
    c_m=$1 c_out=$2
    shift 2
    env "$@" "$exe" forge compile "$c_m" --out "$c_out" >"$tmp/stdout" 2>"$tmp/stderr"
}

# the manifests: ours, plus the shipped examples when they are there
mkdir "$tmp/work"
cp -R "$root/tests/forge/compile" "$tmp/work/compile"
set -- "$tmp/work/compile/manifest.json"
for ex in "$root"/examples/forge/*/; do
    [ -d "$ex" ] || continue
    copy="$tmp/work/$(basename "$ex")"
    cp -R "$ex" "$copy"
    for f in "$copy"/manifest.json "$copy"/*.py; do
        case $f in *.py) command -v "${PROVIUM_FORGE_PYTHON_BIN:-python3}" >/dev/null || continue ;; esac
        [ -f "$f" ] && set -- "$@" "$f"
    done
done

n=0
for m in "$@"; do
    n=$((n + 1))
    out="$tmp/out$n"
    mkdir "$out"
    compile "$m" "$out/a" || fail "$m: exit $?: $(cat "$tmp/stdout" "$tmp/stderr")"
    grep -q '"ok":true' "$tmp/stdout" || fail "$m: envelope $(cat "$tmp/stdout")"
    case $m in
    *.json) hash=$("$exe" forge canonicalize "$m" | sha256sum | cut -d' ' -f1) ;;
    *) hash=$(printf %s "$("$exe" forge emit "$m")" | sha256sum | cut -d' ' -f1) ;;
    esac
    grep -q "\"ir_hash\":\"$hash\"" "$tmp/stdout" || fail "$m: ir_hash is not canonicalize|sha256sum"
    grep -q "\"artifact\":\"$out/a\"" "$tmp/stdout" || fail "$m: artifact path: $(cat "$tmp/stdout")"
    for f in flake.nix launch.json src; do
        [ -e "$out/a/$f" ] || fail "$m: no $f in the artifact"
    done
    # the source's times change; the artifact does not
    find "$(dirname "$m")" -exec touch -h -d '2001-02-03 04:05:06' {} + 2>/dev/null
    compile "$m" "$out/b" || fail "$m: second compile: exit $?"
    snapshot "$out/a" >"$tmp/snap.a"
    snapshot "$out/b" >"$tmp/snap.b"
    cmp -s "$tmp/snap.a" "$tmp/snap.b" || fail "$m: two compiles differ: $(diff "$tmp/snap.a" "$tmp/snap.b" | head -5)"
    # archives: byte-identical, normalised
    compile "$m" "$out/a.tar.gz" || fail "$m: .tar.gz: exit $?: $(cat "$tmp/stderr")"
    touch "$(dirname "$m")"
    sleep 1
    compile "$m" "$out/b.tar.gz" || fail "$m: second .tar.gz: exit $?"
    cmp "$out/a.tar.gz" "$out/b.tar.gz" || fail "$m: two archives differ"
    [ "$(od -A n -t x1 -N 10 "$out/a.tar.gz" | tr -d ' \n')" = 1f8b0800000000000003 ] ||
        fail "$m: gzip header has a name or a time: $(od -A n -t x1 -N 10 "$out/a.tar.gz")"
    tar tvzf "$out/a.tar.gz" >"$tmp/list" || fail "$m: tar cannot read the archive"
    grep -v ' 0/0 .* 1970-01-01 00:00 ' "$tmp/list" | grep . && fail "$m: entries not 0/0 at time 0"
    tar tzf "$out/a.tar.gz" | sed 's,/$,,' >"$tmp/names"
    LC_ALL=C sort -c "$tmp/names" || fail "$m: archive entries not sorted by path"
    mkdir "$out/x" && tar xzf "$out/a.tar.gz" -C "$out/x" || fail "$m: extract"
    diff -r --no-dereference "$out/a" "$out/x" >/dev/null || fail "$m: archive content differs from the directory"
    # only the pin line changes with PROVIUM_FORGE_MVM_FLAKE_URL
    compile "$m" "$out/c" PROVIUM_FORGE_MVM_FLAKE_URL='path:/somewhere/nix/guest-lib' || fail "$m: pin compile"
    diff -r --no-dereference -x flake.nix "$out/a" "$out/c" >/dev/null || fail "$m: the pin changed more than flake.nix"
    diff "$out/a/flake.nix" "$out/c/flake.nix" >"$tmp/pin.diff"
    [ "$(grep -c '^[<>]' "$tmp/pin.diff")" = 2 ] || fail "$m: the pin changed: $(cat "$tmp/pin.diff")"
    grep -q '^> *inputs.mvm.url = "path:/somewhere/nix/guest-lib";$' "$tmp/pin.diff" || fail "$m: pin line: $(cat "$tmp/pin.diff")"
    # compiling over an existing artifact replaces it whole (an extra file goes away)
    echo stale >"$out/a/stale"
    compile "$m" "$out/a" || fail "$m: recompile over the artifact: exit $?"
    [ -e "$out/a/stale" ] && fail "$m: the old artifact was not replaced"
    left=$(find "$out" -maxdepth 1 -name '.*staging*')
    [ -z "$left" ] || fail "$m: staging left behind: $left"
done

# failures: an escaping symlink (exit 1, the code, the old artifact intact, no staging)
w="$tmp/work/compile"
out="$tmp/out1"
ln -s ../../outside "$w/app/escape"
compile "$w/manifest.json" "$out/a"
rc=$?
[ "$rc" = 1 ] || fail "escaping symlink: exit $rc, want 1"
grep -q '"code":"E_SOURCE_OUT_OF_TREE_SYMLINK"' "$tmp/stdout" || fail "escaping symlink: $(cat "$tmp/stdout")"
grep -q '"ok":false' "$tmp/stdout" || fail "escaping symlink: not ok:false"
grep -q '"artifact"' "$tmp/stdout" && fail "escaping symlink: an artifact was announced"
[ -e "$out/a/flake.nix" ] || fail "escaping symlink: the old artifact is gone"
[ -z "$(find "$out" -maxdepth 1 -name '.*staging*')" ] || fail "escaping symlink: staging left behind"
compile "$w/manifest.json" "$out/fail.tar.gz"
[ -e "$out/fail.tar.gz" ] && fail "escaping symlink: an archive was written"
[ -z "$(find "$out" -maxdepth 1 -name '*tmp*' -o -maxdepth 1 -name '.*staging*')" ] || fail "archive failure left files"
rm "$w/app/escape"
# a FIFO in the source is skipped silently
mkfifo "$w/app/pipe"
compile "$w/manifest.json" "$tmp/fifo" || fail "a FIFO in the source: exit $?: $(cat "$tmp/stdout")"
[ -e "$tmp/fifo/src/pipe" ] && fail "a FIFO was copied"
rm "$w/app/pipe"
# an output that exists and is not a directory
echo keep >"$tmp/file"
compile "$w/manifest.json" "$tmp/file"
rc=$?
[ "$rc" = 2 ] || fail "output is a file: exit $rc, want 2"
grep -q '"code":"E_COMPILE_OUTPUT_EXISTS_NOT_DIR"' "$tmp/stdout" || fail "output is a file: $(cat "$tmp/stdout")"
[ "$(cat "$tmp/file")" = keep ] || fail "output is a file: it was changed"
# usage errors: exit 2, prefixed lines, nothing on stdout
"$exe" forge compile "$w/manifest.json" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
[ "$rc" = 2 ] && [ ! -s "$tmp/stdout" ] || fail "missing --out: exit $rc"
grep -v '^provium: ' "$tmp/stderr" && fail "missing --out: unprefixed stderr"

[ "$fails" = 0 ] && echo "forge_compile: $n manifest(s), all checks passed"
[ "$fails" = 0 ]
