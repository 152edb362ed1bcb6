/* up.c - `provium forge up ENTRY [flags] [-- ARGS]` (spec §10.6): the flags, ENTRY turned
 * into an artifact (emit + compile into $XDG_CACHE_HOME/provium/forge/<id>-<ir_hash
 * prefix>/, or an artifact directory as it is), the backend (qemu: up_qemu.c/up_run.c,
 * mvmctl: up_mvm.c), --watch's change detection; and the detached workloads' commands
 * `ls`, `logs NAME [-f]`, `down NAME` over up_state_root()/<name>/ (pid, console.log,
 * launch-info.json).
 */
#include "forge/compile.h"
#include "forge/cjson.h"
#include "forge/emit.h"
#include "forge/forge.h"
#include "forge/up_int.h"

#include "util/units.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A usage line for `up`; -1 (the caller exits 2). */
static int usage(const char *fmt, const char *arg)
{
    warnx_p(fmt, arg);
    warnx_p("usage: provium forge up ENTRY [flags] [-- ARGS] (see `provium forge up --help`)");
    return -1;
}

static int name_ok(const char *s)
{
    regex_t re;
    regcomp(&re, "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", REG_EXTENDED | REG_NOSUB);
    int ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

/* "8080:80", "5353:53/udp" */
static int parse_port(const char *s, struct up_port *p)
{
    char proto[8] = "tcp";
    int used = 0;
    memset(p, 0, sizeof *p);
    if (sscanf(s, "%u:%u%n", &p->host, &p->guest, &used) != 2)
        return -1;
    if (s[used] == '/' && strlen(s + used + 1) < sizeof proto)
        strcpy(proto, s + used + 1);
    else if (s[used])
        return -1;
    if (strcmp(proto, "tcp") && strcmp(proto, "udp"))
        return -1;
    p->udp = !strcmp(proto, "udp");
    snprintf(p->spec, sizeof p->spec, "%s", s);
    return p->host >= 1 && p->host <= 65535 && p->guest >= 1 && p->guest <= 65535 ? 0 : -1;
}

/* --memory: "512M", "4G", a bare number of MiB. */
static int parse_memory(const char *s, unsigned *mb)
{
    uint64_t v;
    if (s[0] && strspn(s, "0123456789") == strlen(s))
        v = strtoull(s, NULL, 10) << 20;
    else if (units_parse_size(s, &v) < 0)
        return -1;
    *mb = (unsigned)(v >> 20);
    return *mb >= 64 && v <= (1ULL << 40) ? 0 : -1;
}

/* The flag at argv[*i] (with its value at argv[*i+1] or after '='); -1 after a line. */
static int parse_flag(struct up_opts *o, int argc, char **argv, int *i)
{
    const char *f = argv[*i], *eq = strchr(f, '=');
    char name[32];
    snprintf(name, sizeof name, "%.*s", eq && f[1] == '-' ? (int)(eq - f) : (int)strlen(f), f);
    if (!strcmp(name, "-d") || !strcmp(name, "--detach"))
        return o->detach = 1, 0;
    if (!strcmp(name, "--watch"))
        return o->watch = 1, 0;
    static const char *const valued[] = {"--hypervisor", "--name", "--cpus", "--memory",
                                         "-p", "-e", "--kernel", NULL};
    int k = 0;
    while (valued[k] && strcmp(valued[k], name))
        k++;
    if (!valued[k])
        return usage("forge up: unknown flag '%s'", f);
    const char *v = eq && f[1] == '-' ? eq + 1 : *i + 1 < argc ? argv[++*i] : NULL;
    if (!v)
        return usage("forge up: %s needs a value", name);
    char *end = NULL;
    unsigned long n;
    switch (k) {
    case 0:
        if (strcmp(v, "qemu") && strcmp(v, "firecracker") && strcmp(v, "mvmctl"))
            return usage("forge up: --hypervisor must be qemu, firecracker or mvmctl, not '%s'", v);
        o->hypervisor = v;
        return 0;
    case 1:
        if (!name_ok(v))
            return usage("forge up: --name '%s' must match ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", v);
        o->name = v;
        return 0;
    case 2:
        n = strtoul(v, &end, 10);
        if (!v[0] || *end || n < 1 || n > 65535)
            return usage("forge up: --cpus must be an integer 1..65535, not '%s'", v);
        o->cpus = (unsigned)n;
        return 0;
    case 3:
        return parse_memory(v, &o->memory_mb) < 0
                   ? usage("forge up: --memory must be a size of at least 64M (512M, 4G, or MiB), not '%s'", v)
                   : 0;
    case 4:
        if (o->nports == UP_MAX_PORTS || parse_port(v, &o->ports[o->nports]) < 0)
            return usage("forge up: -p must be HOST:GUEST[/udp] with ports 1..65535, not '%s'", v);
        o->nports++;
        return 0;
    case 5:
        if (o->nenv == UP_MAX_ENV || !strchr(v, '=') || v[0] == '=')
            return usage("forge up: -e must be KEY=VAL, not '%s'", v);
        o->env[o->nenv++] = v;
        return 0;
    default:
        o->kernel = v;
        return 0;
    }
}

/* Fills o and *entry; -1 after a usage line. */
static int parse_up(int argc, char **argv, struct up_opts *o, const char **entry)
{
    memset(o, 0, sizeof *o);
    o->hypervisor = "qemu";
    *entry = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) {
            o->args = argv + i + 1;
            o->nargs = argc - i - 1;
            break;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            if (parse_flag(o, argc, argv, &i) < 0)
                return -1;
        } else if (!*entry)
            *entry = argv[i];
        else
            return usage("forge up: unexpected argument '%s'", argv[i]);
    }
    if (!*entry)
        return usage("forge up: missing ENTRY%s", "");
    if (o->watch && o->detach)
        return usage("forge up: --watch runs in the foreground only; drop %s", "--detach");
    return 0;
}

/* ENTRY's artifact: compiled into the cache, or ENTRY itself when it is one. */
struct up_entry {
    const char *entry;
    char artifact[PATH_MAX];
    char id[64], app[64];
    char ir_hash[65], tree_hash[65];
    char src_dir[PATH_MAX]; /* the source tree --watch looks at ("" for an artifact dir) */
    long long stamp;        /* --watch: the last fingerprint of entry + source */
};

static void copy_str(char *dst, size_t n, const json_t *v)
{
    snprintf(dst, n, "%s", json_is_string(v) ? json_string_value(v) : "");
}

/* An artifact directory given as ENTRY. */
static int entry_artifact_dir(struct up_entry *e)
{
    char *lj = path_join(e->entry, "launch.json");
    json_t *l = json_load_file(lj, 0, NULL);
    free(lj);
    if (!l || !realpath(e->entry, e->artifact)) {
        warnx_p("forge up: %s is a directory without a readable launch.json (not an artifact)",
                e->entry);
        json_decref(l);
        return FORGE_EXIT_ERROR;
    }
    copy_str(e->id, sizeof e->id, json_object_get(l, "workload_id"));
    copy_str(e->ir_hash, sizeof e->ir_hash, json_object_get(l, "ir_hash"));
    copy_str(e->tree_hash, sizeof e->tree_hash,
             json_object_get(json_object_get(l, "source"), "tree_hash"));
    json_decref(l);
    return 0;
}

/* emit + compile into the cache; prints the envelope (or the lines) on failure and
 * returns the exit code, else 0. */
static int entry_compile(struct up_entry *e)
{
    struct forge_errors errs = {0};
    struct compile_result res = {0};
    char *mdir = NULL, *out = NULL, hash[65];
    int rc = FORGE_EXIT_ERROR;
    json_t *ir = forge_emit_ir(e->entry, &mdir, &errs);
    if (!ir && errs.exit_code == FORGE_EXIT_ERROR) {
        for (size_t i = 0; i < errs.n; i++)
            warnx_p("forge up: %s", errs.v[i].detail);
        goto done;
    }
    if (!ir) {
        rc = forge_print_envelope(&errs, NULL);
        goto done;
    }
    const json_t *app = json_array_get(json_object_get(ir, "apps"), 0);
    const json_t *src = json_object_get(app, "source");
    copy_str(e->id, sizeof e->id, json_object_get(ir, "id"));
    copy_str(e->app, sizeof e->app, json_object_get(app, "name"));
    cjson_sha256_hex(ir, hash);
    if (!name_ok(e->id))
        snprintf(e->id, sizeof e->id, "workload"); /* validation says why below */
    out = xasprintf("%s/provium/forge/%s-%.12s", xdg_cache_home(), e->id, hash);
    char *parent = path_dirname(out);
    mkdir_p(parent, 0700);
    free(parent);
    if (forge_compile_ir(ir, mdir, out, &res, &errs) < 0) {
        rc = forge_print_envelope(&errs, NULL);
        goto done;
    }
    snprintf(e->artifact, sizeof e->artifact, "%s", out);
    memcpy(e->ir_hash, res.ir_hash, sizeof e->ir_hash);
    memcpy(e->tree_hash, res.src.tree_hash, sizeof e->tree_hash);
    const char *sp = json_string_value(json_object_get(src, "path"));
    char *sd = sp ? path_resolve(mdir, sp) : NULL;
    snprintf(e->src_dir, sizeof e->src_dir, "%s", sd ? sd : "");
    free(sd);
    rc = 0;
done:
    json_decref(ir);
    free(mdir);
    free(out);
    forge_errors_free(&errs);
    return rc;
}

static int entry_resolve(struct up_entry *e)
{
    struct stat st;
    if (stat(e->entry, &st) == 0 && S_ISDIR(st.st_mode))
        return entry_artifact_dir(e);
    return entry_compile(e);
}

/* A fingerprint of what --watch looks at: mtimes, sizes and names below dir. */
static void stamp_tree(const char *dir, unsigned long long *h, int depth) /* unsigned: wraps */
{
    DIR *d = depth < 32 ? opendir(dir) : NULL;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, ".git"))
            continue;
        char *p = path_join(dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) == 0) {
            *h = *h * 1000003 + (unsigned long long)st.st_mtim.tv_sec * 1000000000 +
                 (unsigned long long)st.st_mtim.tv_nsec;
            *h = *h * 31 + (unsigned long long)st.st_size + (unsigned long long)st.st_ino;
            if (S_ISDIR(st.st_mode))
                stamp_tree(p, h, depth + 1);
        }
        free(p);
    }
    if (d)
        closedir(d);
}

static long long entry_stamp(const struct up_entry *e)
{
    struct stat st;
    unsigned long long h = 17;
    if (stat(e->entry, &st) == 0)
        h = h * 31 + (unsigned long long)st.st_mtim.tv_sec * 1000000000 +
            (unsigned long long)st.st_mtim.tv_nsec + (unsigned long long)st.st_size;
    if (e->src_dir[0])
        stamp_tree(e->src_dir, &h, 0);
    return (long long)h;
}

/* --watch: on a change, recompile; 1 (reboot) when ir_hash or tree_hash changed. */
static int watch_changed(void *ctx, char *artifact, size_t n)
{
    struct up_entry *e = ctx;
    long long s = entry_stamp(e);
    if (s == e->stamp)
        return 0;
    e->stamp = s;
    struct up_entry next = *e;
    if (entry_resolve(&next) != 0) {
        warnx_p("forge up: --watch: the compile failed; waiting for the next change");
        return 0;
    }
    int changed = strcmp(next.ir_hash, e->ir_hash) || strcmp(next.tree_hash, e->tree_hash);
    *e = next;
    e->stamp = entry_stamp(e); /* the source dir may be another one now */
    if (!changed)
        return 0;
    warnx_p("forge up: --watch: %s changed; rebooting", e->entry);
    snprintf(artifact, n, "%s", e->artifact);
    return 1;
}

int forge_up_main(int argc, char **argv)
{
    struct up_opts o;
    struct up_entry e = {0};
    if (parse_up(argc, argv, &o, &e.entry) < 0)
        return FORGE_EXIT_ERROR;
    if (!strcmp(o.hypervisor, "firecracker")) {
        warnx_p("forge up: E_BACKEND_UNSUPPORTED: the firecracker backend is not available "
                "yet; use --hypervisor qemu or mvmctl");
        return FORGE_EXIT_ERROR;
    }
    int rc = entry_resolve(&e);
    if (rc != 0)
        return rc;
    if (!o.name)
        o.name = name_ok(e.id) ? e.id : "workload";
    o.service = e.app[0] ? e.app : NULL;
    if (!strcmp(o.hypervisor, "mvmctl"))
        return up_mvm_run(e.artifact, &o, o.nargs, o.args);
    if (o.nargs)
        warnx_p("forge up: the qemu backend takes no ARGS after --; ignored");
    e.stamp = entry_stamp(&e);
    return up_qemu_session(e.artifact, &o, o.watch ? watch_changed : NULL, &e);
}

/* ---- detached workloads: ls, logs, down ---- */

static pid_t state_pid(const char *dir)
{
    char *pf = path_join(dir, "pid");
    char *t = read_file(pf, NULL);
    free(pf);
    pid_t pid = t ? (pid_t)atoi(t) : 0;
    free(t);
    return pid;
}

int up_state_alive(const char *dir)
{
    pid_t pid = state_pid(dir);
    if (pid <= 0)
        return -1;
    /* the PID may have been reused: it must be a QEMU booting this state's initrd */
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    size_t len = 0;
    char *cl = read_file(path, &len);
    int alive = 0;
    for (size_t i = 0; cl && i < len; i += strlen(cl + i) + 1)
        if (!strncmp(cl + i, dir, strlen(dir)))
            alive = 1;
    free(cl);
    return alive;
}

int forge_ls_main(int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        warnx_p("usage: provium forge ls");
        return FORGE_EXIT_ERROR;
    }
    char *root = up_state_root();
    struct strv names = {0};
    DIR *d = opendir(root);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.')
            strv_push(&names, de->d_name);
    if (d)
        closedir(d);
    strv_sort(&names);
    for (size_t i = 0; i < names.n; i++) {
        char *dir = path_join(root, names.v[i]);
        int alive = up_state_alive(dir);
        if (alive >= 0)
            printf("%s\t%s\t%d\n", names.v[i], alive ? "running" : "exited", (int)state_pid(dir));
        free(dir);
    }
    strv_free(&names);
    free(root);
    return FORGE_EXIT_OK;
}

/* The state directory of NAME, or NULL after a line (exit 2). */
static char *named_state(const char *cmd, const char *name)
{
    char *root = up_state_root();
    char *dir = name_ok(name) ? path_join(root, name) : NULL;
    free(root);
    if (!dir || up_state_alive(dir) < 0) {
        warnx_p("forge %s: no detached workload named '%s' (see `provium forge ls`)", cmd, name);
        free(dir);
        return NULL;
    }
    return dir;
}

/* Copies fd from its position to stdout; returns bytes copied. */
static size_t copy_out(int fd)
{
    char b[65536];
    ssize_t n;
    size_t total = 0;
    while ((n = read(fd, b, sizeof b)) > 0) {
        fwrite(b, 1, (size_t)n, stdout);
        total += (size_t)n;
    }
    fflush(stdout);
    return total;
}

int forge_logs_main(int argc, char **argv)
{
    int follow = argc == 3 && (!strcmp(argv[2], "-f") || !strcmp(argv[2], "--follow"));
    if (argc != 2 + follow || argv[1][0] == '-') {
        warnx_p("usage: provium forge logs NAME [-f]");
        return FORGE_EXIT_ERROR;
    }
    char *dir = named_state("logs", argv[1]);
    if (!dir)
        return FORGE_EXIT_ERROR;
    char *log = path_join(dir, "console.log");
    int fd = open(log, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        copy_out(fd);
        /* -f: until the workload's QEMU is gone (Ctrl-C ends it too) */
        while (follow && up_state_alive(dir) > 0) {
            sleep_ms(200);
            copy_out(fd);
        }
        copy_out(fd);
        close(fd);
    }
    free(log);
    free(dir);
    return FORGE_EXIT_OK;
}

int forge_down_main(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        warnx_p("usage: provium forge down NAME");
        return FORGE_EXIT_ERROR;
    }
    char *dir = named_state("down", argv[1]);
    if (!dir)
        return FORGE_EXIT_ERROR;
    pid_t pid = state_pid(dir);
    if (up_state_alive(dir) > 0) {
        kill(pid, SIGTERM);
        for (int i = 0; i < 50 && up_state_alive(dir) > 0; i++)
            sleep_ms(100);
        if (up_state_alive(dir) > 0)
            kill(pid, SIGKILL);
        for (int i = 0; i < 20 && up_state_alive(dir) > 0; i++)
            sleep_ms(100);
    }
    rm_rf(dir);
    free(dir);
    printf("%s\n", argv[1]);
    return FORGE_EXIT_OK;
}
