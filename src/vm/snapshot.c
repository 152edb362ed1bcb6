/* snapshot.c - save a running VM to a file and start a fresh QEMU from it.
 *
 * Save: pause the vCPUs, hand QEMU the write end of a pipe (QMP getfd) and `migrate
 * fd:`, compress the stream with zstd as it arrives into a temp file, then resume the
 * VM and rename the file into place. The file is 0600 (it holds guest memory); the
 * temp name `.snap.tmp-<owner tag>-XXXXXX` lets the fixture cache remove it once its
 * writer is gone. Restore: start QEMU with `-incoming defer`, hand it the read end of
 * a pipe, feed it the decompressed stream, `cont`, reconnect the agent and set the
 * guest clock (a restored guest must not live in the past).
 *
 * File format: a zstd skippable frame holding SNAP_META_SIZE bytes of JSON metadata
 * (padded with spaces, rewritten in place once the lengths are known), followed by the
 * sections, each its own zstd frame: the QEMU migration stream, then the qcow2 overlay
 * of each writable disk (the raw file of a mediated one). The metadata lists the sections in order with their raw
 * `length` and compressed `zbytes`, so a reader can seek to any of them; disks are
 * written back sparse. */
#include "snapshot.h"

#include "proto/wire.h"
#include "util/util.h"
#include "vm/qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#define SNAP_MAGIC_SKIPPABLE 0x184D2A50u
#define SNAP_META_SIZE 4096
#define SNAP_FORMAT "provium-snap-1"
#define IO_CHUNK (1u << 20)

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int write_meta(int fd, json_t *meta, char *err, size_t errlen)
{
    char *s = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
    size_t n = s ? strlen(s) : 0;
    if (!s || n > SNAP_META_SIZE) {
        free(s);
        snprintf(err, errlen, "snapshot metadata too large");
        return -1;
    }
    uint8_t block[8 + SNAP_META_SIZE];
    put_le32(block, SNAP_MAGIC_SKIPPABLE);
    put_le32(block + 4, SNAP_META_SIZE);
    memset(block + 8, ' ', SNAP_META_SIZE);
    memcpy(block + 8, s, n);
    free(s);
    if (pwrite(fd, block, sizeof block, 0) != (ssize_t)sizeof block) {
        snprintf(err, errlen, "cannot write snapshot: %s", strerror(errno));
        return -1;
    }
    return 0;
}

json_t *snapshot_read_meta(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open snapshot %s: %s", path, strerror(errno));
        return NULL;
    }
    uint8_t block[8 + SNAP_META_SIZE];
    ssize_t n = pread(fd, block, sizeof block, 0);
    close(fd);
    if (n != (ssize_t)sizeof block || get_le32(block) != SNAP_MAGIC_SKIPPABLE ||
        get_le32(block + 4) != SNAP_META_SIZE) {
        snprintf(err, errlen, "%s is not a provium snapshot (bad magic)", path);
        return NULL;
    }
    json_error_t je;
    json_t *meta = json_loadb((const char *)block + 8, SNAP_META_SIZE, JSON_DISABLE_EOF_CHECK, &je);
    const char *fmt = meta ? json_string_value(json_object_get(meta, "format")) : NULL;
    if (!fmt || strcmp(fmt, SNAP_FORMAT) != 0) {
        snprintf(err, errlen, "%s: unreadable snapshot metadata", path);
        json_decref(meta);
        return NULL;
    }
    return meta;
}

/* ---- save ---- */

static int compress_chunk(ZSTD_CCtx *z, int out_fd, const void *data, size_t n, int end,
                          uint64_t *written)
{
    static uint8_t obuf[IO_CHUNK];
    ZSTD_inBuffer in = {data, n, 0};
    for (;;) {
        ZSTD_outBuffer out = {obuf, sizeof obuf, 0};
        size_t left = ZSTD_compressStream2(z, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(left))
            return -1;
        if (out.pos && write_all(out_fd, obuf, out.pos) < 0)
            return -1;
        *written += out.pos;
        if (end ? left == 0 : in.pos == in.size)
            return 0;
    }
}

static const char *migrate_status(struct vm *vm, char *err, size_t errlen, char *detail,
                                  size_t dlen)
{
    static char status[32];
    json_t *r = qmp_exec(vm->qmp, "query-migrate", NULL, now_ns() + 5000000000LL, err, errlen);
    if (!r)
        return NULL;
    const char *s = json_string_value(json_object_get(r, "status"));
    snprintf(status, sizeof status, "%s", s ? s : "none");
    const char *e = json_string_value(json_object_get(r, "error-desc"));
    if (detail)
        snprintf(detail, dlen, "%s", e ? e : "");
    json_decref(r);
    return status;
}

int snapshot_wait_migration(struct vm *vm, int64_t deadline, char *err, size_t errlen)
{
    for (;;) {
        char detail[256];
        const char *s = migrate_status(vm, err, errlen, detail, sizeof detail);
        if (!s)
            return -1;
        if (!strcmp(s, "completed"))
            return 0;
        if (!strcmp(s, "failed") || !strcmp(s, "cancelled")) {
            snprintf(err, errlen, "QEMU migration %s%s%s", s, detail[0] ? ": " : "", detail);
            return -1;
        }
        if (now_ns() > deadline) {
            snprintf(err, errlen, "QEMU migration did not finish in time (status %s)", s);
            return -1;
        }
        sleep_ms(2);
    }
}

static json_t *build_meta(const struct vm *vm, const char *fixture)
{
    /* hvc: the QEMU has the virtio console, so a restore must add it too */
    return json_pack("{s:s, s:s, s:i, s:s?, s:s, s:s, s:I, s:i, s:s, s:s, s:i, s:b, s:[]}",
                     "format", SNAP_FORMAT, "provium_version", PROVIUM_VERSION, "protocol",
                     WIRE_PROTOCOL_VERSION, "fixture", fixture, "vm_name", vm->name, "profile",
                     vm->profile->name, "memory", (json_int_t)vm->memory, "cpus", vm->cpus,
                     "machine", vm->machine, "accel", vm->env->accel, "nic_slots",
                     vm->nic_slots, "hvc", !vm->no_hvc, "sections");
}

/* A snapshot file being written: its sections go through one compressor, and the
 * metadata collects one entry per section. */
struct snap_out {
    int fd;           /* the temp file */
    ZSTD_CCtx *z;
    json_t *meta;
    uint64_t written; /* bytes in the file so far */
    uint8_t *buf;     /* IO_CHUNK bytes for reading the sources */
};

/* Compresses n bytes into the current section (end: and closes the section). */
static int snap_compress(struct snap_out *so, const void *data, size_t n, int end)
{
    return compress_chunk(so->z, so->fd, data, n, end, &so->written);
}

/* Appends the overlay of each writable disk as its own section (the VM is stopped).
 * A mediated disk's section is its raw file: stopping made QEMU flush it, so nothing
 * is held (checked). */
static int save_disks(struct vm *vm, struct snap_out *so, char *err, size_t errlen)
{
    if (vm_disks_snapshot_check(vm, 1, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < vm->n_disks; i++) {
        const struct vm_disk *d = &vm->disks[i];
        if (d->readonly && !d->mediated)
            continue;
        int in = open(d->file, O_RDONLY | O_CLOEXEC);
        if (in < 0) {
            snprintf(err, errlen, "disk %s: cannot read %s: %s", d->id, d->file, strerror(errno));
            return -1;
        }
        uint64_t raw = 0, before = so->written;
        ssize_t n;
        while ((n = read(in, so->buf, IO_CHUNK)) > 0) {
            raw += (uint64_t)n;
            if (snap_compress(so, so->buf, (size_t)n, 0) < 0)
                break;
        }
        close(in);
        if (n != 0 || snap_compress(so, NULL, 0, 1) < 0) {
            snprintf(err, errlen, "disk %s: writing its section: %s", d->id, strerror(errno));
            return -1;
        }
        json_array_append_new(json_object_get(so->meta, "sections"),
                              json_pack("{s:s, s:s, s:I, s:I}", "kind", "disk", "id", d->id,
                                        "length", (json_int_t)raw, "zbytes",
                                        (json_int_t)(so->written - before)));
    }
    return 0;
}

/* Streams the VM's migration into the file as the first section: QEMU writes it into
 * the pipe p (the caller closes what is left of it) and we compress it as it comes. */
static int save_migration(struct vm *vm, struct snap_out *so, int p[2], int64_t deadline,
                          char *err, size_t errlen)
{
    uint64_t raw = 0, start = so->written;
    json_t *r;
    if (pipe2(p, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    if (!(r = qmp_exec_fd(vm->qmp, "getfd", json_pack("{s:s}", "fdname", "provsnap"), p[1],
                          deadline, err, errlen)))
        return -1;
    json_decref(r);
    close(p[1]);
    p[1] = -1;
    if (!(r = qmp_exec(vm->qmp, "migrate", json_pack("{s:s}", "uri", "fd:provsnap"), deadline,
                       err, errlen)))
        return -1;
    json_decref(r);
    for (;;) {
        ssize_t n = read(p[0], so->buf, IO_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "reading the migration stream: %s", strerror(errno));
            return -1;
        }
        if (n == 0)
            break;
        raw += (uint64_t)n;
        if (snap_compress(so, so->buf, (size_t)n, 0) < 0) {
            snprintf(err, errlen, "writing snapshot: %s", strerror(errno));
            return -1;
        }
    }
    if (snap_compress(so, NULL, 0, 1) < 0) {
        snprintf(err, errlen, "writing snapshot: %s", strerror(errno));
        return -1;
    }
    if (snapshot_wait_migration(vm, deadline, err, errlen) < 0)
        return -1;
    json_array_append_new(json_object_get(so->meta, "sections"),
                          json_pack("{s:s, s:I, s:I}", "kind", "migration", "length",
                                    (json_int_t)raw, "zbytes",
                                    (json_int_t)(so->written - start)));
    return 0;
}

int vm_snapshot_save(struct vm *vm, const char *path, const char *fixture, uint64_t *bytes,
                     char *err, size_t errlen)
{
    char *dir = path_dirname(path);
    /* the owner tag lets the fixture cache remove it if we die while writing */
    char *tmp = xasprintf("%s/.snap.tmp-%s-XXXXXX", dir, owner_tag());
    free(dir);
    int out = mkstemp(tmp); /* 0600: a snapshot holds guest memory */
    if (out < 0) {
        snprintf(err, errlen, "cannot create a snapshot next to %s: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    int p[2] = {-1, -1};
    struct snap_out so = {out, ZSTD_createCCtx(), build_meta(vm, fixture), 8 + SNAP_META_SIZE,
                          xmalloc(IO_CHUNK)};
    ZSTD_CCtx_setParameter(so.z, ZSTD_c_compressionLevel, 3);
    json_object_set_new(so.meta, "disks", vm_disks_to_meta(vm));
    int rc = -1, was_running = vm->state == VM_BOOTED;
    int64_t deadline = now_ns() + 600000000000LL;
    json_t *r;

    if (vm_disks_snapshot_check(vm, 0, err, errlen) < 0 ||
        write_meta(out, so.meta, err, errlen) < 0 ||
        lseek(out, 8 + SNAP_META_SIZE, SEEK_SET) < 0)
        goto done;
    if (was_running) {
        if (!(r = qmp_exec(vm->qmp, "stop", NULL, deadline, err, errlen)))
            goto done;
        json_decref(r);
    }
    if (save_migration(vm, &so, p, deadline, err, errlen) < 0 ||
        save_disks(vm, &so, err, errlen) < 0)
        goto resume;
    if (write_meta(out, so.meta, err, errlen) < 0 || fsync(out) < 0)
        goto resume;
    rc = 0;
resume:
    if (was_running) {
        char e2[256];
        r = qmp_exec(vm->qmp, "cont", NULL, now_ns() + 10000000000LL, e2, sizeof e2);
        if (!r && rc == 0) {
            snprintf(err, errlen, "%s", e2);
            rc = -1;
        }
        json_decref(r);
    }
done:
    free(so.buf);
    json_decref(so.meta);
    ZSTD_freeCCtx(so.z);
    if (p[0] >= 0)
        close(p[0]);
    if (p[1] >= 0)
        close(p[1]);
    close(out);
    if (rc == 0 && rename(tmp, path) < 0) {
        snprintf(err, errlen, "cannot install snapshot %s: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc < 0)
        unlink(tmp);
    free(tmp);
    if (rc == 0 && bytes) {
        struct stat st;
        *bytes = stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : so.written;
    }
    return rc;
}

/* ---- restore ---- */

/* Streams the decompressed migration data into fd (the pipe QEMU reads). */
/* Decompresses zlen bytes (0 = to the end) of the file from offset into fd. With
 * sparse, all-zero blocks become holes (fd is a regular file, truncated to size). */
static int decompress_range(const char *path, off_t offset, uint64_t zlen, int fd, int sparse,
                            char *err, size_t errlen)
{
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0 || lseek(in, offset, SEEK_SET) < 0) {
        snprintf(err, errlen, "cannot open snapshot %s: %s", path, strerror(errno));
        if (in >= 0)
            close(in);
        return -1;
    }
    ZSTD_DCtx *z = ZSTD_createDCtx();
    uint8_t *ibuf = xmalloc(IO_CHUNK), *obuf = xmalloc(IO_CHUNK);
    int rc = 0;
    size_t last = 1;
    uint64_t left = zlen, out_size = 0;
    static const uint8_t zero[4096];
    for (;;) {
        size_t want = IO_CHUNK;
        if (zlen && left < want)
            want = (size_t)left;
        if (zlen && want == 0)
            break;
        ssize_t n = read(in, ibuf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "reading snapshot: %s", strerror(errno));
            rc = -1;
            break;
        }
        if (n == 0)
            break;
        left -= (uint64_t)n;
        ZSTD_inBuffer zin = {ibuf, (size_t)n, 0};
        while (zin.pos < zin.size) {
            ZSTD_outBuffer zout = {obuf, IO_CHUNK, 0};
            last = ZSTD_decompressStream(z, &zout, &zin);
            if (ZSTD_isError(last)) {
                snprintf(err, errlen, "decompression error: %s", ZSTD_getErrorName(last));
                rc = -1;
                goto out;
            }
            for (size_t o = 0; sparse && o < zout.pos; o += sizeof zero) {
                size_t k = zout.pos - o < sizeof zero ? zout.pos - o : sizeof zero;
                int hole = !memcmp(obuf + o, zero, k);
                if ((hole ? lseek(fd, (off_t)k, SEEK_CUR) : write_all(fd, obuf + o, k)) < 0) {
                    snprintf(err, errlen, "writing a disk: %s", strerror(errno));
                    rc = -1;
                    goto out;
                }
            }
            if (!sparse && zout.pos && write_all(fd, obuf, zout.pos) < 0) {
                snprintf(err, errlen, "QEMU stopped reading the migration stream: %s",
                         strerror(errno));
                rc = -1;
                goto out;
            }
            out_size += zout.pos;
        }
    }
    if (rc == 0 && last != 0) {
        snprintf(err, errlen, "decompression error: truncated snapshot");
        rc = -1;
    }
    if (rc == 0 && sparse && ftruncate(fd, (off_t)out_size) < 0) {
        snprintf(err, errlen, "writing a disk: %s", strerror(errno));
        rc = -1;
    }
out:
    free(ibuf);
    free(obuf);
    ZSTD_freeDCtx(z);
    close(in);
    return rc;
}

/* Where each section starts: offsets[i] of sections[i]; -1 on bad metadata. */
static int section_offset(json_t *meta, const char *kind, const char *id, off_t *off,
                          uint64_t *zbytes)
{
    off_t pos = 8 + SNAP_META_SIZE;
    size_t i;
    json_t *sec;
    json_array_foreach(json_object_get(meta, "sections"), i, sec) {
        const char *k = json_string_value(json_object_get(sec, "kind"));
        const char *sid = json_string_value(json_object_get(sec, "id"));
        json_t *zb = json_object_get(sec, "zbytes");
        if (k && !strcmp(k, kind) && (!id || (sid && !strcmp(sid, id)))) {
            *off = pos;
            *zbytes = zb ? (uint64_t)json_integer_value(zb) : 0;
            return 0;
        }
        if (!zb)
            return -1;
        pos += (off_t)json_integer_value(zb);
    }
    return -1;
}

int snapshot_extract_disks(struct vm *vm, const char *path, json_t *meta, char *err,
                           size_t errlen)
{
    for (size_t i = 0; i < vm->n_disks; i++) {
        const struct vm_disk *d = &vm->disks[i];
        if (d->readonly && !d->mediated)
            continue;
        off_t off;
        uint64_t zb;
        if (section_offset(meta, "disk", d->id, &off, &zb) < 0 || zb == 0) {
            snprintf(err, errlen, "%s: no section for disk %s", path, d->id);
            return -1;
        }
        int fd = open(d->file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
            snprintf(err, errlen, "cannot create %s: %s", d->file, strerror(errno));
            return -1;
        }
        int rc = decompress_range(path, off, zb, fd, 1, err, errlen);
        if (close(fd) < 0 && rc == 0) {
            snprintf(err, errlen, "writing %s: %s", d->file, strerror(errno));
            rc = -1;
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

int vm_restore_stream(struct vm *vm, const char *path, json_t *meta, int cont, char *err,
                      size_t errlen)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    int64_t deadline = now_ns() + 600000000000LL;
    json_t *r = qmp_exec_fd(vm->qmp, "getfd", json_pack("{s:s}", "fdname", "provsnap"), p[0],
                            deadline, err, errlen);
    close(p[0]);
    if (!r) {
        close(p[1]);
        return -1;
    }
    json_decref(r);
    r = qmp_exec(vm->qmp, "migrate-incoming", json_pack("{s:s}", "uri", "fd:provsnap"),
                 deadline, err, errlen);
    if (!r) {
        close(p[1]);
        return -1;
    }
    json_decref(r);
    off_t off = 8 + SNAP_META_SIZE;
    uint64_t zbytes = 0;
    if (section_offset(meta, "migration", NULL, &off, &zbytes) < 0)
        off = 8 + SNAP_META_SIZE, zbytes = 0;
    int rc = decompress_range(path, off, zbytes, p[1], 0, err, errlen);
    close(p[1]);
    if (rc < 0)
        return -1;
    if (snapshot_wait_migration(vm, deadline, err, errlen) < 0)
        return -1;
    if (!cont)
        return 0;
    r = qmp_exec(vm->qmp, "cont", NULL, deadline, err, errlen);
    if (!r)
        return -1;
    json_decref(r);
    return 0;
}
