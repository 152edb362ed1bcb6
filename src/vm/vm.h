/* vm.h - one QEMU virtual machine with the Provium agent inside.
 *
 * This is the room between the Lua bindings and QEMU: it resolves a profile into a
 * QEMU command line (kernel, initrd + agent overlay, command line), starts QEMU with
 * a QMP socket, a console log and the agent's virtio-serial port, waits for the
 * agent's hello, and then carries guest operations (exec, files) over the agent
 * connection. It knows nothing about Lua. */
#ifndef PROVIUM_VM_H
#define PROVIUM_VM_H

#include "config/config.h"
#include "util/util.h"
#include "vm/agentconn.h"

#include <jansson.h>

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Process-wide facts every VM needs; one per worker process. */
struct host_env {
    const struct config *cfg;
    char accel[8];       /* "kvm" or "tcg" */
    char *scratch;       /* private 0700 directory of this process */
    char *agent_bin;     /* static agent binary to put in overlays */
    unsigned tsc_khz;    /* host TSC rate, handed to TCG guests (0 = unknown) */
    int64_t deadline_ns; /* current test deadline (CLOCK_MONOTONIC), 0 = none */
    unsigned counter;    /* for unique scratch names */
    int qemu_own_pgrp;   /* QEMU in a process group of its own, away from the terminal's
                            Ctrl-C (QEMU installs its own SIGINT handler): `provium repl` */
    /* The run's memory/vCPU pool (NULL outside a test run): every QEMU started is
     * charged its memory + 100 MiB and its vCPUs until it exits; acquire may wait, or
     * fail with err. pool_exempt > 0 while a fixture builds (not charged). */
    int (*pool_acquire)(struct host_env *env, uint64_t memory, int cpus, char *err,
                        size_t errlen);
    void (*pool_release)(struct host_env *env, uint64_t memory, int cpus);
    int (*pool_claim)(struct host_env *env, uint64_t memory, int cpus, char *err,
                      size_t errlen);
    int claimed; /* provium:claim was called */
    void *pool_ud;
    int pool_exempt;
};

#define VM_MAX_NICS 8
#define VM_NIC_MAC_PREFIX "52:54:01:00:00:" /* + slot: until the slot joins a bridge */
#define VM_UPLINK_MAC "52:54:01:00:00:ff"    /* the user-mode NIC (bridge uplinks) */

enum vm_state { VM_CREATED, VM_BOOTED, VM_PAUSED, VM_SHUTDOWN, VM_DEAD };
const char *vm_state_name(enum vm_state s);

struct vm_file {
    char *path;
    char *content;
    size_t len;
    unsigned mode;
};

struct vm_boot_opts {
    char *cmdline;        /* replaces the resolved command line */
    char *cmdline_append; /* appended */
    double agent_timeout; /* 0 = profile / default */
    struct vm_file *files;
    size_t n_files;
    struct disk_spec *disks; /* boot option `disks`: after the profile's (disk.c) */
    size_t n_disks;
    int has_initial_time; /* initial_time: the guest clock at boot (vm_power.c) */
    double initial_time;  /* epoch seconds */
    int has_rng_seed;     /* rng_seed: provium.rng_seed= for the agent to mix in */
    int64_t rng_seed;
};

/* A block device of a VM (disk.c; hot-plug and host access in vm_disk_hot.c). */
struct nbd_server;
struct vm_disk {
    char *id;
    char *image;  /* backing image (NULL for a scratch disk) */
    char *file;   /* what QEMU opens: the private overlay, or the image when read-only;
                     for a mediated disk the private raw file the NBD server serves */
    char *format; /* "qcow2" or "raw" */
    int readonly; /* read-only disks are not captured by snapshots */
    int mediated; /* served by provium's NBD server (nbd.h) */
    int hot_port; /* q35 root port it was hot-plugged into (1-based; 0 = cold) */
    struct nbd_server *nbd;  /* while a mediated disk is served */
    int cut;                 /* power_cut: a dead disk until vm:reset */
    int64_t cut_fail_after;  /* the fail_after budget before the cut (-1: none) */
    unsigned host_faults;    /* DISK_FAULT_*: host-side sector access only */
};
#define DISK_FAULT_EIO_READ 1u
#define DISK_FAULT_EIO_WRITE 2u
#define DISK_FAULT_SLOW 4u

struct vm {
    struct host_env *env;
    char *name;
    const struct profile *profile;
    uint64_t memory;
    int cpus;
    enum vm_state state;
    struct vm_boot_opts opts;
    char *dir; /* scratch dir of this VM: sockets, console log, initrd */
    int dir_fd; /* dir, open (O_PATH) for socket paths past sun_path (sockpath.h); QEMU
                   inherits it at the same number */
    char *console_path;
    struct conlog *con; /* the bounded console log (conlog.h), made with dir */
    char machine[8];
    pid_t qemu_pid;
    int pidfd;
    struct qmp *qmp;
    struct agent_conn agent;
    int64_t boot_ns;
    char dead_reason[256];
    int no_agent; /* `provium console` without --agent: no overlay, no rdinit= */
    struct vm_disk *disks;
    size_t n_disks;
    int64_t boot_t0;      /* when vm_boot_start started QEMU */
    int nic_slots;        /* virtio-net devices, each a port of the worker's switch */
    int nic_port[VM_MAX_NICS]; /* switch port per slot while QEMU runs, -1 otherwise */
    uint64_t pool_memory; /* charged to the pool while QEMU runs (0 = nothing) */
    int pool_cpus;
    /* the last shutdown (vm_shutdown_begin/wait): start, duration, how it ended */
    int64_t stop_t0, stop_ns;
    int stop_quit;   /* QMP quit was sent */
    int stop_exited; /* QEMU is gone (reaped by the shutdown wait) */
    int stop_killed; /* QEMU did not stop within 3 s and was killed */
    int no_hvc;      /* restored from a snapshot of a QEMU without the virtio console */
    int64_t power_button_ns; /* when vm:power_button was pressed (0 = not since boot) */
    char *mem_path;  /* guest RAM is this file (memory-backend-file), NULL: anonymous */
    int mem_share;   /* with mem_path: share=on (a template being made), else share=off */
    int mem_mapped;  /* the last restore mapped its RAM (snapshot_hot.c) */
};

/* Result codes of guest operations. */
enum {
    VMOP_OK = 0,
    VMOP_GUEST = 1,     /* the guest reported errno (in *gerr) */
    VMOP_DEAD = -1,     /* the VM died: state is now VM_DEAD */
    VMOP_TIMEOUT = -2,  /* env->deadline_ns passed */
    VMOP_PROTO = -3,    /* malformed reply */
};

struct vm *vm_new(struct host_env *env, const char *name, const struct profile *p,
                  uint64_t memory, int cpus);
void vm_free(struct vm *vm); /* shuts down first */

/* Boots: on failure returns -1 and err holds the reason plus the console tail. */
int vm_boot(struct vm *vm, char *err, size_t errlen);
/* vm_boot in two halves, so several VMs boot at once: start QEMU, then wait for the
 * agent (lab:boot starts them all, then finishes each). */
int vm_boot_start(struct vm *vm, char *err, size_t errlen);
int vm_boot_finish(struct vm *vm, char *err, size_t errlen);
/* Hard reset: the guest boots again in the same QEMU; returns once the new agent has
 * answered (guest handles and processes of before are gone). -1 with err. */
int vm_reset(struct vm *vm, char *err, size_t errlen);
/* Stops (run = 0) or continues the vCPUs over QMP; state becomes paused or booted. */
int vm_set_running(struct vm *vm, int run, char *err, size_t errlen);
/* Starts the VM from a snapshot file (see snapshot.h); -1 with err on failure. */
int vm_restore(struct vm *vm, const char *path, char *err, size_t errlen);
/* vm_restore with the loading step in the caller's hands: after QEMU started with
 * -incoming defer (and vm->mem_path, if set), load() brings the guest in and conts it
 * (returns 0: the agent is asked next, as vm_restore does), or does something else
 * with it (returns 1: done, the VM stays as load left it). -1 with err. */
typedef int (*vm_load_fn)(struct vm *vm, const char *path, json_t *meta, void *ud, char *err,
                          size_t errlen);
int vm_restore_with(struct vm *vm, const char *path, vm_load_fn load, void *ud, char *err,
                    size_t errlen);
/* For `provium console`: resolves the profile exactly as vm_boot does (command line
 * with tsc_early_khz= under TCG, initrd, machine) and appends to argv a QEMU command
 * line whose serial console and monitor share stdio (Ctrl-A X quits, Ctrl-A C is the
 * monitor; Ctrl-C goes to the guest). No QMP; the agent overlay and its port only with
 * with_agent (and the profile's inject_agent). Starts nothing; -1 with err. */
int vm_console_argv(struct vm *vm, int with_agent, struct strv *argv, char *err, size_t errlen);
/* Powers off: agent poweroff, wait up to 2 s, then QMP quit, then SIGKILL. Idempotent;
 * the VM ends `shutdown` from any state. */
void vm_shutdown(struct vm *vm);
/* vm_shutdown for many VMs side by side: begin asks each (agent POWEROFF, or QMP quit
 * when the agent cannot be reached) without waiting; wait gives all of them the same
 * 2 s, then QMP quit and 1 s more, then SIGKILL (vm->stop_killed), and leaves each
 * `shutdown` with vm->stop_ns the time its QEMU took to go. */
void vm_shutdown_begin(struct vm *vm);
void vm_shutdown_wait(struct vm **vms, size_t n);
/* The VM's QEMU or agent link went away unasked: `shutdown` when the guest powered
 * itself off (QMP SHUTDOWN, guest-shutdown), else `dead`. */
void vm_lost(struct vm *vm);
/* Notices a QEMU that exited while nobody was talking to it (vm:state()). */
void vm_refresh_state(struct vm *vm);
/* Kills QEMU at once (timeouts, teardown after a failure). */
void vm_kill(struct vm *vm);
/* Last `max` bytes of the console log (malloc'd, never NULL). */
char *vm_console_tail(const struct vm *vm, size_t max);

/* ---- power and boot-time options (vm_power.c) ---- */
/* The ACPI power button (QMP system_powerdown); returns at once. The guest decides:
 * once it powers off, the VM is `shutdown` (vm_lost waits longer for that). -1 with err. */
int vm_power_button(struct vm *vm, char *err, size_t errlen);
/* Wakes a guest suspended to RAM (QMP system_wakeup) and returns once QEMU runs it
 * again; -1 with err on a machine without S3 (microvm) or a guest not suspended. */
int vm_wakeup(struct vm *vm, char *err, size_t errlen);
/* QEMU arguments of these features for a fresh boot or a restore: the virtio console
 * (hvc0) on the agent's virtio-serial bus when hvc_fd >= 0, and the RTC at initial_time
 * (q35 has S3 by default in QEMU 7.2; microvm has none). */
void vm_power_argv(const struct vm *vm, struct strv *a, int hvc_fd, int incoming);
/* The wall clock the guest gets after the agent's hello: initial_time plus the time
 * since QEMU started (at_boot, when the option is set), else the host's. */
void vm_guest_clock(const struct vm *vm, int at_boot, struct timespec *ts);
/* Types into the serial console (see conlog_write); -1 with errno. */
int vm_console_write(struct vm *vm, const void *data, size_t len, int64_t deadline_ns,
                     size_t *written);

/* ---- guest operations ---- */
struct exec_req {
    char **argv;       /* NULL-terminated */
    char **env;        /* "K=V", NULL-terminated, may be NULL */
    int env_clear;
    const char *cwd;   /* NULL = "/" */
    const char *stdin_data;
    size_t stdin_len;
    int has_stdin;
    double timeout;    /* seconds, 0 = none */
};

struct exec_res {
    int status; /* WIRE_STATUS_* */
    int code;
    int signal;
    char *out, *err; /* NUL-terminated, malloc'd */
    size_t out_len, err_len;
    int truncated;
    double duration;
};

int vm_exec(struct vm *vm, const struct exec_req *req, struct exec_res *res, int *gerr);

/* A process started in the background (vm:run_async). Its output collects while
 * other guest calls run; vm_proc_wait ends it (timeout > 0: the group is killed when
 * it expires, and res->status is timed out). signal < 0 goes to the process group.
 * A process belongs to one agent connection: after a restore it is gone (VMOP_DEAD). */
struct vm_proc;
int vm_exec_start(struct vm *vm, const struct exec_req *req, struct vm_proc **p, int *gerr);
int64_t vm_proc_pid(const struct vm_proc *p);
uint32_t vm_proc_id(const struct vm_proc *p);
int vm_proc_alive(const struct vm *vm, const struct vm_proc *p);
int vm_proc_running(struct vm *vm, struct vm_proc *p);
int vm_proc_wait(struct vm *vm, struct vm_proc *p, double timeout, struct exec_res *res,
                 int *gerr);
int vm_proc_signal(struct vm *vm, struct vm_proc *p, int sig, int *gerr);
/* Its stdin is a pipe kept open until vm_proc_close_stdin. A write queues the bytes
 * as DATA frames and returns once the agent has them (it buffers up to 16 MiB the
 * process has not read; beyond that the write waits for the process to read); one
 * after close, or once the exit is known, is VMOP_GUEST with EPIPE. */
int vm_proc_stdin_write(struct vm *vm, struct vm_proc *p, const void *data, size_t len,
                        int *gerr);
int vm_proc_close_stdin(struct vm *vm, struct vm_proc *p);
/* Everything the process wrote so far to stdout (which = 1) or stderr (2), up to the
 * 64 MiB cap; complete once vm_proc_running (which takes what arrives within 1 ms)
 * says it exited. */
void vm_proc_output(const struct vm_proc *p, int which, const char **data, size_t *len);
void vm_proc_free(struct vm *vm, struct vm_proc *p);
void exec_res_free(struct exec_res *r);
int vm_read_file(struct vm *vm, const char *path, char **data, size_t *len, int *gerr);
/* Writes from memory (src_fd < 0) or streams from src_fd. */
int vm_write_file(struct vm *vm, const char *path, const void *data, size_t len, int src_fd,
                  unsigned mode, int keep_mode, int *gerr);

struct vm_stat {
    int type; /* WIRE_ENT_* */
    uint64_t size;
    int64_t mtime_s;
    uint32_t mtime_ns;
    uint32_t perm;
};
int vm_stat_path(struct vm *vm, const char *path, struct vm_stat *st, int *gerr);
struct vm_dirent {
    char *name;
    int type;
};
int vm_listdir(struct vm *vm, const char *path, struct vm_dirent **ents, size_t *n, int *gerr);
int vm_mkdir(struct vm *vm, const char *path, unsigned perm, int parents, int *gerr);
int vm_unlink(struct vm *vm, const char *path, int *gerr);
int vm_rename(struct vm *vm, const char *from, const char *to, int *gerr);

/* File handles (spec §4.5): open files in the guest, named by the agent's handle id
 * (never 0). A handle lives as long as the agent connection (vm->agent.serial).
 * flags are WIRE_OPEN_*. vm_hread reads up to max bytes, stopping early only at EOF
 * or a short read: *len == 0 means EOF. vm_hwrite stops at the first short write and
 * reports what went in *written. whence is WIRE_SEEK_*. vm_hclose_nowait queues the
 * close without waiting for the answer (for finalizers). */
int vm_open_file(struct vm *vm, const char *path, unsigned flags, unsigned perm,
                 uint32_t *handle, int *gerr);
int vm_hread(struct vm *vm, uint32_t handle, size_t max, char **data, size_t *len, int *gerr);
int vm_hwrite(struct vm *vm, uint32_t handle, const void *data, size_t len, size_t *written,
              int *gerr);
int vm_hseek(struct vm *vm, uint32_t handle, int64_t offset, int whence, uint64_t *pos,
             int *gerr);
int vm_hclose(struct vm *vm, uint32_t handle, int *gerr);
void vm_hclose_nowait(struct vm *vm, uint32_t handle);

/* The guest's wall clock (CLOCK_REALTIME), through the agent. */
int vm_get_time(struct vm *vm, int64_t *sec, uint32_t *nsec, int *gerr);
int vm_set_time(struct vm *vm, int64_t sec, uint32_t nsec, int *gerr);

const char *wire_entry_name(int type);

/* ---- shared by vm.c, vm_initrd.c and vm_stop.c ---- */
/* The agent goes into the guest (profile inject_agent, unless console turned it off). */
int vm_injects_agent(const struct vm *vm);
/* The fresh boot's kernel command line, malloc'd; NULL with err (vm_initrd.c). */
char *vm_resolve_cmdline(struct vm *vm, char *err, size_t errlen);
/* The initrd to boot, malloc'd; NULL when the boot has none or on error (err filled). */
char *vm_assemble_initrd(struct vm *vm, char *err, size_t errlen);
/* Waits up to wait_ms for QEMU to exit (then SIGKILL), closes its pidfd, returns its
 * pool share and removes its switch ports (vm_stop.c). */
void vm_reap_qemu(struct vm *vm, int wait_ms);
/* Gives back the memory and vCPUs a running QEMU held from the run's pool. */
void vm_pool_uncharge(struct vm *vm);

/* ---- disks (disk.c) ---- */
/* "qcow2" when the file starts with qcow2's magic, else "raw". */
const char *disk_image_format(const char *path);
/* Fresh boot: the profile's disks, writable ones as new overlays in vm->dir. */
int vm_disks_prepare(struct vm *vm, char *err, size_t errlen);
/* Restore: the disks recorded in a snapshot (overlay files are filled by snapshot.c). */
int vm_disks_from_meta(struct vm *vm, json_t *disks, char *err, size_t errlen);
json_t *vm_disks_to_meta(const struct vm *vm);
char *vm_disk_overlay_path(const struct vm *vm, const char *id);
void vm_disks_argv(const struct vm *vm, struct strv *a, int micro);
void vm_disks_free(struct vm *vm);
void vm_disk_specs_free(struct disk_spec *s, size_t n);
/* Starts the NBD server of every mediated disk not yet served (before QEMU starts). */
int vm_disks_serve(struct vm *vm, char *err, size_t errlen);
/* vm:reset: a power-cut disk gets its power back (its fail_after budget as before). */
void vm_disks_power_on(struct vm *vm);
/* vm:snapshot: refuses a power-cut disk (stopped = 0, before the VM stops) and a
 * mediated disk still holding writes (stopped = 1: QEMU flushed when it stopped). */
int vm_disks_snapshot_check(struct vm *vm, int stopped, char *err, size_t errlen);
struct vm_disk *vm_disk_find(struct vm *vm, const char *id);
/* Virtual size in bytes of an image file (qcow2 header, else the file size); 0 unknown. */
uint64_t disk_image_size(const char *path);

/* Accelerator decision: policy "auto"|"kvm"|"tcg". Fills out ("kvm"/"tcg") and, when
 * auto falls back to TCG, a reason. Returns -1 (err filled) when "kvm" is unusable. */
int accel_resolve(const char *policy, char out[8], char *reason, size_t reasonlen, char *err,
                  size_t errlen);
unsigned host_tsc_khz(void);

#endif
