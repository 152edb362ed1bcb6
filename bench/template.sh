#!/bin/sh
# template.sh - proof that QEMU here can restore by mapping memory (issue 14 part 1):
# QEMU's "VM templating". A template guest boots with its RAM in a file F
# (memory-backend-file, share=on); it is paused and migrated with the x-ignore-shared
# capability, so only the device state goes into the state file. Two clones then start
# with share=off on the same F (a private copy-on-write mapping), load the state and run
# on. Each clone writes a marker into its tmpfs; the other must not see it, and F's
# checksum must not change. Prints the state size, save and load times per machine.
#
#   TEMPLATE_MACHINES="microvm q35"  TEMPLATE_MEM=256M
#
# The guest is the e2e image's kernel and initrd with a shell on the serial console
# (rdinit=/bin/sh): no agent, no provium, only QEMU and its QMP socket. Exits 1 when a
# check fails on any machine.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
IMG="$ROOT/build/e2e-image"
if [ ! -f "$IMG/vmlinuz" ] || [ ! -f "$IMG/initrd.img" ]; then
    echo "template: $IMG is missing (run the e2e suite once: it builds the image)" >&2
    exit 1
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/provium-template.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
python3 - "$IMG" "$TMP" "${TEMPLATE_MACHINES:-microvm q35}" "${TEMPLATE_MEM:-256M}" <<'PY'
import hashlib, json, os, socket, subprocess, sys, time

img, tmp, machines, mem = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4]
procs = []

class Qmp:
    def __init__(self, path):
        self.s = connect(path)
        self.f = self.s.makefile("rwb")
        self.f.readline()
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
        self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if "return" in r:
                return r["return"]
            if "error" in r:
                raise RuntimeError("%s: %s" % (name, r["error"]["desc"]))

    def wait_migration(self):
        while True:
            st = self.cmd("query-migrate").get("status")
            if st == "completed":
                return
            if st in ("failed", "cancelled"):
                raise RuntimeError("migration " + st)
            time.sleep(0.001)

def connect(path):
    for _ in range(3000):
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            return s
        except OSError:
            time.sleep(0.01)
    raise RuntimeError("cannot connect to " + path)

def qemu(name, machine, share, incoming):
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    micro = machine == "microvm"
    m = "microvm,isa-serial=on,rtc=on" if micro else "q35"
    argv = ["qemu-system-x86_64", "-M", m + ",memory-backend=ram0", "-accel", "tcg",
            "-m", mem, "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none",
            "-object", "memory-backend-file,id=ram0,size=%s,mem-path=%s,share=%s"
            % (mem, os.path.join(tmp, "F"), "on" if share else "off"),
            "-kernel", os.path.join(img, "vmlinuz"), "-initrd", os.path.join(img, "initrd.img"),
            "-append", "console=ttyS0 rdinit=/bin/sh quiet panic=-1",
            "-serial", "unix:%s/con.sock,server=on,wait=off" % d,
            "-qmp", "unix:%s/qmp.sock,server=on,wait=off" % d]
    if incoming:
        argv += ["-incoming", "defer"]
    p = subprocess.Popen(argv, stdout=open(d + "/qemu.log", "w"), stderr=subprocess.STDOUT)
    procs.append(p)
    q = Qmp(d + "/qmp.sock")
    con = connect(d + "/con.sock")
    con.settimeout(0.2)
    return p, q, con

def shell(con, line, want, timeout=120):
    """Types line on the console until want shows up in the output."""
    buf, end, sent = b"", time.time() + timeout, 0
    while time.time() < end:
        if time.time() > sent + 3:
            con.sendall(line.encode() + b"\n")
            sent = time.time()
        try:
            buf += con.recv(65536)
        except socket.timeout:
            pass
        if want.encode() in buf:
            return buf.decode(errors="replace")
    raise RuntimeError("no %r on the console after %r; got %r" % (want, line, buf[-300:]))

def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()

def stop(p, q):
    try:
        q.cmd("quit")
    except Exception:
        pass
    p.wait(timeout=10)

def run(machine):
    for n in ("F", "state"):
        if os.path.exists(os.path.join(tmp, n)):
            os.unlink(os.path.join(tmp, n))
    p, q, con = qemu("t-" + machine, machine, True, False)
    shell(con, "echo up-$((6*7))", "up-42")
    q.cmd("stop")
    q.cmd("migrate-set-capabilities",
          capabilities=[{"capability": "x-ignore-shared", "state": True}])
    t = time.time()
    q.cmd("migrate", uri="exec:cat > %s/state" % tmp)
    q.wait_migration()
    save_ms = (time.time() - t) * 1000
    stop(p, q)
    os.chmod(os.path.join(tmp, "F"), 0o400)
    before = sha(os.path.join(tmp, "F"))
    clones, load_ms = [], []
    for name in ("a", "b"):
        p, q, con = qemu(name + "-" + machine, machine, False, True)
        q.cmd("migrate-set-capabilities",
              capabilities=[{"capability": "x-ignore-shared", "state": True}])
        t = time.time()
        q.cmd("migrate-incoming", uri="exec:cat %s/state" % tmp)
        q.wait_migration()
        load_ms.append((time.time() - t) * 1000)
        q.cmd("cont")
        clones.append((p, q, con))
    a, b = clones[0][2], clones[1][2]
    shell(a, "echo clone-a > /tmp/mark; dd if=/dev/urandom of=/tmp/fill bs=1M count=16 "
             "2>/dev/null; echo wrote-$((1+1))", "wrote-2")
    out = shell(b, "cat /tmp/mark 2>/dev/null || echo no-mark-$((2+1))", "no-mark-3")
    shell(a, "cat /tmp/mark", "clone-a\r\n") if "clone-a" not in out else None
    for p, q, _ in clones:
        stop(p, q)
    after = sha(os.path.join(tmp, "F"))
    st = os.stat(os.path.join(tmp, "F"))
    size = os.path.getsize(os.path.join(tmp, "state"))
    ok = before == after and "clone-a" not in out
    print("template %-8s state %6.1f KB  save %5.1f ms  load %5.1f/%5.1f ms  F %d MiB "
          "allocated of %s  F unchanged: %s  clone b sees a's write: %s  -> %s"
          % (machine, size / 1000, save_ms, load_ms[0], load_ms[1],
             st.st_blocks * 512 >> 20, mem, before == after, "clone-a" in out,
             "ok" if ok else "FAILED"))
    return ok

bad = 0
try:
    for m in machines:
        try:
            bad += not run(m)
        except Exception as e:
            print("template %-8s FAILED: %s" % (m, e))
            bad += 1
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
sys.exit(1 if bad else 0)
PY
