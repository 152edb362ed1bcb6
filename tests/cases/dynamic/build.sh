#!/bin/sh
# The image recipe: provium's own image builder plus a build stamp the test reads back.
set -eu
out=$1
if [ "${FAIL_BUILD:-}" = 1 ]; then
  echo "build.sh: failing on purpose" >&2
  exit 4
fi
"$PROVIUM_EXE" image build --out "$out"
date +%s%N > "$out/stamp"
