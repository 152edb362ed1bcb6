#!/usr/bin/env python3
"""A workload description program for `provium forge emit` / `forge up`.

Run by provium with PROVIUM_FORGE_EMITTING=1, it writes its IR (a manifest) to the
file named by $PROVIUM_FORGE_IR_OUT. The bundled source is ./src; the service runs its
greet.sh with busybox sh (the qemu backend's guest has nothing else). greet.sh also
serves a page with busybox httpd when FORGE_SERVE_PORT is set, for the port tests.
"""
import json
import os
import sys

workload = {
    "schema_version": "0.1",
    "id": "with-source",
    "apps": [
        {
            "name": "greeter",
            "source": {"kind": "local_path", "path": "src", "include": ["**"], "exclude": ["*.tmp"]},
            "image": {"kind": "nix_packages", "packages": ["busybox"]},
            "entrypoint": {
                "command": ["/bin/sh", "greet.sh"],
                "working_dir": "/app",
                "env": {"GREETING": "hello from a bundled forge workload"},
            },
            "env": {"GREETING": "overridden by the entrypoint", "WHO": "forge"},
            "network": {"mode": "bridge", "ports": []},
        }
    ],
}

out = os.environ.get("PROVIUM_FORGE_IR_OUT")
if not out or os.environ.get("PROVIUM_FORGE_EMITTING") != "1":
    sys.exit("app.py: run me through `provium forge emit app.py` or `provium forge up app.py`")
with open(out, "w", encoding="utf-8") as f:
    json.dump(workload, f)
