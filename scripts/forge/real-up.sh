#!/bin/sh
# real-up.sh [ENTRY] [-- MVMCTL-ARGS] - opt-in local recipe (spec §10.7): the full
# pipeline on a Nix host, `provium forge up --hypervisor mvmctl ENTRY` with the
# controller built from a local mvm checkout (cargo run --manifest-path
# $PROVIUM_FORGE_MVM_REPO/Cargo.toml). Extra controller flags come from
# $PROVIUM_FORGE_UP_ARGS or after `--`, e.g.
#   PROVIUM_FORGE_UP_ARGS='--hypervisor qemu' scripts/forge/real-up.sh 2>&1 | tee boot.log
# Needs nix, cargo and PROVIUM_FORGE_MVM_REPO (else one "skip:" line, exit 0). Exits
# with the controller's status.
set -u
recipe=real-up
. "$(dirname "$0")/lib.sh"

command -v nix >/dev/null 2>&1 || skip "nix is not on PATH"
command -v cargo >/dev/null 2>&1 || skip "cargo is not on PATH (the controller is built from source)"
[ -n "${PROVIUM_FORGE_MVM_REPO:-}" ] || skip "PROVIUM_FORGE_MVM_REPO is not set (a local mvm checkout)"
[ -f "$PROVIUM_FORGE_MVM_REPO/Cargo.toml" ] ||
    skip "no Cargo.toml in PROVIUM_FORGE_MVM_REPO=$PROVIUM_FORGE_MVM_REPO"
need_provium
first=
if [ $# -gt 0 ] && [ "$1" != -- ]; then
    first=$1
    shift
fi
entry=$(default_entry "$first")
[ "${1:-}" = -- ] && shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# the controller, run from the checkout (PROVIUM_FORGE_MVM_BIN must be one executable)
cat >"$tmp/mvmctl" <<EOS
#!/bin/sh
exec cargo run -q --manifest-path "$PROVIUM_FORGE_MVM_REPO/Cargo.toml" -- "\$@"
EOS
chmod +x "$tmp/mvmctl"
export PROVIUM_FORGE_MVM_FLAKE_URL="${PROVIUM_FORGE_MVM_FLAKE_URL:-path:$PROVIUM_FORGE_MVM_REPO/nix/guest-lib}"
PROVIUM_FORGE_MVM_BIN="$tmp/mvmctl" "$exe" forge up --hypervisor mvmctl "$entry" -- "$@"
rc=$?
[ "$rc" -eq 0 ] && echo "ok: real-up: $entry" || echo "FAIL real-up: $entry: exit $rc"
exit "$rc"
