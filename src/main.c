/* main.c - provium's entry point: dispatch to a subcommand, else run tests. */
#include "cli/cli.h"
#include "proto/wire.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char USAGE[] =
    "usage: provium [PATHS...] [FLAGS]     run the tests (flags below)\n"
    "       provium COMMAND [ARGS...]      (provium COMMAND --help describes one)\n"
    "\n"
    "commands:\n"
    "  prepare [PROFILE]               run dynamic-profile build commands only\n"
    "  console PROFILE                 boot a profile with its serial console on this terminal\n"
    "  repl [PROFILE]                  Lua prompt with `provium` and a booted `vm`\n"
    "  list [--fixtures] [PATHS]       the test files (or fixtures) a run would see\n"
    "  fixture list|build PATH|rebuild PATH|clean|stale   manage the fixture cache\n"
    "  image build [--out DIR]         assemble a minimal guest image from this host\n"
    "  init [DIR] [--force]            write a starter suite (provium.toml, tests/, editor setup)\n"
    "  lsp-setup [DIR] [--force]       write LuaLS annotations and .luarc.json\n"
    "  help [COMMAND]                  this text, or COMMAND's\n"
    "  --version                       print the version and agent protocol\n"
    "\n"
    "test-run flags:\n";

int main(int argc, char **argv)
{
    /* builds and tests may call provium again: tell them which binary is running */
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        setenv("PROVIUM_EXE", exe, 0);
    }
    if (argc > 1) {
        const char *c = argv[1];
        if (!strcmp(c, "--version") || !strcmp(c, "version")) {
            printf("provium %s (agent protocol %d)\n", PROVIUM_VERSION, WIRE_PROTOCOL_VERSION);
            return 0;
        }
        if (!strcmp(c, "--help-run"))
            return cmd_run(2, (char *[]){argv[0], "--help", NULL});
        if (!strcmp(c, "help") && argc > 2 && strcmp(argv[2], "help")) /* help COMMAND */
            return main(3, (char *[]){argv[0], argv[2], "--help", NULL});
        if (!strcmp(c, "help") || !strcmp(c, "--help") || !strcmp(c, "-h")) {
            fputs(USAGE, stdout);
            fputs(cli_run_flags, stdout);
            return 0;
        }
        if (!strcmp(c, "image"))
            return cmd_image(argc - 1, argv + 1);
        if (!strcmp(c, "fixture"))
            return cmd_fixture(argc - 1, argv + 1);
        if (!strcmp(c, "prepare"))
            return cmd_prepare(argc - 1, argv + 1);
        if (!strcmp(c, "list"))
            return cmd_list(argc - 1, argv + 1);
        if (!strcmp(c, "console"))
            return cmd_console(argc - 1, argv + 1);
        if (!strcmp(c, "repl"))
            return cmd_repl(argc - 1, argv + 1);
        if (!strcmp(c, "init"))
            return cmd_init(argc - 1, argv + 1);
        if (!strcmp(c, "lsp-setup"))
            return cmd_lsp_setup(argc - 1, argv + 1);
    }
    return cmd_run(argc, argv);
}
