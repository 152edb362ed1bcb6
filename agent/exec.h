/* exec.h - process sessions: one per EXEC request, alive until its EXIT is sent. */
#ifndef PROVIUM_AGENT_EXEC_H
#define PROVIUM_AGENT_EXEC_H

#include "agent.h"

/* Requests */
void exec_start(uint32_t id, struct wire_reader *r);
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
