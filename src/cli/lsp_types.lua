---@meta provium
-- Provium's Lua API for lua-language-server (LuaLS), written by `provium lsp-setup`.
-- Annotations only: nothing here runs. Regenerate with `provium lsp-setup --force`.
-- Only what this build implements is declared; methods of the specification it lacks
-- raise `<method>: not supported` (tests/unit/test_lapi_stubs.c keeps the two in step).

---A duration: a number of seconds (fractions allowed) or a string such as "250ms", "1.5s", "2m", "1h".
---@alias Duration number|string

---A size: an integer number of bytes or a string such as "512M", "4G", "100GiB" (powers of 1024).
---@alias Size integer|string

---@alias VmState "created"|"booted"|"paused"|"shutdown"|"dead"

---@alias EntryType "file"|"directory"|"symlink"|"fifo"|"socket"|"block_device"|"char_device"|"other"

---@alias RunStatus "exited"|"signalled"|"timed_out"

---A signal name (`term kill int hup quit stop cont usr1 usr2 alrm pipe chld winch`, with or
---without a `sig` prefix, any case) or a signal number.
---@alias Signal string|integer

------------------------------------------------------------------------------------------
-- Globals (§3.1)
------------------------------------------------------------------------------------------

---The current lab: the test's scoped lab inside a test body, the file lab elsewhere.
---At file scope only `provium.timeout = ...` and `provium.reset_between_tests = true` may be assigned.
---@type Lab
provium = nil

---Absolute path of the running test or fixture file.
---@type string
_PROVIUM_SOURCE_PATH = nil

---Test metadata: `tags`, `skip`, `slow`, `timeout`, and any other JSON-encodable keys (for `--tag-meta`).
---@class TestMeta
---@field tags? string|string[] tags for `--tag` / `--no-tag`
---@field skip? boolean|integer|string skip the test (a string is the reason)
---@field slow? boolean run only with `--include-slow`
---@field timeout? Duration per-test timeout (wins over `provium.timeout`)
---@field [string] any

---Registers a test. A duplicate name in the same file raises.
---@param name string
---@param fn fun(t: TestContext)
---@overload fun(name: string, meta: TestMeta, fn: fun(t: TestContext))
function test(name, fn) end

---Marks the whole file skipped: every registered test is reported skipped with `reason` (default "todo").
---@param reason? string
function todo(reason) end

---@class WaitUntilOpts
---@field timeout? Duration default 10 s
---@field interval? Duration default 0.1 s
---@field desc? string named in the timeout error (default "condition")

---Calls `pred` until it returns a truthy value, and returns that value.
---An error in `pred` propagates at once; on expiry raises `wait_until: <desc> not met within <timeout>s`.
---@generic T
---@param pred fun(): T
---@param opts? WaitUntilOpts
---@return T
function wait_until(pred, opts) end

---JSON encoding and decoding.
json = {}

---Encodes a value. A table whose keys are exactly 1..N (holes allowed) is an array; an empty table is `{}`.
---@param v any
---@return string
function json.encode(v) end

---Decodes a JSON text. Top-level `null` is nil; a `null` member drops the key; integers stay integers.
---@param s string
---@return any
function json.decode(s) end

------------------------------------------------------------------------------------------
-- Test context t (§3.3)
------------------------------------------------------------------------------------------

---The context passed to a test body.
---@class TestContext
---@field name string the test's name
---@field meta TestMeta the test's meta table (`{}` when none)
local TestContext = {}

---Fails the test with `msg` (default "assertion failed") unless `cond` is truthy.
---@param cond any
---@param msg? string
function TestContext:assert(cond, msg) end

---Fails with `<msg>: <a> ~= <b>` when `a ~= b`.
---@param a any
---@param b any
---@param msg? string
function TestContext:assert_eq(a, b, msg) end

---Fails when `a == b`.
---@param a any
---@param b any
---@param msg? string
function TestContext:assert_neq(a, b, msg) end

---Fails unless `sub` is a plain substring of `s` (both must be strings).
---@param s string
---@param sub string
---@param msg? string
function TestContext:assert_contains(s, sub, msg) end

---Calls `fn` and returns its error value; fails with `<msg>: expected to raise` if it returns.
---@param fn fun()
---@param msg? string
---@return any err
function TestContext:assert_raises(fn, msg) end

---Fails the test now (default message "explicit failure (t:fail)").
---@param msg? string
function TestContext:fail(msg) end

---Stops the test and reports it skipped.
---@param reason? string
function TestContext:skip(reason) end

---Appends `tostring(msg)` to the test's log (JSON and JUnit output).
---@param msg any
function TestContext:log(msg) end

------------------------------------------------------------------------------------------
-- Lab (§4.1)
------------------------------------------------------------------------------------------

---@class VmOpts
---@field memory? Size default: the profile's `memory`
---@field cpus? integer default: the profile's `cpus`
---@field nic_slots? integer default: the profile's `nic_slots`

---@class VmFixtureOpts
---@field name? string name of the restored VM (default: its name in the fixture, made unique)

---@class ClaimOpts
---@field memory? Size
---@field cpus? integer

---@class LabMember
---@field kind "vm"|"bridge"|"lab"
---@field name string

---A lab: a scope holding VMs, bridges and sub-labs. `provium` is the current lab.
---`lab.<name>` finds a VM, bridge or sub-lab of that name (nil when none).
---@class Lab
---@field timeout? Duration file scope only: default per-test timeout
---@field reset_between_tests? boolean file scope only: lab-snapshot the file scope and restore it after every test
---@field [string] Vm|Bridge|Lab|nil
local Lab = {}

---Finds a VM in this lab or a parent lab (raises `no VM named '<name>'`), or, with a profile,
---creates a VM in state `created`.
---@param name string
---@param profile? string
---@param opts? VmOpts
---@return Vm
function Lab:vm(name, profile, opts) end

---Returns the bridge of that name visible from this lab, or creates it here.
---@param name string
---@param opts? nil reserved
---@return Bridge
function Lab:bridge(name, opts) end

---Creates a sub-lab (`__lab_<n>` when unnamed).
---@param name? string
---@return Lab
function Lab:lab(name) end

---Restores a single-VM fixture (a `*.fixture.lua` ending in `return vm:snapshot()`) into this lab,
---building it first if its cache key has no entry.
---@param path string fixture name, root-relative without `.fixture.lua`, e.g. "fixtures/base"
---@param opts? VmFixtureOpts
---@return Vm
function Lab:vm_fixture(path, opts) end

---Restores a lab fixture (ending in `return provium:snapshot()`) as a new sub-lab `fixture:<path>`.
---@param path string
---@return Lab
function Lab:lab_fixture(path) end

---No runtime effect; a literal argument is folded into the fixture cache key.
---@param host_path string
function Lab:depends_on_file(host_path) end

---Boots every `created` VM in the tree in parallel, with one joint pool reservation for all of them.
---@return Lab
function Lab:boot() end

---Shuts down every VM in the tree in parallel; failures are collected and raised together.
function Lab:shutdown() end

---Pauses every VM in the tree.
function Lab:pause() end

---Resumes every VM in the tree.
function Lab:resume() end

---Saves every VM plus `lab.json`. With `dir` returns the directory, else a LabSnapshot in private scratch.
---@param dir? string
---@return LabSnapshot|string
function Lab:snapshot(dir) end

---Recreates the recorded VMs, bridges, attachments and network rules in this lab.
---@param snap_or_dir LabSnapshot|string
function Lab:restore(snap_or_dir) end

---One-shot reservation that becomes the file's whole VM budget.
---@param opts ClaimOpts
function Lab:claim(opts) end

---Run-wide rendezvous: true once `count` arrivals (test files of this run) reach `name`.
---False, with the reason, on timeout (default 60 s) or when another arrival names a
---different count (every file waiting there then gets false at once). A test deadline
---reached while waiting raises `test timeout exceeded`.
---@param name string
---@param count integer
---@param timeout? number|string seconds, or a duration such as "30s"
---@return boolean ok
---@return string? why "timeout: ..." or "count mismatch: ..."
function Lab:barrier(name, count, timeout) end

---Adds a VM, bridge or lab to this lab.
---@param x Vm|Bridge|Lab
function Lab:include(x) end

---Drops a VM, bridge or lab from this lab without shutting it down.
---@param x Vm|Bridge|Lab
function Lab:remove(x) end

---@return LabMember[]
function Lab:members() end

---@return string
function Lab:name() end

---@return string[]
function Lab:vm_names() end

---@return string[]
function Lab:bridge_names() end

---@return string[]
function Lab:sub_lab_names() end

---`string.pack`.
---@param fmt string
---@param ... any
---@return string
function Lab:pack(fmt, ...) end

---`string.unpack`.
---@param fmt string
---@param s string
---@return any ...
function Lab:unpack(fmt, s) end

------------------------------------------------------------------------------------------
-- Vm (§4.2)
------------------------------------------------------------------------------------------

---@class FileSpec
---@field path string absolute guest path
---@field content string
---@field mode? integer default 0644

---@class BootOpts
---@field kernel_cmdline? string replace the resolved command line
---@field kernel_cmdline_append? string tokens appended after it
---@field agent_timeout? Duration override `agent_boot_timeout`
---@field files? FileSpec[] injected into the initramfs
---@field disks? DiskSpec[] extra disks after the profile's (ids share one namespace: `disk conflict: <id>`)
---@field initial_time? number the guest's wall clock at boot, epoch seconds (the RTC starts there too)
---@field rng_seed? integer mixed into the guest RNG by the agent (not determinism); dmesg says `provium-agent: rng_seed <n> mixed into the guest RNG`

---@class DiskSpec
---@field path? string image (relative: to the calling file); exactly one of `path` and `scratch`
---@field scratch? Size an empty disk of this size
---@field id? string default `disk<N>` (N = its position after the profile's disks)
---@field readonly? boolean
---@field mediated? boolean served by provium's block server: writes held until the guest flushes (power_cut, fault policy)

---@class AttachDiskOpts
---@field id? string default `attached-<vm>`
---@field size? Size blank qcow2 of this size (default 4G)
---@field image? string a private overlay over this image (relative: to the calling file)
---@field readonly? boolean use `image` itself, read-only

---@class RunOpts
---@field args? string[] exec the program directly with these arguments (no shell)
---@field env? table<string, string> added to the environment (replaces it with `env_clear`)
---@field env_clear? boolean
---@field cwd? string
---@field stdin? string written to stdin, then closed
---@field timeout? Duration kill the whole process group after this long
---@field timeout_ms? integer the same, in milliseconds

---@class FileOpts
---@field mode? integer permission bits for a new file (default 0644)

---@class PushFileOpts
---@field mode? integer default: the host file's mode
---@field auto_dep? boolean a literal `false` keeps the file out of the fixture key

---@class Stat
---@field size integer
---@field mtime number seconds, float
---@field mtime_ns integer
---@field perm integer
---@field entry_type EntryType

---@class DirEntry
---@field name string
---@field entry_type EntryType

---@class MkdirOpts
---@field parents? boolean like `mkdir -p`
---@field perm? integer

---@class OpenFileOpts
---@field read? boolean
---@field write? boolean
---@field create? boolean
---@field truncate? boolean
---@field append? boolean
---@field exclusive? boolean
---@field perm? integer

---@class TailOpts
---@field start? "end"|"beginning"|"start"|integer default "end"; a negative number is bytes before EOF

---@class BatchResult
---@field ok? any the call's value
---@field err? string the call's error

---One QEMU virtual machine.
---@class Vm
local Vm = {}

---Starts QEMU and waits for the agent's handshake; sets the hostname to the VM name.
---@param opts? BootOpts
---@return Vm
function Vm:boot(opts) end

---Powers off (graceful 2 s, then kill); idempotent, from any state.
function Vm:shutdown() end

---Scope-end hook: the same as shutdown.
function Vm:close() end

---Stops the vCPUs (QEMU flushes every disk: a mediated disk's held writes become durable).
function Vm:pause() end

---Continues the vCPUs.
function Vm:resume() end

---Hard reset; returns once the agent answers again.
function Vm:reset() end

---Presses the ACPI power button and returns at once; the VM becomes `shutdown` once the
---guest powers off (systemd-logind, acpid, or the agent when nothing else watches the button).
---@return Vm
function Vm:power_button() end

---Wakes a guest suspended to RAM (`echo mem > /sys/power/state`); machine q35 only.
---Raises `the guest is not suspended` otherwise.
---@return Vm
function Vm:wakeup() end

---Saves the VM (booted or paused) to `path` or private scratch; the VM keeps running.
---A fixture returns `vm:snapshot()`. Mediated disks are supported: stopping the vCPUs makes
---QEMU flush them (held writes become durable) and their raw files are saved; a disk whose
---power is cut is refused (`disk '<id>' is mediated and had its power cut`).
---@param path? string
---@return Snapshot
function Vm:snapshot(path) end

---From `created` or `shutdown`: starts from a snapshot.
---@param snap_or_path Snapshot|string
function Vm:restore(snap_or_path) end

---Runs `sh -c cmd`, or execs `prog` directly with arguments, and waits for it.
---@param cmd string
---@param opts_or_args? RunOpts|string[]
---@return RunResult
function Vm:run(cmd, opts_or_args) end

---Starts a command without waiting for it (same argument forms as `run`, no `timeout`);
---without `stdin` its stdin stays open for `p:stdin_write` until `p:close_stdin()`/`p:wait()`.
---@param cmd string
---@param opts_or_args? RunOpts|string[]
---@return Process
function Vm:run_async(cmd, opts_or_args) end

---Reads a whole guest file (over 96 MiB raises EFBIG).
---@param path string
---@return string
function Vm:read_file(path) end

---Creates or replaces a guest file (new files 0644 unless `mode`); parents are not created.
---@param path string
---@param data string
---@param opts? FileOpts
function Vm:write_file(path, data, opts) end

---Copies a host file into the guest (streamed); a relative host path resolves against the calling file's directory.
---@param host_path string
---@param guest_path string
---@param opts? PushFileOpts
function Vm:push_file(host_path, guest_path, opts) end

---Raises ENOENT when the path is missing.
---@param path string
---@return Stat
function Vm:stat(path) end

---`stat` without the raise.
---@param path string
---@return boolean
function Vm:exists(path) end

---Directory entries sorted by name, without `.` and `..`.
---@param path string
---@return DirEntry[]
function Vm:listdir(path) end

---@param path string
---@param opts? MkdirOpts
function Vm:mkdir(path, opts) end

---@param path string
function Vm:unlink(path) end

---@param from string
---@param to string
function Vm:rename(from, to) end

---Opens a guest file; at least one of read, write, append.
---@param path string
---@param opts OpenFileOpts
---@return File
function Vm:open_file(path, opts) end

---Follows a growing guest file.
---@param path string
---@param opts? TailOpts
---@return Stream
function Vm:tail_file(path, opts) end

---A stream from an open File.
---@param file File
---@return Stream
function Vm:fd_stream(file) end

---Runs the calls made on `b` in one round trip; answers come in call order.
---All answers share one 1 MiB frame: one that does not fit (a run's output, a file)
---is `{err = "vm:run: output too large for a batch ..."}`; the call still ran.
---@param fn fun(b: Batch)
---@return BatchResult[]
function Vm:batch(fn) end

---The NIC on a bridge (handle or name) or guest interface `ethN`.
---@param bridge_or_ifname Bridge|string
---@return Nic
function Vm:nic(bridge_or_ifname) end

---@return Console
function Vm:console() end

---@return Clock
function Vm:clock() end

---The disk `id` (a profile disk, a `disks` boot option's, an attached one); raises `no disk '<id>'`.
---@param id string
---@return Disk
function Vm:disk(id) end

---Before boot: a disk the boot makes. On a booted or paused VM: hot-plug (machine q35 only).
---@param opts? AttachDiskOpts
---@return Disk
function Vm:attach_disk(opts) end

---@return string
function Vm:name() end

---@return string
function Vm:profile() end

---@return VmState
function Vm:state() end

---No open files or streams (the snapshot precondition).
---@return boolean
function Vm:is_quiescent() end

---@return integer
function Vm:open_file_count() end

---@return integer
function Vm:open_stream_count() end

---Always nil (no vsock).
---@return nil
function Vm:cid() end

------------------------------------------------------------------------------------------
-- RunResult and Process (§4.3)
------------------------------------------------------------------------------------------

---The result of `vm:run` or `p:wait`.
---@class RunResult
---@field exit_code integer exit status; -1 killed by a signal, -2 timed out
---@field stdout string capped at 64 MiB
---@field stderr string capped at 64 MiB
---@field status RunStatus
---@field timed_out boolean
---@field signal integer|nil
---@field duration number seconds
---@field truncated boolean true when output was cut at the cap
local RunResult = {}

---Raises `command failed: status=... exit_code=... stdout=... stderr=...` unless ok; returns itself.
---@return RunResult
function RunResult:assert_ok() end

---True only for an exit with status 0.
---@return boolean
function RunResult:ok() end

---A command started with `vm:run_async`. Its stdin is a pipe that stays open until
---`close_stdin()` or `wait()` (with `stdin = "..."` it gets that string, then EOF).
---@class Process
local Process = {}

---Closes stdin first, then waits for exit (forever by default); on timeout the group is
---killed and status is `timed_out`. The result holds the whole output, also what streams read.
---@param timeout? Duration
---@return RunResult
function Process:wait(timeout) end

---Signals the process itself (default TERM).
---@param sig? Signal
function Process:kill(sig) end

---@param sig Signal
function Process:signal(sig) end

---@return integer
function Process:pid() end

---@return integer
function Process:handle() end

---@return "running"|"exited"|"unknown"
function Process:status() end

---Scope-end hook: TERM to the group, then KILL after 2 s; a no-op once waited.
function Process:close() end

---Feeds stdin; returns `#data` once the agent has it (it buffers up to 16 MiB the process
---has not read, beyond that this waits for the process). Raises `broken pipe: the process
---has exited` once the exit is known, and after `close_stdin()` or `wait()`.
---@param data string
---@return integer n
function Process:stdin_write(data) end

---The process reads EOF after what was written; a no-op when already closed or waited.
function Process:close_stdin() end

---A live Stream of stdout from its first byte (open it before `wait`); it ends after the
---last byte once the process exited.
---@return Stream
function Process:stdout_stream() end

---A live Stream of stderr, like `stdout_stream`.
---@return Stream
function Process:stderr_stream() end

------------------------------------------------------------------------------------------
-- Stream (§4.4)
------------------------------------------------------------------------------------------

---File tails, process output, console reads and captures.
---@class Stream
local Stream = {}

---The next chunk; nil on EOF, timeout or after close.
---@param timeout? Duration
---@return string|nil
function Stream:next(timeout) end

---Everything up to and including the first occurrence of the plain string `pattern` (default timeout 10 s).
---@param pattern string
---@param timeout? Duration
---@return string|nil
function Stream:read_until(pattern, timeout) end

---Like `read_until`, but raises instead of returning nil.
---@param pattern string
---@param timeout? Duration
function Stream:expect(pattern, timeout) end

---Chunks arriving before the deadline (default 0.5 s).
---@param timeout? Duration
---@return string[]
function Stream:drain(timeout) end

function Stream:close() end

---@return boolean
function Stream:eof() end

---@return {file: string, line: integer}|nil
function Stream:creation_site() end

------------------------------------------------------------------------------------------
-- File, Console, Clock, Snapshot, LabSnapshot, Batch (§4.5)
------------------------------------------------------------------------------------------

---An open guest file.
---@class File
local File = {}

---@param n integer
---@return string|nil
function File:read(n) end

---@return string
function File:read_all() end

---@param data string
---@return integer n
function File:write(data) end

---@param offset integer
---@param whence? "set"|"cur"|"end"
---@return integer pos
function File:seek(offset, whence) end

---@return integer
function File:tell() end

function File:close() end

---Handle id, 0 once closed.
---@return integer
function File:fd() end

---Tail from the current position.
---@return Stream
function File:tail_stream() end

---The VM's serial console; the log also holds what the guest writes to /dev/hvc0.
---@class Console
local Console = {}

---@return Stream
function Console:read() end

---All output so far (kept across resets).
---@return string
function Console:read_log() end

---Waits for `pattern` in the whole log, then in new output (default 30 s).
---@param pattern string
---@param timeout? Duration
---@return string
function Console:expect(pattern, timeout) end

---Types into the serial console (ttyS0); waits up to `timeout` (default 10 s) for the guest to take it.
---@param data string
---@param opts? {timeout?: Duration}
function Console:write(data, opts) end

function Console:close() end

---The guest wall clock.
---@class Clock
local Clock = {}

---@return number seconds
function Clock:get() end

---@return integer
function Clock:get_ns() end

---@param s number
function Clock:set(s) end

---@param ns integer
function Clock:set_ns(ns) end

---Sleeps in the guest.
---@param d Duration
function Clock:sleep(d) end

---@param d Duration may be negative
function Clock:advance(d) end

---A saved VM.
---@class Snapshot
local Snapshot = {}

---@return string
function Snapshot:path() end

---Bytes on disk; 0 once gone.
---@return integer
function Snapshot:size() end

---Idempotent.
function Snapshot:delete() end

---A saved lab: a directory with `lab.json` and one snapshot per VM.
---@class LabSnapshot
local LabSnapshot = {}

---@return string
function LabSnapshot:path() end

---@return integer
function LabSnapshot:size() end

function LabSnapshot:delete() end

---Calls queued by `vm:batch`; each returns nothing now, its answer comes in the batch's results.
---@class Batch
local Batch = {}

---@param cmd string
---@param opts_or_args? RunOpts|string[]
function Batch:run(cmd, opts_or_args) end

---@param path string
function Batch:read_file(path) end

---@param path string
---@param data string
---@param opts? FileOpts
function Batch:write_file(path, data, opts) end

---@param path string
function Batch:stat(path) end

---@param path string
function Batch:listdir(path) end

---@param path string
---@param parents_or_opts? boolean|MkdirOpts
function Batch:mkdir(path, parents_or_opts) end

---@param path string
function Batch:unlink(path) end

---@param from string
---@param to string
function Batch:rename(from, to) end

------------------------------------------------------------------------------------------
-- Bridge and Nic (§4.6)
------------------------------------------------------------------------------------------

---@class Direction
---@field from? Vm|string
---@field to? Vm|string

---@class LatencyRule: Direction
---@field ms number

---@class DropRule: Direction
---@field p number percent 0-100

---@class BandwidthRule: Direction
---@field bps integer bits per second, 0 = unlimited

---@class CaptureOpts
---@field file? string write the pcap here instead of serving it on the stream

---A userspace Ethernet switch private to the test file.
---@class Bridge
local Bridge = {}

---Binds each VM's lowest free NIC slot to this bridge.
---@param vms Vm|string|(Vm|string)[]
function Bridge:attach(vms) end

---@param vm Vm|string
function Bridge:detach(vm) end

---Member names in attach order.
---@return string[]
function Bridge:members() end

---@return string
function Bridge:name() end

---e.g. "10.213.0.0/24"
---@return string
function Bridge:subnet() end

---@param vm Vm|string
---@return string
function Bridge:address(vm) end

---Drops traffic both ways between a and b, or one way with `{from=, to=}`.
---@param a Vm|string|Direction
---@param b? Vm|string
function Bridge:partition(a, b) end

---@param a Vm|string|Direction
---@param b? Vm|string
function Bridge:unpartition(a, b) end

function Bridge:partition_all() end

function Bridge:restore_all() end

---@param a Vm|string
---@param b Vm|string
---@return boolean
function Bridge:is_partitioned(a, b) end

---@param vm Vm|string
function Bridge:isolate(vm) end

---@param vm Vm|string
function Bridge:unisolate(vm) end

---@param vm Vm|string
---@return boolean
function Bridge:is_isolated(vm) end

---Sets (not adds) one-way delay.
---@param ms number|LatencyRule
function Bridge:add_latency(ms) end

---Sets loss in percent (0-100).
---@param pct number|DropRule
function Bridge:drop_rate(pct) end

---Sets the rate in bits per second (0 = unlimited).
---@param bps integer|BandwidthRule
function Bridge:bandwidth_limit(bps) end

---@param rule LatencyRule
function Bridge:add_directional_latency(rule) end

---@param rule DropRule
function Bridge:directional_drop_rate(rule) end

---@return number
function Bridge:latency_ms() end

---@return number
function Bridge:drop_rate_pct() end

---@return integer
function Bridge:bandwidth_bps() end

---Clears impairments and partitions; keeps isolation, uplink and routes.
function Bridge:reset() end

function Bridge:enable_uplink() end

function Bridge:disable_uplink() end

---pcap of the bridge.
---@param opts? CaptureOpts
---@return Stream
function Bridge:capture(opts) end

---@param vm Vm|string
---@return Nic
function Bridge:nic(vm) end

---Lets this bridge's members reach `other`'s subnet by address: provium installs the
---route in each member (via the gateway 10.213.K.1, the switch) and forwards. One way:
---answers need `other:route(this)`.
---@param other Bridge|string a Bridge or its name
---@return Bridge self
function Bridge:route(other) end

---Names of the bridges this one routes to, in route order.
---@return string[]
function Bridge:routes() end

---Scope-end hook: detach all, stop the switch.
function Bridge:close() end

---@class NicCounters
---@field rx_bytes integer
---@field tx_bytes integer
---@field rx_packets integer
---@field tx_packets integer
---@field errors integer

---A VM's NIC on a bridge.
---@class Nic
local Nic = {}

---@return NicCounters
function Nic:counters() end

---@param opts? CaptureOpts
---@return Stream
function Nic:capture(opts) end

---Cable pull: carrier down, no forwarding.
function Nic:disconnect() end

function Nic:reconnect() end

---@return string
function Nic:vm_name() end

---@return Bridge
function Nic:bridge() end

---"eth0", "eth1", ...
---@return string
function Nic:name() end

---@return string
function Nic:address() end

---@return string
function Nic:mac() end

------------------------------------------------------------------------------------------
-- Disk (§4.7)
------------------------------------------------------------------------------------------

---@alias DiskFault "eio_read"|"eio_write"|"slow"

---@class DiskPolicy
---@field fail_reads boolean
---@field fail_writes boolean
---@field fail_after? integer requests left before every one fails
---@field fail_range_sector? integer
---@field fail_range_count? integer
---@field delay_ms? integer
---@field power_cut? boolean the disk has no power until `vm:reset()` [ours]

---A VM's disk (virtio-blk). Methods marked mediated raise `disk '<id>' is not mediated` on other disks.
---@class Disk
local Disk = {}

---@return string
function Disk:id() end

---Virtual size in bytes.
---@return integer
function Disk:size() end

---Hot-unplug (machine q35): returns once the guest let it go.
function Disk:detach() end

---@return boolean
function Disk:is_detached() end

---Host-side read of `n` 512-byte sectors of what the guest sees (held writes included).
---@param sector integer
---@param n integer
---@return string
function Disk:read_sectors(sector, n) end

---Host-side write of whole 512-byte sectors; on a mediated disk durable at once.
---@param sector integer
---@param data string
function Disk:write_sectors(sector, data) end

---A fault on the host-side sector access only (`slow` adds 50 ms).
---@param fault DiskFault
function Disk:fault_inject(fault) end

function Disk:clear_faults() end

---@return DiskFault[]
function Disk:active_faults() end

---Mediated: discard every write the guest has not flushed; the disk then fails every
---request until `vm:reset()` (the VM stays booted).
function Disk:power_cut() end

---Mediated: every guest read fails with EIO.
---@param on? boolean default true
function Disk:fail_reads(on) end

---Mediated: every guest write fails with EIO.
---@param on? boolean default true
function Disk:fail_writes(on) end

---Mediated: the next `n` guest reads and writes succeed, every request after fails.
---@param n integer
function Disk:fail_after(n) end

---Mediated: guest I/O touching sectors [sector, sector+count) fails.
---@param sector integer
---@param count integer
function Disk:fail_range(sector, count) end

---Mediated: every guest request waits `ms` milliseconds.
---@param ms integer
function Disk:delay(ms) end

---Mediated: clear the fault policy.
function Disk:clear_policy() end

---Mediated: the current policy.
---@return DiskPolicy
function Disk:fault_policy() end
