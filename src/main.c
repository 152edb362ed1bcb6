/* main.c - provium's entry point: dispatch to a subcommand, else run tests. */
#include "cli/cli.h"
#include "proto/wire.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char USAGE[] =
    "usage: provium [PATHS...] [FLAGS]     run the tests (flags below)\n"
    "       provium COMMAND [ARGS...]      (provium COMMAND --help describes one)\n"
    "\n"
    "commands:\n"
    "  prepare [PROFILE]               run dynamic-profile build commands only\n"
    "  console PROFILE                 boot a profile with its serial console on this terminal\n"
    "  repl [PROFILE]                  Lua prompt with `provium` and a booted `vm`\n"
    "  debug DIR                       reopen a failed test kept by --keep-failed\n"
    "  list [--fixtures] [PATHS]       the test files (or fixtures) a run would see\n"
    "       [--shard K/N]              ... of shard K of N only\n"
    "  report merge EVENTS... [--junit FILE]   merge the --events of --shard runs\n"
    "  fixture list|build PATH|rebuild PATH|clean|stale   manage the fixture cache\n"
    "  image build [--out DIR]         assemble a minimal guest image from this host\n"
    "  forge SUBCOMMAND                workload manifest -> deterministic artifact -> a VM\n"
    "  init [DIR] [--force]            write a starter suite (provium.toml, tests/, editor setup)\n"
    "  lsp-setup [DIR] [--force]       write LuaLS annotations and .luarc.json\n"
    "  help [COMMAND]                  this text, or COMMAND's\n"
    "  --version                       print the version and agent protocol\n"
    "\n"
    "test-run flags:\n";

/* The subcommands, for dispatch and for "did you mean". */
static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
} COMMANDS[] = {
    {"image", cmd_image},   {"forge", cmd_forge},   {"fixture", cmd_fixture}, {"prepare", cmd_prepare},
    {"list", cmd_list},     {"console", cmd_console}, {"repl", cmd_repl},
    {"debug", cmd_debug},
    {"report", cmd_report},
    {"init", cmd_init},     {"lsp-setup", cmd_lsp_setup},
};
#define N_COMMANDS (sizeof COMMANDS / sizeof *COMMANDS)

/* Edit distance with adjacent transpositions (optimal string alignment): "lsit" is 1
 * from "list". Words longer than 31 bytes are simply far from everything. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 31 || lb > 31)
        return 99;
    size_t d[32][32];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = d[i - 1][j - 1] + cost;
            if (d[i - 1][j] + 1 < v)
                v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

/* A word shaped like a command (lowercase letters, digits, dashes; no dot or slash)
 * that names no file is a mistyped command, not a test path. */
static int unknown_command(const char *w)
{
    if (!(w[0] >= 'a' && w[0] <= 'z'))
        return 0;
    for (const char *p = w; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return 0;
    struct stat st;
    return lstat(w, &st) < 0;
}

/* `provium: unknown command 'lsit' (did you mean 'list'?)`: the closest command within
 * one edit (two for names of six letters or more). Returns 2. */
static int unknown_command_error(const char *w)
{
    const char *best = NULL;
    size_t best_d = 99;
    for (size_t i = 0; i < N_COMMANDS; i++) {
        size_t d = edit_distance(w, COMMANDS[i].name);
        size_t limit = strlen(COMMANDS[i].name) >= 6 ? 2 : 1;
        if (d <= limit && d < best_d) {
            best = COMMANDS[i].name;
            best_d = d;
        }
    }
    if (best)
        warnx_p("unknown command '%s' (did you mean '%s'?)", w, best);
    else
        warnx_p("unknown command '%s'", w);
    return 2;
}

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
        for (size_t i = 0; i < N_COMMANDS; i++)
            if (!strcmp(c, COMMANDS[i].name))
                return COMMANDS[i].fn(argc - 1, argv + 1);
        if (unknown_command(c))
            return unknown_command_error(c);
    }
    return cmd_run(argc, argv);
}
