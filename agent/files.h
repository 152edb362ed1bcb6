/* files.h - file operations: streamed READ_FILE/WRITE_FILE, the one-shot metadata
 * requests (STAT, LISTDIR, MKDIR, UNLINK, RENAME) and open file handles (OPEN, HREAD,
 * HWRITE, HSEEK, HCLOSE). */
#ifndef PROVIUM_AGENT_FILES_H
#define PROVIUM_AGENT_FILES_H

#include "agent.h"

#define FILES_READ_MAX (96ull * 1024 * 1024) /* READ_FILE refuses to send more */

/* Streams */
void files_read_start(uint32_t id, struct wire_reader *r);
void files_write_start(uint32_t id, struct wire_reader *r);
/* Appends DATA to the WRITE_FILE with this id (empty = end); 0 if there is none. */
int files_write_data(uint32_t id, const uint8_t *data, size_t n);
int files_has_id(uint32_t id);

/* One-shot requests */
void files_stat(uint32_t id, struct wire_reader *r);
void files_listdir(uint32_t id, struct wire_reader *r);
void files_mkdir(uint32_t id, struct wire_reader *r);
void files_unlink(uint32_t id, struct wire_reader *r);
void files_rename(uint32_t id, struct wire_reader *r);

/* Handles: a table of at most WIRE_MAX_HANDLES open fds, keyed by handle id */
void files_open(uint32_t id, struct wire_reader *r);
void files_hread(uint32_t id, struct wire_reader *r);
void files_hwrite(uint32_t id, struct wire_reader *r);
void files_hseek(uint32_t id, struct wire_reader *r);
void files_hclose(uint32_t id, struct wire_reader *r);

/* The loop's side: READ_FILE sends one chunk per loop round, so a big file never
 * keeps the loop from serving everything else. */
void files_add_pollfds(struct pollset *ps);
void files_service(void);
void files_abort_all(void); /* also closes every handle */

#endif
