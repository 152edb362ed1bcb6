/* initrd.h - the initramfs a VM boots: the profile's base image with Provium's segments
 * around it.
 *
 * Linux unpacks an initrd as a run of segments: uncompressed newc cpio archives, each
 * followed by zero padding, and compressed streams (gzip, bzip2, lzma, xz, lzo, lz4,
 * zstd). Most compressors mark their own end, so the kernel carries on with whatever
 * follows; the legacy lz4 format (`lz4 -l`, the one the kernel reads) has no end mark, so
 * everything after an lz4 stream is read as more lz4 chunks. initrd_assemble therefore
 * looks at how the base ends: after an lz4 stream the later segments are appended as lz4
 * chunks themselves (stored as literals, no compressor needed), otherwise as they are,
 * each starting on a 4-byte boundary.
 *
 * The order is: prelude, base, overlay, files. The prelude goes first so that the base's
 * own entries win over it (see overlay.h for why it exists).
 */
#ifndef PROVIUM_IMAGE_INITRD_H
#define PROVIUM_IMAGE_INITRD_H

#include <stddef.h>

enum initrd_tail {
    INITRD_TAIL_OPEN,      /* ends in uncompressed cpio, or a stream with an end mark (or empty) */
    INITRD_TAIL_LZ4_LEGACY /* ends in a legacy lz4 stream: anything after must be lz4 chunks */
};

/* Segment paths; any may be NULL. */
struct initrd_parts {
    const char *prelude;
    const char *base;
    const char *overlay;
    const char *files;
};

/* How the initrd at path ends (see above). Returns 0, or -1 with err set. */
int initrd_tail_kind(const char *path, enum initrd_tail *kind, char *err, size_t errlen);

/* Appends the file at path to fd as legacy lz4 chunks holding it verbatim. */
int initrd_append_lz4(int fd, const char *path, char *err, size_t errlen);

/* Writes the segments of p, in order, to out_path (created 0600 or truncated). */
int initrd_assemble(const char *out_path, const struct initrd_parts *p, char *err, size_t errlen);

#endif
