#!/usr/bin/env python3
"""spec_methods.py - the list of API methods in the spec's §4 tables, for the spec-coverage test.

Reads ../shared/spec/provium-api.md (or --spec PATH), section "## 4. Objects", and lists
every (object, method, tier) it names: the method tables (Lab, Vm, RunResult, Process,
Stream, Bridge, Disk), the Vm boot options, and the bulleted objects (File, Console, Clock,
Snapshot, LabSnapshot, Batch, Nic). Writes tests/e2e/lib/spec_methods.lua, which
tests/e2e/spec_coverage.test.lua walks: every row there must have a call in the test.

  scripts/spec_methods.py          rewrite tests/e2e/lib/spec_methods.lua
  scripts/spec_methods.py --check  exit 1 (printing the difference) when the committed
                                   file is not what the spec gives; scripts/test.sh runs it
"""
import argparse
import difflib
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = os.path.join(ROOT, "..", "shared", "spec", "provium-api.md")
OUT = os.path.join(ROOT, "tests", "e2e", "lib", "spec_methods.lua")

# the receiver names the spec writes, per section (4.4's `s` is a Stream, 4.5's a Snapshot)
PREFIX = {
    "4.1": {"lab": "Lab"},
    "4.2": {"vm": "Vm"},
    "4.3": {"r": "RunResult", "p": "Process"},
    "4.4": {"s": "Stream"},
    "4.6": {"b": "Bridge", "n": "Nic"},
    "4.7": {"d": "Disk"},
}
TIER_RE = re.compile(r"\[(core|next|later)\]")
CALL_RE = re.compile(r"^(?:(\w+)[:.])?(\w+)\s*[({]")
EXCLUDED = {"tostring"}


def section_text(spec):
    m = re.search(r"^## 4\. Objects\n(.*?)^## 5\.", spec, re.S | re.M)
    if not m:
        sys.exit("spec_methods: no '## 4. Objects' section in the spec")
    return m.group(1)


def calls(cell):
    """(prefix, name) for each backticked call in a cell of text."""
    out = []
    for tok in re.findall(r"`([^`]+)`", cell):
        m = CALL_RE.match(tok.strip())
        if m and m.group(2) not in EXCLUDED:
            out.append((m.group(1), m.group(2)))
    return out


class Rows:
    def __init__(self):
        self.rows = []
        self.seen = set()

    def add(self, obj, method, tier):
        if (obj, method) not in self.seen:
            self.seen.add((obj, method))
            self.rows.append((obj, method, tier))


def table_row(rows, sec, cells, header, sec_tier, default_obj):
    """One '| ... |' row of a method table (or the boot option table)."""
    tier = sec_tier
    if "tier" in header:
        tier = cells[header.index("tier")].strip() or sec_tier
    if header[0] == "option":
        for name in re.findall(r"`(\w+)", cells[0]):
            rows.add("boot", name, tier)
        return
    for prefix, name in calls(cells[0]):
        obj = PREFIX.get(sec, {}).get(prefix, default_obj) if prefix else default_obj
        rows.add(obj, name, tier)


def bullet(rows, text):
    """'- **File** [next]: `f:read(n)` ...' and the Nic paragraph."""
    m = re.match(r"-?\s*\*\*(\w+)(?:, (\w+))?\*\*\s*\[(\w+)\]:?(.*)", text, re.S)
    if not m:
        return
    objs = [o for o in (m.group(1), m.group(2)) if o]
    tier, body = m.group(3), m.group(4)
    if objs == ["Batch"]:  # `b` offers `run`, `read_file`, ..., `mkdir(path, ...)`
        body = body.split("offers", 1)[1].split(";")[0]
        for tok in re.findall(r"`(\w+)", body):
            rows.add("Batch", tok, tier)
        rows.add("Vm", "batch", tier)
        return
    found = calls(body)
    prefixed = any(prefix for prefix, _ in found)
    for prefix, name in found:
        # Clock writes bare `get()`; elsewhere a bare call is a value (`file(<handle>)`)
        if prefix in ("vm", "pending") or (prefixed and not prefix):
            continue
        for obj in objs:
            # "for a LabSnapshot size sums its files": both objects share the methods
            rows.add(obj, name, tier)


def parse(spec):
    rows = Rows()
    sec, sec_tier, header = None, "core", None
    default_obj = None
    para = []
    lines = section_text(spec).split("\n") + [""]
    for line in lines:
        h = re.match(r"^### (4\.\d+) (.*)", line)
        if h:
            sec, title = h.group(1), h.group(2)
            t = TIER_RE.search(title)
            sec_tier = t.group(1) if t else "core"
            default_obj = {"4.1": "Lab", "4.2": "Vm", "4.3": "RunResult", "4.4": "Stream",
                           "4.6": "Bridge", "4.7": "Disk"}.get(sec)
            header = None
            continue
        if sec == "4.8":
            break  # its calls are the Vm row's [later] methods
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
            if header is None:
                header = [c.lower() for c in cells]
            elif not set(cells[0]) <= set("-: "):
                table_row(rows, sec, cells, header, sec_tier, default_obj)
            continue
        header = None
        m = re.match(r"^\*\*Process\*\* \[(\w+)\]", line)
        if m:
            sec_tier, default_obj = m.group(1), "Process"
            continue
        if line.startswith("- **") or line.startswith("**Nic**"):
            if para:
                bullet(rows, " ".join(para))
            para = [line]
        elif para and line.strip():
            para.append(line.strip())
        elif para:
            bullet(rows, " ".join(para))
            para = []
    return rows.rows


def render(rows):
    out = ["-- spec_methods.lua - every method of the spec's §4 tables with its tier, generated by",
           "-- scripts/spec_methods.py from ../shared/spec/provium-api.md (do not edit; rerun it).",
           "-- tests/e2e/spec_coverage.test.lua calls each once in a real guest.",
           "return {"]
    for obj, method, tier in rows:
        out.append('  {"%s", "%s", "%s"},' % (obj, method, tier))
    out.append("}")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed file")
    ap.add_argument("--spec", default=SPEC)
    ap.add_argument("--out", default=OUT)
    a = ap.parse_args()
    with open(a.spec, encoding="utf-8") as f:
        text = render(parse(f.read()))
    if a.check:
        try:
            with open(a.out, encoding="utf-8") as f:
                old = f.read()
        except FileNotFoundError:
            old = ""
        if old != text:
            sys.stdout.writelines(difflib.unified_diff(
                old.splitlines(True), text.splitlines(True), a.out, "from the spec"))
            print("spec_methods: %s differs from the spec; run scripts/spec_methods.py"
                  % os.path.relpath(a.out, ROOT))
            return 1
        print("spec_methods: %d methods, up to date" % text.count("\n  {"))
        return 0
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(text)
    print("spec_methods: wrote %d methods to %s" % (text.count("\n  {"), os.path.relpath(a.out, ROOT)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
