/* disk.c - a VM's block devices: private qcow2 overlays over the profile's images.
 *
 * Read-only disks use the image directly. A writable disk is always a qcow2 overlay in
 * the VM's scratch directory backed by the image, so host images are never modified
 * and a snapshot can carry the disk state (the overlay is a section of the .snap
 * file, see snapshot.c). A scratch disk is an empty qcow2 of the given size. Overlays
 * are made with `qemu-img` ($PROVIUM_QEMU_IMG, else the one on PATH). */
#include "vm.h"

#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Runs qemu-img with args; its stderr lands in err on failure. */
static int run_qemu_img(const char *const *args, char *err, size_t errlen)
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

static void disk_free(struct vm_disk *d)
{
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

static struct vm_disk *add_disk(struct vm *vm)
{
    vm->disks = xrealloc(vm->disks, (vm->n_disks + 1) * sizeof *vm->disks);
    struct vm_disk *d = &vm->disks[vm->n_disks++];
    memset(d, 0, sizeof *d);
    return d;
}

char *vm_disk_overlay_path(const struct vm *vm, const char *id)
{
    return xasprintf("%s/disk-%s.qcow2", vm->dir, id);
}

int vm_disks_prepare(struct vm *vm, char *err, size_t errlen)
{
    vm_disks_free(vm);
    const struct profile *p = vm->profile;
    for (size_t i = 0; i < p->n_disks; i++) {
        const struct disk_spec *s = &p->disks[i];
        if (s->mediated) {
            snprintf(err, errlen, "disk %s: mediated disks are not supported yet", s->id);
            return -1;
        }
        struct vm_disk *d = add_disk(vm);
        d->id = xstrdup(s->id);
        d->readonly = s->readonly;
        if (s->path && s->readonly) {
            d->image = xstrdup(s->path);
            d->file = xstrdup(s->path);
            d->format = xstrdup(disk_image_format(s->path));
            continue;
        }
        d->file = vm_disk_overlay_path(vm, s->id);
        d->format = xstrdup("qcow2");
        unlink(d->file);
        int rc;
        if (s->path) {
            d->image = xstrdup(s->path);
            const char *args[] = {"create", "-q", "-f", "qcow2", "-F", disk_image_format(s->path),
                                  "-b", s->path, d->file, NULL};
            rc = run_qemu_img(args, err, errlen);
        } else {
            char size[32];
            snprintf(size, sizeof size, "%llu", (unsigned long long)s->scratch);
            const char *args[] = {"create", "-q", "-f", "qcow2", d->file, size, NULL};
            rc = run_qemu_img(args, err, errlen);
        }
        if (rc < 0) {
            char why[1024];
            snprintf(why, sizeof why, "%s", err);
            snprintf(err, errlen, "disk %s: cannot create its overlay: %s", s->id, why);
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
        if (!id || !format || (readonly && !image)) {
            snprintf(err, errlen, "disk record %zu is incomplete", i + 1);
            return -1;
        }
        if (image && !file_exists(image)) {
            snprintf(err, errlen, "missing disk image: %s", image);
            return -1;
        }
        struct vm_disk *d = add_disk(vm);
        d->id = xstrdup(id);
        d->readonly = readonly;
        d->image = image ? xstrdup(image) : NULL;
        d->format = xstrdup(format);
        d->file = readonly ? xstrdup(image) : vm_disk_overlay_path(vm, id);
    }
    return 0;
}

json_t *vm_disks_to_meta(const struct vm *vm)
{
    json_t *a = json_array();
    for (size_t i = 0; i < vm->n_disks; i++) {
        const struct vm_disk *d = &vm->disks[i];
        json_array_append_new(a, json_pack("{s:s, s:s?, s:s, s:b}", "id", d->id, "image",
                                           d->image, "format", d->format, "readonly",
                                           d->readonly));
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

void vm_disks_argv(const struct vm *vm, struct strv *a, int micro)
{
    for (size_t i = 0; i < vm->n_disks; i++) {
        const struct vm_disk *d = &vm->disks[i];
        char *file = qemu_opt_escape(d->file);
        strv_push(a, "-drive");
        strv_pushf(a, "file=%s,if=none,id=%s,format=%s,readonly=%s", file, d->id, d->format,
                   d->readonly ? "on" : "off");
        free(file);
        strv_push(a, "-device");
        strv_pushf(a, "%s,drive=%s,serial=%s", micro ? "virtio-blk-device" : "virtio-blk-pci",
                   d->id, d->id);
    }
}
