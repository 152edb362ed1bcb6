/* qmp.c - QMP client over a unix socket, JSON via jansson. See qmp.h. */
#include "qmp.h"

#include "util/util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int poll_ms(int64_t deadline_ns)
{
    if (!deadline_ns)
        return -1;
    int64_t left = deadline_ns - now_ns();
    if (left <= 0)
        return 0;
    return (int)((left + 999999) / 1000000);
}

/* Reads one JSON line; returns a new reference or NULL (err filled). */
static json_t *read_message(struct qmp *q, int64_t deadline_ns, char *err, size_t errlen)
{
    for (;;) {
        char *nl = q->rlen ? memchr(q->rbuf, '\n', q->rlen) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - q->rbuf) + 1;
            json_error_t je;
            json_t *j = json_loadb(q->rbuf, n, 0, &je);
            memmove(q->rbuf, q->rbuf + n, q->rlen - n);
            q->rlen -= n;
            if (!j) {
                snprintf(err, errlen, "QMP: bad JSON from QEMU: %s", je.text);
                return NULL;
            }
            return j;
        }
        struct pollfd p = {q->fd, POLLIN, 0};
        int r = poll(&p, 1, poll_ms(deadline_ns));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(err, errlen, "QMP: no answer from QEMU in time");
            return NULL;
        }
        if (q->rlen + 65536 > q->rcap) {
            q->rcap = q->rcap ? q->rcap * 2 : 65536;
            q->rbuf = xrealloc(q->rbuf, q->rcap);
        }
        ssize_t n = read(q->fd, q->rbuf + q->rlen, q->rcap - q->rlen);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "QMP: connection to QEMU closed");
            return NULL;
        }
        q->rlen += (size_t)n;
    }
}

static int64_t event_us(json_t *m)
{
    json_t *ts = json_object_get(m, "timestamp");
    return (int64_t)json_integer_value(json_object_get(ts, "seconds")) * 1000000 +
           (int64_t)json_integer_value(json_object_get(ts, "microseconds"));
}

/* The agent's port opening or closing in the guest, and system resets. */
static void note_port_event(struct qmp *q, const char *ev, json_t *m)
{
    if (!strcmp(ev, "RESET")) {
        q->reset_us = event_us(m);
        return;
    }
    json_t *d = json_object_get(m, "data");
    const char *id = json_string_value(json_object_get(d, "id"));
    if (!id || strcmp(id, QMP_AGENT_PORT_ID))
        return;
    if (json_is_true(json_object_get(d, "open")))
        q->port_open_us = event_us(m);
    else
        q->port_close_us = event_us(m);
}

/* Remembers QEMU's SHUTDOWN event when the guest powered itself off (spec §1: the VM is
 * then `shutdown`, not `dead`), and the agent port's state, whichever reader meets it. */
static void note_event(struct qmp *q, json_t *m)
{
    const char *ev = json_string_value(json_object_get(m, "event"));
    if (ev && (!strcmp(ev, "VSERPORT_CHANGE") || !strcmp(ev, "RESET")))
        note_port_event(q, ev, m);
    if (!ev || strcmp(ev, "SHUTDOWN"))
        return;
    json_t *d = json_object_get(m, "data");
    const char *reason = json_string_value(json_object_get(d, "reason"));
    if (json_is_true(json_object_get(d, "guest")) && reason && !strcmp(reason, "guest-shutdown"))
        q->guest_poweroff = 1;
}

static int send_message(struct qmp *q, json_t *msg, int fd, char *err, size_t errlen)
{
    char *s = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!s) {
        snprintf(err, errlen, "QMP: cannot encode command");
        return -1;
    }
    size_t len = strlen(s);
    int rc = 0;
    if (fd >= 0) {
        struct iovec iov = {s, len};
        char cbuf[CMSG_SPACE(sizeof(int))];
        memset(cbuf, 0, sizeof cbuf);
        struct msghdr mh = {0};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf;
        mh.msg_controllen = sizeof cbuf;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        ssize_t w;
        do
            w = sendmsg(q->fd, &mh, MSG_NOSIGNAL);
        while (w < 0 && errno == EINTR);
        if (w < 0)
            rc = -1;
        else if ((size_t)w < len)
            rc = write_all(q->fd, s + w, len - (size_t)w);
    } else {
        rc = write_all(q->fd, s, len);
    }
    free(s);
    if (rc < 0)
        snprintf(err, errlen, "QMP: cannot send to QEMU: %s", strerror(errno));
    return rc;
}

struct qmp *qmp_connect(const char *path, int64_t deadline_ns, int watch_pidfd, char *err,
                        size_t errlen)
{
    struct sockaddr_un sa = {0};
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "QMP socket path too long: %s", path);
        return NULL;
    }
    strcpy(sa.sun_path, path);
    int fd = -1;
    for (;;) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            snprintf(err, errlen, "socket: %s", strerror(errno));
            return NULL;
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            break;
        close(fd);
        fd = -1;
        if (watch_pidfd >= 0) {
            struct pollfd p = {watch_pidfd, POLLIN, 0};
            if (poll(&p, 1, 0) > 0) {
                snprintf(err, errlen, "QEMU exited during startup");
                return NULL;
            }
        }
        if (deadline_ns && now_ns() > deadline_ns) {
            snprintf(err, errlen, "QEMU did not open its QMP socket in time");
            return NULL;
        }
        sleep_ms(2);
    }
    struct qmp *q = xcalloc(1, sizeof *q);
    q->fd = fd;
    json_t *greeting = read_message(q, deadline_ns, err, errlen);
    if (!greeting) {
        qmp_close(q);
        return NULL;
    }
    json_decref(greeting);
    json_t *r = qmp_exec(q, "qmp_capabilities", NULL, deadline_ns, err, errlen);
    if (!r) {
        qmp_close(q);
        return NULL;
    }
    json_decref(r);
    return q;
}

json_t *qmp_exec_fd(struct qmp *q, const char *cmd, json_t *args, int fd, int64_t deadline_ns,
                    char *err, size_t errlen)
{
    json_t *msg = json_pack("{s:s}", "execute", cmd);
    if (args)
        json_object_set_new(msg, "arguments", args);
    if (send_message(q, msg, fd, err, errlen) < 0)
        return NULL;
    for (;;) {
        json_t *m = read_message(q, deadline_ns, err, errlen);
        if (!m)
            return NULL;
        json_t *ret = json_object_get(m, "return");
        if (ret) {
            json_incref(ret);
            json_decref(m);
            return ret;
        }
        json_t *e = json_object_get(m, "error");
        if (e) {
            const char *desc = json_string_value(json_object_get(e, "desc"));
            snprintf(err, errlen, "QMP %s: %s", cmd, desc ? desc : "error");
            json_decref(m);
            return NULL;
        }
        note_event(q, m); /* an event: only a guest power-off matters */
        json_decref(m);
    }
}

json_t *qmp_exec(struct qmp *q, const char *cmd, json_t *args, int64_t deadline_ns, char *err,
                 size_t errlen)
{
    return qmp_exec_fd(q, cmd, args, -1, deadline_ns, err, errlen);
}

json_t *qmp_wait_event(struct qmp *q, const char *event, int64_t deadline_ns, char *err,
                       size_t errlen)
{
    for (;;) {
        json_t *m = read_message(q, deadline_ns, err, errlen);
        if (!m)
            return NULL;
        note_event(q, m);
        const char *ev = json_string_value(json_object_get(m, "event"));
        if (ev && !strcmp(ev, event))
            return m;
        json_decref(m);
    }
}

int qmp_send(struct qmp *q, const char *cmd)
{
    char err[128];
    return send_message(q, json_pack("{s:s}", "execute", cmd), -1, err, sizeof err);
}

int qmp_guest_powered_off(struct qmp *q, int64_t deadline_ns)
{
    char err[128];
    while (!q->guest_poweroff) {
        json_t *m = read_message(q, deadline_ns, err, sizeof err);
        if (!m)
            break;
        note_event(q, m);
        json_decref(m);
    }
    return q->guest_poweroff;
}

int qmp_poll(struct qmp *q)
{
    for (;;) {
        char err[128];
        json_t *m = read_message(q, now_ns(), err, sizeof err); /* a past deadline: no wait */
        if (!m && strstr(err, "bad JSON"))
            continue;
        if (!m)
            return strstr(err, "closed") ? -1 : 0;
        note_event(q, m);
        json_decref(m);
    }
}

int qmp_agent_port_closed(const struct qmp *q)
{
    return q->port_close_us > q->port_open_us && q->port_close_us > q->reset_us;
}

void qmp_close(struct qmp *q)
{
    if (!q)
        return;
    if (q->fd >= 0)
        close(q->fd);
    free(q->rbuf);
    free(q);
}
