/* up.c - `up`, and the detached workloads (ls, logs, down) (see forge.h).
 *
 * STUB: being written; replace this comment with what the file is for and why. */
#include "forge/forge.h"

#include "util/util.h"

int forge_up_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    warnx_p("forge up: not implemented yet");
    return FORGE_EXIT_ERROR;
}

int forge_ls_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    warnx_p("forge ls: not implemented yet");
    return FORGE_EXIT_ERROR;
}

int forge_logs_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    warnx_p("forge logs: not implemented yet");
    return FORGE_EXIT_ERROR;
}

int forge_down_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    warnx_p("forge down: not implemented yet");
    return FORGE_EXIT_ERROR;
}
