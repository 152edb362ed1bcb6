/* help.c - the --help text of each forge subcommand (see forge.h).
 *
 * STUB: being written; replace this comment with what the file is for and why. */
#include "forge/forge.h"

#include <stddef.h>

const char *forge_help(const char *sub)
{
    (void)sub;
    return NULL;
}
