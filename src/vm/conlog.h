/* conlog.h - a VM's console log, bounded: QEMU writes the serial console (ttyS0) and
 * the virtio console (hvc0) into two sockets and a host thread appends both, in the
 * order their chunks arrive, to two files that together hold at most `cap` bytes.
 *
 * The log lives in <vm dir>/console.log (newest bytes) and console.log.1 (the segment
 * before); when console.log reaches cap/2 it becomes console.log.1 (replacing the old
 * one) and a new console.log starts. So the newest bytes are never lost, at least the
 * last cap/2 bytes are always kept and never more than cap. Readers address bytes by
 * their position in everything the console ever printed (0 = the first byte of the
 * first boot); what was rotated away reads as if it never existed.
 *
 * The log belongs to the vm object, not to one QEMU: a restore or a reset attaches a
 * new QEMU to the same log, so it is kept across restores. A reader first drains
 * what QEMU already wrote, so a console tail taken right after QEMU died is complete.
 * The thread never blocks on the reader for long: both only copy bytes under one
 * mutex. */
#ifndef PROVIUM_CONLOG_H
#define PROVIUM_CONLOG_H

#include "util/util.h"

#include <stddef.h>
#include <stdint.h>

#define CONLOG_DEFAULT_MAX (16ull << 20)
#define CONLOG_MIN_MAX (64ull << 10)

struct conlog;

/* Creates (truncates) `path` and `path`.1's place; cap 0 = CONLOG_DEFAULT_MAX, values
 * under CONLOG_MIN_MAX are raised to it. NULL with errno on failure. */
struct conlog *conlog_new(const char *path, uint64_t cap);
/* Stops the reader thread (draining what is left) and frees everything. NULL is fine. */
void conlog_free(struct conlog *c);

/* Makes a socket pair for a new QEMU's serial port, and one for its virtio console when
 * hvc_fd is not NULL, and starts the thread reading them (a thread of a QEMU before is
 * stopped first). Returns QEMU's end of the serial pair and puts the virtio console's
 * in *hvc_fd (close-on-exec: the child clears the flag; the caller closes them after
 * fork); -1 with errno on failure. */
int conlog_attach(struct conlog *c, int *hvc_fd);
/* Stops the reader thread after draining the socket; the log stays readable. */
void conlog_detach(struct conlog *c);

/* Types into the serial console: the bytes go to QEMU's end of the serial socket,
 * which QEMU feeds to the guest's UART as fast as the guest reads it. Waits for room
 * until deadline_ns; *written says how much went in. -1 with errno (ETIMEDOUT, EPIPE:
 * no QEMU attached) when not all of it did. */
int conlog_write(struct conlog *c, const void *data, size_t len, int64_t deadline_ns,
                 size_t *written);
/* Appends bytes as if the console printed them (rotating as needed). */
void conlog_append(struct conlog *c, const void *data, size_t len);
/* Drains the socket, then appends to out the bytes from position *pos on (at most max;
 * a position already rotated away starts at the oldest byte kept) and advances *pos.
 * Returns the number of bytes appended. */
size_t conlog_read(struct conlog *c, uint64_t *pos, size_t max, struct buf *out);
/* Position just after the newest byte (drains first), and of the oldest byte kept. */
uint64_t conlog_end(struct conlog *c);
uint64_t conlog_start(struct conlog *c);

#endif
