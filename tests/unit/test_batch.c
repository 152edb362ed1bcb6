/* test_batch.c - BATCH (vm:batch in one round trip): the host side (src/vm/vm_batch.c)
 * against the real agent (agent/batch.c), built for the host and served over a
 * socketpair, plus raw frames for what the host never sends: malformed envelopes and
 * requests, a type that cannot be batched, a second batch while one runs. */
#include "tests/unit/agent_harness.h"
#include "tests/unit/testlib.h"
#include "util/util.h"
#include "vm/vm_batch.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static char *path_in(const char *name) { return path_join(dir, name); }

/* Answer i: its errno (0 = ok, r then at its fields) and message. */
static int answer(struct vm_batch *b, uint32_t i, struct wire_reader *r, char *msg)
{
    int gerr = 0;
    int rc = vm_batch_answer(b, i, r, &gerr, msg, 256);
    return rc == VMOP_OK ? 0 : gerr;
}

static void calls_in_order(void)
{
    char *f = path_in("a"), *g = path_in("b"), *d = path_in("d/e");
    struct vm_batch b;
    vm_batch_init(&b);
    char *sh[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    char *cat[] = {"cat", NULL};
    struct exec_req run = {.argv = sh}, feed = {.argv = cat, .stdin_data = "fed", .stdin_len = 3,
                                               .has_stdin = 1};
    CHECK_EQ_INT(vm_batch_put_write_file(&b, f, "hello", 5, 0600, 0), 0);
    CHECK_EQ_INT(vm_batch_put_read_file(&b, f), 0);
    CHECK_EQ_INT(vm_batch_put_stat(&b, "/nonexistent/x"), 0);
    CHECK_EQ_INT(vm_batch_put_exec(&b, &run), 0);
    CHECK_EQ_INT(vm_batch_put_stat(&b, f), 0);
    CHECK_EQ_INT(vm_batch_put_mkdir(&b, d, 0755, 1), 0);
    CHECK_EQ_INT(vm_batch_put_exec(&b, &feed), 0);
    CHECK_EQ_INT(vm_batch_put_rename(&b, f, g), 0);
    CHECK_EQ_INT(vm_batch_put_listdir(&b, dir), 0);
    CHECK_EQ_INT(vm_batch_put_unlink(&b, g), 0);
    int gerr = 0;
    CHECK_EQ_INT(vm_batch_send(vm, &b, &gerr), VMOP_OK);
    CHECK_EQ_INT(b.round_trips, 1);
    CHECK_EQ_INT(b.nans, 10);
    struct wire_reader r;
    char msg[256], *data;
    size_t len;
    CHECK_EQ_INT(answer(&b, 0, &r, msg), 0);
    CHECK_EQ_INT(answer(&b, 1, &r, msg), 0);
    CHECK_EQ_INT(vm_batch_get_data(&r, &data, &len), VMOP_OK);
    CHECK(len == 5 && !memcmp(data, "hello", 5));
    free(data);
    CHECK_EQ_INT(answer(&b, 2, &r, msg), ENOENT); /* one failure does not stop the rest */
    CHECK_EQ_INT(answer(&b, 3, &r, msg), 0);
    struct exec_res res;
    CHECK_EQ_INT(vm_batch_get_exec(&r, &res), VMOP_OK);
    CHECK_EQ_INT(res.code, 3);
    CHECK_STR_EQ(res.out, "out\n");
    CHECK_STR_EQ(res.err, "err\n");
    exec_res_free(&res);
    struct vm_stat st;
    CHECK_EQ_INT(answer(&b, 4, &r, msg), 0);
    CHECK_EQ_INT(vm_batch_get_stat(&r, &st), VMOP_OK);
    CHECK(st.size == 5 && st.perm == 0600);
    CHECK_EQ_INT(answer(&b, 5, &r, msg), 0);
    CHECK_EQ_INT(answer(&b, 6, &r, msg), 0);
    CHECK_EQ_INT(vm_batch_get_exec(&r, &res), VMOP_OK);
    CHECK_STR_EQ(res.out, "fed");
    exec_res_free(&res);
    CHECK_EQ_INT(answer(&b, 7, &r, msg), 0);
    CHECK_EQ_INT(answer(&b, 8, &r, msg), 0);
    struct vm_dirent *e;
    size_t n;
    CHECK_EQ_INT(vm_batch_get_listdir(&r, &e, &n), VMOP_OK);
    int seen = 0; /* the scratch dir has files of its own: b and d are there, a is not */
    for (size_t i = 0; i < n; i++) {
        seen |= !strcmp(e[i].name, "b") ? 1 : !strcmp(e[i].name, "d") ? 2 : 0;
        seen |= !strcmp(e[i].name, "a") ? 4 : 0;
        free(e[i].name);
    }
    CHECK_EQ_INT(seen, 3);
    free(e);
    CHECK_EQ_INT(answer(&b, 9, &r, msg), 0);
    CHECK(access(g, F_OK) < 0 && access(d, F_OK) == 0);
    vm_batch_free(&b);
    free(f);
    free(g);
    free(d);
}

/* ---- raw frames ---- */

/* Sends a BATCH whose payload is in w (begun with wire_begin): the RESULT's errno, and
 * its fields in *extra (free it). */
static int raw_batch(struct wire_writer *w, uint32_t id, char **msg, uint8_t **extra,
                     size_t *extra_len)
{
    wire_finish(w);
    int err = -1;
    CHECK_EQ_INT(agent_simple(&vm->agent, w, id, now_ns() + 10000000000LL, &err, msg, extra,
                              extra_len),
                 AGENT_OK);
    wire_writer_free(w);
    return err;
}

static uint32_t raw_begin(struct wire_writer *w, uint32_t count)
{
    memset(w, 0, sizeof *w);
    uint32_t id = agent_next_id(&vm->agent);
    wire_begin(w, WIRE_BATCH, id);
    wire_put_u32(w, count);
    return id;
}

static void raw_sub(struct wire_writer *w, uint16_t type, const void *req, size_t n)
{
    wire_put_u16(w, type);
    wire_put_bytes(w, req, n);
    wire_put_bytes(w, NULL, 0);
}

static void malformed_envelopes(void)
{
    struct wire_writer w;
    char *msg = NULL;
    uint32_t id = raw_begin(&w, 2); /* says two, holds one */
    raw_sub(&w, WIRE_STAT, "", 0);
    CHECK_EQ_INT(raw_batch(&w, id, &msg, NULL, NULL), EINVAL);
    CHECK_STR_EQ(msg, "malformed BATCH request");
    free(msg);
    id = raw_begin(&w, 0);
    wire_put_u8(&w, 7); /* trailing byte */
    CHECK_EQ_INT(raw_batch(&w, id, NULL, NULL, NULL), EINVAL);
    id = raw_begin(&w, WIRE_BATCH_MAX + 1);
    CHECK_EQ_INT(raw_batch(&w, id, NULL, NULL, NULL), EINVAL);
    /* an empty batch is fine: zero answers */
    uint8_t *extra = NULL;
    size_t n = 0;
    id = raw_begin(&w, 0);
    CHECK_EQ_INT(raw_batch(&w, id, NULL, &extra, &n), 0);
    CHECK(n == 4 && extra[0] == 0);
    free(extra);
}

/* Answer i of a raw RESULT's fields: errno and message. */
static int raw_answer(const uint8_t *extra, size_t n, uint32_t i, char *msg)
{
    struct vm_batch b = {0};
    b.reply = (uint8_t *)extra;
    struct wire_reader r, a;
    wire_reader_init(&r, extra, n);
    uint32_t count = wire_get_u32(&r);
    const uint8_t *p = NULL;
    uint32_t len = 0;
    for (uint32_t k = 0; k <= i && k < count; k++)
        p = wire_get_bytes(&r, &len);
    b.nans = 1;
    b.ans = &p;
    b.ans_len = &len;
    return answer(&b, 0, &a, msg);
}

static void malformed_requests(void)
{
    struct wire_writer w, s = {0};
    uint32_t id = raw_begin(&w, 4);
    raw_sub(&w, WIRE_STAT, "\xff", 1);      /* a STAT that does not decode */
    raw_sub(&w, WIRE_PING, NULL, 0);        /* not a batchable type */
    wire_put_u32(&s, WIRE_EXEC_PID);        /* EXEC asking for its PID */
    raw_sub(&w, WIRE_EXEC, s.buf, s.len);
    wire_writer_free(&s);
    wire_put_str(&s, "/");
    wire_put_u8(&s, 0);
    raw_sub(&w, WIRE_STAT, s.buf, s.len);   /* and a good one after them */
    wire_writer_free(&s);
    uint8_t *extra = NULL;
    size_t n = 0;
    CHECK_EQ_INT(raw_batch(&w, id, NULL, &extra, &n), 0);
    char msg[256];
    CHECK_EQ_INT(raw_answer(extra, n, 0, msg), EINVAL);
    CHECK_STR_EQ(msg, "malformed STAT request");
    CHECK_EQ_INT(raw_answer(extra, n, 1, msg), EINVAL);
    CHECK_STR_EQ(msg, "PING cannot be batched");
    CHECK_EQ_INT(raw_answer(extra, n, 2, msg), EINVAL);
    CHECK_EQ_INT(raw_answer(extra, n, 3, msg), 0);
    free(extra);
}

/* Output or a file bigger than the frame: that answer is EMSGSIZE, the rest stand, and
 * what fits comes whole. */
static void size_budget(void)
{
    char *big = path_in("big");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "head -c 2000000 /dev/zero > '%s'", big);
    char *mk[] = {"sh", "-c", cmd, NULL};
    char *loud[] = {"head", "-c", "2000000", "/dev/zero", NULL};
    char *fits[] = {"head", "-c", "300000", "/dev/zero", NULL};
    struct exec_req a = {.argv = mk}, l = {.argv = loud}, o = {.argv = fits};
    struct vm_batch b;
    vm_batch_init(&b);
    vm_batch_put_exec(&b, &a);
    vm_batch_put_exec(&b, &l);
    vm_batch_put_read_file(&b, big);
    vm_batch_put_exec(&b, &o);
    vm_batch_put_stat(&b, big);
    int gerr = 0;
    CHECK_EQ_INT(vm_batch_send(vm, &b, &gerr), VMOP_OK);
    struct wire_reader r;
    char msg[256];
    CHECK_EQ_INT(answer(&b, 0, &r, msg), 0);
    CHECK_EQ_INT(answer(&b, 1, &r, msg), EMSGSIZE);
    CHECK(strstr(msg, "output too large for a batch") != NULL);
    CHECK_EQ_INT(answer(&b, 2, &r, msg), EMSGSIZE);
    CHECK(strstr(msg, "output too large for a batch") != NULL);
    CHECK_EQ_INT(answer(&b, 3, &r, msg), 0);
    struct exec_res res;
    CHECK_EQ_INT(vm_batch_get_exec(&r, &res), VMOP_OK);
    CHECK(res.out_len == 300000);
    exec_res_free(&res);
    struct vm_stat st;
    CHECK_EQ_INT(answer(&b, 4, &r, msg), 0);
    CHECK_EQ_INT(vm_batch_get_stat(&r, &st), VMOP_OK);
    CHECK(st.size == 2000000);
    /* the host side refuses what would overflow a request frame */
    vm_batch_reset(&b);
    char *blob = xcalloc(1, WIRE_MAX_PAYLOAD);
    CHECK_EQ_INT(vm_batch_put_write_file(&b, big, blob, WIRE_MAX_PAYLOAD, 0644, 0), -1);
    CHECK_EQ_INT(b.count, 0);
    free(blob);
    vm_batch_free(&b);
    free(big);
}

/* A batch's run is a session: the agent answers other requests meanwhile, and a
 * second batch waits its turn (EBUSY). */
static void runs_do_not_block(void)
{
    char *sl[] = {"sleep", "0.5", NULL};
    struct exec_req q = {.argv = sl};
    struct vm_batch b;
    vm_batch_init(&b);
    vm_batch_put_exec(&b, &q);
    struct wire_writer w;
    uint32_t id = raw_begin(&w, 0);
    /* the sleeping batch goes out first, unanswered; its RESULT is dropped later */
    struct wire_header h = {0, WIRE_BATCH, 0, agent_next_id(&vm->agent)};
    wire_encode_header(b.w.buf, &h);
    b.w.buf[WIRE_HEADER_SIZE] = 1;
    wire_finish(&b.w);
    agent_queue(&vm->agent, &b.w);
    int64_t t0 = now_ns();
    struct vm_stat st;
    int gerr = 0;
    CHECK_EQ_INT(vm_stat_path(vm, "/", &st, &gerr), VMOP_OK);
    CHECK(now_ns() - t0 < 400000000LL);
    CHECK_EQ_INT(raw_batch(&w, id, NULL, NULL, NULL), EBUSY);
    vm_batch_free(&b);
    usleep(700000);
    id = raw_begin(&w, 0);
    CHECK_EQ_INT(raw_batch(&w, id, NULL, NULL, NULL), 0);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    const char *bin = argc > 1 ? argv[1] : getenv("PROVIUM_AGENT_BIN");
    if (!bin) {
        fprintf(stderr, "usage: test_batch AGENT_HOST_BINARY\n");
        return 2;
    }
    dir = make_scratch_dir("provium-test-batch");
    strcpy(env.accel, "tcg");
    env.scratch = dir;
    start_agent(bin);
    RUN(calls_in_order);
    RUN(malformed_envelopes);
    RUN(malformed_requests);
    RUN(size_budget);
    RUN(runs_do_not_block);
    kill(agent_pid, SIGKILL);
    waitpid(agent_pid, NULL, 0);
    vm->qemu_pid = -1;
    agent_conn_close(&vm->agent);
    free(vm->name);
    free(vm);
    rm_rf(dir);
    free(dir);
    return TEST_SUMMARY();
}
