/* results.h - the parent's bookkeeping of per-file results (results.c): what each
 * worker's events add to its file_result, and what a file that ended early owes. */
#ifndef PROVIUM_RESULTS_H
#define PROVIUM_RESULTS_H

#include "runner_int.h"

#include <jansson.h>

/* The results array of the run, one per file with its shown path; each file is
 * announced (file_discovered, with the fixtures it refers to). */
struct file_result *results_new(const struct found *files, size_t n);
void results_free(struct file_result *res, size_t n);
/* Records a test result of event o (status passed, failed or skipped; its message
 * under msg_key, NULL for none) and counts it. */
void result_add_test(struct file_result *r, json_t *o, const char *status, const char *msg_key);
/* Applies one worker event of this kind to r; 0 when the event is internal to the
 * run (not forwarded to --events), else 1. */
int result_note_event(struct file_result *r, const char *kind, json_t *o);
/* A file-level problem (r->error: crash, timeout, interruption): every registered test
 * without a result fails with it and gets its test_failed event; when there is none
 * the file counts one failure of its own (JUnit's `(file)` error). */
void result_fail_unfinished(struct file_result *r);

#endif
