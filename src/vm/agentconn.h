/* agentconn.h - the host end of the connection to the guest agent.
 *
 * One non-blocking unix socket (QEMU's chardev for the virtio-serial port) carries
 * frames both ways. Requests are driven by agent_op: the caller builds the request
 * frame, optionally supplies an input stream (stdin for exec, file bytes for a write)
 * that is sent as DATA frames, and a callback that consumes the frames answering this
 * request id until it says the operation is complete. While waiting, the loop also
 * watches QEMU's pidfd (so a dead VM ends the wait at once), QMP for the guest closing
 * the agent's port (so a dead agent ends it too) and the caller's deadline. */
#ifndef PROVIUM_AGENTCONN_H
#define PROVIUM_AGENTCONN_H

#include "proto/wire.h"

#include <stddef.h>
#include <stdint.h>

enum {
    AGENT_OK = 0,
    AGENT_DEAD = -1,     /* connection lost or QEMU exited */
    AGENT_DEADLINE = -2, /* the caller's deadline passed */
    AGENT_PROTO = -3,    /* malformed reply */
};

#define AGENT_MAX_BG 64

struct qmp;

struct agent_conn {
    int fd;
    int watch_fd; /* pidfd of QEMU, -1 if none */
    struct qmp *qmp; /* QEMU's QMP once the agent said HELLO, else NULL: its port closing
                        (qmp_agent_port_closed) means the agent exited */
    struct wire_inbuf in;
    struct {
        uint8_t *data;
        size_t len, off, cap;
    } out;
    uint32_t next_id;
    uint64_t serial; /* unique per agent_conn_init in this process: guest file handles
                        belong to one connection and die with it */
    char dead_reason[256];
    int dead;
    struct agent_op *bg[AGENT_MAX_BG]; /* operations running in the background */
    int nbg;
    /* Asked about once a second while a wait goes on (NULL: never): nonzero when the
     * guest can no longer answer although QEMU runs on (a kernel panic that did not end
     * in a reboot); the connection is then dead with that reason. */
    const char *(*health)(void *ud);
    void *health_ud;
};

struct agent_op {
    uint32_t id;
    /* optional input stream, sent as DATA frames after the request, then an empty DATA */
    int has_input;
    const char *in_data; /* either memory ... */
    size_t in_len, in_off;
    int in_fd;           /* ... or a file descriptor (-1 if memory) */
    int in_eof_sent;
    int in_error;        /* errno from reading in_fd */
    /* called for each frame with this op's id; returns 1 when the op is complete,
     * 0 to keep waiting, -1 on a protocol error */
    int (*on_frame)(struct agent_op *op, const struct wire_header *h, const uint8_t *payload);
    void *ctx;
    int done; /* background ops: on_frame reported completion (1) or an error (-1) */
    unsigned frames; /* background ops: frames handed to on_frame so far */
};

void agent_conn_init(struct agent_conn *c, int fd, int watch_fd);
void agent_conn_close(struct agent_conn *c);
uint32_t agent_next_id(struct agent_conn *c);

/* Queues a finished frame (from wire_finish) for sending. */
void agent_queue(struct agent_conn *c, const struct wire_writer *w);

/* Writes what is queued as far as the socket takes it now, without waiting for any
 * answer (a parallel shutdown's POWEROFF); -1 when the connection is lost. */
int agent_flush(struct agent_conn *c);

/* Waits for the HELLO frame; fills protocol version. */
int agent_wait_hello(struct agent_conn *c, int64_t deadline_ns, uint32_t *protocol);

/* Sends the op's request (already queued by the caller) and input, dispatches frames
 * until on_frame reports completion. deadline_ns is CLOCK_MONOTONIC, 0 = none. */
int agent_run(struct agent_conn *c, struct agent_op *op, int64_t deadline_ns);

/* Background operations (vm:run_async): after its request is queued, the op is
 * registered here and its frames are dispatched by whatever wait runs next (agent_run
 * of another op, or agent_wait_bg); op->done says when it finished. Registration fails
 * (-1) when AGENT_MAX_BG are already running. */
int agent_bg_add(struct agent_conn *c, struct agent_op *op);
void agent_bg_remove(struct agent_conn *c, struct agent_op *op);
/* Dispatches frames until op->done (or, with any_frame, until op gets any frame) or the
 * deadline: AGENT_OK, AGENT_DEADLINE, ... */
int agent_wait_bg(struct agent_conn *c, struct agent_op *op, int64_t deadline_ns,
                  int any_frame);

/* Convenience for simple request -> RESULT operations. The request frame must already
 * be built in w with id. On AGENT_OK, *err_no holds the guest errno and, if extra is
 * non-NULL, *extra receives a copy of the fields after errno+message (free it). */
int agent_simple(struct agent_conn *c, struct wire_writer *w, uint32_t id, int64_t deadline_ns,
                 int *err_no, char **msg, uint8_t **extra, size_t *extra_len);

#endif
