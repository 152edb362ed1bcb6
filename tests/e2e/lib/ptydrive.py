#!/usr/bin/env python3
"""ptydrive.py - run a command on a fresh pseudo-terminal and script it, like expect.

usage: ptydrive.py STEPS.json -- COMMAND [ARGS...]

The command gets a new session whose controlling terminal is the pty (80x24). STEPS is
a JSON array run in order:

  {"expect": "REGEX", "timeout": 60}   wait until the output since the last match matches
  {"send": "TEXT"}                     type TEXT (use "\\r" for Enter, "\\u0001" for Ctrl-A)
  {"sleep": 0.5}                       pause
  {"children": true}                   record the PIDs of the command's descendants
  {"signal": "TERM"}                   send SIGTERM to the command (not its group)
  {"wait": 60}                         wait for the command to exit (end of the steps)

One JSON object is printed on stdout: ok, error, step (index of the failing step),
exit_code, pid, children, transcript, and the pty's settings before the command
started and after it ended (termios flags and control characters) so a caller can
check the terminal was restored. The command is killed (its process group, by id)
if a step fails or the steps end before it exits.
"""
import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time


def descendants(pid):
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            kids = []
        found += kids
        todo += kids
    return found


def settings(fd):
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(fd)
    cc = [c if isinstance(c, int) else ord(c) for c in cc]
    return [iflag, oflag, cflag, lflag, ispeed, ospeed, cc]


def main():
    steps_path = sys.argv[1]
    assert sys.argv[2] == "--"
    cmd = sys.argv[3:]
    with open(steps_path) as f:
        steps = json.load(f)

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    before = settings(slave)
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    # the slave stays open here too: its settings are read again at the end

    out = bytearray()
    mark = 0
    result = {"ok": True, "error": None, "step": None, "exit_code": None, "pid": proc.pid,
              "children": []}

    def pump(deadline):
        left = max(0.0, deadline - time.monotonic())
        r, _, _ = select.select([master], [], [], min(left, 0.2))
        if r:
            try:
                data = os.read(master, 65536)
            except OSError:
                data = b""
            out.extend(data)

    try:
        for i, st in enumerate(steps):
            result["step"] = i
            if "expect" in st:
                pat = re.compile(st["expect"].encode())
                deadline = time.monotonic() + st.get("timeout", 60)
                while True:
                    m = pat.search(out, mark)
                    if m:
                        mark = m.end()
                        break
                    if time.monotonic() >= deadline:
                        raise RuntimeError(f"timed out waiting for /{st['expect']}/")
                    if proc.poll() is not None:
                        pump(time.monotonic() + 0.2)
                        if not pat.search(out, mark):
                            raise RuntimeError(f"exited ({proc.returncode}) before /{st['expect']}/")
                    pump(deadline)
            elif "send" in st:
                os.write(master, st["send"].encode())
            elif "sleep" in st:
                deadline = time.monotonic() + st["sleep"]
                while time.monotonic() < deadline:
                    pump(deadline)
            elif "signal" in st:
                os.kill(proc.pid, getattr(signal, "SIG" + st["signal"]))
            elif "children" in st:
                result["children"] = descendants(proc.pid)
            elif "wait" in st:
                deadline = time.monotonic() + st["wait"]
                while proc.poll() is None:
                    if time.monotonic() >= deadline:
                        raise RuntimeError("timed out waiting for the command to exit")
                    pump(deadline)
    except RuntimeError as e:
        result["ok"] = False
        result["error"] = str(e)
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()
        if result["ok"]:
            result["ok"] = False
            result["error"] = "the command was still running after the last step"
    # whatever is still buffered
    while True:
        r, _, _ = select.select([master], [], [], 0.1)
        if not r:
            break
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        out.extend(data)
    result["exit_code"] = proc.returncode
    result["settings_before"] = before
    result["settings_after"] = settings(slave)
    result["transcript"] = out.decode("utf-8", "replace")
    os.close(master)
    os.close(slave)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
