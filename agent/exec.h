/* exec.h - process sessions: one per EXEC request, alive until its EXIT is sent. */
#ifndef PROVIUM_AGENT_EXEC_H
#define PROVIUM_AGENT_EXEC_H

#include "agent.h"

/* Where a batched run's output and exit go instead of OUTPUT and EXIT frames: out and
 * err keep at most `limit` bytes together, `total` counts them all; on_exit runs once
 * the session is gone (it may start another). */
struct exec_capture {
    uint8_t *out, *err;
    size_t out_len, err_len, limit, total;
    uint8_t status;
    int32_t code, signal;
    void (*on_exit)(struct exec_capture *c);
};

/* Requests */
void exec_start(uint32_t id, struct wire_reader *r);
/* exec_start for a batch: 1 when the session started (its stdin still open when
 * WIRE_EXEC_STDIN is set), 0 when it answered with a RESULT instead. */
int exec_start_captured(uint32_t id, struct wire_reader *r, struct exec_capture *cap);
void exec_kill(uint32_t id, struct wire_reader *r);
/* Feeds stdin DATA for session id; returns 0 if no session has that id. */
int exec_stdin_data(uint32_t id, const uint8_t *data, size_t n);
int exec_has_id(uint32_t id);

/* The loop's side */
void exec_add_pollfds(struct pollset *ps);
void exec_service(void);           /* move output and stdin per the last poll */
void exec_reap(void);              /* collect exit statuses (after SIGCHLD) */
void exec_finish_exited(void);     /* send EXIT for reaped sessions and free them */
void exec_check_deadlines(void);   /* SIGKILL the sessions whose timeout passed */
int exec_ms_to_next_deadline(void); /* -1 when no session has a timeout */
size_t exec_stdin_pending(void);   /* stdin bytes buffered for children, all sessions */
void exec_abort_all(void);         /* kill every session's group and forget them */

#endif
