/* vm_disk_hot.c - what a test does to a running VM's disks (spec §4.7): hot-plug and
 * unplug over QMP (q35: disk.c gives every q35 VM PCIe root ports to plug into), the
 * host-side sector access behind d:read_sectors/d:write_sectors, and power cuts.
 *
 * Sector access goes where the guest's I/O goes, so the host sees what the guest sees:
 * a mediated disk through its NBD server (nbd_read/nbd_write), any other through QEMU's
 * own block layer: writes with HMP `qemu-io -d <device> "write -s FILE ..."` (QEMU keeps
 * qcow2 metadata cached, so writing the overlay from another process would not be
 * safe); reads flush the disk in QEMU first (HMP `flush`), then run the qemu-io program
 * read-only and shared (-r -U) on the file and parse its `read -v` dump. HMP's qemu-io
 * prints on QEMU's stdout, not in the monitor, so a write is read back. */
#include "vm/vm_disk_hot.h"

#include "vm/disk_int.h"
#include "vm/nbd.h"
#include "vm/qmp.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define QMP_WAIT_NS 10000000000LL
#define UNPLUG_WAIT_NS 30000000000LL /* pciehp waits 5 s after the button; TCG is slow */
#define HMP_CHUNK (4u << 20)         /* bytes per qemu-io read: its dump is ~5x that */

static int qmp_do(struct vm *vm, const char *cmd, json_t *args, char *err, size_t errlen)
{
    json_t *r = qmp_exec(vm->qmp, cmd, args, now_ns() + QMP_WAIT_NS, err, errlen);
    json_decref(r);
    return r ? 0 : -1;
}

/* The lowest root port no disk uses (1-based), 0 when all are taken. */
static int free_port(const struct vm *vm)
{
    for (int p = 1; p <= DISK_HOT_PORTS; p++) {
        int used = 0;
        for (size_t i = 0; i < vm->n_disks; i++)
            used |= vm->disks[i].hot_port == p;
        if (!used)
            return p;
    }
    return 0;
}

static json_t *blockdev_args(const struct vm_disk *d)
{
    char *node = disk_node_name(d->id);
    json_t *a = json_pack("{s:s, s:s, s:b, s:{s:s, s:s}}", "driver", d->format, "node-name",
                          node, "read-only", d->readonly, "file", "driver", "file", "filename",
                          d->file);
    free(node);
    return a;
}

static json_t *device_args(const struct vm_disk *d)
{
    char *node = disk_node_name(d->id), *dev = disk_dev_id(d->id);
    char bus[32];
    snprintf(bus, sizeof bus, "provium-hp%d", d->hot_port - 1);
    json_t *a = json_pack("{s:s, s:s, s:s, s:s, s:s}", "driver", "virtio-blk-pci", "id", dev,
                          "drive", node, "serial", d->id, "bus", bus);
    free(node);
    free(dev);
    return a;
}

int vm_disk_attach(struct vm *vm, const struct disk_spec *s, char *err, size_t errlen)
{
    int port = free_port(vm);
    if (!port) {
        snprintf(err, errlen, "all %d hot-plug slots are taken", DISK_HOT_PORTS);
        return -1;
    }
    if (s->path && !file_exists(s->path)) {
        snprintf(err, errlen, "missing disk image: %s", s->path);
        return -1;
    }
    struct vm_disk *d = disk_add(vm);
    d->id = xstrdup(s->id);
    d->readonly = s->readonly;
    d->hot_port = port;
    d->image = s->path ? xstrdup(s->path) : NULL;
    if (s->path && s->readonly) {
        d->file = xstrdup(s->path);
        d->format = xstrdup(disk_image_format(s->path));
    } else {
        d->file = vm_disk_overlay_path(vm, s->id);
        d->format = xstrdup("qcow2");
        if (disk_make_file(d, s->path, s->scratch, err, errlen) < 0)
            goto fail;
    }
    if (qmp_do(vm, "blockdev-add", blockdev_args(d), err, errlen) < 0)
        goto fail;
    if (qmp_do(vm, "device_add", device_args(d), err, errlen) < 0) {
        char e2[256], *node = disk_node_name(s->id);
        qmp_do(vm, "blockdev-del", json_pack("{s:s}", "node-name", node), e2, sizeof e2);
        free(node);
        goto fail;
    }
    return 0;
fail:
    disk_remove(vm, vm->n_disks - 1);
    return -1;
}

/* Waits for QEMU's DEVICE_DELETED of dev: the guest has let the device go. */
static int wait_deleted(struct vm *vm, const char *dev, char *err, size_t errlen)
{
    int64_t deadline = now_ns() + UNPLUG_WAIT_NS;
    for (;;) {
        json_t *ev = qmp_wait_event(vm->qmp, "DEVICE_DELETED", deadline, err, errlen);
        if (!ev) {
            snprintf(err, errlen, "the guest did not release the device within %llds",
                     UNPLUG_WAIT_NS / 1000000000LL);
            return -1;
        }
        const char *name = json_string_value(json_object_get(json_object_get(ev, "data"),
                                                             "device"));
        int done = name && !strcmp(name, dev);
        json_decref(ev);
        if (done)
            return 0;
    }
}

int vm_disk_detach(struct vm *vm, const char *id, char *err, size_t errlen)
{
    size_t i = 0;
    while (i < vm->n_disks && strcmp(vm->disks[i].id, id))
        i++;
    if (i == vm->n_disks) {
        snprintf(err, errlen, "no disk '%s'", id);
        return -1;
    }
    char *dev = disk_dev_id(id), *node = disk_node_name(id);
    int rc = -1;
    if (qmp_do(vm, "device_del", json_pack("{s:s}", "id", dev), err, errlen) < 0 ||
        wait_deleted(vm, dev, err, errlen) < 0)
        goto done;
    /* a -drive disk went with its device; a -blockdev one (hot-plugged, mediated) stays */
    char e2[256];
    qmp_do(vm, "blockdev-del", json_pack("{s:s}", "node-name", node), e2, sizeof e2);
    disk_remove(vm, i);
    rc = 0;
done:
    free(dev);
    free(node);
    return rc;
}

uint64_t vm_disk_size(const struct vm_disk *d)
{
    if (d->nbd)
        return nbd_size(d->nbd);
    return disk_image_size(d->file);
}

uint64_t vm_disk_power_cut(struct vm_disk *d)
{
    if (!d->cut) {
        struct nbd_policy p;
        nbd_policy(d->nbd, &p);
        d->cut_fail_after = p.fail_after;
        nbd_fail_after(d->nbd, 0); /* first: nothing new is held or flushed */
        d->cut = 1;
    }
    return nbd_power_cut(d->nbd);
}

/* Runs `qemu-io -d <device> "<cmd>"` in QEMU's monitor. QEMU prints qemu-io's output
 * on its own stdout, so this only acts (write, flush). On q35 the drive belongs to the
 * virtio-blk-pci proxy's child, named by its QOM path. */
static int hmp_qemu_io(struct vm *vm, const struct vm_disk *d, const char *cmd, char *err,
                       size_t errlen)
{
    char *line = strcmp(vm->machine, "microvm") == 0
                     ? xasprintf("qemu-io -d disk-%s \"%s\"", d->id, cmd)
                     : xasprintf("qemu-io -d /machine/peripheral/disk-%s/virtio-backend \"%s\"",
                                 d->id, cmd);
    json_t *r = qmp_exec(vm->qmp, "human-monitor-command",
                         json_pack("{s:s}", "command-line", line), now_ns() + 60000000000LL, err,
                         errlen);
    free(line);
    if (r && json_is_string(r) && json_string_length(r) > 0) { /* the monitor's own errors */
        snprintf(err, errlen, "qemu-io: %.200s", json_string_value(r));
        json_decref(r);
        return -1;
    }
    json_decref(r);
    return r ? 0 : -1;
}

/* Runs the qemu-io program read-only and shared (-r -U: QEMU has the file open) on the
 * disk's file with one command; its stdout and stderr (malloc'd) or NULL with err. */
static char *qemu_io_read(const struct vm_disk *d, const char *cmd, char *err, size_t errlen)
{
    const char *bin = getenv("PROVIUM_QEMU_IO");
    if (!bin || !*bin)
        bin = "qemu-io";
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return NULL;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        execlp(bin, bin, "-r", "-U", "-f", d->format, "-c", cmd, d->file, (char *)NULL);
        fprintf(stderr, "cannot run %s: %s", bin, strerror(errno));
        _exit(127);
    }
    close(p[1]);
    struct buf b = {0};
    char chunk[65536];
    ssize_t n;
    while ((n = read(p[0], chunk, sizeof chunk)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0)
            buf_append(&b, chunk, (size_t)n);
    close(p[0]);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        size_t len = b.len ? strcspn(buf_cstr(&b), "\n") : 0;
        snprintf(err, errlen, "qemu-io failed: %.*s", (int)(len > 200 ? 200 : len),
                 len ? buf_cstr(&b) : "no output");
        buf_free(&b);
        return NULL;
    }
    return buf_cstr(&b);
}

/* Fills out from qemu-io's dump lines "%08x:  hh hh ... (16)  ascii"; bytes found. */
static size_t parse_dump(const char *text, uint64_t off, size_t len, char *out)
{
    size_t got = 0;
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        char *end;
        unsigned long long at = strtoull(l, &end, 16);
        if (end != l + 8 || strncmp(end, ":  ", 3) || at < off || at - off + 16 > len)
            continue;
        const char *h = end + 3;
        for (int k = 0; k < 16; k++, h += 3) {
            unsigned v;
            if (sscanf(h, "%2x", &v) != 1)
                return got;
            out[at - off + (unsigned)k] = (char)v;
        }
        got += 16;
    }
    return got;
}

static int need_qemu(const struct vm *vm, char *err, size_t errlen)
{
    if (vm->qmp && (vm->state == VM_BOOTED || vm->state == VM_PAUSED))
        return 0;
    snprintf(err, errlen, "the VM is not running (a disk that is not mediated is reached "
             "through QEMU)");
    return -1;
}

/* Not mediated: QEMU flushes the disk (its qcow2 metadata reaches the file), then the
 * qemu-io program reads the file. */
static int read_through_qemu(struct vm *vm, const struct vm_disk *d, uint64_t off, size_t len,
                             char *out, char *err, size_t errlen)
{
    if (need_qemu(vm, err, errlen) < 0 || hmp_qemu_io(vm, d, "flush", err, errlen) < 0)
        return -1;
    for (size_t done = 0; done < len;) {
        size_t n = len - done > HMP_CHUNK ? HMP_CHUNK : len - done;
        char cmd[96];
        snprintf(cmd, sizeof cmd, "read -v %llu %zu", (unsigned long long)(off + done), n);
        char *text = qemu_io_read(d, cmd, err, errlen);
        if (!text)
            return -1;
        size_t got = parse_dump(text, off + done, n, out + done);
        if (got != n) {
            size_t l = strcspn(text, "\n");
            snprintf(err, errlen, "qemu-io: %.*s", (int)(l > 200 ? 200 : l), text);
        }
        free(text);
        if (got != n)
            return -1;
        done += n;
    }
    return 0;
}

int vm_disk_read(struct vm *vm, const struct vm_disk *d, uint64_t off, size_t len, char *out,
                 char *err, size_t errlen)
{
    if (!d->nbd)
        return read_through_qemu(vm, d, off, len, out, err, errlen);
    int rc = nbd_read(d->nbd, off, out, len);
    if (rc < 0)
        snprintf(err, errlen, "%s (%s)", strerrorname_np(-rc), strerror(-rc));
    return rc < 0 ? -1 : 0;
}

/* Not mediated: QEMU writes from a file in the VM's directory (qemu-io `write -s`);
 * qemu-io's answer goes to QEMU's stdout, so the write is read back to be sure. */
static int write_through_qemu(struct vm *vm, const struct vm_disk *d, uint64_t off,
                              const char *data, size_t len, char *err, size_t errlen)
{
    if (need_qemu(vm, err, errlen) < 0)
        return -1;
    char *src = xasprintf("%s/sectors.tmp", vm->dir);
    char *cmd = xasprintf("write -s %s %llu %zu", src, (unsigned long long)off, len);
    char *back = xmalloc(len);
    int rc = -1;
    if (strchr(src, '"'))
        snprintf(err, errlen, "the VM's directory has a '\"' in its name");
    else if (write_file_atomic(src, data, len, 0600) < 0)
        snprintf(err, errlen, "cannot write %s: %s", src, strerror(errno));
    else if (hmp_qemu_io(vm, d, cmd, err, errlen) == 0 &&
             read_through_qemu(vm, d, off, len, back, err, errlen) == 0) {
        rc = memcmp(back, data, len) == 0 ? 0 : -1;
        if (rc < 0)
            snprintf(err, errlen, "EIO (the write did not reach the disk)");
    }
    unlink(src);
    free(src);
    free(cmd);
    free(back);
    return rc;
}

int vm_disk_write(struct vm *vm, const struct vm_disk *d, uint64_t off, const char *data,
                  size_t len, char *err, size_t errlen)
{
    if (!d->nbd)
        return write_through_qemu(vm, d, off, data, len, err, errlen);
    int rc = nbd_write(d->nbd, off, data, len);
    if (rc < 0)
        snprintf(err, errlen, "%s (%s)", strerrorname_np(-rc), strerror(-rc));
    return rc < 0 ? -1 : 0;
}
