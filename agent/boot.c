/* boot.c - what the agent does first when the kernel starts it as PID 1.
 *
 * The image's initrd gets an overlay with /sbin/provium-agent and the kernel boots with
 * rdinit=/sbin/provium-agent, so before anything else runs the agent mounts the basic
 * filesystems, mixes the boot option rng_seed into the RNG, loads the virtio modules
 * the kernel lacks (and the ACPI power button's; listed in load order in
 * /.provium/modules.list, a private tree that needs nothing of the image) and then hands PID 1 to the image's own init if it has
 * one: PID 1 execs that init, and a forked child carries on as the agent. Without an
 * init the agent stays PID 1 and reaps orphans itself (the loop's waitpid(-1) does it).
 * If that init later switch_roots into a real root filesystem, the agent follows it there
 * (boot_follow_pid1_root). Problems are reported on /dev/console, one line each, and
 * never stop the boot. */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* where the overlay lists its modules (image/overlay.h); the second is an older overlay's */
static const char *const modules_lists[] = {"/.provium/modules.list", "/etc/provium/modules.list"};
#define INIT_PARAM "provium.init="
#define RNG_SEED_PARAM "provium.rng_seed="
#define ROOT_WAIT_PARAM "provium.root_wait="
#define ROOT_WAIT_DEFAULT_S 60
#define RAMFS_MAGIC 0x858458f6 /* linux/magic.h, which musl-gcc cannot see */
#define TMPFS_MAGIC 0x01021994
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- mounts ---- */

/* A directory is a mount point when it lives on another device than "/". */
static int is_mounted(const char *dir)
{
    struct stat d, root;
    if (stat(dir, &d) < 0 || stat("/", &root) < 0)
        return 0;
    return d.st_dev != root.st_dev;
}

static void mount_one(const char *fstype, const char *dir, unsigned long flags, const char *data)
{
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        agent_log("mkdir %s: %s", dir, strerror(errno));
        return;
    }
    if (is_mounted(dir))
        return;
    if (mount(fstype, dir, fstype, flags, data) < 0 && errno != EBUSY)
        agent_log("mount %s on %s: %s", fstype, dir, strerror(errno));
}

static void mount_basics(void)
{
    mount_one("proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_one("sysfs", "/sys", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_one("devtmpfs", "/dev", MS_NOSUID, "mode=0755");
    mount_one("tmpfs", "/tmp", MS_NOSUID | MS_NODEV, "mode=1777");
}

/* ---- standard fds and the console ---- */

/* The kernel only gives PID 1 a console when the initrd has /dev/console; make sure fds
 * 0-2 are open either way, so no later open() lands on them by accident. */
void boot_ensure_std_fds(const char *dev)
{
    for (;;) {
        int fd = open(dev, O_RDWR | O_NOCTTY);
        if (fd < 0)
            fd = open("/dev/null", O_RDWR);
        if (fd < 0)
            return;
        if (fd > 2) {
            close(fd);
            return;
        }
    }
}

/* Whatever fds we inherited beyond 0-2 are not ours to pass on to commands. */
void boot_cloexec_inherited_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        if (fd > 2 && fd != dirfd(d))
            fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
    }
    closedir(d);
}

static void open_console_log(void)
{
    int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
    agent.log_fd = fd >= 0 ? fd : 2;
}

/* ---- kernel modules ---- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = 0;
    return s;
}

static void load_module(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        agent_log("module %s: %s", path, strerror(errno));
        return;
    }
    if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
        agent_log("module %s: %s", path, strerror(errno));
    close(fd);
}

static void load_modules_from(const char *list)
{
    FILE *f = fopen(list, "re");
    if (!f) {
        if (errno != ENOENT)
            agent_log("%s: %s", list, strerror(errno));
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        char *path = trim(line);
        if (*path && *path != '#')
            load_module(path);
    }
    free(line);
    fclose(f);
}

static void load_modules(void)
{
    for (size_t i = 0; i < sizeof(modules_lists) / sizeof(modules_lists[0]); i++)
        load_modules_from(modules_lists[i]);
}

/* ---- handing PID 1 to the image's init ---- */

/* The value of `param` ("provium.init=") on the kernel command line, or NULL. Returns a
 * malloc'd copy. */
static char *cmdline_value(const char *param)
{
    char buf[4096];
    int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return NULL;
    buf[n] = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save))
        if (strncmp(tok, param, strlen(param)) == 0)
            return strdup(tok + strlen(param));
    return NULL;
}

static int is_executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Never "hand over" to ourselves, whatever the image calls us. */
static int is_this_binary(const char *path)
{
    struct stat a, b;
    return stat(path, &a) == 0 && stat("/proc/self/exe", &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

/* The init to run, or NULL when the agent should stay PID 1. */
static char *choose_init(void)
{
    char *init = cmdline_value(INIT_PARAM);
    if (init) {
        if (is_executable_file(init) && !is_this_binary(init))
            return init;
        agent_log("provium.init=%s is not an executable file; staying PID 1", init);
        free(init);
        return NULL;
    }
    const char *candidates[] = {"/init", "/sbin/init"};
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
        if (is_executable_file(candidates[i]) && !is_this_binary(candidates[i]))
            return strdup(candidates[i]);
    return NULL;
}

/* PID 1 must never exit: if the init cannot run, it just reaps children forever. */
static void become_init(char *init)
{
    char *argv[] = {init, NULL};
    execv(init, argv);
    agent_log("exec %s: %s", init, strerror(errno));
    for (;;)
        if (wait(NULL) < 0 && errno == ECHILD)
            sleep(1);
}

/* Returns in the agent: the forked child, or PID 1 itself when fork fails. */
static void hand_over_pid1(char *init)
{
    pid_t pid = fork();
    if (pid < 0) {
        agent_log("fork: %s; staying PID 1 without %s", strerror(errno), init);
        return;
    }
    if (pid > 0)
        become_init(init);
    setsid();
    /* orphans of our sessions come back to us, so nothing depends on init reaping */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
}

/* ---- following PID 1 into the real root ---- */

/* /proc as the agent first mounted it. An initramfs that switch_roots moves this mount
 * into the new root and deletes the old files, but the fd keeps reaching it. */
static int proc_fd = -1;

static int pid1_root_differs(void)
{
    struct stat init_root, ours;
    return fstatat(proc_fd, "1/root", &init_root, 0) == 0 && stat("/", &ours) == 0 &&
           (init_root.st_dev != ours.st_dev || init_root.st_ino != ours.st_ino);
}

/* A distribution initrd mounts the real root filesystem and switch_roots into it: PID 1
 * chroots, the agent would stay behind in the emptied initramfs. So before each request
 * the agent compares its root with PID 1's and, when they differ, chroots to PID 1's
 * (through /proc/1/root): commands, files and streams then act on the real system. */
void boot_follow_pid1_root(void)
{
    if (proc_fd < 0)
        return;
    if (!pid1_root_differs())
        return;
    if (fchdir(proc_fd) < 0 || chroot("1/root") < 0) {
        agent_log("following PID 1 into its new root: %s", strerror(errno));
        close(proc_fd);
        proc_fd = -1; /* say it once; the agent goes on where it is */
    }
    if (chdir("/") < 0)
        agent_log("chdir /: %s", strerror(errno));
}

/* When the new root's init is systemd, wait (until deadline) for its manager socket, so
 * that `systemctl` works from the first command on. */
static void wait_for_systemd_manager(const struct stat *initramfs_init, int64_t deadline)
{
    struct stat now;
    for (int i = 0; i < 100 && fstatat(proc_fd, "1/exe", &now, 0) == 0 &&
                    now.st_dev == initramfs_init->st_dev && now.st_ino == initramfs_init->st_ino;
         i++)
        usleep(20 * 1000); /* run-init is about to exec the real init */
    char exe[256];
    ssize_t n = readlinkat(proc_fd, "1/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = 0;
    const char *base = strrchr(exe, '/');
    if (strcmp(base ? base + 1 : exe, "systemd") != 0)
        return;
    struct stat st;
    while (fstatat(proc_fd, "1/root/run/systemd/private", &st, 0) < 0 && now_ms() < deadline)
        usleep(20 * 1000);
}

/* An init in an initramfs that is given root= will mount that root and switch_root into
 * it; the host's first command must see the real system, so the handshake waits for the
 * switch (provium.root_wait=SECONDS, default 60, 0 = not at all). A custom init that
 * ignores root= only delays the handshake by that long. */
static void wait_for_root_switch(void)
{
    struct statfs fs;
    char *root = cmdline_value("root=");
    char *wait = cmdline_value(ROOT_WAIT_PARAM);
    long secs = wait ? strtol(wait, NULL, 10) : ROOT_WAIT_DEFAULT_S;
    int in_initramfs = statfs("/", &fs) == 0 &&
                       (fs.f_type == RAMFS_MAGIC || fs.f_type == TMPFS_MAGIC);
    struct stat initramfs_init;
    if (root && *root && in_initramfs && secs > 0 && fstatat(proc_fd, "1/exe", &initramfs_init, 0) == 0) {
        int64_t deadline = now_ms() + secs * 1000;
        while (!pid1_root_differs() && now_ms() < deadline)
            usleep(20 * 1000);
        if (!pid1_root_differs())
            agent_log("root=%s given but PID 1 did not switch root within %ld s; answering anyway",
                      root, secs);
        else
            wait_for_systemd_manager(&initramfs_init, deadline);
    }
    free(root);
    free(wait);
}

static void watch_pid1_root(void)
{
    proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (proc_fd >= 0)
        wait_for_root_switch();
    boot_follow_pid1_root();
}

/* ---- the boot option rng_seed ---- */

/* provium.rng_seed=N (vm:boot{rng_seed=}): written to /dev/urandom, which mixes it into
 * the pool without crediting any entropy, so it changes what the guest draws but never
 * makes it predictable. The kernel log says so (dmesg), for the host to check. */
static void mix_rng_seed(void)
{
    char *v = cmdline_value(RNG_SEED_PARAM);
    if (!v)
        return;
    char *end;
    errno = 0;
    long long seed = strtoll(v, &end, 10);
    if (errno || end == v || *end) {
        agent_log(RNG_SEED_PARAM "%s is not an integer; ignored", v);
        free(v);
        return;
    }
    free(v);
    unsigned char bytes[8];
    for (int i = 0; i < 8; i++)
        bytes[i] = (unsigned char)((unsigned long long)seed >> (8 * i));
    int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, bytes, sizeof bytes) != (ssize_t)sizeof bytes) {
        agent_log("/dev/urandom: %s; rng_seed not mixed in", strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    close(fd);
    fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        dprintf(fd, "<6>provium-agent: rng_seed %lld mixed into the guest RNG\n", seed);
        close(fd);
    }
}

void boot_guest(void)
{
    mount_basics();
    boot_ensure_std_fds("/dev/console");
    boot_cloexec_inherited_fds();
    open_console_log();
    mix_rng_seed();
    load_modules();
    if (getpid() != 1) /* started by some other init: the PID-1 part is not ours */
        return;
    char *init = choose_init();
    if (init)
        hand_over_pid1(init);
    free(init);
    if (getpid() != 1)
        watch_pid1_root();
}

/* ---- environment for commands ---- */

void boot_default_env(void)
{
    setenv("PATH", DEFAULT_PATH, 0);
    setenv("TERM", "linux", 0);
    /* the kernel hands PID 1 HOME=/, which is not a home directory */
    const char *home = getenv("HOME");
    if (!home || (agent.guest_mode && strcmp(home, "/") == 0))
        setenv("HOME", "/root", 1);
}
