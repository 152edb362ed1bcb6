/* sockpath.h - unix socket paths of any length.
 *
 * sun_path holds 107 bytes and a 63-character VM name in a scratch directory under a
 * long TMPDIR does not fit. Nothing is ever truncated: a path that fits is used as it
 * is; a longer one goes through the directory's file descriptor, held open by the VM,
 * as /proc/self/fd/<dirfd>/<name>. The kernel resolves that for bind() and connect()
 * alike, and QEMU, which inherits the descriptor at the same number, resolves it to the
 * same directory. */
#ifndef PROVIUM_SOCKPATH_H
#define PROVIUM_SOCKPATH_H

#include <stddef.h>

/* The longest path a sockaddr_un takes (sun_path minus its NUL). */
size_t sockpath_max(void);

/* Writes the address of the socket `name` in directory dir (open as dirfd, or -1) into
 * out (cap bytes). 0 on success; -1 with errno ENAMETOOLONG when neither form fits. */
int sockpath_make(char *out, size_t cap, const char *dir, int dirfd, const char *name);

/* Connects a SOCK_STREAM unix socket (flags: SOCK_NONBLOCK, ... ORed with the type) to
 * path; -1 with errno set, ENAMETOOLONG for a path past sun_path. */
int sockpath_connect(const char *path, int flags);

#endif
