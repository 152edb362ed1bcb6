/* rerun.c - the state behind `--rerun-failed`: which tests failed in the last run.
 *
 * Every run rewrites the state file ($PROVIUM_RERUN_STATE, else one file per project,
 * $XDG_CACHE_HOME/provium/rerun-<hash of the config's absolute path>.json, so a run
 * of one suite never forgets another's failures) with the files that had failures and, per file,
 * the names of the failed tests; a file that failed outside any test (chunk error,
 * crash, file timeout before any test finished) is recorded whole. A later
 * `--rerun-failed` runs exactly those. Format:
 *   {"format": "provium-rerun/1",
 *    "files": [{"path": "/abs/a.test.lua", "whole_file": false, "tests": ["t1"]}]} */
#include "rerun.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RERUN_FORMAT "provium-rerun/1"

char *rerun_state_path(const char *project)
{
    const char *env = getenv("PROVIUM_RERUN_STATE");
    if (env && *env)
        return xstrdup(env);
    /* FNV-1a, 64 bits: a stable name, not a security boundary */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)(project ? project : ""); *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return xasprintf("%s/provium/rerun-%016llx.json", xdg_cache_home(), (unsigned long long)h);
}

void rerun_set_free(struct rerun_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].path);
        strv_free(&s->v[i].tests);
    }
    free(s->v);
    memset(s, 0, sizeof *s);
}

struct rerun_entry *rerun_add(struct rerun_set *s, const char *abs_path)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].path, abs_path))
            return &s->v[i];
    s->v = xrealloc(s->v, (s->n + 1) * sizeof *s->v);
    struct rerun_entry *e = &s->v[s->n++];
    memset(e, 0, sizeof *e);
    e->path = xstrdup(abs_path);
    return e;
}

const struct rerun_entry *rerun_find(const struct rerun_set *s, const char *abs_path)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].path, abs_path))
            return &s->v[i];
    return NULL;
}

int rerun_load(const char *state, struct rerun_set *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!file_exists(state))
        return 0;
    json_error_t je;
    json_t *doc = json_load_file(state, 0, &je);
    const char *fmt = doc ? json_string_value(json_object_get(doc, "format")) : NULL;
    json_t *files = doc ? json_object_get(doc, "files") : NULL;
    if (!doc || !fmt || strcmp(fmt, RERUN_FORMAT) || !json_is_array(files)) {
        snprintf(err, errlen, "%s: %s", state, doc ? "not a provium rerun state" : je.text);
        json_decref(doc);
        return -1;
    }
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f) {
        const char *path = json_string_value(json_object_get(f, "path"));
        if (!path)
            continue;
        struct rerun_entry *e = rerun_add(out, path);
        e->whole_file = json_is_true(json_object_get(f, "whole_file"));
        size_t k;
        json_t *t;
        json_array_foreach(json_object_get(f, "tests"), k, t)
            if (json_string_value(t))
                strv_push(&e->tests, json_string_value(t));
    }
    json_decref(doc);
    return 0;
}

int rerun_save(const char *state, const struct rerun_set *s)
{
    json_t *files = json_array();
    for (size_t i = 0; i < s->n; i++) {
        json_t *tests = json_array();
        for (size_t k = 0; k < s->v[i].tests.n; k++)
            json_array_append_new(tests, json_string(s->v[i].tests.v[k]));
        json_array_append_new(files, json_pack("{s:s, s:b, s:o}", "path", s->v[i].path,
                                               "whole_file", s->v[i].whole_file, "tests",
                                               tests));
    }
    json_t *doc = json_pack("{s:s, s:o}", "format", RERUN_FORMAT, "files", files);
    char *text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    char *dir = path_dirname(state);
    int rc = mkdir_p(dir, 0755);
    free(dir);
    if (rc == 0)
        rc = write_file_atomic(state, text, strlen(text), 0644);
    free(text);
    return rc;
}
