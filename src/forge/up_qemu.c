/* up_qemu.c - the built-in qemu backend (see forge.h).
 *
 * STUB: being written; replace this comment with what the file is for and why. */
#include "forge/forge.h"

#include "util/util.h"

/* nothing yet */
typedef int forge_up_qemu_placeholder;
