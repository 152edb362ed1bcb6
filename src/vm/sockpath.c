/* sockpath.c - unix socket paths of any length: the path itself when it fits sun_path,
 * else through the directory's descriptor. See sockpath.h. */
#include "sockpath.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

size_t sockpath_max(void)
{
    struct sockaddr_un sa;
    return sizeof sa.sun_path - 1;
}

int sockpath_make(char *out, size_t cap, const char *dir, int dirfd, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n >= 0 && (size_t)n < cap && (size_t)n <= sockpath_max())
        return 0;
    if (dirfd >= 0) {
        n = snprintf(out, cap, "/proc/self/fd/%d/%s", dirfd, name);
        if (n >= 0 && (size_t)n < cap && (size_t)n <= sockpath_max())
            return 0;
    }
    if (cap)
        out[0] = 0;
    errno = ENAMETOOLONG;
    return -1;
}

int sockpath_connect(const char *path, int flags)
{
    struct sockaddr_un sa = {0};
    sa.sun_family = AF_UNIX;
    if (strlen(path) > sockpath_max()) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}
