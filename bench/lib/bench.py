#!/usr/bin/env python3
"""bench.py - the number crunching behind bench/*.sh (run by them, not by hand).

Subcommands:
  bare-boot N KERNEL INITRD APPEND PIDFILE TIMEOUT
      boots bare QEMU N times, prints one boot time in ns per line (time from
      just before the spawn until "provium-image: ready" on the serial console);
      kills each QEMU by its PID once the line is seen.
  tsc STDERR_FILE
      prints the tsc_early_khz provium put on its QEMU command line (-v -v output).
  boot-report EVENTS BARE_FILE RESULTS
  roundtrip-report REPORT_JSON RESULTS
  transfer-report REPORT_JSON HOST_FILE RESULTS
  restore-report REPORT_JSON RESULTS
  batch-report REPORT_JSON RESULTS
      print the tables; RESULTS ('' = none) gets KEY=VALUE lines appended.
  summary RESULTS
      the final block of run-all.sh.
"""
import json
import math
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import time


def pct(xs, p):
    """Nearest-rank percentile."""
    s = sorted(xs)
    if not s:
        return float("nan")
    k = max(1, math.ceil(p / 100.0 * len(s)))
    return s[k - 1]


def add_results(path, pairs):
    if not path:
        return
    with open(path, "a") as f:
        for k, v in pairs:
            f.write("%s=%s\n" % (k, v))


def fmt(x, nd=1):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return "%.*f" % (nd, x)


# ---------------------------------------------------------------- bare boot

def untrack(pidfile, pid):
    with open(pidfile) as f:
        keep = [l for l in f if l.strip() and l.strip() != str(pid)]
    with open(pidfile, "w") as f:
        f.writelines(keep)


def bare_boot(n, kernel, initrd, append, pidfile, timeout):
    argv = ["qemu-system-x86_64", "-M", "microvm,isa-serial=on,rtc=on", "-accel", "tcg",
            "-m", "256", "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none",
            "-no-reboot", "-kernel", kernel, "-initrd", initrd, "-append", append,
            "-serial", "stdio"]
    for _ in range(n):
        t0 = time.monotonic_ns()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        with open(pidfile, "a") as f:
            f.write("%d\n" % p.pid)
        got = None
        tail = b""
        try:
            deadline = t0 + int(timeout * 1e9)
            fd = p.stdout.fileno()
            while True:
                left = (deadline - time.monotonic_ns()) / 1e9
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    break
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                tail = (tail + chunk)[-4096:]
                if b"provium-image: ready" in tail:
                    got = time.monotonic_ns() - t0
                    break
        finally:
            p.kill()  # by PID, the one we spawned
            p.wait()
            untrack(pidfile, p.pid)
        if got is None:
            sys.stderr.write("bench: bare QEMU never printed 'provium-image: ready'; last output:\n%s\n"
                             % tail.decode("utf-8", "replace"))
            sys.exit(1)
        print(got, flush=True)


def tsc(stderr_file):
    with open(stderr_file, errors="replace") as f:
        for line in f:
            if line.startswith("provium: qemu:"):
                m = re.search(r"tsc_early_khz=(\d+)", line)
                if m:
                    print(m.group(1))
                    return
    sys.exit(1)


# ---------------------------------------------------------------- reports

def read_report(path):
    """The --json report: returns (bench payloads, failures)."""
    payloads, failures = [], []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            o = json.loads(line)
            if o.get("kind") != "file":
                continue
            for t in o.get("tests", []):
                if t.get("status") != "passed":
                    failures.append("%s: %s: %s" % (o.get("path"), t.get("name"), t.get("message")))
                for l in (t.get("log") or "").split("\n"):
                    if l.startswith("BENCH "):
                        payloads.append(json.loads(l[6:]))
            if o.get("chunk_error"):
                failures.append("%s: %s" % (o.get("path"), o.get("chunk_error")))
    return payloads, failures


def merged(payloads):
    out = {}
    for p in payloads:
        out.update(p)
    return out


def boot_report(events, bare_file, results):
    prov = []
    with open(events) as f:
        for line in f:
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if o.get("kind") == "vm_spawned" and "boot_ns" in o:
                prov.append(o["boot_ns"] / 1e6)
    with open(bare_file) as f:
        bare = [int(l) / 1e6 for l in f if l.strip()]
    if not prov or not bare:
        sys.stderr.write("bench: no boot figures (provium %d, bare %d)\n" % (len(prov), len(bare)))
        sys.exit(1)
    pm, bm = statistics.median(prov), statistics.median(bare)
    pn, bn = min(prov), min(bare)
    print()
    print("boot: cold boot to ready, ms (TCG)   n    median      min")
    print("  provium  (QEMU spawn -> agent ready) %-3d %9.0f %8.0f" % (len(prov), pm, pn))
    print("  bare QEMU (spawn -> image 'ready')   %-3d %9.0f %8.0f" % (len(bare), bm, bn))
    print("  ratio provium/bare                       %9.3f %8.3f   (target <= 1.15)"
          % (pm / bm, pn / bn))
    print("  all provium: %s" % " ".join("%.0f" % x for x in prov))
    print("  all bare:    %s" % " ".join("%.0f" % x for x in bare))
    add_results(results, [
        ("boot.provium.median_ms", "%.0f" % pm), ("boot.provium.min_ms", "%.0f" % pn),
        ("boot.bare.median_ms", "%.0f" % bm), ("boot.bare.min_ms", "%.0f" % bn),
        ("boot.ratio.median", "%.3f" % (pm / bm)), ("boot.ratio.min", "%.3f" % (pn / bn)),
        ("boot.n", "%d/%d" % (len(prov), len(bare))),
    ])


def stats_line(name, xs_ms):
    return "  %-34s %4d %8s %8s %8s %8s %8s" % (
        name, len(xs_ms), fmt(pct(xs_ms, 50), 2), fmt(pct(xs_ms, 99), 2),
        fmt(statistics.fmean(xs_ms), 2), fmt(min(xs_ms), 2), fmt(max(xs_ms), 2))


def roundtrip_report(report, results):
    payloads, failures = read_report(report)
    if failures:
        sys.stderr.write("bench: the roundtrip suite failed:\n  %s\n" % "\n  ".join(failures))
        sys.exit(1)
    d = merged(payloads)
    rows = []
    print()
    print("roundtrip: ms per call, one booted VM   n      p50      p99     mean      min      max")
    run = [x * 1e3 for x in d["run_true"]]
    rows.append(("run_true", run))
    print(stats_line('run("true")  [r.duration]', run))
    if d.get("run_argv"):
        argv = [x * 1e3 for x in d["run_argv"]]
        rows.append(("run_argv", argv))
        print(stats_line('run("true",{args={}}) [r.duration]', argv))
    if d.get("run_true_wall_ns"):
        w = [x / 1e6 for x in d["run_true_wall_ns"]]
        rows.append(("run_true_wall", w))
        print(stats_line('run("true")  [host clock]', w))
        diff = [a - b for a, b in zip(w, run)]
        print(stats_line('  host clock - r.duration', diff))
    if d.get("stat_wall_ns"):
        s = [x / 1e6 for x in d["stat_wall_ns"]]
        rows.append(("stat", s))
        print(stats_line('stat("/")    [host clock]', s))
        print('    (each stat follows a run in the same round; see the batch figure)')
    if d.get("stat_batch_ns"):
        mean = d["stat_batch_ns"] / 1e6 / d["stat_n"]
        print('  stat("/") %d back-to-back calls, mean: %.2f ms' % (d["stat_n"], mean))
        add_results(results, [("roundtrip.stat.batch_mean_ms", "%.2f" % mean)])
    if d.get("guest_fork_exec") is not None:
        fe, fk = d["guest_fork_exec"] * 1e3, d["guest_fork"] * 1e3
        print("  in-guest reference (busybox sh loop, /proc/uptime): fork+exec /bin/true %.2f ms,"
              " fork alone %.2f ms" % (fe, fk))
        print("  guest clocksource: %s" % d.get("guest_clocksource"))
        add_results(results, [("roundtrip.guest.fork_exec_ms", "%.2f" % fe),
                              ("roundtrip.guest.fork_ms", "%.2f" % fk),
                              ("roundtrip.guest.clocksource", d.get("guest_clocksource"))])
    print("  clock: %s, one reading costs %.3f ms (included in the [host clock] rows)"
          % (d.get("clock"), d.get("clock_overhead_ns", 0) / 1e6))
    print("  first run(\"true\") after boot (not in the table): %.2f ms" % (d["first_run"] * 1e3))
    print("  target: run(\"true\") p50 <= 5 ms")
    pairs = []
    for name, xs in rows:
        pairs += [("roundtrip.%s.p50_ms" % name, "%.2f" % pct(xs, 50)),
                  ("roundtrip.%s.p99_ms" % name, "%.2f" % pct(xs, 99)),
                  ("roundtrip.%s.mean_ms" % name, "%.2f" % statistics.fmean(xs))]
    pairs.append(("roundtrip.clock", d.get("clock")))
    add_results(results, pairs)


def transfer_report(report, host_file, results):
    payloads, failures = read_report(report)
    if failures:
        sys.stderr.write("bench: the transfer suite failed:\n  %s\n" % "\n  ".join(failures))
        sys.exit(1)
    d = merged(payloads)
    size = d["size"]
    with open(host_file) as f:
        host = [int(l) for l in f if l.strip()]

    def mbs(ns):
        return size / (ns / 1e9) / 1e6

    push = [mbs(x) for x in d["push_ns"]]
    read = [mbs(x) for x in d["read_ns"]]
    cp = [mbs(x) for x in host]
    print()
    print("transfer: %d MiB, MB/s (10^6 B/s)        n   median     best" % (size >> 20))
    print("  vm:push_file  host -> guest /tmp     %-3d %8.0f %8.0f" % (len(push), statistics.median(push), max(push)))
    print("  vm:read_file  guest /tmp -> host     %-3d %8.0f %8.0f" % (len(read), statistics.median(read), max(read)))
    print("  host cp (page cache -> page cache)   %-3d %8.0f %8.0f" % (len(cp), statistics.median(cp), max(cp)))
    if d.get("guest_dd_s"):
        gcp = size / d["guest_dd_s"] / 1e6
        print("  guest dd /tmp file -> /dev/null       1   %8.0f" % gcp)
        add_results(results, [("transfer.guestdd_mbs", "%.0f" % gcp)])
    print("  ratio push/cp                            %8.3f %8.3f" % (statistics.median(push) / statistics.median(cp), max(push) / max(cp)))
    print("  ratio read/cp                            %8.3f %8.3f" % (statistics.median(read) / statistics.median(cp), max(read) / max(cp)))
    print("  content check (sha256 in the guest vs the host): %s" % ("ok" if d.get("sha_ok") else "MISMATCH"))
    print("  clock: %s; target: push and read >= 200 MB/s" % d.get("clock"))
    add_results(results, [
        ("transfer.size_mib", size >> 20),
        ("transfer.push.median_mbs", "%.0f" % statistics.median(push)), ("transfer.push.best_mbs", "%.0f" % max(push)),
        ("transfer.read.median_mbs", "%.0f" % statistics.median(read)), ("transfer.read.best_mbs", "%.0f" % max(read)),
        ("transfer.hostcp.median_mbs", "%.0f" % statistics.median(cp)), ("transfer.hostcp.best_mbs", "%.0f" % max(cp)),
        ("transfer.ratio.push_cp", "%.3f" % (statistics.median(push) / statistics.median(cp))),
        ("transfer.ratio.read_cp", "%.3f" % (statistics.median(read) / statistics.median(cp))),
        ("transfer.sha_ok", "yes" if d.get("sha_ok") else "NO"),
    ])


def restore_report(report, results):
    payloads, failures = read_report(report)
    if failures or not payloads:
        sys.stderr.write("bench: the restore suite failed:\n  %s\n" % "\n  ".join(failures))
        sys.exit(1)
    d = merged(payloads)
    ms = lambda xs: [x / 1e6 for x in xs]
    cold, rest, snap = ms(d["cold_ns"]), ms(d["restore_ns"]), ms(d["snapshot_ns"])
    print("restore: ms (host clock: %s)          n      p50      p90      min      max" % d.get("clock"))
    for name, xs in (("cold boot -> first run", cold), ("restore -> first run", rest),
                     ("vm:snapshot()", snap)):
        print("  %-28s %4d %8.1f %8.1f %8.1f %8.1f" % (name, len(xs), pct(xs, 50), pct(xs, 90),
                                                     min(xs), max(xs)))
    ratio = pct(cold, 50) / pct(rest, 50)
    share = 100.0 * d["snapshot_bytes"] / d["memory_bytes"]
    print("  restore p50 %.3f s (target <= 0.25 s); cold/restore %.1fx (target >= 15x)"
          % (pct(rest, 50) / 1000, ratio))
    print("  snapshot %.1f MiB on disk for %d MiB of RAM: %.1f %% (target <= 12 %%)"
          % (d["snapshot_bytes"] / 2**20, d["memory_bytes"] // 2**20, share))
    add_results(results, [("restore.p50_ms", "%.1f" % pct(rest, 50)),
                          ("restore.cold_p50_ms", "%.1f" % pct(cold, 50)),
                          ("restore.ratio", "%.1f" % ratio),
                          ("restore.snapshot_p50_ms", "%.1f" % pct(snap, 50)),
                          ("restore.snapshot_share_pct", "%.1f" % share)])


def batch_report(report, results):
    payloads, failures = read_report(report)
    if failures:
        sys.stderr.write("bench: the batch suite failed:\n  %s\n" % "\n  ".join(failures))
        sys.exit(1)
    d = merged(payloads)
    n = d["calls"]
    single = [x / 1e6 for x in d["single_ns"]]
    batch = [x / 1e6 for x in d["batch_ns"]]
    ratio = statistics.median(single) / statistics.median(batch)
    print()
    print("batch: %d stat(\"/\") calls, ms per round       n   median     best  per call" % n)
    print("  one by one (%d round trips)          %4d %8s %8s %9s" % (
        n, len(single), fmt(statistics.median(single), 2), fmt(min(single), 2),
        fmt(statistics.median(single) / n, 3)))
    print("  vm:batch (one round trip)            %4d %8s %8s %9s" % (
        len(batch), fmt(statistics.median(batch), 2), fmt(min(batch), 2),
        fmt(statistics.median(batch) / n, 3)))
    print("  ratio one by one / batch (medians): %.1fx" % ratio)
    print("  clock: %s, one reading costs %.3f ms (in both rows)"
          % (d.get("clock"), d.get("clock_overhead_ns", 0) / 1e6))
    add_results(results, [("batch.calls", n),
                          ("batch.single.median_ms", "%.2f" % statistics.median(single)),
                          ("batch.batch.median_ms", "%.2f" % statistics.median(batch)),
                          ("batch.ratio", "%.1f" % ratio)])


def summary(results):
    r = {}
    if os.path.exists(results):
        with open(results) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    r[k] = v
    g = lambda k: r.get(k, "n/a")
    print("==================== provium bench summary ====================")
    print("boot (cold, to ready; median / min ms; n provium/bare = %s)" % g("boot.n"))
    print("  provium     %8s / %-8s" % (g("boot.provium.median_ms"), g("boot.provium.min_ms")))
    print("  bare QEMU   %8s / %-8s" % (g("boot.bare.median_ms"), g("boot.bare.min_ms")))
    print("  ratio       %8s / %-8s   target <= 1.15" % (g("boot.ratio.median"), g("boot.ratio.min")))
    print("roundtrip (ms; p50 / p99 / mean)")
    for name, label in (("run_true", 'run("true") r.duration'), ("run_argv", 'run argv r.duration'),
                        ("run_true_wall", 'run("true") host clock'), ("stat", 'stat("/") interleaved')):
        if ("roundtrip.%s.p50_ms" % name) in r:
            print("  %-24s %6s / %6s / %6s" % (label, g("roundtrip.%s.p50_ms" % name),
                                             g("roundtrip.%s.p99_ms" % name), g("roundtrip.%s.mean_ms" % name)))
    if "roundtrip.stat.batch_mean_ms" in r:
        print("  stat(\"/\") back-to-back batch mean %s ms" % g("roundtrip.stat.batch_mean_ms"))
    if "roundtrip.guest.fork_exec_ms" in r:
        print("  in-guest fork+exec / fork %s / %s ms (clocksource %s)" % (
            g("roundtrip.guest.fork_exec_ms"), g("roundtrip.guest.fork_ms"), g("roundtrip.guest.clocksource")))
    print("  target run(\"true\") p50 <= 5 ms")
    print("transfer (%s MiB; MB/s median / best)" % g("transfer.size_mib"))
    print("  push_file   %6s / %-6s   ratio to host cp %s" % (g("transfer.push.median_mbs"), g("transfer.push.best_mbs"), g("transfer.ratio.push_cp")))
    print("  read_file   %6s / %-6s   ratio to host cp %s" % (g("transfer.read.median_mbs"), g("transfer.read.best_mbs"), g("transfer.ratio.read_cp")))
    print("  host cp     %6s / %-6s" % (g("transfer.hostcp.median_mbs"), g("transfer.hostcp.best_mbs")))
    if "transfer.guestdd_mbs" in r:
        print("  guest dd    %6s          (dd in the guest, /tmp file -> /dev/null)" % g("transfer.guestdd_mbs"))
    print("  content check: %s; target >= 200 MB/s" % g("transfer.sha_ok"))
    if "batch.ratio" in r:
        print("batch (%s stats; median ms): one by one %s, vm:batch %s, ratio %sx" % (
            g("batch.calls"), g("batch.single.median_ms"), g("batch.batch.median_ms"),
            g("batch.ratio")))
    print("restore (p50 ms): restore %s, cold boot %s, ratio %sx (targets <= 250 ms, >= 15x)" % (
        g("restore.p50_ms"), g("restore.cold_p50_ms"), g("restore.ratio")))
    print("  snapshot %s ms, %s %% of guest RAM on disk (target <= 12 %%)" % (
        g("restore.snapshot_p50_ms"), g("restore.snapshot_share_pct")))
    if "forge.ratio" in r:
        print("forge compile (10,000 files, 200 MiB): %s s median, %s s best, %s MB/s; sha256sum %s MB/s,"
              " ratio %sx (target >= 0.8)" % (g("forge.compile.median_s"), g("forge.compile.best_s"),
                                               g("forge.compile.mbs"), g("forge.sha256sum.mbs"), g("forge.ratio")))
    if "forge.up.ratio" in r:
        print("forge up (hello, to its greeting): %s ms median; a provium test booting the same kernel"
              " %s ms; ratio %sx (target <= 1.2)" % (g("forge.up.greeting_ms"), g("forge.up.test_ms"),
                                                     g("forge.up.ratio")))
    failed = [k[len("failed."):] for k in r if k.startswith("failed.")]
    if failed:
        print("FAILED benches (no figures): %s" % ", ".join(sorted(failed)))
    print("================================================================")


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    cmd = a[0]
    if cmd == "bare-boot":
        bare_boot(int(a[1]), a[2], a[3], a[4], a[5], float(a[6]))
    elif cmd == "tsc":
        tsc(a[1])
    elif cmd == "boot-report":
        boot_report(a[1], a[2], a[3])
    elif cmd == "roundtrip-report":
        roundtrip_report(a[1], a[2])
    elif cmd == "transfer-report":
        transfer_report(a[1], a[2], a[3])
    elif cmd == "restore-report":
        restore_report(a[1], a[2])
    elif cmd == "batch-report":
        batch_report(a[1], a[2])
    elif cmd == "summary":
        summary(a[1])
    else:
        sys.exit("unknown subcommand %s" % cmd)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    main()
