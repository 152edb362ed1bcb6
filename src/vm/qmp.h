/* qmp.h - a minimal synchronous QMP (QEMU Machine Protocol) client.
 *
 * QEMU listens on a private unix socket; we connect, negotiate capabilities and then
 * send one command at a time, skipping asynchronous events until the matching
 * "return" or "error" arrives. Used for quitting, pausing and migrating VMs. */
#ifndef PROVIUM_QMP_H
#define PROVIUM_QMP_H

#include <jansson.h>
#include <stdint.h>

struct qmp {
    int fd;
    char *rbuf;
    size_t rlen, rcap;
    int guest_poweroff; /* a SHUTDOWN event with guest=true, reason guest-shutdown, was seen */
};

/* Connects to path, retrying until deadline_ns (QEMU creates the socket while starting).
 * watch_pid: give up early if that process is gone. Returns NULL with err filled. */
struct qmp *qmp_connect(const char *path, int64_t deadline_ns, int watch_pidfd, char *err,
                        size_t errlen);
/* Executes a command; args may be NULL (stolen reference). Returns the "return" value
 * (new reference) or NULL with err filled. */
json_t *qmp_exec(struct qmp *q, const char *cmd, json_t *args, int64_t deadline_ns, char *err,
                 size_t errlen);
/* Sends a command with a file descriptor attached (SCM_RIGHTS), e.g. getfd. */
json_t *qmp_exec_fd(struct qmp *q, const char *cmd, json_t *args, int fd, int64_t deadline_ns,
                    char *err, size_t errlen);
/* Waits for an event of the given name; returns it (new reference) or NULL. */
json_t *qmp_wait_event(struct qmp *q, const char *event, int64_t deadline_ns, char *err,
                       size_t errlen);
/* Sends a command without waiting for its answer (quit during a parallel shutdown). */
int qmp_send(struct qmp *q, const char *cmd);
/* Did the guest power itself off? Reads pending messages until QEMU's SHUTDOWN event
 * for a guest power-off, the end of the connection (QEMU exited) or deadline_ns. */
int qmp_guest_powered_off(struct qmp *q, int64_t deadline_ns);
void qmp_close(struct qmp *q);

#endif
