/* up_qemu.c - the built-in `forge up` backend (spec §10.6): turns an artifact directory
 * into a guest QEMU can boot without Nix. The kernel is --kernel, $PROVIUM_FORGE_KERNEL or
 * the host's; the initrd (image/cpio.c, sorted and reproducible) holds a static busybox
 * with its applets (image_build.c's image_stage_busybox), the kernel's virtio modules
 * (image/modules.c), the bundled src/ at /forge/src and a generated /init that plays the
 * service: mounts, hostname, networking, preStart link, the command with the merged
 * environment, `forge: service <name> exited with status N`, power-off.
 * up_run.c starts and watches QEMU.
 */
#include "forge/forge.h"
#include "forge/up.h"
#include "forge/up_int.h"

#include "image/cpio.h"
#include "image/image_build.h"
#include "image/kernel.h"
#include "image/modules.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define UP_MODULES_LIST "etc/forge/modules.list"
#define UP_SRC_DIR "forge/src"


/* path found on $PATH (or path itself when it holds a '/'), into out; -1 if none. */
int up_which(const char *name, char *out, size_t n)
{
    if (strchr(name, '/')) {
        size_t len = strlen(name);
        if (len >= n)
            return -1;
        memcpy(out, name, len + 1);
        return access(name, X_OK) == 0 ? 0 : -1;
    }
    const char *path = getenv("PATH");
    char *copy = xstrdup(path && path[0] ? path : "/usr/local/bin:/usr/bin:/bin");
    char *save = NULL;
    int rc = -1;
    for (char *d = strtok_r(copy, ":", &save); d && rc < 0; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, n, "%s/%s", d, name);
        if (access(out, X_OK) == 0)
            rc = 0;
    }
    free(copy);
    return rc;
}

/* The kernel, its release and the machine type; E_KERNEL_NOT_FOUND when none. */
static int find_kernel(struct up_guest *g, const struct up_opts *o)
{
    char err[512] = "";
    const char *env = getenv("PROVIUM_FORGE_KERNEL");
    if (o->kernel)
        snprintf(g->kernel, sizeof g->kernel, "%s", o->kernel);
    else if (env && env[0])
        snprintf(g->kernel, sizeof g->kernel, "%s", env);
    else if (kernel_default_path(g->kernel, sizeof g->kernel, err, sizeof err) < 0) {
        warnx_p("forge up: E_KERNEL_NOT_FOUND: %s (pass --kernel PATH or set "
                "$PROVIUM_FORGE_KERNEL)", err);
        return -1;
    }
    if (kernel_read_version(g->kernel, g->version, sizeof g->version, err, sizeof err) < 0) {
        warnx_p("forge up: E_KERNEL_NOT_FOUND: %s", err);
        return -1;
    }
    /* microvm needs virtio-mmio (built in, or a module we ship); else q35 */
    char *dir = xasprintf("/lib/modules/%s", g->version);
    char *builtin = path_join(dir, "modules.builtin"), *dep = path_join(dir, "modules.dep");
    char *a = read_file(builtin, NULL), *b = read_file(dep, NULL);
    g->microvm = !file_exists(dir) || (a && strstr(a, "virtio_mmio.ko")) ||
                 (b && strstr(b, "virtio_mmio.ko"));
    free(a);
    free(b);
    free(builtin);
    free(dep);
    free(dir);
    return 0;
}

/* busybox ($PROVIUM_FORGE_BUSYBOX or on PATH) and QEMU ($PROVIUM_QEMU or on PATH). */
static int find_tools(struct up_guest *g)
{
    const char *bb = getenv("PROVIUM_FORGE_BUSYBOX");
    if (bb && bb[0] ? up_which(bb, g->busybox, sizeof g->busybox) < 0
                    : up_which("busybox", g->busybox, sizeof g->busybox) < 0) {
        warnx_p("forge up: E_BUSYBOX_NOT_FOUND: no busybox %s%s (install busybox-static or "
                "set $PROVIUM_FORGE_BUSYBOX)", bb && bb[0] ? "at " : "on PATH",
                bb && bb[0] ? bb : "");
        return -1;
    }
    const char *q = getenv("PROVIUM_QEMU");
    if (up_which(q && q[0] ? q : "qemu-system-x86_64", g->qemu, sizeof g->qemu) < 0) {
        warnx_p("forge up: E_HYPERVISOR_NOT_FOUND: %s not found (install qemu-system-x86 "
                "or set $PROVIUM_QEMU)", q && q[0] ? q : "qemu-system-x86_64");
        return -1;
    }
    return 0;
}

/* Adds dir (host) below name (guest) to t: directories, files with their permission
 * bits, symlinks as they are (compile already refused escaping ones). */
static int stage_tree(struct cpio_tree *t, const char *dir, const char *name)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *host = path_join(dir, e->d_name), *guest = path_join(name, e->d_name);
        struct stat st;
        char target[PATH_MAX];
        ssize_t n;
        if (lstat(host, &st) < 0)
            rc = -1;
        else if (S_ISDIR(st.st_mode)) {
            cpio_tree_dir(t, guest, st.st_mode & 07777);
            rc = stage_tree(t, host, guest);
        } else if (S_ISREG(st.st_mode))
            cpio_tree_file_from(t, guest, st.st_mode & 07777, host);
        else if (S_ISLNK(st.st_mode) && (n = readlink(host, target, sizeof target - 1)) > 0) {
            target[n] = 0;
            cpio_tree_symlink(t, guest, target);
        }
        free(host);
        free(guest);
    }
    closedir(d);
    return rc;
}

/* The environment of the service: the app's, then the entrypoint's, then -e. */
static json_t *merged_env(const json_t *launch, const struct up_opts *o)
{
    json_t *env = json_object();
    const json_t *layers[2] = {json_object_get(launch, "env"),
                               json_object_get(json_object_get(launch, "entrypoint"), "env")};
    for (int i = 0; i < 2; i++) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)layers[i], k, v) {
            if (json_is_object(v))
                v = json_object_get(v, "value"); /* {"kind":"literal","value":…} */
            if (json_is_string(v))
                json_object_set(env, k, v);
        }
    }
    for (size_t i = 0; i < o->nenv; i++) {
        const char *eq = strchr(o->env[i], '=');
        char *k = xstrndup(o->env[i], (size_t)(eq - o->env[i]));
        json_object_set_new(env, k, json_string(eq + 1));
        free(k);
    }
    return env;
}

/* One mount of launch.json as init lines; host_path is E_BACKEND_UNSUPPORTED. */
static int init_mount(struct buf *b, const json_t *m, const json_t *volumes)
{
    const char *target = json_string_value(json_object_get(m, "target"));
    const json_t *src = json_object_get(m, "source");
    const char *kind = json_string_value(json_object_get(src, "kind"));
    const char *mode = json_string_value(json_object_get(m, "mode"));
    json_int_t size = json_integer_value(json_object_get(src, "size_mb"));
    if (!target || !kind)
        return 0;
    if (!strcmp(kind, "host_path")) {
        warnx_p("forge up: E_BACKEND_UNSUPPORTED: the qemu backend cannot mount host_path "
                "%s (at %s)", json_string_value(json_object_get(src, "path")), target);
        return -1;
    }
    if (!strcmp(kind, "volume")) { /* a fresh tmpfs of the volume's size (no persistence) */
        size_t i;
        const json_t *v;
        const char *vn = json_string_value(json_object_get(src, "name"));
        json_array_foreach(volumes, i, v) {
            const char *n = json_string_value(json_object_get(v, "name"));
            if (n && vn && !strcmp(n, vn))
                size = json_integer_value(json_object_get(v, "size_mb"));
        }
    }
    buf_puts(b, "mkdir -p ");
    buf_sh_quote(b, target);
    buf_puts(b, "\nmount -t tmpfs");
    if (size > 0)
        buf_printf(b, " -o size=%lldm", (long long)size);
    if (mode && !strcmp(mode, "ro"))
        buf_puts(b, size > 0 ? ",ro" : " -o ro");
    buf_puts(b, " tmpfs ");
    buf_sh_quote(b, target);
    buf_puts(b, "\n");
    return 0;
}

static const char init_head[] =
    "#!/bin/sh\n"
    "# /init of a `provium forge up` guest (generated).\n"
    "export PATH=/bin:/sbin HOME=/root\n"
    "mount -t proc proc /proc\n"
    "mount -t sysfs sysfs /sys\n"
    "mount -t devtmpfs devtmpfs /dev\n"
    "mount -t tmpfs -o mode=1777 tmpfs /tmp\n"
    "mount -t tmpfs tmpfs /run\n"
    "exec </dev/null >/dev/console 2>&1\n"
    "while read -r m; do [ -n \"$m\" ] && insmod \"$m\" 2>/dev/null; done </" UP_MODULES_LIST "\n"
    "ip link set lo up\n";

static const char init_net[] =
    "i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done\n"
    "ip link set eth0 up\n"
    "ip addr add 10.0.2.15/24 dev eth0\n"
    "ip route add default via 10.0.2.2\n"
    "echo 'nameserver 10.0.2.3' >/etc/resolv.conf\n";

/* The generated /init (malloc'd), or NULL after an E_BACKEND_UNSUPPORTED line. */
static char *make_init(const json_t *launch, const struct up_opts *o, const char *svc)
{
    struct buf b = {0};
    const json_t *ep = json_object_get(launch, "entrypoint"), *m, *arg;
    const char *wd = json_string_value(json_object_get(ep, "working_dir"));
    const char *id = json_string_value(json_object_get(launch, "workload_id"));
    const char *mode = json_string_value(json_object_get(json_object_get(launch, "network"), "mode"));
    size_t i;
    buf_puts(&b, init_head);
    buf_puts(&b, "hostname ");
    buf_sh_quote(&b, id ? id : "forge");
    buf_puts(&b, "\n");
    if ((mode && !strcmp(mode, "bridge")) || o->nports)
        buf_puts(&b, init_net);
    json_array_foreach(json_object_get(launch, "mounts"), i, m) {
        if (init_mount(&b, m, json_object_get(launch, "volumes")) < 0) {
            buf_free(&b);
            return NULL;
        }
    }
    buf_puts(&b, "# preStart: the bundled source at the working directory\nwd=");
    buf_sh_quote(&b, wd ? wd : "/app");
    buf_puts(&b, "\nmkdir -p \"$(dirname \"$wd\")\"\nrm -rf \"$wd\"\nln -s /" UP_SRC_DIR
                 " \"$wd\"\n(cd \"$wd\" && exec env");
    json_t *env = merged_env(launch, o);
    const char *k;
    json_t *v;
    json_object_foreach(env, k, v) { /* jansson keeps insertion order; sort not needed */
        char *kv = xasprintf("%s=%s", k, json_string_value(v));
        buf_puts(&b, " ");
        buf_sh_quote(&b, kv);
        free(kv);
    }
    json_decref(env);
    json_array_foreach(json_object_get(ep, "command"), i, arg) {
        buf_puts(&b, " ");
        buf_sh_quote(&b, json_string_value(arg) ? json_string_value(arg) : "");
    }
    buf_puts(&b, ")\nrc=$?\necho \"forge: service ");
    buf_puts(&b, svc); /* an IR name: [a-z0-9-] only */
    buf_puts(&b, " exited with status $rc\"\nsync\npoweroff -f\n");
    return buf_cstr(&b);
}

/* Writes the initrd for artifact into path. */
static int write_initrd(struct up_guest *g, const char *artifact, const char *init)
{
    char err[1024] = "";
    struct module_list ml = {0};
    struct cpio_tree *t = cpio_tree_new();
    int rc = -1;
    if (image_stage_busybox(t, g->busybox, err, sizeof err) < 0) {
        warnx_p("forge up: E_BUSYBOX_NOT_FOUND: %s", err);
        goto done;
    }
    if (modules_resolve_virtio(NULL, g->version, &ml, err, sizeof err) < 0 ||
        modules_stage(t, &ml, NULL, g->version, "", UP_MODULES_LIST, err, sizeof err) < 0) {
        warnx_p("forge up: E_KERNEL_NOT_FOUND: modules of %s: %s", g->version, err);
        goto done;
    }
    cpio_tree_file(t, "init", 0755, init, strlen(init));
    cpio_tree_dir(t, "forge", 0755);
    cpio_tree_dir(t, UP_SRC_DIR, 0755);
    char *src = path_join(artifact, "src");
    int srk = stage_tree(t, src, UP_SRC_DIR);
    free(src);
    if (srk < 0) {
        warnx_p("forge up: %s/src: cannot read the bundled source: %s", artifact, strerror(errno));
        goto done;
    }
    if (cpio_tree_write(t, g->initrd, err, sizeof err) < 0) {
        warnx_p("forge up: %s", err);
        goto done;
    }
    rc = 0;
done:
    module_list_free(&ml);
    cpio_tree_free(t);
    return rc;
}

/* Warns once about image packages the qemu backend does not install. */
static void warn_packages(const json_t *launch)
{
    const json_t *pk = json_object_get(json_object_get(launch, "image"), "packages"), *p;
    size_t i;
    if (json_array_size(pk) == 0)
        return;
    struct buf b = {0};
    json_array_foreach(pk, i, p) buf_printf(&b, "%s%s", i ? ", " : "", json_string_value(p));
    warnx_p("forge up: the qemu backend does not install image packages (%s); they are for "
            "Nix hosts, through flake.nix", buf_cstr(&b));
    buf_free(&b);
}

int up_guest_prepare(struct up_guest *g, const char *artifact, const struct up_opts *o)
{
    char *path = path_join(artifact, "launch.json");
    json_error_t jerr;
    json_t *launch = json_load_file(path, 0, &jerr);
    char *init = NULL;
    int rc = -1;
    if (!launch) {
        warnx_p("forge up: %s: %s", path, jerr.text);
        goto done;
    }
    if (find_kernel(g, o) < 0 || find_tools(g) < 0)
        goto done;
    const char *id = json_string_value(json_object_get(launch, "workload_id"));
    snprintf(g->id, sizeof g->id, "%s", id ? id : "forge");
    const char *svc = o->service ? o->service : g->id;
    if (!(init = make_init(launch, o, svc)))
        goto done;
    if (write_initrd(g, artifact, init) < 0)
        goto done;
    warn_packages(launch);
    up_guest_resources(g, launch, o);
    rc = 0;
done:
    free(init);
    free(path);
    json_decref(launch);
    return rc;
}
