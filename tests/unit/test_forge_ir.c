/* test_forge_ir.c - unit tests for IR v0 validation (src/forge/ir.c, spec §10.1, §10.3).
 *
 * Why: the codes and paths of the validation envelope are a stable interface (tools match
 * on them), so each manifest of tests/forge/manifests/ is listed here with the exact
 * (path, code) pairs ir_validate must report, sorted by path then code: one manifest per
 * code at least, a few variants, and valid ones (ok-*.json) that must report nothing.
 * The manifests are read with jansson (not the forge's own reader), so a fraction reaches
 * the validator as a real; the same files are run through `provium forge validate` by
 * tests/unit/forge_validate.sh. Run from the source root (meson's workdir).
 */
#include "forge/errors.h"
#include "forge/ir.h"
#include "testlib.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define DIR_ "tests/forge/manifests"
#define MAX_WANT 6

struct want {
    const char *file;             /* under DIR_, without ".json" */
    const char *errs[MAX_WANT];   /* "PATH CODE", sorted by path then code */
};

static const struct want table[] = {
    {"ok-full", {NULL}},
    {"ok-minimal", {NULL}},
    {"ok-version-0-0", {NULL}},
    {"E_MALFORMED_MANIFEST", {".id E_MALFORMED_MANIFEST"}},
    {"E_MALFORMED_MANIFEST-root", {" E_MALFORMED_MANIFEST"}},
    {"E_MALFORMED_MANIFEST-missing", {".apps[0].entrypoint E_MALFORMED_MANIFEST"}},
    {"E_MALFORMED_MANIFEST-range",
     {".apps[0].network.ports[0].guest E_MALFORMED_MANIFEST",
      ".apps[0].network.ports[0].host E_MALFORMED_MANIFEST"}},
    {"E_MALFORMED_MANIFEST-memory",
     {".apps[0].resources.cpu_cores E_MALFORMED_MANIFEST",
      ".apps[0].resources.memory_mb E_MALFORMED_MANIFEST"}},
    {"E_MALFORMED_MANIFEST-empty-command",
     {".apps[0].entrypoint.command E_MALFORMED_MANIFEST",
      ".apps[0].entrypoint.working_dir E_MALFORMED_MANIFEST"}},
    {"E_MALFORMED_MANIFEST-env",
     {".apps[0].env.A-B E_MALFORMED_MANIFEST", ".apps[0].env.L.value E_MALFORMED_MANIFEST",
      ".apps[0].env.OK E_MALFORMED_MANIFEST"}},
    {"E_MALFORMED_MANIFEST-version-type", {".schema_version E_MALFORMED_MANIFEST"}},
    {"E_MALFORMED_MANIFEST-duplicate-volume", {".volumes[1].name E_MALFORMED_MANIFEST"}},
    {"E_MALFORMED_MANIFEST-fraction", {".volumes[0].size_mb E_MALFORMED_MANIFEST"}},
    {"E_UNKNOWN_FIELD", {".apps[0].colour E_UNKNOWN_FIELD"}},
    {"E_UNKNOWN_FIELD-many",
     {".apps[0].entrypoint.cwd E_UNKNOWN_FIELD", ".bogus E_UNKNOWN_FIELD",
      ".id E_INVALID_ID"}},
    {"E_UNKNOWN_FIELD-extensions", {".extensions.x-vendor E_UNKNOWN_FIELD"}},
    {"E_UNSUPPORTED_MAJOR", {".schema_version E_UNSUPPORTED_MAJOR"}},
    {"E_MINOR_TOO_HIGH", {".schema_version E_MINOR_TOO_HIGH"}},
    {"E_MINOR_TOO_HIGH-long", {".schema_version E_MINOR_TOO_HIGH"}},
    {"E_MALFORMED_VERSION", {".schema_version E_MALFORMED_VERSION"}},
    {"E_MALFORMED_VERSION-minor", {".schema_version E_MALFORMED_VERSION"}},
    {"E_MALFORMED_VERSION-short", {".schema_version E_MALFORMED_VERSION"}},
    {"E_MALFORMED_VERSION-three", {".schema_version E_MALFORMED_VERSION"}},
    {"E_EMPTY_APPS", {".apps E_EMPTY_APPS"}},
    {"E_MULTI_APP_DEFERRED", {".apps E_MULTI_APP_DEFERRED"}},
    {"E_INVALID_ID", {".id E_INVALID_ID"}},
    {"E_INVALID_ID-app", {".apps[0].name E_INVALID_ID"}},
    {"E_INVALID_ID-volume", {".volumes[0].name E_INVALID_ID"}},
    {"E_INVALID_ID-long", {".id E_INVALID_ID"}},
    {"E_SOURCE_KIND_DEFERRED", {".apps[0].source.kind E_SOURCE_KIND_DEFERRED"}},
    {"E_IMAGE_KIND_DEFERRED", {".apps[0].image.kind E_IMAGE_KIND_DEFERRED"}},
    {"E_SECRETS_NOT_IMPLEMENTED", {".apps[0].env.TOKEN E_SECRETS_NOT_IMPLEMENTED"}},
    {"E_PERSIST_DEFERRED", {".volumes[0].persist E_PERSIST_DEFERRED"}},
    {"E_NETWORK_PORTS_WITH_NONE", {".apps[0].network.ports E_NETWORK_PORTS_WITH_NONE"}},
    {"E_UNKNOWN_VOLUME", {".apps[0].mounts[0].source.name E_UNKNOWN_VOLUME"}},
    {"E_SOURCE_PATH_NOT_FOUND", {".apps[0].source.path E_SOURCE_PATH_NOT_FOUND"}},
    {"E_SOURCE_PATH_NOT_DIR", {".apps[0].source.path E_SOURCE_PATH_NOT_DIR"}},
    {"E_SOURCE_GLOB_INVALID", {".apps[0].source.include[1] E_SOURCE_GLOB_INVALID"}},
};
#define N_TABLE (sizeof table / sizeof table[0])

/* Files the table does not cover on purpose: not JSON at all (cjson's exit 2 case). */
static const char *const not_json[] = {"E_MALFORMED_MANIFEST-notjson", NULL};

/* Every code ir_validate can raise (§10.3): each must appear in the table. */
static const char *const codes[] = {
    "E_MALFORMED_MANIFEST", "E_UNKNOWN_FIELD", "E_UNSUPPORTED_MAJOR", "E_MINOR_TOO_HIGH",
    "E_MALFORMED_VERSION", "E_EMPTY_APPS", "E_MULTI_APP_DEFERRED", "E_INVALID_ID",
    "E_SOURCE_KIND_DEFERRED", "E_IMAGE_KIND_DEFERRED", "E_SECRETS_NOT_IMPLEMENTED",
    "E_PERSIST_DEFERRED", "E_NETWORK_PORTS_WITH_NONE", "E_UNKNOWN_VOLUME",
    "E_SOURCE_PATH_NOT_FOUND", "E_SOURCE_PATH_NOT_DIR", "E_SOURCE_GLOB_INVALID", NULL};

static json_t *load(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.json", DIR_, name);
    json_error_t jerr;
    json_t *v = json_load_file(path, JSON_DECODE_ANY, &jerr);
    CHECK_MSG(v != NULL, "%s: %s", path, jerr.text);
    return v;
}

static int cmp_err(const void *a, const void *b)
{
    const struct forge_error *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    return c ? c : strcmp(x->code, y->code);
}

/* Validates one table entry and compares the sorted (path, code) pairs. */
static void check_entry(const struct want *w, const char *dir)
{
    json_t *ir = load(w->file);
    if (!ir)
        return;
    struct forge_errors errs = {0};
    int rc = ir_validate(ir, dir, &errs);
    if (errs.n)
        qsort(errs.v, errs.n, sizeof *errs.v, cmp_err);
    size_t nwant = 0;
    while (nwant < MAX_WANT && w->errs[nwant])
        nwant++;
    CHECK_MSG(rc == (nwant ? -1 : 0), "%s: ir_validate returned %d", w->file, rc);
    CHECK_MSG(errs.n == nwant, "%s: %zu errors, expected %zu", w->file, errs.n, nwant);
    for (size_t i = 0; i < errs.n; i++) {
        char got[512];
        snprintf(got, sizeof got, "%s %s", errs.v[i].path, errs.v[i].code);
        const char *exp = i < nwant ? w->errs[i] : "(none)";
        CHECK_MSG(!strcmp(got, exp), "%s: error %zu is '%s' (%s), expected '%s'", w->file, i,
                  got, errs.v[i].detail, exp);
        CHECK_MSG(errs.v[i].detail && errs.v[i].detail[0], "%s: error %zu has no detail",
                  w->file, i);
    }
    CHECK_MSG(errs.exit_code == (nwant ? 1 : 0), "%s: exit_code %d", w->file, errs.exit_code);
    forge_errors_free(&errs);
    json_decref(ir);
}

static void test_table(void)
{
    for (size_t i = 0; i < N_TABLE; i++)
        check_entry(&table[i], DIR_);
}

/* Each code of the list is some table entry's file name (one manifest per code). */
static void test_every_code_has_a_manifest(void)
{
    for (size_t c = 0; codes[c]; c++) {
        int found = 0;
        for (size_t i = 0; i < N_TABLE && !found; i++)
            found = !strcmp(table[i].file, codes[c]);
        CHECK_MSG(found, "no manifest %s.json in the table", codes[c]);
    }
}

/* Every .json file in the directory is in the table (or known not to be JSON). */
static void test_every_file_is_listed(void)
{
    DIR *d = opendir(DIR_);
    CHECK(d != NULL);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
            continue;
        int found = 0;
        for (size_t i = 0; i < N_TABLE && !found; i++)
            found = strlen(table[i].file) == n - 5 && !strncmp(table[i].file, de->d_name, n - 5);
        for (size_t i = 0; not_json[i] && !found; i++)
            found = strlen(not_json[i]) == n - 5 && !strncmp(not_json[i], de->d_name, n - 5);
        CHECK_MSG(found, "%s is not in the table", de->d_name);
    }
    closedir(d);
}

/* Without a manifest directory the source path is not looked at. */
static void test_no_dir_skips_source_path(void)
{
    const char *const files[] = {"E_SOURCE_PATH_NOT_FOUND", "E_SOURCE_PATH_NOT_DIR", NULL};
    for (size_t i = 0; files[i]; i++) {
        json_t *ir = load(files[i]);
        struct forge_errors errs = {0};
        CHECK_MSG(ir && ir_validate(ir, NULL, &errs) == 0 && errs.n == 0, "%s with dir NULL",
                  files[i]);
        forge_errors_free(&errs);
        json_decref(ir);
    }
}

/* The inline cases a file would not show as clearly. */
static void check_inline(const char *json, const char *want)
{
    json_error_t jerr;
    json_t *ir = json_loads(json, JSON_DECODE_ANY, &jerr);
    CHECK_MSG(ir != NULL, "%s: %s", json, jerr.text);
    if (!ir)
        return;
    struct forge_errors errs = {0};
    ir_validate(ir, NULL, &errs);
    if (errs.n)
        qsort(errs.v, errs.n, sizeof *errs.v, cmp_err);
    char got[1024] = "";
    for (size_t i = 0; i < errs.n; i++) {
        size_t l = strlen(got);
        snprintf(got + l, sizeof got - l, "%s%s %s", i ? "; " : "", errs.v[i].path,
                 errs.v[i].code);
    }
    CHECK_MSG(!strcmp(got, want), "%s: got '%s', expected '%s'", json, got, want);
    forge_errors_free(&errs);
    json_decref(ir);
}

static void test_inline(void)
{
    /* the document itself: nothing at all, a scalar, an empty object */
    check_inline("3", " E_MALFORMED_MANIFEST");
    check_inline("{}", ".apps E_MALFORMED_MANIFEST; .id E_MALFORMED_MANIFEST; "
                       ".schema_version E_MALFORMED_MANIFEST");
    /* the version grammar */
    const char *const bad_versions[] = {"", ".", "0.", ".1", "01.1", "0.1a", "-0.1", " 0.1",
                                        "0.1 ", "0,1", "v0.1", NULL};
    for (size_t i = 0; bad_versions[i]; i++) {
        char j[128];
        snprintf(j, sizeof j, "{\"schema_version\":\"%s\",\"id\":\"x\",\"apps\":[]}",
                 bad_versions[i]);
        check_inline(j, ".apps E_EMPTY_APPS; .schema_version E_MALFORMED_VERSION");
    }
    check_inline("{\"schema_version\":\"10.0\",\"id\":\"x\",\"apps\":[]}",
                 ".apps E_EMPTY_APPS; .schema_version E_UNSUPPORTED_MAJOR");
    check_inline("{\"schema_version\":\"0.1000000000000000000000\",\"id\":\"x\",\"apps\":[]}",
                 ".apps E_EMPTY_APPS; .schema_version E_MINOR_TOO_HIGH");
    /* ids: 63 characters is the most, a digit or '-' may follow the first letter */
    check_inline("{\"schema_version\":\"0.1\",\"id\":\"a-9-\",\"apps\":[],\"extensions\":[]}",
                 ".apps E_EMPTY_APPS; .extensions E_MALFORMED_MANIFEST");
    check_inline("{\"schema_version\":\"0.1\",\"id\":\"-a\",\"apps\":{},\"volumes\":{}}",
                 ".apps E_MALFORMED_MANIFEST; .id E_INVALID_ID; .volumes E_MALFORMED_MANIFEST");
    /* a bad app element, a bad volume element; booleans are not integers */
    check_inline("{\"schema_version\":\"0.1\",\"id\":\"x\",\"apps\":[1],"
                 "\"volumes\":[{\"name\":\"v\",\"size_mb\":true,\"persist\":1}]}",
                 ".apps[0] E_MALFORMED_MANIFEST; .volumes[0].persist E_MALFORMED_MANIFEST; "
                 ".volumes[0].size_mb E_MALFORMED_MANIFEST");
}

/* errors.c orders the envelope by path then code; the validator's own order is not. */
static void test_envelope_order(void)
{
    json_t *ir = load("E_UNKNOWN_FIELD-many");
    struct forge_errors errs = {0};
    ir_validate(ir, DIR_, &errs);
    json_t *env = forge_envelope(&errs);
    json_t *arr = json_object_get(env, "errors");
    const char *want[] = {".apps[0].entrypoint.cwd", ".bogus", ".id"};
    CHECK_EQ_INT(json_array_size(arr), 3);
    for (size_t i = 0; i < 3 && i < json_array_size(arr); i++)
        CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(arr, i), "path")), want[i]);
    CHECK(json_is_false(json_object_get(env, "ok")));
    json_decref(env);
    forge_errors_free(&errs);
    json_decref(ir);
}

int main(void)
{
    RUN(test_table);
    RUN(test_every_code_has_a_manifest);
    RUN(test_every_file_is_listed);
    RUN(test_no_dir_skips_source_path);
    RUN(test_inline);
    RUN(test_envelope_order);
    return TEST_SUMMARY();
}
