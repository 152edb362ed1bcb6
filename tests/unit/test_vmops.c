/* test_vmops.c - the host side of guest operations (src/vm/vm_ops.c, agentconn.c)
 * against the real agent, built for the host and served over a socketpair. */
#include "tests/unit/agent_harness.h"
#include "tests/unit/testlib.h"
#include "util/util.h"
#include "vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void exec_forms(void)
{
    char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 5", NULL};
    struct exec_req req = {.argv = argv};
    struct exec_res res;
    int gerr = 0;
    CHECK_EQ_INT(vm_exec(vm, &req, &res, &gerr), VMOP_OK);
    CHECK_EQ_INT(res.code, 5);
    CHECK_STR_EQ(res.out, "out\n");
    CHECK_STR_EQ(res.err, "err\n");
    exec_res_free(&res);
    /* 2 MiB of stdin through cat */
    size_t n = 2u << 20;
    char *blob = malloc(n);
    for (size_t i = 0; i < n; i++)
        blob[i] = (char)(i * 7);
    char *cat[] = {"cat", NULL};
    struct exec_req r2 = {.argv = cat, .stdin_data = blob, .stdin_len = n, .has_stdin = 1};
    CHECK_EQ_INT(vm_exec(vm, &r2, &res, &gerr), VMOP_OK);
    CHECK(res.out_len == n && memcmp(res.out, blob, n) == 0);
    exec_res_free(&res);
    free(blob);
}

static void files_roundtrip(void)
{
    size_t n = (9u << 20) + 123;
    char *blob = malloc(n);
    for (size_t i = 0; i < n; i++)
        blob[i] = (char)(i * 13 + (i >> 11));
    char *host = path_join(dir, "src.bin");
    write_file_atomic(host, blob, n, 0644);
    char *guest = path_join(dir, "dst.bin");
    int fd = open(host, O_RDONLY);
    int gerr = 0;
    CHECK_EQ_INT(vm_write_file(vm, guest, NULL, 0, fd, 0600, 0, &gerr), VMOP_OK);
    close(fd);
    char *back;
    size_t len;
    CHECK_EQ_INT(vm_read_file(vm, guest, &back, &len, &gerr), VMOP_OK);
    CHECK(len == n && memcmp(back, blob, n) == 0);
    free(back);
    struct vm_stat st;
    CHECK_EQ_INT(vm_stat_path(vm, guest, &st, &gerr), VMOP_OK);
    CHECK_EQ_INT(st.perm, 0600);
    CHECK(st.size == n);
    CHECK_EQ_INT(vm_read_file(vm, "/definitely/not/here", &back, &len, &gerr), VMOP_GUEST);
    CHECK_EQ_INT(gerr, 2);
    /* from memory, small */
    CHECK_EQ_INT(vm_write_file(vm, guest, "tiny", 4, -1, 0644, 1, &gerr), VMOP_OK);
    CHECK_EQ_INT(vm_read_file(vm, guest, &back, &len, &gerr), VMOP_OK);
    CHECK(len == 4 && !memcmp(back, "tiny", 4));
    free(back);
    free(blob);
    free(host);
    free(guest);
}

/* A source that ends exactly when the send queue is full must still be finished:
 * the loop has to wake for more input even with nothing queued. */
static void stream_ends_at_high_water(void)
{
    size_t n = 4u << 20;
    char *blob = calloc(1, n);
    char *host = path_join(dir, "edge.bin");
    write_file_atomic(host, blob, n, 0644);
    char *guest = path_join(dir, "edge.out");
    int fd = open(host, O_RDONLY);
    int gerr = 0;
    CHECK_EQ_INT(vm_write_file(vm, guest, NULL, 0, fd, 0644, 0, &gerr), VMOP_OK);
    close(fd);
    struct vm_stat st;
    CHECK_EQ_INT(vm_stat_path(vm, guest, &st, &gerr), VMOP_OK);
    CHECK(st.size == n);
    free(blob);
    free(host);
    free(guest);
}

/* File handles: bigger-than-a-chunk reads and writes are split and joined again, EOF
 * is an empty read, errors come back as guest errnos. */
static void handles(void)
{
    char *path = path_join(dir, "handle.bin");
    uint32_t h = 0;
    int gerr = 0;
    CHECK_EQ_INT(vm_open_file(vm, path, WIRE_OPEN_READ, 0644, &h, &gerr), VMOP_GUEST);
    CHECK_EQ_INT(gerr, ENOENT);
    CHECK_EQ_INT(vm_open_file(vm, path, 0, 0644, &h, &gerr), VMOP_GUEST);
    CHECK_EQ_INT(gerr, EINVAL);
    CHECK_EQ_INT(vm_open_file(vm, path, WIRE_OPEN_READ | WIRE_OPEN_WRITE | WIRE_OPEN_CREATE,
                              0600, &h, &gerr), VMOP_OK);
    CHECK(h != 0);
    size_t n = 3 * WIRE_CHUNK + 5;
    char *blob = malloc(n);
    for (size_t i = 0; i < n; i++)
        blob[i] = (char)(i * 31 + (i >> 9));
    size_t written = 0;
    CHECK_EQ_INT(vm_hwrite(vm, h, blob, n, &written, &gerr), VMOP_OK);
    CHECK(written == n);
    uint64_t pos = 1;
    CHECK_EQ_INT(vm_hseek(vm, h, 0, WIRE_SEEK_SET, &pos, &gerr), VMOP_OK);
    CHECK_EQ_U64(pos, 0);
    char *back;
    size_t len;
    CHECK_EQ_INT(vm_hread(vm, h, 10, &back, &len, &gerr), VMOP_OK);
    CHECK(len == 10 && !memcmp(back, blob, 10));
    free(back);
    CHECK_EQ_INT(vm_hread(vm, h, n, &back, &len, &gerr), VMOP_OK); /* up to EOF */
    CHECK(len == n - 10 && !memcmp(back, blob + 10, n - 10));
    free(back);
    CHECK_EQ_INT(vm_hread(vm, h, 100, &back, &len, &gerr), VMOP_OK);
    CHECK_EQ_INT(len, 0);
    free(back);
    CHECK_EQ_INT(vm_hseek(vm, h, -5, WIRE_SEEK_END, &pos, &gerr), VMOP_OK);
    CHECK_EQ_U64(pos, n - 5);
    CHECK_EQ_INT(vm_hseek(vm, h, 0, WIRE_SEEK_CUR, &pos, &gerr), VMOP_OK);
    CHECK_EQ_U64(pos, n - 5);
    CHECK_EQ_INT(vm_hclose(vm, h, &gerr), VMOP_OK);
    CHECK_EQ_INT(vm_hclose(vm, h, &gerr), VMOP_GUEST);
    CHECK_EQ_INT(gerr, EBADF);
    CHECK_EQ_INT(vm_hread(vm, h, 1, &back, &len, &gerr), VMOP_GUEST);
    CHECK_EQ_INT(gerr, EBADF);
    struct vm_stat st;
    CHECK_EQ_INT(vm_stat_path(vm, path, &st, &gerr), VMOP_OK);
    CHECK_EQ_INT(st.perm, 0600);
    CHECK(st.size == n);
    /* a close that does not wait: its answer is skipped by the next request */
    CHECK_EQ_INT(vm_open_file(vm, path, WIRE_OPEN_READ, 0, &h, &gerr), VMOP_OK);
    vm_hclose_nowait(vm, h);
    CHECK_EQ_INT(vm_stat_path(vm, path, &st, &gerr), VMOP_OK);
    CHECK_EQ_INT(vm_hclose(vm, h, &gerr), VMOP_GUEST);
    CHECK_EQ_INT(gerr, EBADF);
    free(blob);
    free(path);
}

/* Each connection has its own serial: handles of one never pass for another's. */
static void connection_serials(void)
{
    struct agent_conn a, b;
    agent_conn_init(&a, -1, -1);
    agent_conn_init(&b, -1, -1);
    CHECK(a.serial != 0 && b.serial != a.serial);
    CHECK(vm->agent.serial != 0 && vm->agent.serial != a.serial && vm->agent.serial != b.serial);
}

static void dead_agent(void)
{
    kill(agent_pid, SIGKILL);
    waitpid(agent_pid, NULL, 0);
    char *argv[] = {"true", NULL};
    struct exec_req req = {.argv = argv};
    struct exec_res res;
    int gerr = 0;
    CHECK_EQ_INT(vm_exec(vm, &req, &res, &gerr), VMOP_DEAD);
    CHECK_EQ_INT(vm->state, VM_DEAD);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    const char *bin = argc > 1 ? argv[1] : getenv("PROVIUM_AGENT_BIN");
    if (!bin) {
        fprintf(stderr, "usage: test_vmops AGENT_HOST_BINARY\n");
        return 2;
    }
    dir = make_scratch_dir("provium-test-vmops");
    strcpy(env.accel, "tcg");
    env.scratch = dir;
    start_agent(bin);
    RUN(exec_forms);
    RUN(files_roundtrip);
    RUN(stream_ends_at_high_water);
    RUN(handles);
    RUN(connection_serials);
    RUN(dead_agent);
    vm->qemu_pid = -1;
    agent_conn_close(&vm->agent);
    free(vm->name);
    free(vm);
    rm_rf(dir);
    free(dir);
    return TEST_SUMMARY();
}
