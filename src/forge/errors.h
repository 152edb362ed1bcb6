/* errors.h - the validation envelope of `validate`, `compile` and `emit` (spec §10.3):
 * {"errors":[{"code":…,"detail":…,"path":…}],"ok":bool}, canonical, with every error
 * collected and ordered by path, then code (byte order).
 */
#ifndef PROVIUM_FORGE_ERRORS_H
#define PROVIUM_FORGE_ERRORS_H

#include <jansson.h>
#include <stddef.h>

struct forge_error {
    char *code;   /* "E_UNKNOWN_FIELD" */
    char *path;   /* ".apps[0].env.TOKEN", "" for the whole document */
    char *detail; /* prose for humans */
};

struct forge_errors {
    struct forge_error *v;
    size_t n, cap;
    int exit_code; /* the worst so far: 0, FORGE_EXIT_INVALID or FORGE_EXIT_ERROR */
};

void forge_errors_add(struct forge_errors *e, const char *code, const char *path,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Like forge_errors_add, and raises exit_code to FORGE_EXIT_ERROR (unreadable input,
 * environment). */
void forge_errors_add_fatal(struct forge_errors *e, const char *code, const char *path,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void forge_errors_free(struct forge_errors *e);

/* The envelope object (errors sorted; "ok" = no error). New reference. */
json_t *forge_envelope(struct forge_errors *e);
/* Prints the canonical envelope plus a newline on stdout; returns the exit code
 * (0 if no error, else e->exit_code, at least FORGE_EXIT_INVALID). extra (may be NULL)
 * is merged into the envelope object (compile's "artifact" and "ir_hash"). */
int forge_print_envelope(struct forge_errors *e, json_t *extra);

#endif
