/* forge.c - `provium forge SUBCOMMAND`: dispatches to the forge room (src/forge/).
 *
 * Only the table and the help live here; each subcommand is implemented, with its own
 * flags and --help, by the file of src/forge/ that owns its concern (see forge.h).
 */
#include "cli/cli.h"
#include "forge/forge.h"
#include "util/util.h"

#include <stdio.h>
#include <string.h>

static const char forge_usage[] =
    "usage: provium forge SUBCOMMAND [ARGS]\n"
    "\n"
    "Compile a workload manifest (IR v0) into a deterministic artifact and run it.\n"
    "\n"
    "  canonicalize FILE                 any JSON -> canonical JSON (RFC 8785) on stdout\n"
    "  validate FILE                     print the validation envelope; exit 0/1/2\n"
    "  emit ENTRY                        run a workload program (.py, .ts, executable, .json)\n"
    "                                    and print its canonical, validated IR\n"
    "  compile FILE --out DIR|X.tar.gz   validate, bundle the source, render the artifact\n"
    "  up ENTRY [flags] [-- ARGS]        compile and boot (backend qemu, mvmctl)\n"
    "  ls                                list detached workloads\n"
    "  logs NAME [-f]                    show a detached workload's console log\n"
    "  down NAME                         stop a detached workload\n"
    "\n"
    "Exit codes: 0 success, 1 invalid input (an envelope is printed), 2 unreadable input,\n"
    "usage or environment error. `provium forge SUBCOMMAND --help` describes one.\n";

static const struct {
    const char *name;
    int (*fn)(int, char **);
} forge_cmds[] = {
    {"canonicalize", forge_canonicalize_main},
    {"validate", forge_validate_main},
    {"emit", forge_emit_main},
    {"compile", forge_compile_main},
    {"up", forge_up_main},
    {"ls", forge_ls_main},
    {"logs", forge_logs_main},
    {"down", forge_down_main},
};

int cmd_forge(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("forge", "forge: missing subcommand");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(forge_usage, stdout);
        return FORGE_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof forge_cmds / sizeof forge_cmds[0]; i++) {
        if (strcmp(argv[1], forge_cmds[i].name) != 0)
            continue;
        const char *help = forge_help(argv[1]);
        if (argc > 2 && help && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
            fputs(help, stdout);
            return FORGE_EXIT_OK;
        }
        return forge_cmds[i].fn(argc - 1, argv + 1);
    }
    return cli_usage_error("forge", "unknown forge subcommand '%s'", argv[1]);
}
