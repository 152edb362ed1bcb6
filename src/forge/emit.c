/* emit.c - ENTRY -> IR (spec §10.6): a .json manifest is read as it is; a .py, .ts or
 * executable workload program is run with PROVIUM_FORGE_IR_OUT=<a file in a private temp
 * directory> and PROVIUM_FORGE_EMITTING=1 and must write its IR there. `forge emit`
 * prints that IR canonical and validated; `up` uses forge_emit_ir before compiling.
 *
 * The program's own stdout goes to our stderr, so `emit`'s stdout carries the IR alone
 * (`emit | sha256sum` is the ir_hash). A program that fails, or writes nothing, is an
 * environment error (exit 2, a `provium:` line); an IR that is not JSON or not valid is
 * an envelope (exit 1, or 2 for unreadable JSON as in `validate`).
 */
#include "forge/emit.h"

#include "forge/cjson.h"
#include "forge/forge.h"
#include "forge/ir.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

/* The interpreter for entry ("python3" for .py ...), or NULL to run it directly. */
static const char *entry_interpreter(const char *entry)
{
    const char *bin = NULL;
    if (has_suffix(entry, ".py")) {
        bin = getenv("PROVIUM_FORGE_PYTHON_BIN");
        return bin && bin[0] ? bin : "python3";
    }
    if (has_suffix(entry, ".ts")) {
        bin = getenv("PROVIUM_FORGE_NODE_BIN");
        return bin && bin[0] ? bin : "node";
    }
    return NULL;
}

/* Runs the program with the emit environment; 0 when it exited 0, else -1 with errs. */
static int run_program(const char *entry, const char *ir_out, struct forge_errors *errs)
{
    const char *interp = entry_interpreter(entry);
    if (!interp && access(entry, X_OK) < 0) {
        forge_errors_add_fatal(errs, "E_MALFORMED_MANIFEST", "",
                               "%s is neither .json, .py, .ts nor executable", entry);
        return -1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        forge_errors_add_fatal(errs, "E_MALFORMED_MANIFEST", "", "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        setenv("PROVIUM_FORGE_IR_OUT", ir_out, 1);
        setenv("PROVIUM_FORGE_EMITTING", "1", 1);
        dup2(2, 1); /* stdout is the IR's */
        signal(SIGPIPE, SIG_DFL);
        if (interp)
            execlp(interp, interp, entry, (char *)NULL);
        else
            execl(entry, entry, (char *)NULL);
        dprintf(2, "provium: forge emit: cannot run %s: %s\n", interp ? interp : entry,
                strerror(errno));
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFSIGNALED(st))
        forge_errors_add_fatal(errs, "E_MALFORMED_MANIFEST", "", "%s was killed by signal %d",
                               entry, WTERMSIG(st));
    else
        forge_errors_add_fatal(errs, "E_MALFORMED_MANIFEST", "", "%s exited with status %d",
                               entry, WEXITSTATUS(st));
    return -1;
}

/* Parses path as IR; unreadable or not JSON is fatal (exit 2), a bad number exit 1. */
static json_t *load_ir(const char *path, const char *entry, struct forge_errors *errs)
{
    struct cjson_error cerr = {0};
    json_t *ir = cjson_load_file(path, &cerr);
    if (ir)
        return ir;
    if (cerr.exit_code == FORGE_EXIT_INVALID)
        forge_errors_add(errs, "E_MALFORMED_MANIFEST", "", "%s", cerr.detail);
    else
        forge_errors_add_fatal(errs, "E_MALFORMED_MANIFEST", "", "%s: %s", entry, cerr.detail);
    return NULL;
}

json_t *forge_emit_ir(const char *entry, char **manifest_dir, struct forge_errors *errs)
{
    json_t *ir = NULL;
    char *tmp = NULL, *out = NULL;
    char abs[PATH_MAX];
    struct stat st;
    *manifest_dir = NULL;
    const char *why = NULL;
    if (stat(entry, &st) < 0 || !realpath(entry, abs))
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    if (why) {
        forge_errors_add_fatal(errs, "E_MALFORMED_MANIFEST", "", "%s: %s", entry, why);
        goto done;
    }
    if (has_suffix(entry, ".json")) {
        ir = load_ir(entry, entry, errs);
        goto done;
    }
    tmp = make_scratch_dir("provium-forge-emit");
    if (!tmp) {
        forge_errors_add_fatal(errs, "E_MALFORMED_MANIFEST", "", "cannot create a temp dir: %s",
                               strerror(errno));
        goto done;
    }
    out = path_join(tmp, "ir.json");
    if (run_program(abs, out, errs) < 0)
        goto done;
    if (!file_exists(out)) {
        forge_errors_add_fatal(errs, "E_MALFORMED_MANIFEST", "",
                               "%s exited 0 but wrote no IR to $PROVIUM_FORGE_IR_OUT", entry);
        goto done;
    }
    ir = load_ir(out, entry, errs);
done:
    if (ir)
        *manifest_dir = path_dirname(abs);
    if (tmp)
        rm_rf(tmp);
    free(tmp);
    free(out);
    return ir;
}

/* Prints fatal errors as `provium:` lines (they are about the program, not the IR). */
static void warn_errors(const struct forge_errors *errs, const char *cmd)
{
    for (size_t i = 0; i < errs->n; i++)
        warnx_p("forge %s: %s", cmd, errs->v[i].detail);
}

int forge_emit_main(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        warnx_p("usage: provium forge emit ENTRY (see `provium forge emit --help`)");
        return FORGE_EXIT_ERROR;
    }
    struct forge_errors errs = {0};
    char *dir = NULL;
    int rc;
    json_t *ir = forge_emit_ir(argv[1], &dir, &errs);
    if (!ir && errs.exit_code == FORGE_EXIT_ERROR) {
        warn_errors(&errs, "emit");
        rc = FORGE_EXIT_ERROR;
        goto done;
    }
    if (!ir || ir_validate(ir, dir, &errs) != 0 || errs.n) {
        rc = forge_print_envelope(&errs, NULL);
        goto done;
    }
    size_t len = 0;
    char *bytes = cjson_dump(ir, &len);
    rc = fwrite(bytes, 1, len, stdout) == len && fflush(stdout) == 0 ? FORGE_EXIT_OK
                                                                      : FORGE_EXIT_ERROR;
    free(bytes);
done:
    json_decref(ir);
    free(dir);
    forge_errors_free(&errs);
    return rc;
}
