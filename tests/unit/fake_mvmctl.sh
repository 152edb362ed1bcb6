#!/bin/sh
# fake_mvmctl.sh - the fake mvm controller (scripts/forge/fake-mvmctl) keeps its contract
# (spec §10.7): --version and its override, up's artifact checks (exit 65), the record
# file's lines, the STDOUT/EXIT overrides, invoke/session/machine, exit 64 otherwise.
# Usage: fake_mvmctl.sh PATH_TO_FAKE_MVMCTL
set -u
fake=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
rec=$tmp/rec
export PROVIUM_FORGE_FAKE_MVM_RECORD="$rec"
unset PROVIUM_FORGE_FAKE_MVM_VERSION PROVIUM_FORGE_FAKE_MVM_STDOUT PROVIUM_FORGE_FAKE_MVM_EXIT

fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# expect STATUS STDOUT STDERR -- ARGS: runs the fake in $tmp, compares
expect() {
    want_rc=$1 want_out=$2 want_err=$3
    shift 4
    (cd "$tmp" && "$fake" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null)
    rc=$?
    [ "$rc" -eq "$want_rc" ] || fail "fake-mvmctl $*: exit $rc, want $want_rc"
    [ "$(cat "$tmp/out")" = "$want_out" ] || fail "fake-mvmctl $*: stdout '$(cat "$tmp/out")', want '$want_out'"
    [ "$(cat "$tmp/err")" = "$want_err" ] || fail "fake-mvmctl $*: stderr '$(cat "$tmp/err")', want '$want_err'"
}

art=$tmp/art
mkdir -p "$art/src"
printf '{"artifact_format_version":"1.0","workload_id":"hello-app"}' >"$art/launch.json"
printf '{ }\n' >"$art/flake.nix"

expect 0 "mvmctl 0.10.1" "" -- --version
PROVIUM_FORGE_FAKE_MVM_VERSION=0.9.2 expect 0 "mvmctl 0.9.2" "" -- --version
[ ! -e "$rec" ] || fail "--version was recorded"

# a complete artifact: recorded, default output and status
expect 0 "" "" -- up --flake "$art" --name web -p 8080:80 -e K=V -d --watch --hypervisor qemu
want=$(printf '%s\n' "--" "subcommand=up" "cwd=$tmp" "flake=$art" "workload=hello-app" \
    "arg=up" "arg=--flake" "arg=$art" "arg=--name" "arg=web" "arg=-p" "arg=8080:80" \
    "arg=-e" "arg=K=V" "arg=-d" "arg=--watch" "arg=--hypervisor" "arg=qemu")
[ "$(cat "$rec")" = "$want" ] || { fail "record:"; cat "$rec"; }

# the overrides
PROVIUM_FORGE_FAKE_MVM_STDOUT="booted hello" PROVIUM_FORGE_FAKE_MVM_EXIT=7 \
    expect 7 "booted hello" "" -- up --flake "$art"
[ "$(grep -c '^--$' "$rec")" -eq 2 ] || fail "second up not recorded"

# incomplete artifacts: 65, not recorded
rm -f "$rec"
mv "$art/flake.nix" "$tmp/flake.nix"
expect 65 "" "fake-mvm: artifact incomplete: $art/flake.nix" -- up --flake "$art"
mv "$tmp/flake.nix" "$art/flake.nix"
mv "$art/launch.json" "$tmp/launch.json"
expect 65 "" "fake-mvm: artifact incomplete: $art/launch.json" -- up --flake "$art"
mv "$tmp/launch.json" "$art/launch.json"
rmdir "$art/src" && touch "$art/src"
expect 65 "" "fake-mvm: artifact incomplete: $art/src/" -- up --flake "$art"
rm "$art/src" && mkdir "$art/src"
[ ! -e "$rec" ] || fail "an incomplete artifact was recorded"

# refused: unknown verb, unknown flags, up without --flake or a value
expect 64 "" "fake-mvm: unknown verb 'build'" -- build
expect 64 "" "fake-mvm: unknown flag '--bogus'" -- --bogus
expect 64 "" "fake-mvm: missing verb (up, invoke, session, machine, --version)" --
expect 64 "" "fake-mvm: up: unknown argument '--bogus'" -- up --flake "$art" --bogus
expect 64 "" "fake-mvm: up: --flake DIR is required" -- up --name x
expect 64 "" "fake-mvm: up: --cpus needs a value" -- up --flake "$art" --cpus
[ ! -e "$rec" ] || fail "a refused call was recorded"

# the other verbs: recorded, exit 0; invoke with its stdin
(cd "$tmp" && printf 'line1\nline2\n' | "$fake" invoke hello-app --json) || fail "invoke: exit $?"
expect 0 "" "" -- session ls
expect 0 "" "" -- machine stop web
want=$(printf '%s\n' "--" "subcommand=invoke" "cwd=$tmp" "flake=" "workload=" \
    "arg=invoke" "arg=hello-app" "arg=--json" 'stdin=line1\nline2' \
    "--" "subcommand=session" "cwd=$tmp" "flake=" "workload=" "arg=session" "arg=ls" \
    "--" "subcommand=machine" "cwd=$tmp" "flake=" "workload=" "arg=machine" "arg=stop" "arg=web")
[ "$(cat "$rec")" = "$want" ] || { fail "record of invoke/session/machine:"; cat "$rec"; }

# without the record variable nothing is written anywhere
rm -f "$rec"
(unset PROVIUM_FORGE_FAKE_MVM_RECORD; cd "$tmp" && "$fake" up --flake "$art") || fail "up without record"
[ ! -e "$rec" ] || fail "recorded without PROVIUM_FORGE_FAKE_MVM_RECORD"

[ "$fails" -eq 0 ] && echo "ok" || exit 1
