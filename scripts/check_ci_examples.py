#!/usr/bin/env python3
"""check_ci_examples.py - the CI recipes in examples/ci/ against the provium binary.

Why: the recipes are documentation that users copy; a flag renamed in the CLI or a
shard count changed in one place only would make them fail on the user's CI, not
ours. For every file in examples/ci/ this checks that it is valid YAML, that every
provium invocation in it (GitHub Actions `run:` steps, Kubernetes container
command/args) uses only flags the built binary's --help lists for that command, that
`--shard` is K/N or auto/N with N equal to the matrix size (GitHub Actions: matrix
values exactly 1..N) or to the Indexed Job's completions (Kubernetes: auto/N only),
and that each recipe merges its shards with `provium report merge`. It also proves
once per run that a misspelled flag is caught.

Usage: scripts/check_ci_examples.py [PROVIUM_BINARY]   (default build/provium)
Prints one line per check and ends with "N passed, M failed"; exit 1 on a failure.
"""
import glob
import os
import re
import shlex
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPERATORS = {"|", "||", "&", "&&", ";", ">", ">>", "<", "(", ")"}
passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
        print("  ok   " + what)
    else:
        failed += 1
        print("  FAIL " + what)
    return ok


def help_text(exe, *cmd):
    r = subprocess.run([exe, *cmd, "--help"], capture_output=True, text=True)
    return r.stdout + r.stderr


def flag_known(flag, text):
    return re.search(r"(?<![\w-])" + re.escape(flag) + r"(?![\w-])", text) is not None


def placeholders(script):
    """GitHub expressions as single words: ${{ matrix.shard }} -> @matrix.shard@."""
    return re.sub(r"\$\{\{\s*([^}]*?)\s*\}\}", lambda m: "@" + m.group(1) + "@", script)


def invocations(script):
    """The argument lists of the provium commands in a shell script."""
    script = placeholders(script).replace("\\\n", " ")
    out = []
    for line in script.splitlines():
        line = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
        lex = shlex.shlex(line, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        try:
            words = list(lex)
        except ValueError:
            continue
        for i, w in enumerate(words):
            if os.path.basename(w) == "provium" and (i == 0 or words[i - 1] in OPERATORS
                                                      or words[i - 1] in ("exec", "sudo")):
                args = []
                for a in words[i + 1:]:
                    if a in OPERATORS:
                        break
                    args.append(a)
                out.append(args)
    return out


def bad_flags(args, helps):
    """The flags of one invocation its command's --help does not list."""
    cmd = args[0] if args and args[0] in ("report", "list") else None
    text = helps[cmd]
    return [a.split("=", 1)[0] for a in args
            if a.startswith("-") and a != "-" and not flag_known(a.split("=", 1)[0], text)]


def shard_values(args):
    vals = []
    for i, a in enumerate(args):
        if a == "--shard" and i + 1 < len(args):
            vals.append(args[i + 1])
        elif a.startswith("--shard="):
            vals.append(a.split("=", 1)[1])
    return vals


def github_scripts(doc):
    """(job name, job, run script) for every run step."""
    for name, job in (doc.get("jobs") or {}).items():
        for step in job.get("steps") or []:
            if isinstance(step.get("run"), str):
                yield name, job, step["run"]


def check_github_shard(value, job, where):
    matrix = ((job.get("strategy") or {}).get("matrix") or {})
    k, _, n = value.partition("/")
    m = re.fullmatch(r"@matrix\.(\w+)@", k)
    total = len(matrix.get(m.group(1)) or []) if m else None
    if n == "@strategy.job-total@" and total:
        n = str(total)
    if not check(n.isdigit() and int(n) >= 1, f"{where}: --shard {value}: N is a number"):
        return
    n = int(n)
    if m:
        vals = matrix.get(m.group(1))
        check(vals == list(range(1, n + 1)),
              f"{where}: --shard {value}: matrix.{m.group(1)} is 1..{n} (got {vals})")
    else:
        check(k.isdigit() and 1 <= int(k) <= n, f"{where}: --shard {value}: 1 <= K <= N")


def k8s_scripts(doc):
    """(job spec, shell text) for every container of a Job."""
    spec = (doc or {}).get("spec") or {}
    pod = ((spec.get("template") or {}).get("spec") or {})
    for c in pod.get("containers") or []:
        cmd = list(c.get("command") or []) + list(c.get("args") or [])
        if len(cmd) >= 2 and os.path.basename(cmd[0]) in ("sh", "bash") and cmd[1] == "-c":
            yield spec, " ".join(cmd[2:])
        else:
            yield spec, " ".join(shlex.quote(x) for x in cmd)


def check_k8s_shard(value, spec, where):
    k, _, n = value.partition("/")
    ok = check(k == "auto" and n.isdigit(), f"{where}: --shard {value} is auto/N")
    if ok:
        check(spec.get("completionMode") == "Indexed" and spec.get("completions") == int(n),
              f"{where}: an Indexed Job of {n} completions (got {spec.get('completionMode')}, "
              f"{spec.get('completions')})")


def recipe_commands(path, docs):
    """(where, args, shard checker) for each provium invocation of a recipe."""
    found = []
    for doc in docs:
        if isinstance(doc, dict) and "jobs" in doc:
            for name, job, script in github_scripts(doc):
                for args in invocations(script):
                    found.append((f"{path} job {name}", args,
                                  lambda v, w, job=job: check_github_shard(v, job, w)))
        elif isinstance(doc, dict) and doc.get("kind") == "Job":
            for spec, script in k8s_scripts(doc):
                for args in invocations(script):
                    where = f"{path} Job {doc.get('metadata', {}).get('name')}"
                    found.append((where, args, lambda v, w, spec=spec: check_k8s_shard(v, spec, w)))
    return found


def check_recipe(path, helps):
    try:
        with open(path) as f:
            docs = list(yaml.safe_load_all(f))
    except yaml.YAMLError as e:
        check(False, f"{path}: valid YAML ({e})")
        return []
    check(True, f"{path}: valid YAML")
    found = recipe_commands(path, docs)
    check(any(a for _, a, _ in found if not a or a[0] not in ("report", "list")),
          f"{path}: runs provium")
    check(any(a[:2] == ["report", "merge"] for _, a, _ in found),
          f"{path}: merges with provium report merge")
    for where, args, shard_check in found:
        bad = bad_flags(args, helps)
        check(not bad, f"{where}: provium {' '.join(args[:2])}...: flags in --help"
              + (f" (unknown: {' '.join(bad)})" if bad else ""))
        for v in shard_values(args):
            shard_check(v, where)
    return found


def main():
    exe = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "provium")
    helps = {None: help_text(exe), "report": help_text(exe, "report"),
             "list": help_text(exe, "list")}
    if not check("--shard" in helps[None] and "--junit" in helps["report"],
                 f"{exe} --help lists --shard, report --help lists --junit"):
        print(f"{passed} passed, {failed} failed")
        return 1
    recipes = sorted(glob.glob(os.path.join(ROOT, "examples", "ci", "*.y*ml")))
    check(len(recipes) >= 2, "examples/ci/ holds the recipes")
    runs = []
    for path in recipes:
        runs += check_recipe(os.path.relpath(path, ROOT), helps)
    # the checker itself: one misspelled flag must be reported
    sample = next((a for _, a, _ in runs if "--shard" in a), None)
    check(sample is not None
          and "--shrad" in bad_flags([x.replace("--shard", "--shrad") for x in sample], helps),
          "a misspelled flag (--shrad) is caught")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
