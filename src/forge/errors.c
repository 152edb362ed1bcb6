/* errors.c - the validation envelope of validate, compile and emit (spec §10.3).
 *
 * Why one place: every forge command that judges input reports the same way, with every
 * error collected (not just the first), ordered by path then code in byte order (ties keep
 * the order in which they were raised), and the envelope itself written as canonical
 * JSON (cjson_dump) plus a newline. Strings that are not UTF-8 (a file name from the
 * source tree) are shown with \xNN escapes rather than dropped.
 */
#include "forge/errors.h"
#include "forge/cjson.h"
#include "forge/forge.h"

#include "util/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void errors_vadd(struct forge_errors *e, int exit_code, const char *code,
                        const char *path, const char *fmt, va_list ap)
{
    if (e->n == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 8;
        e->v = xrealloc(e->v, e->cap * sizeof *e->v);
    }
    struct forge_error *x = &e->v[e->n++];
    x->code = xstrdup(code);
    x->path = xstrdup(path ? path : "");
    char *detail = NULL;
    if (vasprintf(&detail, fmt, ap) < 0)
        detail = NULL;
    x->detail = detail ? detail : xstrdup(code);
    if (e->exit_code < exit_code)
        e->exit_code = exit_code;
}

void forge_errors_add(struct forge_errors *e, const char *code, const char *path,
                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    errors_vadd(e, FORGE_EXIT_INVALID, code, path, fmt, ap);
    va_end(ap);
}

void forge_errors_add_fatal(struct forge_errors *e, const char *code, const char *path,
                            const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    errors_vadd(e, FORGE_EXIT_ERROR, code, path, fmt, ap);
    va_end(ap);
}

void forge_errors_free(struct forge_errors *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->v[i].code);
        free(e->v[i].path);
        free(e->v[i].detail);
    }
    free(e->v);
    e->v = NULL;
    e->n = e->cap = 0;
    e->exit_code = 0;
}

struct ranked {
    const struct forge_error *e;
    size_t index;
};

static int ranked_cmp(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    int c = strcmp(x->e->path, y->e->path);
    if (!c)
        c = strcmp(x->e->code, y->e->code);
    if (!c)
        c = x->index < y->index ? -1 : x->index > y->index;
    return c;
}

/* A JSON string of s, escaping bytes that are not UTF-8. */
static json_t *utf8_string(const char *s)
{
    char *esc = utf8_escape(s);
    json_t *v = json_string(esc);
    free(esc);
    return v ? v : json_string("");
}

json_t *forge_envelope(struct forge_errors *e)
{
    struct ranked *order = xcalloc(e->n ? e->n : 1, sizeof *order);
    for (size_t i = 0; i < e->n; i++)
        order[i] = (struct ranked){&e->v[i], i};
    qsort(order, e->n, sizeof *order, ranked_cmp);
    json_t *list = json_array();
    for (size_t i = 0; i < e->n; i++) {
        json_t *item = json_object();
        json_object_set_new(item, "code", utf8_string(order[i].e->code));
        json_object_set_new(item, "detail", utf8_string(order[i].e->detail));
        json_object_set_new(item, "path", utf8_string(order[i].e->path));
        json_array_append_new(list, item);
    }
    free(order);
    json_t *env = json_object();
    json_object_set_new(env, "errors", list);
    json_object_set_new(env, "ok", json_boolean(e->n == 0));
    return env;
}

int forge_print_envelope(struct forge_errors *e, json_t *extra)
{
    json_t *env = forge_envelope(e);
    if (extra)
        json_object_update(env, extra);   /* extra is borrowed */
    size_t len = 0;
    char *bytes = cjson_dump(env, &len);
    json_decref(env);
    int written = bytes != NULL;
    if (bytes) {
        fwrite(bytes, 1, len, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    } else {
        warnx_p("forge: the envelope holds a value canonical JSON cannot write");
    }
    free(bytes);
    if (e->n == 0)
        return written ? FORGE_EXIT_OK : FORGE_EXIT_ERROR;
    return e->exit_code > FORGE_EXIT_INVALID ? e->exit_code : FORGE_EXIT_INVALID;
}
