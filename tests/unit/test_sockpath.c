/* test_sockpath.c - unix socket paths of any length (src/vm/sockpath.c, issue 9 defect
 * 6): a path that fits sun_path is used as it is, a longer one goes through the
 * directory's fd and still binds and connects, nothing is ever truncated. */
#include "tests/unit/testlib.h"
#include "vm/sockpath.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char base[] = "/tmp/provium-test-sockpath-XXXXXX";

/* A server socket bound at path (no truncation: the caller made it fit). */
static int listen_at(const char *path)
{
    struct sockaddr_un sa = {0};
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path)
        return -1;
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static void test_short_path_as_is(void)
{
    char out[128];
    CHECK_EQ_INT(sockpath_make(out, sizeof out, "/tmp/x", 7, "agent.sock"), 0);
    CHECK_STR_EQ(out, "/tmp/x/agent.sock");
    /* exactly the longest that fits: still the path itself */
    char dir[200];
    size_t max = sockpath_max();
    memset(dir, 'd', sizeof dir);
    dir[0] = '/';
    dir[max - strlen("/a.sock")] = 0;
    CHECK_EQ_INT(sockpath_make(out, sizeof out, dir, 7, "a.sock"), 0);
    CHECK_EQ_INT((int)strlen(out), (int)max);
    CHECK(!strncmp(out, dir, strlen(dir)));
}

/* A 50-character TMPDIR, the scratch directory and a 63-character VM name: too long
 * for sun_path, reached through the directory's fd - and it works end to end. */
static void test_long_path_through_fd(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", base, "t-123456789012345678901234567890123456789");
    CHECK(mkdir(dir, 0700) == 0);
    strcat(dir, "/provium-AbCdEf");
    CHECK(mkdir(dir, 0700) == 0);
    strcat(dir, "/vm-1-a23456789012345678901234567890123456789012345678901234567890123");
    CHECK(mkdir(dir, 0700) == 0);
    CHECK((int)strlen(dir) + (int)strlen("/nic0.sock") > (int)sockpath_max());
    int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    CHECK(dfd >= 0);
    char out[128];
    CHECK_EQ_INT(sockpath_make(out, sizeof out, dir, dfd, "nic0.sock"), 0);
    char want[64];
    snprintf(want, sizeof want, "/proc/self/fd/%d/nic0.sock", dfd);
    CHECK_STR_EQ(out, want);
    int srv = listen_at(out);
    CHECK_MSG(srv >= 0, "bind %s: %s", out, strerror(errno));
    char real[600];
    snprintf(real, sizeof real, "%s/nic0.sock", dir);
    struct stat st;
    CHECK_MSG(stat(real, &st) == 0 && S_ISSOCK(st.st_mode), "the socket is in the VM's dir");
    int c = sockpath_connect(out, SOCK_NONBLOCK);
    CHECK_MSG(c >= 0, "connect %s: %s", out, strerror(errno));
    /* the long path itself is refused, never cut short */
    errno = 0;
    CHECK_EQ_INT(sockpath_connect(real, 0), -1);
    CHECK_EQ_INT(errno, ENAMETOOLONG);
    /* without a directory fd a long path is an error too */
    errno = 0;
    CHECK_EQ_INT(sockpath_make(out, sizeof out, dir, -1, "nic0.sock"), -1);
    CHECK_EQ_INT(errno, ENAMETOOLONG);
    if (c >= 0)
        close(c);
    if (srv >= 0)
        close(srv);
    unlink(real);
    close(dfd);
}

int main(void)
{
    if (!mkdtemp(base))
        return 1;
    RUN(test_short_path_as_is);
    RUN(test_long_path_through_fd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    if (system(cmd) != 0)
        return 1;
    return TEST_SUMMARY();
}
