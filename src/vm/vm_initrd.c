/* vm_initrd.c - what a fresh boot hands the kernel: the resolved command line
 * (cmdline_file, cmdline, appended tokens, console=, rdinit=, tsc_early_khz=,
 * provium.rng_seed=) and the initrd (prelude + base + agent overlay + `files`
 * segment). Kept apart from vm.c, which starts QEMU, because it only writes files and
 * strings. */
#include "vm.h"

#include "image/cpio.h"
#include "image/initrd.h"
#include "image/overlay.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- command line ---- */

static int has_token(const char *cmdline, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = cmdline; (p = strstr(p, key)); p += kl)
        if (p == cmdline || p[-1] == ' ')
            return 1;
    return 0;
}

static const char *token_value(const char *cmdline, const char *key, char *buf, size_t n)
{
    size_t kl = strlen(key);
    const char *found = NULL;
    for (const char *p = cmdline; (p = strstr(p, key)); p += kl)
        if (p == cmdline || p[-1] == ' ')
            found = p + kl; /* last wins, like the kernel */
    if (!found)
        return NULL;
    size_t l = strcspn(found, " ");
    if (l >= n)
        l = n - 1;
    memcpy(buf, found, l);
    buf[l] = 0;
    return buf;
}

char *vm_resolve_cmdline(struct vm *vm, char *err, size_t errlen)
{
    const struct profile *p = vm->profile;
    struct buf b = {0};
    if (vm->opts.cmdline) {
        buf_puts(&b, vm->opts.cmdline);
    } else {
        if (p->cmdline_file) {
            size_t len;
            char *text = read_file(p->cmdline_file, &len);
            if (!text) {
                snprintf(err, errlen, "missing cmdline_file: %s (%s)", p->cmdline_file,
                         strerror(errno));
                buf_free(&b);
                return NULL;
            }
            collapse_ws(text);
            buf_puts(&b, text);
            free(text);
        }
        if (p->cmdline && p->cmdline[0]) {
            if (b.len)
                buf_puts(&b, " ");
            buf_puts(&b, p->cmdline);
        }
    }
    if (vm->opts.cmdline_append && vm->opts.cmdline_append[0]) {
        if (b.len)
            buf_puts(&b, " ");
        buf_puts(&b, vm->opts.cmdline_append);
    }
    char *line = buf_cstr(&b);
    collapse_ws(line);
    b.len = strlen(line);
    if (!has_token(line, "console="))
        buf_puts(&b, b.len ? " console=ttyS0" : "console=ttyS0");
    if (vm_injects_agent(vm)) {
        char v[256];
        if (token_value(buf_cstr(&b), "rdinit=", v, sizeof v)) {
            if (strcmp(v, OVERLAY_AGENT) != 0) {
                snprintf(err, errlen,
                         "the kernel command line already sets rdinit=%s; the agent needs "
                         "rdinit=" OVERLAY_AGENT " (drop rdinit= or set inject_agent = false)",
                         v);
                buf_free(&b);
                return NULL;
            }
        } else {
            buf_puts(&b, " rdinit=" OVERLAY_AGENT);
        }
    }
    if (!strcmp(vm->env->accel, "tcg") && vm->env->tsc_khz && !has_token(buf_cstr(&b), "tsc_early_khz="))
        buf_printf(&b, " tsc_early_khz=%u", vm->env->tsc_khz);
    if (vm->opts.has_rng_seed) /* the agent mixes it into the guest RNG (agent/boot.c) */
        buf_printf(&b, " provium.rng_seed=%lld", (long long)vm->opts.rng_seed);
    return buf_cstr(&b);
}

/* ---- initrd assembly ---- */

/* Builds (once per worker and kernel) the agent overlay cpio. */
static char *overlay_for(struct vm *vm, char *err, size_t errlen)
{
    const struct profile *p = vm->profile;
    const char *env_ov = getenv("PROVIUM_OVERLAY");
    if (env_ov && *env_ov)
        return xstrdup(env_ov);
    if (p->agent_overlay_path)
        return xstrdup(p->agent_overlay_path);
    struct stat st;
    if (stat(p->kernel, &st) < 0) {
        snprintf(err, errlen, "missing kernel: %s", p->kernel);
        return NULL;
    }
    /* name the overlay after the kernel identity so one worker builds it once */
    unsigned long h = 5381;
    for (const char *c = p->kernel; *c; c++)
        h = h * 33 + (unsigned char)*c;
    h = h * 33 + (unsigned long)st.st_size;
    h = h * 33 + (unsigned long)st.st_mtim.tv_sec;
    if (p->modules_dir)
        for (const char *c = p->modules_dir; *c; c++)
            h = h * 33 + (unsigned char)*c;
    char *path = xasprintf("%s/overlay-%lx.cpio", vm->env->scratch, h);
    if (file_exists(path))
        return path;
    if (!vm->env->agent_bin) {
        snprintf(err, errlen, "the guest agent binary was not found (build it with `make`, or "
                              "set PROVIUM_AGENT)");
        free(path);
        return NULL;
    }
    if (overlay_build(vm->env->agent_bin, p->kernel, p->modules_dir, path, err, errlen) < 0) {
        free(path);
        return NULL;
    }
    return path;
}

static char *files_segment(struct vm *vm, char *err, size_t errlen)
{
    char *path = xasprintf("%s/files.cpio", vm->dir);
    struct cpio *c = cpio_create(path, err, errlen);
    if (!c) {
        free(path);
        return NULL;
    }
    struct strv made = {0};
    for (size_t i = 0; i < vm->opts.n_files; i++) {
        const struct vm_file *f = &vm->opts.files[i];
        const char *rel = f->path + 1; /* validated absolute */
        /* parent directories 0755 */
        char *dup = xstrdup(rel);
        for (char *s = dup; (s = strchr(s, '/')); s++) {
            *s = 0;
            int seen = 0;
            for (size_t k = 0; k < made.n; k++)
                seen |= !strcmp(made.v[k], dup);
            if (!seen) {
                cpio_add_dir(c, dup, 0755);
                strv_push(&made, dup);
            }
            *s = '/';
        }
        free(dup);
        if (cpio_add_file(c, rel, f->mode, f->content, f->len) < 0) {
            snprintf(err, errlen, "cannot add %s to the initramfs", f->path);
            cpio_abort(c);
            strv_free(&made);
            free(path);
            return NULL;
        }
    }
    strv_free(&made);
    if (cpio_finish(c, err, errlen) < 0) {
        free(path);
        return NULL;
    }
    return path;
}

/* The prelude archive that goes before the base (see image/overlay.h), once per worker. */
static char *prelude_for(struct vm *vm, char *err, size_t errlen)
{
    char *path = xasprintf("%s/prelude.cpio", vm->env->scratch);
    if (!file_exists(path) && overlay_build_prelude(path, err, errlen) < 0) {
        free(path);
        return NULL;
    }
    return path;
}

/* Without a `files` segment the assembled initrd depends on the profile alone (its base,
 * this process's agent overlay), so one copy per profile serves every boot and every
 * restore of the process: <scratch>/initrd-<hex of the profile name>.img. */
static char *shared_initrd_path(const struct vm *vm)
{
    const char *dir = vm->env->scratch ? vm->env->scratch : vm->dir;
    struct buf b = {0};
    buf_printf(&b, "%s/initrd-", dir);
    for (const unsigned char *c = (const unsigned char *)vm->profile->name; *c; c++)
        buf_printf(&b, "%02x", *c);
    buf_puts(&b, ".img");
    return buf_cstr(&b); /* the buffer's memory, now the caller's */
}

char *vm_assemble_initrd(struct vm *vm, char *err, size_t errlen)
{
    const struct profile *p = vm->profile;
    if (p->initrd && !file_exists(p->initrd)) {
        snprintf(err, errlen, "missing initrd: %s", p->initrd);
        return NULL;
    }
    if (!vm_injects_agent(vm) && !vm->opts.n_files)
        return p->initrd ? xstrdup(p->initrd) : NULL;
    if (vm->opts.n_files && !p->initrd && !vm_injects_agent(vm)) {
        snprintf(err, errlen, "boot option `files` needs an initramfs");
        return NULL;
    }
    struct initrd_parts parts = {.base = p->initrd};
    char *prelude = NULL, *overlay = NULL, *files = NULL, *out = NULL;
    if (vm_injects_agent(vm) && (!(prelude = prelude_for(vm, err, errlen)) ||
                              !(overlay = overlay_for(vm, err, errlen))))
        goto done;
    if (vm->opts.n_files && !(files = files_segment(vm, err, errlen)))
        goto done;
    parts.prelude = prelude;
    parts.overlay = overlay;
    parts.files = files;
    out = files ? xasprintf("%s/initrd.img", vm->dir) : shared_initrd_path(vm);
    if (!files && file_exists(out))
        goto done; /* this process assembled the profile's initrd before */
    char *tmp = xasprintf("%s.tmp", out);
    int failed = initrd_assemble(tmp, &parts, err, errlen) < 0;
    if (!failed && rename(tmp, out) < 0) {
        snprintf(err, errlen, "%s: %s", out, strerror(errno));
        failed = 1;
    }
    if (failed) {
        unlink(tmp);
        free(out);
        out = NULL;
    }
    free(tmp);
done:
    free(prelude);
    free(overlay);
    free(files);
    return out;
}
