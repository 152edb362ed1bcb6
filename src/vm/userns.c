/* userns.c - a user namespace for the QEMU of a non-root mapped restore (issue 14).
 *
 * QEMU 7.2's memory-backend-file opens mem-path O_RDWR even with share=off, and the
 * published template RAM (`<snap>.hot/ram`) is mode 0400 and must stay so. Root passes
 * by CAP_DAC_OVERRIDE. A non-root QEMU gets the same over its own files only: it runs
 * in a new user namespace where our uid and gid are 0, and a capability there counts
 * for inodes whose owner uid and gid are both mapped, i.e. ours. It still maps the file
 * MAP_PRIVATE (share=off) and never writes it. Nothing else changes for the host: the
 * process keeps our uid outside the namespace, so kill(), /proc/PID reads and the
 * sockets it creates work as before.
 *
 * Whether namespaces can be made (sysctl, containers, seccomp) is probed once, in a
 * child, so a restore never starts a QEMU that would fail half set up. */
#include "userns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int saved = errno;
    close(fd);
    errno = saved;
    return w == (ssize_t)n ? 0 : -1;
}

int userns_enter(unsigned uid, unsigned gid)
{
    char map[64];
    if (unshare(CLONE_NEWUSER) < 0)
        return -1;
    if (write_file("/proc/self/setgroups", "deny") < 0 && errno != ENOENT)
        return -1;
    snprintf(map, sizeof map, "0 %u 1", uid);
    if (write_file("/proc/self/uid_map", map) < 0)
        return -1;
    snprintf(map, sizeof map, "0 %u 1", gid);
    if (write_file("/proc/self/gid_map", map) < 0)
        return -1;
    return 0;
}

int userns_enter_child(unsigned uid, unsigned gid, pid_t parent)
{
    if (userns_enter(uid, gid) < 0) {
        dprintf(2, "provium: user namespace: %s\n", strerror(errno));
        return -1;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* the credential change cleared it */
    return getppid() == parent ? 0 : -1;
}

/* The probe child reports the errno of the step that failed (0: all done) on a pipe. */
int userns_available(char *why, size_t whylen)
{
    static int cached = -1;
    static char cached_why[160];
    if (cached < 0) {
        int p[2];
        cached = 0;
        if (pipe2(p, O_CLOEXEC) < 0) {
            snprintf(cached_why, sizeof cached_why, "user namespaces unavailable: pipe: %s",
                     strerror(errno));
            goto done;
        }
        unsigned uid = geteuid(), gid = getegid();
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            int e = userns_enter(uid, gid) < 0 ? errno : 0;
            if (write(p[1], &e, sizeof e) < 0)
                _exit(2);
            _exit(e ? 1 : 0);
        }
        close(p[1]);
        int e = EIO, st = 0;
        if (pid < 0)
            e = errno;
        else if (read(p[0], &e, sizeof e) != sizeof e)
            e = EIO;
        close(p[0]);
        if (pid > 0)
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        if (pid > 0 && e == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
            cached = 1;
        else
            snprintf(cached_why, sizeof cached_why, "user namespaces unavailable: %s",
                     strerror(e ? e : EIO));
    }
done:
    if (!cached)
        snprintf(why, whylen, "%s", cached_why);
    return cached;
}
