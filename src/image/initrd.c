/* initrd.c - assembling a VM's initramfs from the base image and Provium's segments
 * (see initrd.h).
 *
 * The base is only looked at, never rewritten: its uncompressed cpio archives are walked
 * header by header (names and data skipped by their sizes) until the first compressed
 * stream, whose magic says whether it is legacy lz4. The kernel reads a legacy lz4 stream
 * to the end of the image, so that is the one case where what we append must change
 * shape: each later segment becomes a run of lz4 chunks. An lz4 block that holds only
 * literals is the data itself behind a short length prefix, so no compressor is needed.
 */
#include "image/initrd.h"

#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define NEWC_HEADER 110
#define LZ4_LEGACY_MAGIC 0x184C2102u
/* The kernel decompresses legacy lz4 chunks into an 8 MiB buffer; stay well below. */
#define LZ4_CHUNK (4u << 20)

static const unsigned char lz4_legacy_magic[4] = {0x02, 0x21, 0x4c, 0x18};

/* ---- walking the base ---- */

static int hex_field(const unsigned char *p, size_t *out)
{
    size_t v = 0;
    for (int i = 0; i < 8; i++) {
        unsigned char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + (size_t)d;
    }
    *out = v;
    return 0;
}

static size_t align4(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

/* Skips one newc entry at off; returns the offset after it, or 0 when the header is bad
 * or runs past the end (the rest is then not something we can reason about). */
static size_t skip_newc_entry(const unsigned char *b, size_t len, size_t off)
{
    size_t namesize, filesize;
    if (len - off < NEWC_HEADER || hex_field(b + off + 54, &filesize) < 0 ||
        hex_field(b + off + 94, &namesize) < 0)
        return 0;
    size_t data = align4(off + NEWC_HEADER + namesize);
    if (namesize > len || data > len || filesize > len - data)
        return 0;
    return align4(data + filesize);
}

static enum initrd_tail classify(const unsigned char *b, size_t len)
{
    size_t off = 0;
    while (off < len) {
        if (b[off] == 0) { /* padding between segments, as the kernel skips it */
            off++;
            continue;
        }
        if (len - off >= 6 && (!memcmp(b + off, "070701", 6) || !memcmp(b + off, "070702", 6))) {
            size_t next = skip_newc_entry(b, len, off);
            if (next == 0)
                return INITRD_TAIL_OPEN;
            off = next;
            continue;
        }
        /* a compressed stream (or something unknown): its kind decides */
        if (len - off >= 4 && !memcmp(b + off, lz4_legacy_magic, 4))
            return INITRD_TAIL_LZ4_LEGACY;
        return INITRD_TAIL_OPEN;
    }
    return INITRD_TAIL_OPEN;
}

int initrd_tail_kind(const char *path, enum initrd_tail *kind, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *kind = INITRD_TAIL_OPEN;
    if (st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            snprintf(err, errlen, "cannot map %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        *kind = classify(m, (size_t)st.st_size);
        munmap(m, (size_t)st.st_size);
    }
    close(fd);
    return 0;
}

/* ---- appending ---- */

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* One legacy lz4 chunk whose block is a single literal run of n bytes (n > 0): chunk size,
 * token (literal length in the high nibble, 15 = more follows), length bytes, literals. */
static int write_lz4_literal_chunk(int fd, const unsigned char *data, size_t n)
{
    unsigned char head[4 + 1 + LZ4_CHUNK / 255 + 2];
    size_t h = 4;
    head[h++] = (unsigned char)((n >= 15 ? 15 : n) << 4);
    if (n >= 15) {
        size_t rest = n - 15;
        for (; rest >= 255; rest -= 255)
            head[h++] = 255;
        head[h++] = (unsigned char)rest;
    }
    put_le32(head, (uint32_t)(h - 4 + n));
    return write_all(fd, head, h) < 0 || write_all(fd, data, n) < 0 ? -1 : 0;
}

int initrd_append_lz4(int fd, const char *path, char *err, size_t errlen)
{
    int rc = -1;
    unsigned char *buf = NULL;
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        goto done;
    }
    buf = xmalloc(LZ4_CHUNK);
    if (write_all(fd, lz4_legacy_magic, 4) < 0)
        goto write_failed;
    for (;;) {
        size_t n = 0;
        ssize_t r;
        while (n < LZ4_CHUNK && (r = read(in, buf + n, LZ4_CHUNK - n)) > 0)
            n += (size_t)r;
        if (n == 0)
            break;
        if (write_lz4_literal_chunk(fd, buf, n) < 0)
            goto write_failed;
        if (n < LZ4_CHUNK)
            break;
    }
    rc = 0;
    goto done;
write_failed:
    snprintf(err, errlen, "write failed: %s", strerror(errno));
done:
    free(buf);
    if (in >= 0)
        close(in);
    return rc;
}

/* Appends the file verbatim, then (with pad) zeros up to a 4-byte boundary, where the
 * kernel expects the next segment to start. */
static int append_raw(int fd, const char *path, int pad, char *err, size_t errlen)
{
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char buf[1 << 16];
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = read(in, buf, sizeof buf)) > 0)
        rc = write_all(fd, buf, (size_t)n);
    close(in);
    off_t pos = lseek(fd, 0, SEEK_CUR);
    static const char zeros[4] = {0};
    if (rc == 0 && pad && pos % 4)
        rc = write_all(fd, zeros, (size_t)(4 - pos % 4));
    if (rc < 0)
        snprintf(err, errlen, "write failed: %s", strerror(errno));
    return rc;
}

int initrd_assemble(const char *out_path, const struct initrd_parts *p, char *err, size_t errlen)
{
    enum initrd_tail tail = INITRD_TAIL_OPEN;
    if (p->base && initrd_tail_kind(p->base, &tail, err, errlen) < 0)
        return -1;
    int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", out_path, strerror(errno));
        return -1;
    }
    int lz4 = tail == INITRD_TAIL_LZ4_LEGACY;
    int rc = 0;
    if (p->prelude)
        rc = append_raw(fd, p->prelude, 1, err, errlen);
    if (rc == 0 && p->base) /* no padding after an lz4 base: its next 4 bytes are read as a chunk size */
        rc = append_raw(fd, p->base, !lz4, err, errlen);
    const char *after[] = {p->overlay, p->files};
    for (size_t i = 0; rc == 0 && i < 2; i++)
        if (after[i])
            rc = lz4 ? initrd_append_lz4(fd, after[i], err, errlen)
                     : append_raw(fd, after[i], 1, err, errlen);
    if (close(fd) < 0 && rc == 0) {
        snprintf(err, errlen, "write failed: %s", strerror(errno));
        rc = -1;
    }
    return rc;
}
