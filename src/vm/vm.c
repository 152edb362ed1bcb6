/* vm.c - VM lifecycle: resolve the profile, start QEMU (machine, command line, the
 * pool's share), wait for the agent, reset, pause and restore. The command line and the
 * initrd are made in vm_initrd.c, stopping and reaping QEMU is vm_stop.c, guest
 * operations over the agent live in vm_ops.c. */
#include "vm.h"

#include "image/kernel.h"
#include "vm/conlog.h"
#include "vm/qmp.h"
#include "net/switch.h"
#include "vm/snapshot.h"
#include "vm/snapshot_hot.h"
#include "vm/sockpath.h"
#include "vm/userns.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

const char *vm_state_name(enum vm_state s)
{
    static const char *names[] = {"created", "booted", "paused", "shutdown", "dead"};
    return names[s];
}

/* The agent goes into the guest when the profile wants it, unless `provium console`
 * (without --agent) turned it off. */
int vm_injects_agent(const struct vm *vm)
{
    return vm->profile->inject_agent && !vm->no_agent;
}

struct vm *vm_new(struct host_env *env, const char *name, const struct profile *p,
                  uint64_t memory, int cpus)
{
    struct vm *vm = xcalloc(1, sizeof *vm);
    vm->env = env;
    vm->name = xstrdup(name);
    vm->profile = p;
    vm->memory = memory;
    vm->cpus = cpus;
    vm->state = VM_CREATED;
    vm->qemu_pid = -1;
    vm->pidfd = -1;
    vm->dir_fd = -1;
    vm->agent.fd = -1;
    vm->nic_slots = p->nic_slots;
    for (int i = 0; i < VM_MAX_NICS; i++)
        vm->nic_port[i] = -1;
    return vm;
}

static void boot_opts_free(struct vm_boot_opts *o)
{
    free(o->cmdline);
    free(o->cmdline_append);
    for (size_t i = 0; i < o->n_files; i++) {
        free(o->files[i].path);
        free(o->files[i].content);
    }
    free(o->files);
    vm_disk_specs_free(o->disks, o->n_disks);
    memset(o, 0, sizeof *o);
}

void vm_free(struct vm *vm)
{
    if (!vm)
        return;
    vm_shutdown(vm);
    boot_opts_free(&vm->opts);
    vm_disks_free(vm);
    free(vm->name);
    free(vm->dir);
    if (vm->dir_fd >= 0)
        close(vm->dir_fd);
    conlog_free(vm->con);
    free(vm->console_path);
    free(vm->mem_path);
    free(vm);
}

char *vm_console_tail(const struct vm *vm, size_t max)
{
    if (!vm->con)
        return xstrdup("");
    uint64_t end = conlog_end(vm->con);
    uint64_t pos = end > max ? end - max : 0;
    struct buf b = {0};
    conlog_read(vm->con, &pos, max, &b);
    char *out = buf_cstr(&b);
    size_t n = b.len;
    /* drop CRs and replace stray control bytes so the text prints cleanly */
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)out[i];
        if (ch == '\r')
            continue;
        out[o++] = (ch < 32 && ch != '\n' && ch != '\t') ? '?' : (char)ch;
    }
    out[o] = 0;
    return out;
}


/* microvm needs virtio-mmio; it is there when built in or shipped as a module */
static void choose_machine(struct vm *vm, const char *ver)
{
    const char *m = vm->profile->machine;
    if (strcmp(m, "auto") != 0) {
        snprintf(vm->machine, sizeof vm->machine, "%s", m);
        return;
    }
    strcpy(vm->machine, "q35");
    char *dir = vm->profile->modules_dir ? xstrdup(vm->profile->modules_dir)
                                         : xasprintf("/lib/modules/%s", ver);
    char *builtin = path_join(dir, "modules.builtin");
    char *dep = path_join(dir, "modules.dep");
    char *text = read_file(builtin, NULL);
    if (text && strstr(text, "virtio_mmio.ko"))
        strcpy(vm->machine, "microvm");
    free(text);
    text = read_file(dep, NULL);
    if (text && strstr(text, "virtio_mmio.ko"))
        strcpy(vm->machine, "microvm");
    free(text);
    if (!vm_injects_agent(vm))
        strcpy(vm->machine, "microvm");
    /* no modules dir at all: a custom kernel; try the config beside the image */
    if (!file_exists(dir)) {
        char *kdir = path_dirname(vm->profile->kernel);
        char *cfg = path_join(kdir, "config");
        char *t = read_file(cfg, NULL);
        if (!t || strstr(t, "CONFIG_VIRTIO_MMIO=y"))
            strcpy(vm->machine, "microvm");
        free(t);
        free(cfg);
        free(kdir);
    }
    free(builtin);
    free(dep);
    free(dir);
}

/* Where QEMU serves the socket `name` of this VM: <vm dir>/<name>, or the same through
 * the directory's fd when that is too long for a unix socket (never truncated). */
static char *vm_sock_path(const struct vm *vm, const char *name)
{
    char path[128];
    if (sockpath_make(path, sizeof path, vm->dir, vm->dir_fd, name) < 0)
        return xasprintf("%s/%s", vm->dir, name); /* QEMU says it is too long */
    return xstrdup(path);
}

/* The agent's virtio-serial port, served by QEMU on <vm dir>/agent.sock. Its device id
 * makes QEMU report the guest opening and closing it (VSERPORT_CHANGE): a closed port
 * is an agent that exited. */
static void push_agent_port(const struct vm *vm, struct strv *a, int micro)
{
    strv_push(a, "-device");
    strv_push(a, micro ? "virtio-serial-device" : "virtio-serial-pci");
    strv_push(a, "-chardev");
    char *sock = vm_sock_path(vm, "agent.sock");
    strv_pushf(a, "socket,id=agent0,path=%s,server=on,wait=off", sock);
    free(sock);
    strv_push(a, "-device");
    strv_push(a, "virtserialport,chardev=agent0,id=" QMP_AGENT_PORT_ID ",name=" WIRE_PORT_NAME);
}

/* The NIC slots: virtio-net devices whose `-netdev stream` sockets QEMU serves in the
 * VM's directory; the worker connects each to its switch (connect_nics). The MAC is a
 * placeholder the guest replaces when the slot is attached to a bridge. */
static void push_nics(const struct vm *vm, struct strv *a, int micro)
{
    for (int i = 0; i < vm->nic_slots && i < VM_MAX_NICS; i++) {
        char name[16];
        snprintf(name, sizeof name, "nic%d.sock", i);
        char *sock = vm_sock_path(vm, name);
        strv_push(a, "-netdev");
        strv_pushf(a, "stream,id=nic%d,server=on,addr.type=unix,addr.path=%s", i, sock);
        free(sock);
        strv_push(a, "-device");
        strv_pushf(a, "%s,netdev=nic%d,mac=" VM_NIC_MAC_PREFIX "%02x",
                   micro ? "virtio-net-device" : "virtio-net-pci", i, i);
    }
    /* the uplink: QEMU user networking, left unconfigured in the guest until a bridge
     * the VM is on enables it */
    strv_push(a, "-netdev");
    strv_push(a, "user,id=up0");
    strv_push(a, "-device");
    strv_pushf(a, "%s,netdev=up0,mac=" VM_UPLINK_MAC,
               micro ? "virtio-net-device" : "virtio-net-pci");
}

/* console: `provium console` - serial and monitor multiplexed on stdio, no QMP, and the
 * agent port only when the agent is injected. */
static void build_argv(struct vm *vm, struct strv *a, const char *initrd, const char *cmdline,
                       int incoming, int console, int con_fd, int hvc_fd)
{
    const struct config *cfg = vm->env->cfg;
    int micro = !strcmp(vm->machine, "microvm");
    strv_push(a, cfg->qemu);
    strv_push(a, "-M");
    strv_push(a, micro ? "microvm,isa-serial=on,rtc=on" : "q35");
    snapshot_hot_argv(vm, a, micro); /* file-backed RAM, when vm->mem_path is set */
    strv_push(a, "-accel");
    strv_push(a, vm->env->accel);
    if (!strcmp(vm->env->accel, "kvm")) {
        strv_push(a, "-cpu");
        strv_push(a, "host");
    }
    strv_push(a, "-m");
    strv_pushf(a, "%llu", (unsigned long long)(vm->memory >> 20));
    strv_push(a, "-smp");
    strv_pushf(a, "%d", vm->cpus);
    strv_push(a, "-nodefaults");
    strv_push(a, "-no-user-config");
    strv_push(a, "-display");
    strv_push(a, "none");
    strv_push(a, "-no-reboot");
    strv_push(a, "-kernel");
    strv_push(a, vm->profile->kernel);
    if (initrd) {
        strv_push(a, "-initrd");
        strv_push(a, initrd);
    }
    strv_push(a, "-append");
    strv_push(a, cmdline);
    vm_disks_argv(vm, a, micro);
    if (console) {
        /* signal=off: Ctrl-C goes to the guest; Ctrl-A X quits, Ctrl-A C is the monitor */
        strv_push(a, "-chardev");
        strv_push(a, "stdio,id=con0,mux=on,signal=off");
        strv_push(a, "-serial");
        strv_push(a, "chardev:con0");
        strv_push(a, "-mon");
        strv_push(a, "chardev=con0,mode=readline");
        if (vm_injects_agent(vm))
            push_agent_port(vm, a, micro);
        strv_push(a, "-device");
        strv_push(a, micro ? "virtio-rng-device" : "virtio-rng-pci");
        return;
    }
    strv_push(a, "-chardev");
    strv_pushf(a, "socket,id=con0,fd=%d", con_fd); /* conlog.c: kept across restores, capped */
    strv_push(a, "-serial");
    strv_push(a, "chardev:con0");
    push_agent_port(vm, a, micro);
    vm_power_argv(vm, a, hvc_fd, incoming); /* hvc0, initial_time */
    strv_push(a, "-device");
    strv_push(a, micro ? "virtio-rng-device" : "virtio-rng-pci");
    push_nics(vm, a, micro);
    strv_push(a, "-qmp");
    char *qmp_sock = vm_sock_path(vm, "qmp.sock");
    strv_pushf(a, "unix:%s,server=on,wait=off", qmp_sock);
    free(qmp_sock);
    if (incoming) {
        strv_push(a, "-incoming");
        strv_push(a, "defer");
    }
}

/* con_fd, hvc_fd: QEMU's ends of the console sockets, inherited by QEMU alone. */
static pid_t spawn_qemu(struct vm *vm, char **argv, int con_fd, int hvc_fd, char *err,
                        size_t errlen)
{
    char *log = xasprintf("%s/qemu.log", vm->dir);
    int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    free(log);
    pid_t parent = getpid();
    /* non-root share=off on a 0400 template: vm_restore_mapped checked userns_available */
    int userns = vm->mem_path && !vm->mem_share && geteuid() != 0;
    unsigned uid = geteuid(), gid = getegid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        if (logfd >= 0)
            close(logfd);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        if (vm->env->qemu_own_pgrp)
            setpgid(0, 0);
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 0);
        if (logfd >= 0) {
            dup2(logfd, 1);
            dup2(logfd, 2);
        }
        if (userns && userns_enter_child(uid, gid, parent) < 0) /* see userns.c */
            _exit(126);
        fcntl(con_fd, F_SETFD, 0);
        if (hvc_fd >= 0)
            fcntl(hvc_fd, F_SETFD, 0);
        if (vm->dir_fd >= 0)
            fcntl(vm->dir_fd, F_SETFD, 0); /* socket paths may go through it */
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_IGN); /* the worker decides when QEMU ends */
        execvp(argv[0], argv);
        dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (logfd >= 0)
        close(logfd);
    return pid;
}

static int connect_unix(const char *path)
{
    int fd = sockpath_connect(path, SOCK_NONBLOCK);
    if (fd < 0)
        return -1;
    int sz = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    return fd;
}

/* The run's pool: a QEMU holds memory + 100 MiB and its vCPUs from start to exit. */
static int pool_charge(struct vm *vm, char *err, size_t errlen)
{
    struct host_env *env = vm->env;
    if (!env->pool_acquire || env->pool_exempt || vm->pool_memory)
        return 0;
    uint64_t mem = vm->memory + (100ull << 20);
    if (env->pool_acquire(env, mem, vm->cpus, err, errlen) < 0)
        return -1;
    vm->pool_memory = mem;
    vm->pool_cpus = vm->cpus;
    return 0;
}

void vm_pool_uncharge(struct vm *vm)
{
    if (vm->pool_memory && vm->env->pool_release)
        vm->env->pool_release(vm->env, vm->pool_memory, vm->pool_cpus);
    vm->pool_memory = 0;
    vm->pool_cpus = 0;
}


/* Sends the host's wall clock and the VM's name; both are best effort. */
static void sync_guest(struct vm *vm, int64_t deadline, int at_boot)
{
    struct timespec ts;
    vm_guest_clock(vm, at_boot, &ts); /* the host's, or initial_time at boot */
    struct wire_writer w = {0};
    uint32_t id = agent_next_id(&vm->agent);
    wire_begin(&w, WIRE_SET_TIME, id);
    wire_put_i64(&w, ts.tv_sec);
    wire_put_u32(&w, (uint32_t)ts.tv_nsec);
    wire_finish(&w);
    int gerr;
    agent_simple(&vm->agent, &w, id, deadline, &gerr, NULL, NULL, NULL);
    id = agent_next_id(&vm->agent);
    wire_begin(&w, WIRE_HOSTNAME, id);
    wire_put_str(&w, vm->name);
    wire_finish(&w);
    agent_simple(&vm->agent, &w, id, deadline, &gerr, NULL, NULL, NULL);
    wire_writer_free(&w);
}

static int console_shows_panic(const struct vm *vm)
{
    char *tail = vm_console_tail(vm, 8192);
    int panic = strstr(tail, "Kernel panic") != NULL;
    free(tail);
    return panic;
}

/* The agent connection's health check: a panicked kernel normally reboots at once
 * (panic=-1) and -no-reboot ends QEMU, but a reboot that hangs would leave every wait
 * to its deadline; the console says it first. */
static const char *guest_health(void *ud)
{
    const struct vm *vm = ud;
    char *tail = vm_console_tail(vm, 8192);
    int panic = strstr(tail, "Kernel panic - not syncing") != NULL;
    free(tail);
    return panic ? "the guest kernel panicked" : NULL;
}

static int fail_boot(struct vm *vm, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_boot(struct vm *vm, char *err, size_t errlen, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    vm_kill(vm);
    char *tail = vm_console_tail(vm, 4096);
    if (!tail[0] && vm->dir) {
        free(tail);
        char *log = xasprintf("%s/qemu.log", vm->dir);
        tail = read_file(log, NULL);
        free(log);
        if (!tail)
            tail = xstrdup("");
    }
    snprintf(err, errlen, "%s\n---- console of vm %s (last 4 KiB) ----\n%s", msg, vm->name, tail);
    free(tail);
    vm->state = VM_CREATED;
    return -1;
}

/* The VM's private scratch directory: sockets, console log, initrd. Made once. */
static int ensure_vm_dir(struct vm *vm, char *err, size_t errlen)
{
    if (!vm->dir) {
        vm->dir = xasprintf("%s/vm-%u-%s", vm->env->scratch, ++vm->env->counter, vm->name);
        if (mkdir(vm->dir, 0700) < 0) {
            snprintf(err, errlen, "cannot create %s: %s", vm->dir, strerror(errno));
            free(vm->dir);
            vm->dir = NULL;
            return -1;
        }
        vm->dir_fd = open(vm->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        vm->console_path = xasprintf("%s/console.log", vm->dir);
    }
    if (!vm->con)
        vm->con = conlog_new(vm->console_path, vm->profile->console_log_max);
    if (!vm->con) {
        snprintf(err, errlen, "cannot create %s: %s", vm->console_path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Creates the VM's scratch dir (once), starts QEMU and connects QMP and the agent
 * socket. On failure QEMU is gone and err is filled (with the console tail). */
static int start_qemu(struct vm *vm, const char *initrd, const char *cmdline, int incoming,
                      char *err, size_t errlen)
{
    if (ensure_vm_dir(vm, err, errlen) < 0 || vm_disks_serve(vm, err, errlen) < 0)
        return -1;
    char *sock = vm_sock_path(vm, "agent.sock");
    char *qmp_path = vm_sock_path(vm, "qmp.sock");
    unlink(sock);
    unlink(qmp_path);
    if (pool_charge(vm, err, errlen) < 0) {
        free(sock);
        free(qmp_path);
        return -1;
    }
    int hvc_fd = -1;
    int con_fd = conlog_attach(vm->con, vm->no_hvc ? NULL : &hvc_fd);
    if (con_fd < 0) {
        snprintf(err, errlen, "console socket: %s", strerror(errno));
        vm_pool_uncharge(vm);
        free(sock);
        free(qmp_path);
        return -1;
    }
    struct strv argv = {0};
    build_argv(vm, &argv, initrd, cmdline, incoming, 0, con_fd, hvc_fd);
    if (g_verbose > 1) {
        struct buf line = {0};
        for (size_t i = 0; i < argv.n; i++)
            buf_printf(&line, " %s", argv.v[i]);
        warnx_p("qemu:%s", buf_cstr(&line));
        buf_free(&line);
    }
    vm->qemu_pid = spawn_qemu(vm, argv.v, con_fd, hvc_fd, err, errlen);
    close(con_fd);
    if (hvc_fd >= 0)
        close(hvc_fd);
    strv_free(&argv);
    if (vm->qemu_pid < 0) {
        vm_pool_uncharge(vm);
        free(sock);
        free(qmp_path);
        return -1;
    }
    vm->pidfd = (int)syscall(SYS_pidfd_open, vm->qemu_pid, 0);
    char qerr[512];
    vm->qmp = qmp_connect(qmp_path, now_ns() + 15000000000LL, vm->pidfd, qerr, sizeof qerr);
    free(qmp_path);
    if (!vm->qmp) {
        free(sock);
        vm_reap_qemu(vm, 1000);
        return fail_boot(vm, err, errlen, "QEMU failed to start: %s", qerr);
    }
    int fd = connect_unix(sock);
    free(sock);
    if (fd < 0)
        return fail_boot(vm, err, errlen, "cannot connect to the agent port: %s", strerror(errno));
    agent_conn_init(&vm->agent, fd, vm->pidfd);
    for (int i = 0; i < vm->nic_slots && i < VM_MAX_NICS; i++) {
        char name[16];
        snprintf(name, sizeof name, "nic%d.sock", i);
        char *path = vm_sock_path(vm, name);
        int nfd = connect_unix(path);
        free(path);
        if (nfd < 0 || (vm->nic_port[i] = sw_add_port(nfd, vm->name)) < 0) {
            if (nfd >= 0)
                close(nfd);
            return fail_boot(vm, err, errlen, "cannot connect NIC slot %d: %s", i,
                             strerror(errno));
        }
    }
    return 0;
}

/* Resolves the profile for a fresh boot: checks the kernel (its version picks the
 * machine) and disks, then makes the command line and the initrd (NULL when the boot
 * has none). Both are malloc'd; -1 with err on failure. */
static int prepare_boot(struct vm *vm, char **cmdline, char **initrd, char *err, size_t errlen)
{
    const struct profile *p = vm->profile;
    if (!file_exists(p->kernel)) {
        snprintf(err, errlen, "missing kernel: %s", p->kernel);
        return -1;
    }
    char ver[128];
    if (kernel_read_version(p->kernel, ver, sizeof ver, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < p->n_disks; i++)
        if (p->disks[i].path && !file_exists(p->disks[i].path)) {
            snprintf(err, errlen, "missing disk image: %s", p->disks[i].path);
            return -1;
        }
    if (ensure_vm_dir(vm, err, errlen) < 0)
        return -1;
    if (vm_disks_prepare(vm, err, errlen) < 0)
        return -1;
    *cmdline = vm_resolve_cmdline(vm, err, errlen);
    if (!*cmdline)
        return -1;
    *initrd = vm_assemble_initrd(vm, err, errlen);
    if (!*initrd && (p->initrd || vm_injects_agent(vm) || vm->opts.n_files)) {
        free(*cmdline);
        return -1;
    }
    choose_machine(vm, ver);
    return 0;
}

int vm_console_argv(struct vm *vm, int with_agent, struct strv *argv, char *err, size_t errlen)
{
    vm->no_agent = !with_agent;
    char *cmdline, *initrd;
    if (prepare_boot(vm, &cmdline, &initrd, err, errlen) < 0)
        return -1;
    /* `provium console` forks QEMU itself: it inherits the directory for socket paths */
    if (vm->dir_fd >= 0)
        fcntl(vm->dir_fd, F_SETFD, 0);
    build_argv(vm, argv, initrd, cmdline, 0, 1, -1, -1);
    free(initrd);
    free(cmdline);
    return 0;
}

int vm_boot_start(struct vm *vm, char *err, size_t errlen)
{
    char *cmdline, *initrd;
    if (prepare_boot(vm, &cmdline, &initrd, err, errlen) < 0)
        return -1;
    vm->boot_t0 = now_ns();
    vm->no_hvc = 0;
    free(vm->mem_path);
    vm->mem_path = NULL;
    vm->mem_mapped = 0;
    vm->power_button_ns = 0;
    int rc = start_qemu(vm, initrd, cmdline, 0, err, errlen);
    free(initrd);
    free(cmdline);
    return rc;
}

int vm_boot(struct vm *vm, char *err, size_t errlen)
{
    if (vm_boot_start(vm, err, errlen) < 0)
        return -1;
    return vm_boot_finish(vm, err, errlen);
}

int vm_boot_finish(struct vm *vm, char *err, size_t errlen)
{
    const struct profile *p = vm->profile;
    int64_t t0 = vm->boot_t0;
    double timeout = vm->opts.agent_timeout > 0   ? vm->opts.agent_timeout
                     : p->agent_boot_timeout > 0 ? p->agent_boot_timeout
                     : !strcmp(vm->env->accel, "kvm") ? 30
                                                     : 120;
    int64_t deadline = t0 + (int64_t)(timeout * 1e9);
    uint32_t proto = 0;
    for (;;) {
        int64_t slice = now_ns() + 250000000LL;
        if (slice > deadline)
            slice = deadline;
        if (vm->env->deadline_ns && slice > vm->env->deadline_ns)
            slice = vm->env->deadline_ns;
        int rc = agent_wait_hello(&vm->agent, slice, &proto);
        if (rc == AGENT_OK)
            break;
        if (rc == AGENT_DEAD)
            return fail_boot(vm, err, errlen, "VM %s: QEMU exited before the agent answered",
                             vm->name);
        if (rc == AGENT_PROTO)
            return fail_boot(vm, err, errlen, "VM %s: garbage on the agent port", vm->name);
        if (console_shows_panic(vm))
            return fail_boot(vm, err, errlen, "VM %s: the guest kernel panicked", vm->name);
        if (vm->env->deadline_ns && now_ns() >= vm->env->deadline_ns)
            return fail_boot(vm, err, errlen, "test timeout exceeded");
        if (now_ns() >= deadline)
            return fail_boot(vm, err, errlen,
                             "VM %s: agent did not answer within %gs (agent_boot_timeout)",
                             vm->name, timeout);
    }
    if (proto != WIRE_PROTOCOL_VERSION)
        return fail_boot(vm, err, errlen, "VM %s: agent speaks protocol %u, expected %u",
                         vm->name, proto, WIRE_PROTOCOL_VERSION);
    vm->agent.qmp = vm->qmp; /* from now on the port closing means the agent exited */
    vm->agent.health = guest_health;
    vm->agent.health_ud = vm;
    sync_guest(vm, now_ns() + 10000000000LL, 1);
    vm->boot_ns = now_ns() - t0;
    vm->state = VM_BOOTED;
    return 0;
}


/* Starts a fresh QEMU from a snapshot file. The profile, memory, CPUs and machine come
 * from the snapshot's metadata; the VM must be created or shut down. */
int vm_reset(struct vm *vm, char *err, size_t errlen)
{
    /* QEMU runs with -no-reboot (a guest reboot ends it); for this one reset, reset */
    json_t *r = qmp_exec(vm->qmp, "set-action", json_pack("{s:s}", "reboot", "reset"),
                         now_ns() + 10000000000LL, err, errlen);
    if (!r)
        return -1;
    json_decref(r);
    int64_t t0 = now_ns();
    r = qmp_exec(vm->qmp, "system_reset", NULL, now_ns() + 10000000000LL, err, errlen);
    if (!r)
        return -1;
    json_decref(r);
    vm_disks_power_on(vm); /* a power-cut mediated disk works again */
    /* a new agent will say hello on the same port: a new connection for our side, so
     * handles and processes of the old one are gone */
    int fd = vm->agent.fd;
    vm->agent.fd = -1;
    agent_conn_close(&vm->agent);
    agent_conn_init(&vm->agent, fd, vm->pidfd);
    vm->boot_t0 = t0;
    vm->state = VM_BOOTED;
    int rc = vm_boot_finish(vm, err, errlen);
    char e2[256];
    r = rc == 0 ? qmp_exec(vm->qmp, "set-action", json_pack("{s:s}", "reboot", "shutdown"),
                           now_ns() + 10000000000LL, e2, sizeof e2)
                : NULL;
    json_decref(r);
    return rc;
}

int vm_set_running(struct vm *vm, int run, char *err, size_t errlen)
{
    json_t *r = qmp_exec(vm->qmp, run ? "cont" : "stop", NULL, now_ns() + 10000000000LL, err,
                         errlen);
    if (!r)
        return -1;
    json_decref(r);
    vm->state = run ? VM_BOOTED : VM_PAUSED;
    return 0;
}

/* QEMU for a restore, with the profile's command line and initrd although the migration
 * brings the running guest: a later vm:reset() reboots from them (QEMU's firmware loads
 * the kernel and initrd it was started with), so it gets the profile's boot — the
 * original boot's own options (files, cmdline appends) are not in the snapshot. */
static int start_restored_qemu(struct vm *vm, char *err, size_t errlen)
{
    const struct profile *p = vm->profile;
    char *cmdline = vm_resolve_cmdline(vm, err, errlen), *initrd = NULL;
    int rc = -1;
    if (!cmdline)
        goto done;
    initrd = vm_assemble_initrd(vm, err, errlen);
    if (!initrd && (p->initrd || vm_injects_agent(vm)))
        goto done;
    rc = start_qemu(vm, initrd, cmdline, 1, err, errlen);
done:
    free(initrd);
    free(cmdline);
    return rc;
}

static int load_stream(struct vm *vm, const char *path, json_t *meta, void *ud, char *err,
                       size_t errlen)
{
    (void)ud;
    return vm_restore_stream(vm, path, meta, 1, err, errlen);
}

int vm_restore(struct vm *vm, const char *path, char *err, size_t errlen)
{
    free(vm->mem_path);
    vm->mem_path = NULL;
    vm->mem_mapped = 0;
    return vm_restore_with(vm, path, load_stream, NULL, err, errlen);
}

int vm_restore_with(struct vm *vm, const char *path, vm_load_fn load, void *ud, char *err,
                    size_t errlen)
{
    char merr[512];
    json_t *meta = snapshot_read_meta(path, merr, sizeof merr);
    if (!meta) {
        snprintf(err, errlen, "%s", merr);
        return -1;
    }
    const char *pname = json_string_value(json_object_get(meta, "profile"));
    const char *accel = json_string_value(json_object_get(meta, "accel"));
    const char *machine = json_string_value(json_object_get(meta, "machine"));
    const char *version = json_string_value(json_object_get(meta, "provium_version"));
    int protocol = (int)json_integer_value(json_object_get(meta, "protocol"));
    const struct profile *p = pname ? config_profile(vm->env->cfg, pname) : NULL;
    int rc = -1;
    if (!p)
        snprintf(err, errlen, "snapshot %s was made with profile '%s', which provium.toml does "
                 "not define", path, pname ? pname : "?");
    else if (!accel || strcmp(accel, vm->env->accel) != 0)
        snprintf(err, errlen, "snapshot %s was made under %s, this run uses %s", path,
                 accel ? accel : "?", vm->env->accel);
    else if (!version || strcmp(version, PROVIUM_VERSION) != 0 || protocol != WIRE_PROTOCOL_VERSION)
        snprintf(err, errlen, "snapshot %s was made by provium %s (protocol %d)", path,
                 version ? version : "?", protocol);
    else
        rc = 0;
    if (rc < 0) {
        json_decref(meta);
        return -1;
    }
    vm->profile = p;
    if (ensure_vm_dir(vm, err, errlen) < 0 ||
        vm_disks_from_meta(vm, json_object_get(meta, "disks"), err, errlen) < 0 ||
        snapshot_extract_disks(vm, path, meta, err, errlen) < 0) {
        json_decref(meta);
        return -1;
    }
    vm->memory = (uint64_t)json_integer_value(json_object_get(meta, "memory"));
    if (json_is_integer(json_object_get(meta, "nic_slots")))
        vm->nic_slots = (int)json_integer_value(json_object_get(meta, "nic_slots"));
    vm->cpus = (int)json_integer_value(json_object_get(meta, "cpus"));
    snprintf(vm->machine, sizeof vm->machine, "%s", machine ? machine : "microvm");
    vm->no_hvc = !json_is_true(json_object_get(meta, "hvc")); /* same devices as saved */
    vm->power_button_ns = 0;
    if (!file_exists(p->kernel)) {
        snprintf(err, errlen, "missing kernel: %s", p->kernel);
        json_decref(meta);
        return -1;
    }
    int64_t t0 = now_ns();
    if (start_restored_qemu(vm, err, errlen) < 0) {
        json_decref(meta);
        return -1;
    }
    rc = load(vm, path, meta, ud, merr, sizeof merr);
    json_decref(meta);
    if (rc < 0)
        return fail_boot(vm, err, errlen, "restoring %s: %s", path, merr);
    if (rc > 0)
        return 0;
    /* the agent does not know it moved: ask it something, then fix its clock */
    vm->agent.qmp = vm->qmp;
    vm->agent.health = guest_health;
    vm->agent.health_ud = vm;
    struct wire_writer w = {0};
    uint32_t id = agent_next_id(&vm->agent);
    wire_begin(&w, WIRE_PING, id);
    wire_finish(&w);
    int gerr = 0;
    rc = agent_simple(&vm->agent, &w, id, now_ns() + 30000000000LL, &gerr, NULL, NULL, NULL);
    wire_writer_free(&w);
    if (rc != AGENT_OK)
        return fail_boot(vm, err, errlen, "restoring %s: the agent did not answer", path);
    sync_guest(vm, now_ns() + 10000000000LL, 0);
    vm->boot_ns = now_ns() - t0;
    vm->state = VM_BOOTED;
    return 0;
}
