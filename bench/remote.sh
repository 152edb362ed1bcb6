#!/bin/sh
# remote.sh - a fixture restored from the remote cache against one restored from the
# local cache, in the same run: a private nginx (WebDAV PUT) on 127.0.0.1 serves the
# remote; a 256 MiB guest with 80 MiB of random bytes is the fixture. After one warm-up
# run that builds and uploads it, BENCH_N (5) runs with an empty local cache each
# (remote hit: download + digest + install, then the restore) and BENCH_N runs with
# the entry copied alone into an empty local cache (local hit: the restore). Medians
# from the --events stream.
#
#   BENCH_N=5
#   BENCH_RESULTS=F   also append KEY=VALUE figures to F
#
# Figures are printed, never asserted on.
set -eu
BENCH_SELF=$0
. "$(dirname "$0")/lib/common.sh"

NGINX=/usr/sbin/nginx
N=${BENCH_N:-5}
if [ ! -x "$NGINX" ]; then
    echo "remote: nginx is not installed (scripts/setup.sh installs it)" >&2
    exit 1
fi
SRV="$BENCH_TMP/server"
mkdir -p "$SRV/root" "$SRV/tmp"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$SRV/nginx.conf" <<CONF
worker_processes 1;
master_process off;
daemon off;
pid $SRV/nginx.pid;
error_log $SRV/error.log;
events { worker_connections 64; }
http {
  access_log $SRV/access.log;
  client_body_temp_path $SRV/tmp/body;
  proxy_temp_path $SRV/tmp/proxy;
  fastcgi_temp_path $SRV/tmp/fastcgi;
  uwsgi_temp_path $SRV/tmp/uwsgi;
  scgi_temp_path $SRV/tmp/scgi;
  server {
    listen 127.0.0.1:$PORT;
    root $SRV/root;
    client_max_body_size 0;
    location / { dav_methods PUT DELETE; create_full_put_path on; dav_access user:rw; }
  }
}
CONF
"$NGINX" -p "$SRV" -c "$SRV/nginx.conf" -e "$SRV/error.log" >"$SRV/out.log" 2>&1 &
NGINX_PID=$!
trap 'kill "$NGINX_PID" 2>/dev/null || true; bench_cleanup' EXIT
URL="http://127.0.0.1:$PORT/cache"

# one run of remote.test.lua with the local cache $1; events into $2
run_one() {
    PROVIUM_FIXTURE_CACHE="$1" bench_provium --remote-cache "$URL" --events "$2" \
        "$ROOT/bench/remote.test.lua" >"$BENCH_TMP/out.txt" 2>&1 || {
        echo "remote: the provium run failed:" >&2
        cat "$BENCH_TMP/out.txt" >&2
        exit 1
    }
}

echo "remote: warm-up (build + upload), then $N remote hits and $N local hits ..."
run_one "$BENCH_TMP/warm" "$BENCH_TMP/warm.jsonl"
# Both sides restore an entry no run has restored before (a first restore may leave
# more behind in the cache directory, e.g. a mapped form, that later restores reuse):
# the local side gets a copy of the warm-up's .snap alone in a fresh directory.
i=1
while [ "$i" -le "$N" ]; do
    run_one "$BENCH_TMP/cold$i" "$BENCH_TMP/remote$i.jsonl"
    rm -rf "$BENCH_TMP/cold$i"
    mkdir -m 700 "$BENCH_TMP/local$i"
    cp "$BENCH_TMP"/warm/*.snap "$BENCH_TMP/local$i/"
    run_one "$BENCH_TMP/local$i" "$BENCH_TMP/local$i.jsonl"
    rm -rf "$BENCH_TMP/local$i"
    i=$((i + 1))
done

python3 - "$BENCH_TMP" "$N" "${BENCH_RESULTS:-}" <<'PY'
import json, statistics, sys
tmp, n, results = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def events(path, kind):
    return [e for e in map(json.loads, open(path)) if e["kind"] == kind]
put = events(tmp + "/warm.jsonl", "fixture_remote_put")
size = put[0]["bytes"] if put else 0
dl, rr, lr = [], [], []
for i in range(1, n + 1):
    hit = events(f"{tmp}/remote{i}.jsonl", "fixture_remote_hit")
    if not hit:
        sys.exit("remote: run %d had no fixture_remote_hit" % i)
    dl.append(hit[0]["duration_ns"] / 1e6)
    rr.append(events(f"{tmp}/remote{i}.jsonl", "fixture_cache_hit")[0]["restore_ns"] / 1e6)
    lr.append(events(f"{tmp}/local{i}.jsonl", "fixture_cache_hit")[0]["restore_ns"] / 1e6)
m_dl, m_rr, m_lr = statistics.median(dl), statistics.median(rr), statistics.median(lr)
remote_total = statistics.median([a + b for a, b in zip(dl, rr)])
print(f"remote: snapshot object {size / 2**20:.1f} MiB over loopback nginx, {n} rounds (medians)")
print(f"  local hit:   restore {m_lr:8.1f} ms")
print(f"  remote hit:  download+verify+install {m_dl:8.1f} ms ({size / 2**20 / (m_dl / 1000):.0f} MiB/s), "
      f"then restore {m_rr:.1f} ms = {remote_total:.1f} ms")
print(f"  ratio remote hit / local hit: {remote_total / m_lr:.2f}x")
if results:
    with open(results, "a") as f:
        f.write(f"remote_object_mib={size / 2**20:.1f}\nremote_local_restore_ms={m_lr:.1f}\n"
                f"remote_download_ms={m_dl:.1f}\nremote_hit_total_ms={remote_total:.1f}\n"
                f"remote_ratio={remote_total / m_lr:.2f}\n")
PY
