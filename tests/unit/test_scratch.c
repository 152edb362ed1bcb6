/* test_scratch.c - scratch directories record their owner and a later run removes
 * those whose owner is gone (issue 9, defect 1); the watchdog's group kill spares what
 * it is told to and never reaches outside the worker's group. */
#include "run/watchdog.h"
#include "tests/unit/testlib.h"
#include "util/util.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *root;

/* A scratch directory whose owner process has exited. */
static char *dead_owners_dir(void)
{
    int p[2];
    if (pipe(p) < 0)
        return NULL;
    pid_t pid = fork();
    if (pid == 0) {
        char *d = make_scratch_dir("provium");
        dprintf(p[1], "%s", d ? d : "");
        _exit(0);
    }
    close(p[1]);
    char path[4096] = "";
    ssize_t n = read(p[0], path, sizeof path - 1);
    close(p[0]);
    waitpid(pid, NULL, 0);
    path[n > 0 ? n : 0] = 0;
    return path[0] ? xstrdup(path) : NULL;
}

static void owner_recorded(void)
{
    char *d = make_scratch_dir("provium");
    CHECK(d != NULL);
    char *owner = path_join(d, SCRATCH_OWNER_FILE);
    size_t len = 0;
    char *text = read_file(owner, &len);
    char *want = xasprintf("%s\n", owner_tag());
    CHECK_STR_EQ(text, want);
    struct stat st;
    CHECK(stat(d, &st) == 0 && (st.st_mode & 0777) == 0700);
    free(want);
    free(text);
    free(owner);
    rm_rf(d);
    free(d);
}

static void sweep(void)
{
    char *mine = make_scratch_dir("provium");
    char *dead = dead_owners_dir();
    CHECK(dead != NULL && file_exists(dead));
    char *unowned = path_join(root, "provium-abcdef"); /* made before owners were recorded */
    mkdir(unowned, 0700);
    char *other = dead_owners_dir(); /* renamed away from the <prefix>-XXXXXX shape */
    char *renamed = path_join(root, "provium-kept-by-name");
    CHECK(other && rename(other, renamed) == 0);
    CHECK_EQ_INT(scratch_sweep_stale("provium"), 1);
    CHECK(!file_exists(dead));
    CHECK(file_exists(mine));
    CHECK(file_exists(unowned));
    CHECK(file_exists(renamed));
    CHECK_EQ_INT(scratch_sweep_stale("provium"), 0);
    rm_rf(mine);
    rm_rf(unowned);
    rm_rf(renamed);
    free(mine);
    free(dead);
    free(unowned);
    free(other);
    free(renamed);
}

static int alive(pid_t pid)
{
    return kill(pid, 0) == 0;
}

/* A group leader with two children, one of them spared by its command line. */
static void group_kill(void)
{
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t leader = fork();
    if (leader == 0) {
        setpgid(0, 0);
        int in[2];
        if (pipe(in) < 0)
            _exit(1);
        pid_t spared = fork();
        if (spared == 0) { /* `read` is built in: one process, waiting on a silent pipe */
            dup2(in[0], 0);
            execlp("sh", "sh", "-c", "read x", "KEEP-ME", (char *)NULL);
            _exit(127);
        }
        pid_t victim = fork();
        if (victim == 0) {
            execlp("sleep", "sleep", "30", (char *)NULL);
            _exit(127);
        }
        usleep(200000); /* let both exec */
        int n = watchdog_kill_group(SIGKILL, "KEEP-ME");
        dprintf(p[1], "%d %d %d\n", n, (int)spared, (int)victim);
        waitpid(victim, NULL, 0);
        pause(); /* the parent ends this group */
        _exit(0);
    }
    close(p[1]);
    char line[128] = "";
    ssize_t r = read(p[0], line, sizeof line - 1);
    close(p[0]);
    line[r > 0 ? r : 0] = 0;
    int n = -1, spared = 0, victim = 0;
    CHECK_EQ_INT(sscanf(line, "%d %d %d", &n, &spared, &victim), 3);
    CHECK_EQ_INT(n, 1);
    usleep(100000);
    CHECK(spared > 0 && alive(spared));
    CHECK(victim > 0 && !alive(victim));
    CHECK(alive(getpid())); /* the test itself is not in that group */
    kill(-leader, SIGKILL);
    waitpid(leader, NULL, 0);
}

int main(void)
{
    char tmpl[] = "/tmp/provium-unit-scratch-XXXXXX";
    root = mkdtemp(tmpl);
    if (!root)
        return 1;
    setenv("TMPDIR", root, 1);
    RUN(owner_recorded);
    RUN(sweep);
    RUN(group_kill);
    rm_rf(root);
    return TEST_SUMMARY();
}
