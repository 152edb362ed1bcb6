#!/bin/sh
# forge_emit_up.sh - `provium forge emit` and the parts of `forge up` (qemu backend) that
# need no boot: which interpreter runs an entry ($PROVIUM_FORGE_PYTHON_BIN,
# $PROVIUM_FORGE_NODE_BIN, executables directly), the child's PROVIUM_FORGE_IR_OUT and
# PROVIUM_FORGE_EMITTING=1, its stdout kept off emit's stdout, a failing child (exit 2
# with its status), an invalid IR (envelope, exit 1); up's usage errors and its
# environment errors (E_KERNEL_NOT_FOUND, E_BUSYBOX_NOT_FOUND, E_HYPERVISOR_NOT_FOUND,
# E_BACKEND_UNSUPPORTED for firecracker and host_path mounts), each exit 2 with
# `provium:` lines and nothing on stdout. The booting half is tests/e2e/forge_up.test.lua.
# Usage: forge_emit_up.sh PROVIUM_BINARY SOURCE_ROOT
set -u
exe=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME="$tmp/cache" XDG_RUNTIME_DIR="$tmp/run" TMPDIR="$tmp"
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

ir='{"schema_version":"0.1","id":"e","apps":[{"name":"a","source":{"kind":"local_path","path":"."},"image":{"kind":"nix_packages","packages":[]},"entrypoint":{"command":["true"]}}]}'
printf '%s' "$ir" >"$tmp/m.json"

# a fake interpreter: records its argument and environment, writes the IR, chatters
cat >"$tmp/fakebin" <<EOS
#!/bin/sh
echo "chatter on stdout"
printf '%s %s %s\n' "\$0" "\$1" "\$PROVIUM_FORGE_EMITTING" >"$tmp/called"
case "\$PROVIUM_FORGE_IR_OUT" in /*) ;; *) exit 9 ;; esac
printf '%s' '$ir' >"\$PROVIUM_FORGE_IR_OUT"
EOS
chmod +x "$tmp/fakebin"
: >"$tmp/app.py"
: >"$tmp/app.ts"

out=$(PROVIUM_FORGE_PYTHON_BIN="$tmp/fakebin" "$exe" forge emit "$tmp/app.py" 2>"$tmp/err")
[ $? -eq 0 ] || fail ".py emit exit"
[ "$out" = "$("$exe" forge canonicalize "$tmp/m.json")" ] || fail ".py emit stdout: $out"
grep -q "^$tmp/fakebin $tmp/app.py 1\$" "$tmp/called" || fail ".py via PYTHON_BIN: $(cat "$tmp/called")"
grep -q "chatter on stdout" "$tmp/err" || fail "the child's stdout goes to stderr"

rm -f "$tmp/called"
PROVIUM_FORGE_NODE_BIN="$tmp/fakebin" "$exe" forge emit "$tmp/app.ts" >/dev/null 2>&1 || fail ".ts emit"
grep -q "^$tmp/fakebin $tmp/app.ts 1\$" "$tmp/called" || fail ".ts via NODE_BIN"

# an executable runs directly; the IR-out file lives in a private dir removed afterwards
cp "$tmp/fakebin" "$tmp/prog"
"$exe" forge emit "$tmp/prog" >"$tmp/out" 2>/dev/null || fail "executable emit"
grep -q '"id":"e"' "$tmp/out" || fail "executable emit stdout"
ls "$tmp" | grep -q provium-forge-emit && fail "emit's temp dir left behind"

# the default python3 runs the with-source example
out=$(env -u PROVIUM_FORGE_PYTHON_BIN "$exe" forge emit "$src/examples/forge/with-source/app.py" 2>/dev/null)
case "$out" in '{"apps":[{'*'"id":"with-source"'*) ;; *) fail "with-source emit: $out" ;; esac

# failures: a program exiting 3, one writing nothing, a non-executable, an invalid IR
printf '#!/bin/sh\nexit 3\n' >"$tmp/bad"; chmod +x "$tmp/bad"
printf '#!/bin/sh\nexit 0\n' >"$tmp/none"; chmod +x "$tmp/none"
: >"$tmp/plain"
printf '{"schema_version":"0.1"}' >"$tmp/invalid.json"
check2() { # expect exit 2, nothing on stdout, a prefixed line matching $1
    want=$1; shift
    "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
    [ $rc -eq 2 ] || fail "$*: exit $rc, not 2"
    [ -s "$tmp/out" ] && fail "$*: wrote on stdout: $(cat "$tmp/out")"
    grep -v '^provium: ' "$tmp/err" >/dev/null && fail "$*: unprefixed stderr: $(cat "$tmp/err")"
    grep -q -- "$want" "$tmp/err" || fail "$*: no '$want' in: $(cat "$tmp/err")"
}
check2 "bad exited with status 3" "$exe" forge emit "$tmp/bad"
check2 "wrote no IR" "$exe" forge emit "$tmp/none"
check2 "neither .json, .py, .ts nor executable" "$exe" forge emit "$tmp/plain"
check2 "No such file" "$exe" forge emit "$tmp/nowhere.json"
"$exe" forge emit "$tmp/invalid.json" >"$tmp/out" 2>/dev/null; rc=$?
[ $rc -eq 1 ] || fail "invalid IR: exit $rc"
grep -q '^{"errors":\[{"code":"E_MALFORMED_MANIFEST"' "$tmp/out" || fail "invalid IR envelope: $(cat "$tmp/out")"

# up: usage errors
hello="$src/examples/forge/hello/manifest.json"
check2 "unknown flag" "$exe" forge up "$hello" --bogus
check2 "missing ENTRY" "$exe" forge up
check2 "HOST:GUEST" "$exe" forge up "$hello" -p 80
check2 "HOST:GUEST" "$exe" forge up "$hello" -p 8080:80/sctp
check2 "KEY=VAL" "$exe" forge up "$hello" -e NOVALUE
check2 "at least 64M" "$exe" forge up "$hello" --memory 12
check2 "1..65535" "$exe" forge up "$hello" --cpus 0
check2 "must match" "$exe" forge up "$hello" --name Bad_Name
check2 "foreground only" "$exe" forge up "$hello" --watch -d
check2 "qemu, firecracker or mvmctl" "$exe" forge up "$hello" --hypervisor xen
check2 "E_BACKEND_UNSUPPORTED" "$exe" forge up "$hello" --hypervisor firecracker
# up: the environment
check2 "E_KERNEL_NOT_FOUND" "$exe" forge up "$hello" --kernel "$tmp/m.json"
PROVIUM_FORGE_KERNEL="$tmp/none" check2 "E_KERNEL_NOT_FOUND" "$exe" forge up "$hello"
PROVIUM_FORGE_BUSYBOX="$tmp/nowhere" check2 "E_BUSYBOX_NOT_FOUND" "$exe" forge up "$hello"
PROVIUM_FORGE_BUSYBOX="$tmp/fakebin" check2 "E_BUSYBOX_NOT_FOUND" "$exe" forge up "$hello"
PROVIUM_QEMU="$tmp/no-qemu" check2 "E_HYPERVISOR_NOT_FOUND" "$exe" forge up "$hello"
mkdir -p "$tmp/hp/app"
sed 's|"network"|"mounts": [{"target": "/data", "source": {"kind": "host_path", "path": "/srv"}, "mode": "rw"}], "network"|' \
    "$hello" >"$tmp/hp/manifest.json"
check2 "E_BACKEND_UNSUPPORTED.*host_path" "$exe" forge up "$tmp/hp/manifest.json"
check2 "not an artifact" "$exe" forge up "$tmp/hp"
# a forwarded port that is taken: QEMU's own reason, exit 2 (foreground and detached)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(); open(sys.argv[2], "w").close(); time.sleep(600)' \
    "$port" "$tmp/listening" &
holder=$!
# a loaded host can take seconds to start python: wait up to a minute, then insist
i=0; while [ ! -e "$tmp/listening" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
[ -e "$tmp/listening" ] || { echo "FAIL: the port holder never listened"; kill "$holder"; exit 1; }
check2 "QEMU: .*Could not set up host forwarding rule 'tcp::$port-:80'" "$exe" forge up "$hello" -p "$port:80"
check2 "QEMU: .*Could not set up host forwarding rule" "$exe" forge up "$hello" -d -p "$port:80"
kill "$holder"
# SIGTERM (as SIGHUP, and Ctrl-C's SIGINT in tests/e2e) ends a foreground up with
# 128+signal, its QEMU killed and reaped
"$exe" forge up "$hello" >/dev/null 2>&1 &
up=$!
sleep 1
kill -TERM "$up"
wait "$up"; rc=$?
[ $rc -eq 143 ] || fail "SIGTERM: exit $rc, not 143"
# ls with nothing detached prints nothing; logs/down of an unknown name
"$exe" forge ls >"$tmp/out" 2>&1 || fail "ls exit"
[ -s "$tmp/out" ] && fail "ls printed: $(cat "$tmp/out")"
check2 "no detached workload named 'nope'" "$exe" forge logs nope
check2 "no detached workload named 'nope'" "$exe" forge down nope
pgrep -f "[q]emu-system.*$tmp" >/dev/null && fail "a QEMU was started"

[ "$fails" -eq 0 ] && echo "ok" || exit 1
