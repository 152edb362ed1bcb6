#!/bin/sh
# agent_deps.sh - the musl agent is rebuilt when any header it includes changes: ninja
# must have recorded every agent/*.h and proto/*.h as a dependency of the provium-agent
# target (from the depfile scripts/build_agent.py writes). Without them a stale agent
# would run in the VMs while the unit tests, built from the same sources, pass.
#   agent_deps.sh NINJA BUILDDIR SOURCEDIR
set -eu
ninja=$1 build=$2 src=$3
deps=$("$ninja" -C "$build" -t deps provium-agent)
echo "$deps" | head -1
echo "$deps" | head -1 | grep -q '(VALID)' || { echo "FAIL: no valid deps for provium-agent"; exit 1; }
fail=0
for h in "$src"/agent/*.h "$src"/proto/*.h; do
  rel=${h#"$src"/}
  if echo "$deps" | grep -Eq "(^|/)$rel\$"; then
    echo "ok: $rel"
  else
    echo "FAIL: touching $rel would not rebuild provium-agent"; fail=1
  fi
done
exit $fail
