#!/bin/sh
# real-check.sh [ENTRY] - opt-in local recipe (spec §10.7): compile a workload against a
# local mvm checkout's guest library and let real Nix evaluate the flake (no VM boot):
#   PROVIUM_FORGE_MVM_FLAKE_URL=path:$PROVIUM_FORGE_MVM_REPO/nix/guest-lib
#   provium forge compile ENTRY --out TMP/artifact
#   nix flake check TMP/artifact; nix eval .#packages.x86_64-linux.default.name
# Needs nix on PATH and PROVIUM_FORGE_MVM_REPO (else one "skip:" line, exit 0).
# ENTRY defaults to the examples/forge/with-source workload.
set -u
recipe=real-check
. "$(dirname "$0")/lib.sh"

command -v nix >/dev/null 2>&1 || skip "nix is not on PATH"
[ -n "${PROVIUM_FORGE_MVM_REPO:-}" ] || skip "PROVIUM_FORGE_MVM_REPO is not set (a local mvm checkout)"
[ -d "$PROVIUM_FORGE_MVM_REPO/nix/guest-lib" ] ||
    skip "no nix/guest-lib in PROVIUM_FORGE_MVM_REPO=$PROVIUM_FORGE_MVM_REPO"
need_provium
entry=$(default_entry "${1:-}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

export PROVIUM_FORGE_MVM_FLAKE_URL="path:$PROVIUM_FORGE_MVM_REPO/nix/guest-lib"
"$exe" forge compile "$entry" --out "$tmp/artifact" || die "compile of $entry failed"
for f in flake.nix launch.json src; do
    [ -e "$tmp/artifact/$f" ] || die "the artifact has no $f"
done
nix --extra-experimental-features 'nix-command flakes' flake check "$tmp/artifact" ||
    die "nix flake check failed"
name=$(nix --extra-experimental-features 'nix-command flakes' eval --raw \
    "path:$tmp/artifact#packages.x86_64-linux.default.name") || die "nix eval failed"
echo "ok: real-check: $entry evaluates (packages.x86_64-linux.default.name = $name)"
