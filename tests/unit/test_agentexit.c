/* test_agentexit.c - a guest agent that exits is noticed through QMP (issue 9, defect
 * 2): QEMU's VSERPORT_CHANGE for the agent's port, closed, newer than the last open and
 * the last RESET, means the agent is gone (qmp_agent_port_closed), and a wait on the
 * agent connection ends at once with "agent exited" instead of hanging until the test
 * timeout; frames the agent sent before it went are still handed out. Socketpairs stand
 * in for QEMU's QMP socket and the agent port. */
#include "tests/unit/testlib.h"
#include "util/util.h"
#include "vm/agentconn.h"
#include "vm/qmp.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

static void send_line(int fd, const char *s)
{
    CHECK(write_all(fd, s, strlen(s)) == 0);
}

/* One QEMU event line, timestamped at us microseconds. */
static void send_event(int fd, const char *event, const char *data, int64_t us)
{
    char line[512];
    snprintf(line, sizeof line,
             "{\"event\": \"%s\", \"data\": %s, \"timestamp\": {\"seconds\": %lld, "
             "\"microseconds\": %lld}}\r\n",
             event, data, (long long)(us / 1000000), (long long)(us % 1000000));
    send_line(fd, line);
}

static void send_port(int fd, int open, int64_t us)
{
    send_event(fd, "VSERPORT_CHANGE",
               open ? "{\"id\": \"" QMP_AGENT_PORT_ID "\", \"open\": true}"
                    : "{\"id\": \"" QMP_AGENT_PORT_ID "\", \"open\": false}",
               us);
}

static struct qmp *fake_qmp(int sv[2])
{
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    struct qmp *q = xcalloc(1, sizeof *q);
    q->fd = sv[0];
    return q;
}

static void test_port_state(void)
{
    int sv[2];
    struct qmp *q = fake_qmp(sv);
    const int64_t T = 1700000000000000LL;
    CHECK_EQ_INT(qmp_poll(q), 0); /* nothing sent: no wait, nothing closed */
    CHECK(!qmp_agent_port_closed(q));
    send_port(sv[1], 1, T);
    CHECK_EQ_INT(qmp_poll(q), 0);
    CHECK(!qmp_agent_port_closed(q));
    /* another port's events and answers to commands change nothing */
    send_event(sv[1], "VSERPORT_CHANGE", "{\"id\": \"other\", \"open\": false}", T + 1);
    send_line(sv[1], "{\"return\": {}}\r\n");
    CHECK_EQ_INT(qmp_poll(q), 0);
    CHECK(!qmp_agent_port_closed(q));
    /* a half-received line waits for the rest without blocking */
    send_line(sv[1], "{\"event\": \"VSERP");
    CHECK_EQ_INT(qmp_poll(q), 0);
    CHECK(!qmp_agent_port_closed(q));
    send_line(sv[1], "ORT_CHANGE\", \"data\": {\"id\": \"" QMP_AGENT_PORT_ID "\", \"open\": "
                     "false}, \"timestamp\": {\"seconds\": 1700000001, \"microseconds\": 0}}\r\n");
    CHECK_EQ_INT(qmp_poll(q), 0);
    CHECK(qmp_agent_port_closed(q));

    /* a system reset closes the port before its RESET event; the new agent's open may
     * come a second later (rate limit), with its own, later timestamp */
    send_port(sv[1], 1, T + 2000000);
    send_port(sv[1], 0, T + 3000000);
    send_event(sv[1], "RESET", "{\"guest\": false, \"reason\": \"host-qmp-system-reset\"}",
               T + 3000010);
    CHECK_EQ_INT(qmp_poll(q), 0);
    CHECK(!qmp_agent_port_closed(q));
    send_port(sv[1], 1, T + 3500000);
    CHECK_EQ_INT(qmp_poll(q), 0);
    CHECK(!qmp_agent_port_closed(q));
    send_port(sv[1], 0, T + 9000000); /* then that agent exits */
    CHECK_EQ_INT(qmp_poll(q), 0);
    CHECK(qmp_agent_port_closed(q));

    close(sv[1]); /* QEMU went away */
    CHECK_EQ_INT(qmp_poll(q), -1);
    qmp_close(q);
}

/* The agent answers nothing and its port closes: the wait ends at once. */
static void test_wait_ends(void)
{
    int sv[2], ag[2];
    struct qmp *q = fake_qmp(sv);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, ag) == 0);
    struct agent_conn c;
    agent_conn_init(&c, ag[0], -1);
    c.qmp = q;
    send_port(sv[1], 1, 1000);
    send_port(sv[1], 0, 2000);
    struct wire_writer w = {0};
    uint32_t id = agent_next_id(&c);
    wire_begin(&w, WIRE_PING, id);
    wire_finish(&w);
    int gerr = 0;
    int64_t t0 = now_ns();
    int rc = agent_simple(&c, &w, id, now_ns() + 3000000000LL, &gerr, NULL, NULL, NULL);
    CHECK_EQ_INT(rc, AGENT_DEAD);
    CHECK_STR_EQ(c.dead_reason, "agent exited");
    CHECK_MSG(now_ns() - t0 < 1000000000LL, "took %lld ms", (long long)((now_ns() - t0) / 1000000));
    wire_writer_free(&w);
    agent_conn_close(&c);
    close(ag[1]);
    close(sv[1]);
    qmp_close(q);
}

/* An answer the agent sent before its port closed is still handed out. */
static void test_last_words(void)
{
    int sv[2], ag[2];
    struct qmp *q = fake_qmp(sv);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, ag) == 0);
    struct agent_conn c;
    agent_conn_init(&c, ag[0], -1);
    c.qmp = q;
    uint32_t id = agent_next_id(&c);
    struct wire_writer res = {0};
    wire_begin(&res, WIRE_RESULT, id);
    wire_put_i32(&res, 0);
    wire_put_str(&res, "");
    wire_finish(&res);
    CHECK(write_all(ag[1], res.buf, res.len) == 0);
    send_port(sv[1], 1, 1000);
    send_port(sv[1], 0, 2000);
    struct wire_writer w = {0};
    wire_begin(&w, WIRE_PING, id);
    wire_finish(&w);
    int gerr = -1;
    int rc = agent_simple(&c, &w, id, now_ns() + 3000000000LL, &gerr, NULL, NULL, NULL);
    CHECK_EQ_INT(rc, AGENT_OK);
    CHECK_EQ_INT(gerr, 0);
    CHECK(c.dead); /* and the next request finds the connection dead */
    wire_writer_free(&w);
    wire_writer_free(&res);
    agent_conn_close(&c);
    close(ag[1]);
    close(sv[1]);
    qmp_close(q);
}

int main(void)
{
    RUN(test_port_state);
    RUN(test_wait_ends);
    RUN(test_last_words);
    return TEST_SUMMARY();
}
