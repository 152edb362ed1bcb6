/* agent.h - declarations shared by the pieces of the guest agent.
 *
 * The agent is one single-threaded process: main.c owns the poll() loop, conn.c moves
 * frames over the port, dispatch.c routes each request to exec.c (process sessions) or
 * files.c (file operations), boot.c does the PID-1 chores and port.c finds the
 * virtio-serial port. They share the one global `agent` below, the way Redis shares
 * `server`: there is exactly one connection and one loop, so passing it around would
 * only add noise. */
#ifndef PROVIUM_AGENT_H
#define PROVIUM_AGENT_H

#include "proto/wire.h"

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define AGENT_VERSION "0.1.0"
#define AGENT_LOG_PREFIX "provium-agent: "

/* A reply taken instead of sent (batch.c runs requests into answers this way): the
 * payload of the last frame conn_send was given while agent.capture pointed here. */
struct capture {
    uint8_t *p;
    size_t len, cap;
    unsigned frames;
};

struct agent {
    int guest_mode;    /* 1: serving the virtio port inside a VM; 0: --fd test mode */
    int port_fd;       /* the connection; -1 while the port is not open */
    int connected;     /* a host is on the other end: frames can flow */
    int reset_pending; /* the connection was lost: drop every request's state */
    int quit;          /* --fd mode: leave the loop and exit */
    int exit_code;
    int log_fd;        /* /dev/console in a guest, stderr in --fd mode */
    int sigchld_fd;    /* read end of the SIGCHLD self-pipe */
    struct wire_inbuf in;
    struct wire_writer out;
    struct capture *capture; /* set: conn_send stores instead of sending */
};

extern struct agent agent;

/* One scratch buffer for reading pipes and files: the loop is single-threaded, and
 * every user sends what it read before anyone else reads again. */
extern uint8_t agent_iobuf[WIRE_CHUNK];

/* ---- main.c: logging and the poll set ---- */

void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The fds to poll this round. Each entry remembers where to store its revents, so the
 * sessions can find out what happened to their own fds after poll() returns. */
struct pollset {
    struct pollfd *fds;
    short **revents;
    size_t n, cap;
};
void pollset_add(struct pollset *ps, int fd, short events, short *revents);

/* ---- conn.c: frames in and out ---- */

/* Start a frame in the shared writer; put fields with wire_put_*, then conn_send(). */
struct wire_writer *conn_begin(uint16_t type, uint32_t id);
/* Start a RESULT: i32 errno and bytes message are already put. */
struct wire_writer *conn_begin_result(uint32_t id, int err, const char *msg);
/* Send the frame; returns 0, or -1 if the connection is gone (it is then marked lost). */
int conn_send(struct wire_writer *w);
/* Send the frame with n raw bytes appended to its payload, without copying them. */
int conn_send_with_data(struct wire_writer *w, const void *data, size_t n);

void reply_ok(uint32_t id);
void reply_error(uint32_t id, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void reply_malformed(uint32_t id, uint16_t type);
void send_hello(void);

/* One read() from the port into agent.in: bytes read, 0 if nothing is ready, or -1
 * at EOF (errno 0) or on an error. Dispatch what arrived, then call conn_input_tidy(). */
ssize_t conn_read_some(void);
void conn_input_tidy(void);
void conn_lost(const char *why);

/* ---- batch.c: BATCH requests ---- */

void batch_start(uint32_t id, struct wire_reader *r);
int batch_has_id(uint32_t id);
void batch_abort(void); /* the connection is gone: forget the running batch */

/* ---- port.c: the virtio-serial port in a guest ---- */

void port_open_initial(void);  /* blocks until the port device exists */
void port_try_reconnect(void); /* called while disconnected, at most every few ms */

/* ---- dispatch.c: requests ---- */

void dispatch_frame(const struct wire_header *h, const uint8_t *payload);
void dispatch_unknown_type(uint32_t id, uint16_t type);

/* ---- boot.c: PID-1 chores in a guest ---- */

/* Mount the basic filesystems, load modules and start the real init if there is one.
 * Returns in the process that should become the agent. */
void boot_guest(void);
/* Writes /proc/self/oom_score_adj (guest mode only: -1000 for the agent, 0 for commands). */
void agent_set_oom_score_adj(const char *value);
void boot_ensure_std_fds(const char *dev);
void boot_cloexec_inherited_fds(void);
void boot_default_env(void);
/* Before each request: chroot to PID 1's root if it switch_rooted since (a no-op else). */
void boot_follow_pid1_root(void);

/* ---- button.c: the ACPI power button when nothing else watches it ---- */

/* Opens the "Power Button" input devices (guest mode, after the modules loaded). */
void button_open(void);
void button_add_pollfds(struct pollset *ps);
/* After poll: a press powers the guest off unless another process watches the button. */
void button_service(void);

static inline int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
