/* up.h - `provium forge up`: the parsed flags shared by up.c (parsing, artifact cache,
 * backend choice, detached state) and the backends up_qemu.c and up_mvm.c (spec §10.6).
 */
#ifndef PROVIUM_FORGE_UP_H
#define PROVIUM_FORGE_UP_H

#include <stddef.h>

#define UP_MAX_PORTS 64
#define UP_MAX_ENV 128

struct up_port {
    unsigned host, guest; /* 1..65535 */
    int udp;              /* 0 tcp, 1 udp */
    char spec[32];        /* as given on the command line: "8080:80/udp" */
};

struct up_opts {
    const char *hypervisor; /* "qemu" (default), "firecracker" or "mvmctl" */
    const char *name;       /* --name, or NULL (then the workload id) */
    unsigned cpus;          /* --cpus, 0 = not given (IR resources, else 1) */
    unsigned memory_mb;     /* --memory in MiB, 0 = not given (IR resources, else 512) */
    struct up_port ports[UP_MAX_PORTS]; /* -p, in the order given */
    size_t nports;
    const char *env[UP_MAX_ENV]; /* -e KEY=VAL, in the order given */
    size_t nenv;
    int detach;         /* -d / --detach */
    int watch;          /* --watch */
    const char *kernel; /* --kernel, or NULL */
    char **args;        /* ARGS after `--` (not NULL-terminated; nargs of them) */
    int nargs;
    const char *service; /* set by up.c: the app's name (NULL: the workload id) */
};

/* up_mvm.c: runs `<mvmctl> up --flake artifact ...` with o's flags, then
 * $PROVIUM_FORGE_UP_ARGS, then argv[0..argc) (the ARGS after `--`); returns the exit code
 * (its status, or FORGE_EXIT_ERROR with an E_MVM_* line). */
int up_mvm_run(const char *artifact, const struct up_opts *o, int argc, char **argv);

/* up_qemu.c: boots the artifact (its launch.json) with the built-in backend; returns the
 * exit code (the service's status in the foreground, 130 if interrupted, 0 once a detached
 * one started, FORGE_EXIT_ERROR with an E_* line for the environment). */
int up_qemu_run(const char *artifact, const struct up_opts *o);

/* --watch (foreground): up_qemu_session calls changed(ctx, artifact, n) about twice a
 * second while the guest runs and after it stopped; 1 means reboot from the artifact
 * now in artifact[] (a new compile), 0 keep going. Ends only with an interrupt (130) or
 * an environment error. NULL changed = up_qemu_run without --detach. */
typedef int (*up_changed_fn)(void *ctx, char *artifact, size_t n);
int up_qemu_session(const char *artifact, const struct up_opts *o, up_changed_fn changed,
                    void *ctx);

/* The state directory of detached workloads: $XDG_RUNTIME_DIR/provium/forge (or, without
 * it, $TMPDIR/provium-forge-<uid>); malloc'd. */
char *up_state_root(void);

#endif
