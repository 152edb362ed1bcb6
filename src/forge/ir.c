/* ir.c - IR v0 validation (see forge.h).
 *
 * STUB: being written; replace this comment with what the file is for and why. */
#include "forge/forge.h"

#include "util/util.h"

int forge_validate_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    warnx_p("forge validate: not implemented yet");
    return FORGE_EXIT_ERROR;
}
