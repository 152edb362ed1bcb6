/* cpio.h - a deterministic writer for "newc" (070701) cpio archives.
 *
 * Linux unpacks an initramfs from newc cpio archives, and several archives may simply
 * be concatenated: that is how Provium appends its agent overlay to a profile's initrd.
 * To make images reproducible every entry is written with mtime 0, uid/gid 0, dev 0,
 * inode numbers counting up from 1 in insertion order, nlink 1 (2 for directories).
 *
 * Two layers:
 *
 *   struct cpio       streams entries, in the order given, into a temporary file beside
 *                     the destination; cpio_finish() renames it into place, so a reader
 *                     never sees half an archive.
 *
 *   struct cpio_tree  collects entries in any order and writes them sorted by name
 *                     (byte order, so a directory always precedes its contents), adding
 *                     any missing parent directories (mode 0755). Callers that build an
 *                     image from several sources use this to get the same bytes every time.
 *
 * Errors are sticky: the first failing add_* call records its message and returns -1,
 * later calls do nothing, and cpio_finish() / cpio_tree_write() report that message.
 * So a caller may add a batch of entries and check only the final call.
 *
 * Names are relative, without a leading '/', e.g. "etc/provium". Modes are permission
 * bits only (07777); the file type is implied by the function.
 */
#ifndef PROVIUM_IMAGE_CPIO_H
#define PROVIUM_IMAGE_CPIO_H

#include <stddef.h>

struct cpio; /* opaque */

struct cpio *cpio_create(const char *path, char *err, size_t errlen);
int cpio_add_dir(struct cpio *c, const char *name, unsigned mode);
int cpio_add_file(struct cpio *c, const char *name, unsigned mode, const void *data, size_t len);
int cpio_add_file_from(struct cpio *c, const char *name, unsigned mode, const char *host_path);
int cpio_add_symlink(struct cpio *c, const char *name, const char *target);
int cpio_add_chardev(struct cpio *c, const char *name, unsigned mode, unsigned major, unsigned minor);
int cpio_finish(struct cpio *c, char *err, size_t errlen); /* trailer, pad to 512, fsync, rename; frees c */
void cpio_abort(struct cpio *c);                           /* removes the temp file; frees c */

struct cpio_tree; /* opaque */

struct cpio_tree *cpio_tree_new(void);
int cpio_tree_dir(struct cpio_tree *t, const char *name, unsigned mode);
int cpio_tree_file(struct cpio_tree *t, const char *name, unsigned mode, const void *data, size_t len); /* copies data */
int cpio_tree_file_from(struct cpio_tree *t, const char *name, unsigned mode, const char *host_path); /* read at write time */
int cpio_tree_symlink(struct cpio_tree *t, const char *name, const char *target);
int cpio_tree_chardev(struct cpio_tree *t, const char *name, unsigned mode, unsigned major, unsigned minor);
/* Declares a directory that already exists wherever the archive is unpacked, so no entry
 * is written for it. This matters for archives appended to another initrd: the kernel
 * replaces an existing symlink (merged-/usr "sbin -> usr/sbin") by a directory entry of
 * the same name, but follows the symlink when it only creates files below it. */
int cpio_tree_assume_dir(struct cpio_tree *t, const char *name);
int cpio_tree_write(struct cpio_tree *t, const char *path, char *err, size_t errlen); /* does not free t */
void cpio_tree_free(struct cpio_tree *t);

#endif
