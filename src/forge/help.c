/* help.c - the --help text of each forge subcommand (see forge.h).
 *
 * One text per subcommand, each starting with its usage line and listing its
 * arguments, flags, the environment it reads and its exit codes (spec §10.6).
 * src/cli/forge.c prints it for `provium forge SUB --help`; the subcommands' own
 * parsers print it too. tests/unit/forge_help.sh checks every one.
 */
#include "forge/forge.h"

#include <stddef.h>
#include <string.h>

#define EXITS_ENVELOPE                                                                   \
    "Exit codes: 0 valid, 1 invalid (the envelope lists the errors), 2 unreadable\n"     \
    "input or usage error.\n"

static const char help_canonicalize[] =
    "usage: provium forge canonicalize FILE\n"
    "\n"
    "Print FILE's JSON in canonical form (RFC 8785) on stdout: keys sorted by UTF-16\n"
    "code units, no whitespace, minimal escapes; the bytes alone, no final newline.\n"
    "`provium forge canonicalize m.json | sha256sum` is the manifest's ir_hash.\n"
    "\n"
    "Exit codes: 0 done; 1 a number that is not an integer within +-(2^53-1);\n"
    "2 FILE unreadable or not JSON (duplicate keys, invalid UTF-8, lone surrogates,\n"
    "nesting deeper than 128), or a usage error.\n";

static const char help_validate[] =
    "usage: provium forge validate FILE\n"
    "\n"
    "Check a manifest (IR v0) and print the validation envelope on stdout:\n"
    "  {\"errors\":[{\"code\":...,\"detail\":...,\"path\":...}],\"ok\":true|false}\n"
    "Every error is collected, ordered by path, then code. Relative source paths\n"
    "resolve against FILE's directory.\n"
    "\n" EXITS_ENVELOPE;

static const char help_emit[] =
    "usage: provium forge emit ENTRY\n"
    "\n"
    "Run a workload description program and print its canonical, validated IR on\n"
    "stdout. ENTRY is:\n"
    "  X.json        read as the IR itself\n"
    "  X.py          run with $PROVIUM_FORGE_PYTHON_BIN (default python3)\n"
    "  X.ts          run with $PROVIUM_FORGE_NODE_BIN (default node)\n"
    "  other         run directly (must be executable)\n"
    "The program gets PROVIUM_FORGE_IR_OUT=<temp file> and PROVIUM_FORGE_EMITTING=1\n"
    "and must write the IR to that file. An invalid IR prints the envelope instead.\n"
    "\n"
    "Exit codes: 0 the IR was printed, 1 it is invalid (envelope), 2 ENTRY unreadable,\n"
    "the program failed or wrote no JSON, or a usage error.\n";

static const char help_compile[] =
    "usage: provium forge compile FILE --out DIR|X.tar.gz\n"
    "\n"
    "Validate the manifest (or a workload program, as `emit` runs it), bundle its\n"
    "source and render the artifact: flake.nix, launch.json and src/. It is built in\n"
    "a sibling staging directory, then replaces DIR atomically (nothing is left behind\n"
    "on failure). A target ending in .tar.gz is a reproducible archive instead (sorted\n"
    "ustar, mtime 0, uid/gid 0, normalised modes, no name or time in the gzip header).\n"
    "Compiling twice gives identical bytes. Runs no Nix and uses no network.\n"
    "Prints the envelope plus \"artifact\" (its absolute path) and \"ir_hash\".\n"
    "\n"
    "  -o, --out DIR|X.tar.gz   where the artifact goes (required)\n"
    "\n"
    "Environment: PROVIUM_FORGE_MVM_FLAKE_URL replaces the compiled-in mvm flake pin\n"
    "(only the pin line of flake.nix changes).\n"
    "\n"
    "Exit codes: 0 compiled, 1 invalid manifest or source (the envelope lists the\n"
    "errors), 2 unreadable input, output or usage error.\n";

static const char help_up[] =
    "usage: provium forge up ENTRY [flags] [-- ARGS]\n"
    "\n"
    "Emit, validate and compile ENTRY (a manifest, a workload program, or an artifact\n"
    "directory) into $XDG_CACHE_HOME/provium/forge/<id>-<ir_hash prefix>/, then boot it.\n"
    "\n"
    "  --hypervisor qemu|firecracker|mvmctl\n"
    "                      the backend (default qemu: built in, no Nix; mvmctl runs\n"
    "                      `mvmctl up --flake ARTIFACT` on a Nix host; firecracker:\n"
    "                      not yet)\n"
    "  --name NAME         the VM's name (default the workload id;\n"
    "                      ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$)\n"
    "  --cpus N            vCPUs (beats the IR's resources; default 1)\n"
    "  --memory SIZE       memory: 512M, 4G, a bare number is MiB (default 512M)\n"
    "  -p HOST:GUEST[/udp] forward a host port (repeatable; adds to the IR's ports)\n"
    "  -e KEY=VAL          set an environment variable (repeatable; wins over the IR)\n"
    "  -d, --detach        run in the background; prints the name (see ls, logs, down)\n"
    "  --kernel PATH       the guest kernel (qemu backend)\n"
    "  --watch             foreground only: recompile when the manifest or source\n"
    "                      changes, reboot when ir_hash or tree_hash changed\n"
    "  -- ARGS             passed to the backend program (mvmctl)\n"
    "\n"
    "Environment: PROVIUM_FORGE_KERNEL, PROVIUM_FORGE_BUSYBOX (qemu backend);\n"
    "PROVIUM_FORGE_MVM_BIN (default mvmctl, else mvm on PATH; at least version 0.10.0)\n"
    "and PROVIUM_FORGE_UP_ARGS (split on whitespace, passed before ARGS) for mvmctl;\n"
    "PROVIUM_FORGE_PYTHON_BIN, PROVIUM_FORGE_NODE_BIN, PROVIUM_FORGE_MVM_FLAKE_URL as\n"
    "for emit and compile.\n"
    "\n"
    "Exit codes: the service's status in the foreground (qemu), the controller's\n"
    "(mvmctl); 0 once a detached workload started; 1 invalid manifest (envelope);\n"
    "2 environment (E_HYPERVISOR_NOT_FOUND, E_KERNEL_NOT_FOUND, E_BUSYBOX_NOT_FOUND,\n"
    "E_BACKEND_UNSUPPORTED, E_MVM_NOT_FOUND, E_MVM_VERSION_TOO_OLD) or usage error;\n"
    "130 interrupted.\n";

static const char help_ls[] =
    "usage: provium forge ls\n"
    "\n"
    "List the detached workloads (`up --detach`) whose state is kept under\n"
    "$XDG_RUNTIME_DIR/provium/forge/<name>/.\n"
    "\n"
    "Exit codes: 0 listed, 2 usage error.\n";

static const char help_logs[] =
    "usage: provium forge logs NAME [-f]\n"
    "\n"
    "Print the console log of the detached workload NAME.\n"
    "\n"
    "  -f, --follow   keep printing what the console writes until the workload stops\n"
    "\n"
    "Exit codes: 0 done, 2 no workload NAME or usage error.\n";

static const char help_down[] =
    "usage: provium forge down NAME\n"
    "\n"
    "Stop the detached workload NAME and remove its state.\n"
    "\n"
    "Exit codes: 0 stopped, 2 no workload NAME or usage error.\n";

static const struct {
    const char *sub, *text;
} helps[] = {
    {"canonicalize", help_canonicalize},
    {"validate", help_validate},
    {"emit", help_emit},
    {"compile", help_compile},
    {"up", help_up},
    {"ls", help_ls},
    {"logs", help_logs},
    {"down", help_down},
};

const char *forge_help(const char *sub)
{
    for (size_t i = 0; sub && i < sizeof helps / sizeof helps[0]; i++)
        if (!strcmp(sub, helps[i].sub))
            return helps[i].text;
    return NULL;
}
