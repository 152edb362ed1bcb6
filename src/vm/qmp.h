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
    /* QEMU's timestamps (µs of the wall clock, set when QEMU built the event; a
     * rate-limited event keeps its own) of the latest RESET and of the latest
     * VSERPORT_CHANGE of the agent's port, opened and closed */
    int64_t reset_us, port_open_us, port_close_us;
};

/* The device id of the agent's virtserialport: QEMU names it in VSERPORT_CHANGE. */
#define QMP_AGENT_PORT_ID "provium-agent"

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
/* Reads whatever QEMU has already sent, without waiting, and notes its events (answers
 * to commands nobody waits for are dropped). -1 when the connection is closed. */
int qmp_poll(struct qmp *q);
/* Has the guest closed the agent's port (the agent exited)? True when the latest
 * VSERPORT_CHANGE of QMP_AGENT_PORT_ID closed it and is newer than the latest open and
 * the latest RESET: a system reset closes the port too, before RESET, and the next
 * agent's open may arrive up to a second late (QEMU rate-limits this event). */
int qmp_agent_port_closed(const struct qmp *q);
void qmp_close(struct qmp *q);

#endif
