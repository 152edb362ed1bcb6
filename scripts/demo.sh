#!/usr/bin/env bash
# demo.sh - set everything up on a fresh Debian/Ubuntu machine and run the demo suite,
# which boots real VMs (QEMU; KVM when usable, TCG otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec build/provium --config examples/demo/provium.toml "$@"
