/* compile.c - manifest -> artifact: validate, bundle, render, replace atomically
 * (spec §10.6 `compile`), shared by `provium forge compile`, `up` and `up --watch`.
 *
 * Everything is written into a staging directory beside the output
 * (`.<name>.staging.XXXXXX`), which then takes the output's place in one step: a
 * rename when nothing is there, renameat2(RENAME_EXCHANGE) over an existing directory
 * (whose old contents, now in the staging name, are removed afterwards). A reader
 * sees the old artifact or the new one, never a mix; on any failure the staging
 * directory is removed and the output is untouched. An output ending in .tar.gz is the
 * reproducible archive of the staging directory instead (archive.c).
 *
 * Exit codes: the envelope's (1 for an invalid manifest or source tree); I/O and
 * output problems (E_SOURCE_COPY_FAILED, E_COMPILE_*) are environment errors, exit 2.
 * `artifact` and `ir_hash` join the envelope only when the compile succeeded.
 */
#include "forge/compile.h"
#include "forge/archive.h"
#include "forge/cjson.h"
#include "forge/emit.h"
#include "forge/forge.h"
#include "forge/ir.h"
#include "forge/render.h"

#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_targz(const char *out)
{
    size_t n = strlen(out);
    return n > 7 && !strcmp(out + n - 7, ".tar.gz");
}

/* The strings of IR array field (NULL when absent); *n its length. */
static const char **str_list(const json_t *arr, size_t *n)
{
    *n = json_array_size(arr);
    if (!json_is_array(arr))
        return NULL;
    const char **v = xcalloc(*n + 1, sizeof *v);
    for (size_t i = 0; i < *n; i++)
        v[i] = json_string_value(json_array_get(arr, i));
    return v;
}

static int bundle_app(const json_t *ir, const char *manifest_dir, const char *staging,
                      struct bundle_result *src, struct forge_errors *errs)
{
    const json_t *source = json_object_get(json_array_get(json_object_get(ir, "apps"), 0),
                                           "source");
    const char *rel = json_string_value(json_object_get(source, "path"));
    size_t ninc, nexc;
    const char **inc = str_list(json_object_get(source, "include"), &ninc);
    const char **exc = str_list(json_object_get(source, "exclude"), &nexc);
    char *path = path_resolve(manifest_dir ? manifest_dir : ".", rel ? rel : ".");
    char *dest = path_join(staging, "src");
    int rc = bundle_source(path, inc, ninc, exc, nexc, dest, src, errs);
    free(dest);
    free(path);
    free(inc);
    free(exc);
    return rc;
}

static int write_text(const char *dir, const char *name, const char *data, size_t len,
                      struct forge_errors *errs)
{
    char *p = path_join(dir, name);
    int rc = write_file_atomic(p, data, len, 0644);
    if (rc < 0)
        forge_errors_add_fatal(errs, "E_COMPILE_STAGING_FAILED", "", "%s: %s", p,
                               strerror(errno));
    free(p);
    return rc;
}

/* launch.json (canonical, no newline) and flake.nix into staging. */
static int render_into(const json_t *ir, const char *staging, struct compile_result *res,
                       struct forge_errors *errs)
{
    const char *pin = getenv("PROVIUM_FORGE_MVM_FLAKE_URL");
    if (!pin || !*pin)
        pin = FORGE_MVM_FLAKE_PIN_DEFAULT;
    json_t *launch = render_launch(ir, res->ir_hash, &res->src);
    size_t len = 0;
    char *text = cjson_dump(launch, &len);
    json_decref(launch);
    int rc = text ? write_text(staging, "launch.json", text, len, errs) : -1;
    if (!text)
        forge_errors_add_fatal(errs, "E_COMPILE_STAGING_FAILED", "", "launch.json: cannot render");
    free(text);
    if (rc < 0)
        return -1;
    char *flake = render_flake(ir, res->ir_hash, pin);
    rc = write_text(staging, "flake.nix", flake, strlen(flake), errs);
    free(flake);
    return rc;
}

/* Puts the finished staging dir in out_dir's place (see the top of the file). */
static int install_dir(const char *staging, const char *out_dir, struct forge_errors *errs)
{
    struct stat st;
    if (lstat(out_dir, &st) < 0) {
        if (errno == ENOENT && rename(staging, out_dir) == 0)
            return 0;
    } else if (!S_ISDIR(st.st_mode)) {
        forge_errors_add_fatal(errs, "E_COMPILE_OUTPUT_EXISTS_NOT_DIR", "",
                               "%s exists and is not a directory", out_dir);
        return -1;
    } else if (renameat2(AT_FDCWD, staging, AT_FDCWD, out_dir, RENAME_EXCHANGE) == 0) {
        rm_rf(staging); /* the old artifact, now under the staging name */
        return 0;
    } else if (errno == EINVAL || errno == ENOSYS) {
        /* a filesystem without RENAME_EXCHANGE: the old one aside, the new one in */
        char *old = xasprintf("%s.old", staging);
        int aside = rename(out_dir, old) == 0;
        int ok = aside && rename(staging, out_dir) == 0;
        if (aside && !ok)
            rename(old, out_dir); /* put the old one back */
        else
            rm_rf(old);
        free(old);
        if (ok)
            return 0;
    }
    forge_errors_add_fatal(errs, "E_COMPILE_STAGING_FAILED", "", "cannot replace %s: %s",
                           out_dir, strerror(errno));
    return -1;
}

/* A fresh staging directory beside out (parents created); NULL with errs filled. */
static char *make_staging(const char *out, struct forge_errors *errs)
{
    char *parent = path_dirname(out);
    char *base = xstrdup(out + strlen(parent) + (parent[strlen(parent) - 1] == '/' ? 0 : 1));
    char *tmpl = xasprintf("%s/.%s.staging.XXXXXX", parent, base);
    char *staging = NULL;
    if (mkdir_p(parent, 0755) < 0 || !mkdtemp(tmpl) || chmod(tmpl, 0755) < 0)
        forge_errors_add_fatal(errs, "E_COMPILE_STAGING_FAILED", "", "%s: %s", tmpl,
                               strerror(errno));
    else
        staging = xstrdup(tmpl);
    free(tmpl);
    free(base);
    free(parent);
    return staging;
}

static int check_output(const char *out_dir, int targz, struct forge_errors *errs)
{
    struct stat st;
    if (targz || lstat(out_dir, &st) < 0 || S_ISDIR(st.st_mode))
        return 0;
    forge_errors_add_fatal(errs, "E_COMPILE_OUTPUT_EXISTS_NOT_DIR", "",
                           "%s exists and is not a directory", out_dir);
    return -1;
}

int forge_compile_ir(const json_t *ir, const char *manifest_dir, const char *out_dir,
                     struct compile_result *res, struct forge_errors *errs)
{
    int targz = is_targz(out_dir), rc = -1;
    char *staging = NULL;
    memset(res, 0, sizeof *res);
    if (ir_validate(ir, manifest_dir, errs) != 0 || errs->n)
        return -1;
    cjson_sha256_hex(ir, res->ir_hash);
    if (check_output(out_dir, targz, errs) < 0 || !(staging = make_staging(out_dir, errs)))
        return -1;
    if (bundle_app(ir, manifest_dir, staging, &res->src, errs) < 0 ||
        render_into(ir, staging, res, errs) < 0)
        goto done;
    if (targz) {
        char err[512];
        if (archive_write_targz(staging, out_dir, err, sizeof err) < 0) {
            forge_errors_add_fatal(errs, "E_COMPILE_ARCHIVE_FAILED", "", "%s", err);
            goto done;
        }
    } else if (install_dir(staging, out_dir, errs) < 0) {
        goto done;
    } else {
        free(staging); /* it is out_dir now */
        staging = NULL;
    }
    rc = 0;
done:
    if (staging) {
        rm_rf(staging);
        free(staging);
    }
    return rc;
}

static int compile_usage(const char *fmt, const char *arg)
{
    warnx_p(fmt, arg);
    warnx_p("usage: provium forge compile FILE --out DIR|X.tar.gz (see --help)");
    return FORGE_EXIT_ERROR;
}

int forge_compile_main(int argc, char **argv)
{
    const char *file = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") || !strcmp(argv[i], "-o")) {
            if (++i >= argc)
                return compile_usage("forge compile: %s needs a value", argv[i - 1]);
            out = argv[i];
        } else if (!strncmp(argv[i], "--out=", 6)) {
            out = argv[i] + 6;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return compile_usage("forge compile: unknown flag '%s'", argv[i]);
        } else if (file) {
            return compile_usage("forge compile: unexpected argument '%s'", argv[i]);
        } else {
            file = argv[i];
        }
    }
    if (!file)
        return compile_usage("forge compile: missing %s", "FILE");
    if (!out || !*out)
        return compile_usage("forge compile: missing %s", "--out DIR|X.tar.gz");
    struct forge_errors errs = {0};
    struct compile_result res;
    char *mdir = NULL;
    json_t *extra = NULL;
    json_t *ir = forge_emit_ir(file, &mdir, &errs);
    if (ir && forge_compile_ir(ir, mdir, out, &res, &errs) == 0) {
        char *abs = realpath(out, NULL);
        extra = json_pack("{s:s, s:s}", "artifact", abs ? abs : out, "ir_hash", res.ir_hash);
        free(abs);
    }
    int rc = forge_print_envelope(&errs, extra);
    json_decref(extra);
    json_decref(ir);
    free(mdir);
    forge_errors_free(&errs);
    return rc;
}
