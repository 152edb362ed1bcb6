#!/bin/sh
# forge_help.sh - `provium forge --help` and `provium forge SUB --help` (and -h) for
# every forge subcommand exit 0, print on stdout only, and start with the subcommand's
# usage line (src/forge/help.c).
# Usage: forge_help.sh PROVIUM_BINARY
set -u
exe=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

check() { # check WANT_FIRST_LINE ARGS...
    want=$1
    shift
    "$exe" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
    [ "$rc" -eq 0 ] || { echo "FAIL provium $*: exit $rc"; fails=$((fails + 1)); }
    [ -s "$tmp/err" ] && { echo "FAIL provium $*: wrote on stderr:"; cat "$tmp/err"; fails=$((fails + 1)); }
    first=$(head -n 1 "$tmp/out")
    case $first in
    "$want"*) ;;
    *) echo "FAIL provium $*: first line '$first', want '$want...'"; fails=$((fails + 1)) ;;
    esac
    grep -q '^Exit codes' "$tmp/out" || { echo "FAIL provium $*: no exit codes"; fails=$((fails + 1)); }
}

check "usage: provium forge SUBCOMMAND" forge --help
for sub in canonicalize validate emit compile up ls logs down; do
    check "usage: provium forge $sub" forge "$sub" --help
    check "usage: provium forge $sub" forge "$sub" -h
done
# the flags each text must name
"$exe" forge up --help >"$tmp/up"
for flag in --hypervisor --name --cpus --memory -p -e --detach --kernel --watch \
    PROVIUM_FORGE_MVM_BIN PROVIUM_FORGE_UP_ARGS E_MVM_VERSION_TOO_OLD; do
    grep -q -- "$flag" "$tmp/up" || { echo "FAIL forge up --help lacks $flag"; fails=$((fails + 1)); }
done
"$exe" forge compile --help | grep -q -- '--out' || { echo "FAIL compile --help lacks --out"; fails=$((fails + 1)); }
"$exe" forge logs --help | grep -q -- '-f' || { echo "FAIL logs --help lacks -f"; fails=$((fails + 1)); }

[ "$fails" -eq 0 ] && echo "ok" || exit 1
