/* cjson.c - canonical JSON (RFC 8785): the strict parser and the canonical writer (see forge.h).
 *
 * STUB: being written; replace this comment with what the file is for and why. */
#include "forge/forge.h"

#include "util/util.h"

int forge_canonicalize_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    warnx_p("forge canonicalize: not implemented yet");
    return FORGE_EXIT_ERROR;
}
