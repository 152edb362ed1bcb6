#!/usr/bin/env python3
"""build_agent.py - meson's recipe for the static guest agent (see meson.build).

Usage: build_agent.py OUTPUT DEPFILE OBJDIR CC... -- FLAGS... -- SOURCES...

Compiles each source into OBJDIR with its own dependency file, links OUTPUT, and writes
DEPFILE: one make rule `OUTPUT: every source and header they included`, which ninja reads
so that touching any header (agent/*.h, proto/wire.h) rebuilds the agent. One compiler
call for all the sources would keep only the last source's dependencies.
"""
import os
import subprocess
import sys


def split_args(argv):
    """OUTPUT DEPFILE OBJDIR CC... -- FLAGS... -- SOURCES... -> its five parts."""
    out, dep, objdir = argv[:3]
    rest = argv[3:]
    first = rest.index('--')
    second = rest.index('--', first + 1)
    return out, dep, objdir, rest[:first], rest[first + 1:second], rest[second + 1:]


def deps_of(path):
    """The prerequisites of the one rule in a compiler-written .d file."""
    with open(path) as f:
        text = f.read().replace('\\\n', ' ')
    _, _, prereqs = text.partition(': ')
    # a space inside a path is written `\ `: keep it (ninja reads the same escape)
    return [p.replace('\0', '\\ ') for p in prereqs.replace('\\ ', '\0').split()]


def main():
    out, dep, objdir, cc, flags, sources = split_args(sys.argv[1:])
    os.makedirs(objdir, exist_ok=True)
    objs, prereqs = [], []
    for src in sources:
        name = os.path.relpath(src).lstrip('./').replace('/', '_')
        obj = os.path.join(objdir, name + '.o')
        cmd = cc + flags + ['-MD', '-MF', obj + '.d', '-MT', out, '-c', '-o', obj, src]
        if subprocess.call(cmd) != 0:
            return 1
        objs.append(obj)
        prereqs += [p for p in deps_of(obj + '.d') if p not in prereqs]
    if subprocess.call(cc + flags + ['-o', out] + objs) != 0:
        return 1
    with open(dep + '.tmp', 'w') as f:
        f.write(out + ': ' + ' \\\n  '.join(prereqs) + '\n')
    os.replace(dep + '.tmp', dep)
    return 0


if __name__ == '__main__':
    sys.exit(main())
