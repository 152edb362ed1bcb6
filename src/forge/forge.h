/* forge.h - `provium forge`: a workload manifest (the IR, spec §10) compiled into a
 * deterministic artifact directory (flake.nix, launch.json, src/) and booted.
 *
 * The room's files, one concern each (nothing here depends on the Lua layer):
 *   cjson.c    canonical JSON (RFC 8785): strict parser to jansson values, canonical writer
 *   errors.c   the validation envelope {"errors":[...],"ok":...} and its codes
 *   ir.c       IR v0 validation (every code of §10.3 that validation raises)
 *   bundle.c   the source bundle: include/exclude globs, symlink rules, tree_hash
 *   render.c   launch.json and flake.nix from the fixed template
 *   archive.c  the reproducible .tar.gz of an artifact
 *   compile.c  validate + bundle + render into a staging dir, atomic replace
 *   emit.c     running a workload description program (.py, .ts, executable) for its IR
 *   up.c       `up`: flags, the artifact cache, backend choice; ls/logs/down state
 *   up_qemu.c  the built-in backend: kernel + busybox initrd + generated /init
 *   up_run.c   its QEMU: command line, foreground console and status, --detach, --watch
 *              (up.h: the parsed flags for every backend; up_int.h: what the three share)
 *   up_mvm.c   the mvmctl backend (version floor, argument forwarding)
 *   help.c     every subcommand's --help text
 * src/cli/forge.c dispatches the subcommands to the *_main functions below.
 *
 * Exit codes (§10): 0 success, 1 invalid input (an envelope is still printed), 2
 * unreadable input, usage or environment error.
 */
#ifndef PROVIUM_FORGE_H
#define PROVIUM_FORGE_H

#define FORGE_EXIT_OK 0
#define FORGE_EXIT_INVALID 1
#define FORGE_EXIT_ERROR 2

/* help.c: the --help text of a forge subcommand ("up"), or NULL for an unknown one.
 * src/cli/forge.c prints it for `provium forge SUB --help` before dispatching. */
const char *forge_help(const char *sub);

/* Each takes the arguments after the subcommand's name (argv[0] is the subcommand). */
int forge_canonicalize_main(int argc, char **argv); /* cjson.c's command */
int forge_validate_main(int argc, char **argv);     /* ir.c's command */
int forge_compile_main(int argc, char **argv);      /* compile.c */
int forge_emit_main(int argc, char **argv);         /* emit.c */
int forge_up_main(int argc, char **argv);           /* up.c */
int forge_ls_main(int argc, char **argv);           /* up.c (detached state) */
int forge_logs_main(int argc, char **argv);
int forge_down_main(int argc, char **argv);

#endif
