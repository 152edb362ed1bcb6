#!/bin/sh
# forge_mvm_up.sh - `provium forge up --hypervisor mvmctl` against the repository's fake
# controller (scripts/forge/fake-mvmctl, spec §10.7): the recorded call is `up --flake
# <artifact>` for the workload with the forwarded flags, $PROVIUM_FORGE_UP_ARGS and the
# ARGS after `--` in that order; the controller's output and exit status pass through;
# a controller older than 0.10.0 is E_MVM_VERSION_TOO_OLD and a missing one
# E_MVM_NOT_FOUND, both exit 2 with `provium: ` lines and no call.
# Usage: forge_mvm_up.sh PROVIUM_BINARY FAKE_MVMCTL
set -u
exe=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
fake=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

mkdir -p "$tmp/w/src"
echo 'echo hi' >"$tmp/w/src/hello.sh"
cat >"$tmp/w/m.json" <<'EOS'
{"schema_version":"0.1","id":"mvm-hello","apps":[{"name":"hello",
 "source":{"kind":"local_path","path":"src"},
 "image":{"kind":"nix_packages","packages":["busybox"]},
 "entrypoint":{"command":["sh","hello.sh"]}}]}
EOS
export XDG_CACHE_HOME="$tmp/cache" XDG_RUNTIME_DIR="$tmp/run"
export PROVIUM_FORGE_MVM_BIN="$fake" PROVIUM_FORGE_FAKE_MVM_RECORD="$tmp/rec"
unset PROVIUM_FORGE_UP_ARGS PROVIUM_FORGE_FAKE_MVM_VERSION PROVIUM_FORGE_FAKE_MVM_EXIT \
    PROVIUM_FORGE_FAKE_MVM_STDOUT

up() { # up ARGS...: provium forge up --hypervisor mvmctl ARGS, in $tmp
    (cd "$tmp" && "$exe" forge up --hypervisor mvmctl "$@" >"$tmp/out" 2>"$tmp/err" </dev/null)
}

# flags, $PROVIUM_FORGE_UP_ARGS, then ARGS; stdout and status of the controller
PROVIUM_FORGE_UP_ARGS=' --hypervisor  qemu ' PROVIUM_FORGE_FAKE_MVM_STDOUT='fake booted' \
    PROVIUM_FORGE_FAKE_MVM_EXIT=5 \
    up --name web --cpus 2 --memory 1G -p 8080:80 -p 5353:53/udp -e A=1 -e B='x y' \
    "$tmp/w/m.json" -- --watch
rc=$?
[ "$rc" -eq 5 ] || fail "the controller's status 5 came back as $rc"
[ "$(cat "$tmp/out")" = "fake booted" ] || fail "stdout: '$(cat "$tmp/out")'"
[ -s "$tmp/err" ] && { fail "stderr:"; cat "$tmp/err"; }
art=$(sed -n 's/^flake=//p' "$tmp/rec")
case $art in
"$tmp/cache/provium/forge/mvm-hello-"*) ;;
*) fail "flake=$art is not in the artifact cache" ;;
esac
if [ ! -f "$art/flake.nix" ] || [ ! -f "$art/launch.json" ] || [ ! -d "$art/src" ]; then
    fail "the artifact $art is incomplete"
fi
want=$(printf '%s\n' "--" "subcommand=up" "cwd=$tmp" "flake=$art" "workload=mvm-hello" \
    "arg=up" "arg=--flake" "arg=$art" "arg=--name" "arg=web" "arg=--cpus" "arg=2" \
    "arg=--memory" "arg=1024M" "arg=-p" "arg=8080:80" "arg=-p" "arg=5353:53/udp" \
    "arg=-e" "arg=A=1" "arg=-e" "arg=B=x y" "arg=--hypervisor" "arg=qemu" "arg=--watch")
[ "$(cat "$tmp/rec")" = "$want" ] || { fail "record:"; cat "$tmp/rec"; }

# defaults: no --cpus, --memory, -p, -e; -d
rm -f "$tmp/rec"
up -d "$tmp/w/m.json" || fail "up -d: exit $?"
# (up.c may name the VM after the workload itself: --name mvm-hello)
case $(grep '^arg=' "$tmp/rec" | tr '\n' ' ') in
"arg=up arg=--flake arg=$art arg=-d " | "arg=up arg=--flake arg=$art arg=--name arg=mvm-hello arg=-d ") ;;
*) fail "record of up -d:"; cat "$tmp/rec" ;;
esac

# too old, no version, missing: exit 2, E_* line, nothing recorded
expect_env_error() { # CODE WHAT
    rc=$?
    [ "$rc" -eq 2 ] || fail "$2: exit $rc, want 2"
    grep -q "^provium: .*$1" "$tmp/err" || { fail "$2: no $1 line:"; cat "$tmp/err"; }
    if grep -v '^provium: ' "$tmp/err" >/dev/null; then fail "$2: unprefixed stderr"; fi
    [ -e "$tmp/rec" ] && { fail "$2: the controller was called"; rm -f "$tmp/rec"; }
}
rm -f "$tmp/rec"
PROVIUM_FORGE_FAKE_MVM_VERSION=0.9.9 up "$tmp/w/m.json"
expect_env_error E_MVM_VERSION_TOO_OLD "version 0.9.9"
PROVIUM_FORGE_FAKE_MVM_VERSION=0.10.0-rc1 up "$tmp/w/m.json"
expect_env_error E_MVM_VERSION_TOO_OLD "version 0.10.0-rc1"
PROVIUM_FORGE_MVM_BIN=$tmp/nonexistent up "$tmp/w/m.json"
expect_env_error E_MVM_NOT_FOUND "a missing PROVIUM_FORGE_MVM_BIN"
(unset PROVIUM_FORGE_MVM_BIN; PATH=/nonexistent up "$tmp/w/m.json")
expect_env_error E_MVM_NOT_FOUND "no mvmctl on PATH"
PROVIUM_FORGE_FAKE_MVM_VERSION=0.10.0 up "$tmp/w/m.json" || fail "version 0.10.0 refused"

[ "$fails" -eq 0 ] && echo "ok" || exit 1
