/* disk.c - a VM's block devices: private qcow2 overlays over the profile's images, and
 * mediated disks served by provium's own NBD server.
 *
 * Read-only disks use the image directly. A writable disk is always a qcow2 overlay in
 * the VM's scratch directory backed by the image, so host images are never modified
 * and a snapshot can carry the disk state (the overlay is a section of the .snap
 * file, see snapshot.c). A scratch disk is an empty qcow2 of the given size. Overlays
 * are made with `qemu-img` ($PROVIUM_QEMU_IMG, else the one on PATH).
 *
 * A mediated disk (spec §4.7) is a private raw file in the VM's directory (a sparse
 * copy of the image, or a sparse file of the scratch size) served by nbd.c on a unix
 * socket there; QEMU opens it as `-blockdev driver=raw,file.driver=nbd` with its default
 * cache mode (the guest sees a write-back cache and its flushes reach us) and
 * werror/rerror=report (see nbd.h). Writes are held until the guest flushes, so
 * d:power_cut() loses exactly the unflushed ones; after a cut the disk is dead (every
 * request fails) until vm:reset() gives it its power back. A snapshot stops the vCPUs,
 * which makes QEMU flush every disk: nothing is held then, and the raw file is the
 * disk's section like an overlay (a power-cut disk is refused).
 *
 * On q35 every VM gets DISK_HOT_PORTS PCIe root ports so disks can be hot-plugged
 * (vm_disk_hot.c). */
#include "vm.h"

#include "vm/disk_int.h"
#include "vm/nbd.h"
#include "vm/sockpath.h"
#include "util/util.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *disk_image_format(const char *path)
{
    unsigned char magic[4] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, magic, 4) != 4)
            memset(magic, 0, 4);
        close(fd);
    }
    return memcmp(magic, "QFI\xfb", 4) == 0 ? "qcow2" : "raw";
}

uint64_t disk_image_size(const char *path)
{
    unsigned char h[32];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    uint64_t size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    if (pread(fd, h, sizeof h, 0) == (ssize_t)sizeof h && memcmp(h, "QFI\xfb", 4) == 0) {
        uint64_t be;
        memcpy(&be, h + 24, 8); /* qcow2 header: virtual size, big-endian */
        size = be64toh(be);
    }
    close(fd);
    return size;
}

int disk_qemu_img(const char *const *args, char *err, size_t errlen)
{
    const char *bin = getenv("PROVIUM_QEMU_IMG");
    if (!bin || !*bin)
        bin = "qemu-img";
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    struct strv argv = {0};
    strv_push(&argv, bin);
    for (const char *const *a = args; *a; a++)
        strv_push(&argv, *a);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 2);
        execvp(bin, argv.v);
        fprintf(stderr, "cannot run %s: %s", bin, strerror(errno));
        _exit(127);
    }
    close(p[1]);
    strv_free(&argv);
    char msg[1024];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof msg - 1 && (r = read(p[0], msg + n, sizeof msg - 1 - n)) > 0)
        n += (size_t)r;
    msg[n] = 0;
    close(p[0]);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        snprintf(err, errlen, "qemu-img failed: %s", n ? msg : "no output");
        return -1;
    }
    return 0;
}

char *disk_node_name(const char *id)
{
    return xasprintf("node-%s", id);
}

char *disk_dev_id(const char *id)
{
    return xasprintf("disk-%s", id);
}

static void disk_free(struct vm_disk *d)
{
    nbd_stop(d->nbd);
    free(d->id);
    free(d->image);
    free(d->file);
    free(d->format);
}

void vm_disks_free(struct vm *vm)
{
    for (size_t i = 0; i < vm->n_disks; i++)
        disk_free(&vm->disks[i]);
    free(vm->disks);
    vm->disks = NULL;
    vm->n_disks = 0;
}

void vm_disk_specs_free(struct disk_spec *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].path);
        free(s[i].id);
    }
    free(s);
}

struct vm_disk *disk_add(struct vm *vm)
{
    vm->disks = xrealloc(vm->disks, (vm->n_disks + 1) * sizeof *vm->disks);
    struct vm_disk *d = &vm->disks[vm->n_disks++];
    memset(d, 0, sizeof *d);
    d->cut_fail_after = -1;
    return d;
}

void disk_remove(struct vm *vm, size_t i)
{
    struct vm_disk *d = &vm->disks[i];
    if (!d->readonly || d->mediated)
        unlink(d->file);
    disk_free(d);
    memmove(d, d + 1, (vm->n_disks - i - 1) * sizeof *d);
    vm->n_disks--;
}

struct vm_disk *vm_disk_find(struct vm *vm, const char *id)
{
    for (size_t i = 0; i < vm->n_disks; i++)
        if (!strcmp(vm->disks[i].id, id))
            return &vm->disks[i];
    return NULL;
}

char *vm_disk_overlay_path(const struct vm *vm, const char *id)
{
    return xasprintf("%s/disk-%s.qcow2", vm->dir, id);
}

static char *mediated_path(const struct vm *vm, const char *id)
{
    return xasprintf("%s/disk-%s.raw", vm->dir, id);
}

/* A sparse raw file of size bytes. */
static int make_sparse(const char *path, uint64_t size, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int disk_make_file(struct vm_disk *d, const char *image, uint64_t size, char *err,
                   size_t errlen)
{
    char sz[32];
    snprintf(sz, sizeof sz, "%llu", (unsigned long long)size);
    unlink(d->file);
    int rc;
    if (d->mediated && image) {
        const char *args[] = {"convert", "-q", "-f", disk_image_format(image), "-O", "raw",
                              "-S", "4k", image, d->file, NULL};
        rc = disk_qemu_img(args, err, errlen);
    } else if (d->mediated) {
        return make_sparse(d->file, size, err, errlen);
    } else if (image) {
        const char *args[] = {"create", "-q", "-f", "qcow2", "-F", disk_image_format(image),
                              "-b", image, d->file, NULL};
        rc = disk_qemu_img(args, err, errlen);
    } else {
        const char *args[] = {"create", "-q", "-f", "qcow2", d->file, sz, NULL};
        rc = disk_qemu_img(args, err, errlen);
    }
    if (rc < 0) {
        char why[1024];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, errlen, "disk %s: cannot create its %s: %s", d->id,
                 d->mediated ? "private copy" : "overlay", why);
    }
    return rc;
}

static int prepare_one(struct vm *vm, const struct disk_spec *s, char *err, size_t errlen)
{
    if (s->path && !file_exists(s->path)) {
        snprintf(err, errlen, "missing disk image: %s", s->path);
        return -1;
    }
    struct vm_disk *d = disk_add(vm);
    d->id = xstrdup(s->id);
    d->readonly = s->readonly;
    d->mediated = s->mediated;
    d->image = s->path ? xstrdup(s->path) : NULL;
    if (s->path && s->readonly && !s->mediated) {
        d->file = xstrdup(s->path);
        d->format = xstrdup(disk_image_format(s->path));
        return 0;
    }
    d->file = s->mediated ? mediated_path(vm, s->id) : vm_disk_overlay_path(vm, s->id);
    d->format = xstrdup(s->mediated ? "raw" : "qcow2");
    return disk_make_file(d, s->path, s->scratch, err, errlen);
}

int vm_disks_prepare(struct vm *vm, char *err, size_t errlen)
{
    vm_disks_free(vm);
    const struct profile *p = vm->profile;
    for (size_t i = 0; i < p->n_disks; i++)
        if (prepare_one(vm, &p->disks[i], err, errlen) < 0)
            return -1;
    for (size_t i = 0; i < vm->opts.n_disks; i++)
        if (prepare_one(vm, &vm->opts.disks[i], err, errlen) < 0)
            return -1;
    return 0;
}

int vm_disks_serve(struct vm *vm, char *err, size_t errlen)
{
    for (size_t i = 0; i < vm->n_disks; i++) {
        struct vm_disk *d = &vm->disks[i];
        if (!d->mediated || d->nbd)
            continue;
        char name[128], path[256];
        snprintf(name, sizeof name, "nbd-%s.sock", d->id);
        if (sockpath_make(path, sizeof path, vm->dir, vm->dir_fd, name) < 0) {
            snprintf(err, errlen, "disk %s: socket path too long", d->id);
            return -1;
        }
        unlink(path);
        struct nbd_opts o = {.backing = d->file, .socket_path = path, .readonly = d->readonly};
        char why[512];
        d->nbd = nbd_start(&o, why, sizeof why);
        if (!d->nbd) {
            snprintf(err, errlen, "disk %s: cannot serve it: %s", d->id, why);
            return -1;
        }
    }
    return 0;
}

void vm_disks_power_on(struct vm *vm)
{
    for (size_t i = 0; i < vm->n_disks; i++) {
        struct vm_disk *d = &vm->disks[i];
        if (d->cut && d->nbd)
            nbd_fail_after(d->nbd, d->cut_fail_after);
        d->cut = 0;
    }
}

int vm_disks_snapshot_check(struct vm *vm, int stopped, char *err, size_t errlen)
{
    for (size_t i = 0; i < vm->n_disks; i++) {
        struct vm_disk *d = &vm->disks[i];
        if (!d->mediated || !d->nbd)
            continue;
        if (!stopped && d->cut) {
            snprintf(err, errlen, "disk '%s' is mediated and had its power cut: "
                     "vm:reset() it first", d->id);
            return -1;
        }
        struct nbd_stats st;
        nbd_stats(d->nbd, &st);
        if (stopped && st.held_bytes) {
            snprintf(err, errlen, "disk '%s' is mediated and still holds %llu bytes of "
                     "unflushed writes", d->id, (unsigned long long)st.held_bytes);
            return -1;
        }
    }
    return 0;
}

int vm_disks_from_meta(struct vm *vm, json_t *disks, char *err, size_t errlen)
{
    vm_disks_free(vm);
    size_t i;
    json_t *j;
    json_array_foreach(disks, i, j) {
        const char *id = json_string_value(json_object_get(j, "id"));
        const char *image = json_string_value(json_object_get(j, "image"));
        const char *format = json_string_value(json_object_get(j, "format"));
        int readonly = json_is_true(json_object_get(j, "readonly"));
        int mediated = json_is_true(json_object_get(j, "mediated"));
        if (!id || !format || (readonly && !mediated && !image)) {
            snprintf(err, errlen, "disk record %zu is incomplete", i + 1);
            return -1;
        }
        if (image && !mediated && !file_exists(image)) {
            snprintf(err, errlen, "missing disk image: %s", image);
            return -1;
        }
        struct vm_disk *d = disk_add(vm);
        d->id = xstrdup(id);
        d->readonly = readonly;
        d->mediated = mediated;
        d->hot_port = (int)json_integer_value(json_object_get(j, "port"));
        d->image = image ? xstrdup(image) : NULL;
        d->format = xstrdup(format);
        d->file = mediated   ? mediated_path(vm, id)
                  : readonly ? xstrdup(image)
                             : vm_disk_overlay_path(vm, id);
    }
    return 0;
}

json_t *vm_disks_to_meta(const struct vm *vm)
{
    json_t *a = json_array();
    for (size_t i = 0; i < vm->n_disks; i++) {
        const struct vm_disk *d = &vm->disks[i];
        json_array_append_new(a, json_pack("{s:s, s:s?, s:s, s:b, s:b, s:i}", "id", d->id,
                                           "image", d->image, "format", d->format, "readonly",
                                           d->readonly, "mediated", d->mediated, "port",
                                           d->hot_port));
    }
    return a;
}

/* QEMU option values escape a comma by doubling it. */
static char *qemu_opt_escape(const char *s)
{
    struct buf b = {0};
    for (; *s; s++)
        buf_append(&b, *s == ',' ? ",," : s, *s == ',' ? 2 : 1);
    return buf_cstr(&b);
}

/* The backend of one disk: -blockdev over NBD for a served mediated disk, else -drive
 * (a mediated disk without a server, `provium console`, opens its raw file). */
static void push_backend(const struct vm_disk *d, struct strv *a)
{
    if (d->nbd) {
        char *sock = qemu_opt_escape(nbd_socket_path(d->nbd));
        strv_push(a, "-blockdev");
        strv_pushf(a, "driver=raw,node-name=node-%s,read-only=%s,file.driver=nbd,"
                   "file.server.type=unix,file.server.path=%s", d->id,
                   d->readonly ? "on" : "off", sock);
        free(sock);
        return;
    }
    char *file = qemu_opt_escape(d->file);
    strv_push(a, "-drive");
    strv_pushf(a, "file=%s,if=none,id=%s,format=%s,readonly=%s", file, d->id, d->format,
               d->readonly ? "on" : "off");
    free(file);
}

void vm_disks_argv(const struct vm *vm, struct strv *a, int micro)
{
    /* at fixed slots past the automatic ones, which so stay where they were (a snapshot's
     * devices must be where its stream expects them) */
    for (int i = 0; !micro && i < DISK_HOT_PORTS; i++) {
        strv_push(a, "-device");
        strv_pushf(a, "pcie-root-port,id=provium-hp%d,bus=pcie.0,chassis=%d,addr=0x%x", i,
                   i + 1, 0x18 + i);
    }
    for (size_t i = 0; i < vm->n_disks; i++) {
        const struct vm_disk *d = &vm->disks[i];
        push_backend(d, a);
        struct buf dev = {0};
        buf_printf(&dev, "%s,drive=%s%s,id=disk-%s,serial=%s",
                   micro ? "virtio-blk-device" : "virtio-blk-pci", d->nbd ? "node-" : "", d->id,
                   d->id, d->id);
        if (d->nbd)
            buf_puts(&dev, ",werror=report,rerror=report");
        if (d->hot_port && !micro)
            buf_printf(&dev, ",bus=provium-hp%d", d->hot_port - 1);
        strv_push(a, "-device");
        strv_push(a, buf_cstr(&dev));
        buf_free(&dev);
    }
}
