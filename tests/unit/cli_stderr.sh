#!/bin/sh
# cli_stderr.sh - failing CLI commands print nothing on stdout, and every line they
# write on stderr starts with "provium: " (the one message helper, util.c:vwarnx_p).
# Usage: cli_stderr.sh PROVIUM_BINARY
set -u
exe=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# a config whose error message spans two lines (a newline inside the bad value)
printf '[profiles.a]\nkernel = "k"\ncmdline = "x"\nmemory = "1\\nQ"\n' >"$tmp/multi.toml"
printf '[profiles.a]\nkernel = "k"\ncmdline = "x"\nkernal = 1\n' >"$tmp/unknown.toml"
printf '[provium\n' >"$tmp/syntax.toml"

check() {
    (cd "$tmp" && "$exe" "$@" >"$tmp/out" 2>"$tmp/err")
    rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "FAIL provium $*: exit 0"; fails=$((fails + 1))
    fi
    if [ -s "$tmp/out" ]; then
        echo "FAIL provium $*: wrote on stdout:"; cat "$tmp/out"; fails=$((fails + 1))
    fi
    if [ ! -s "$tmp/err" ]; then
        echo "FAIL provium $*: said nothing on stderr"; fails=$((fails + 1))
    elif grep -v '^provium: ' "$tmp/err" >/dev/null; then
        echo "FAIL provium $*: stderr lines without the prefix:"; cat "$tmp/err"; fails=$((fails + 1))
    fi
}

check --bogus-flag
check image
check image build --bogus-flag
check --config "$tmp/multi.toml" --no-progress
check --config "$tmp/unknown.toml" list
check --config "$tmp/syntax.toml" prepare
check --config "$tmp/unknown.toml" prepare a
check --config nowhere.toml --no-progress
check --jobs

# the two-line message keeps both of its lines, each prefixed
(cd "$tmp" && "$exe" --config multi.toml --no-progress >/dev/null 2>"$tmp/err")
if [ "$(grep -c '^provium: ' "$tmp/err")" -ne 2 ]; then
    echo "FAIL a two-line message is not two prefixed lines:"; cat "$tmp/err"; fails=$((fails + 1))
fi
[ "$fails" -eq 0 ] && echo "ok" || exit 1
