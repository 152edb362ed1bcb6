/* main.c - provium's entry point: dispatch to a subcommand, else run tests. */
#include "cli/cli.h"
#include "proto/wire.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char USAGE[] =
    "usage: provium [PATHS...] [FLAGS]      run tests (see provium --help-run)\n"
    "       provium image build [--out DIR] [--kernel PATH] [--busybox PATH]\n"
    "       provium fixture list|build PATH|rebuild PATH|clean|stale\n"
    "       provium prepare [PROFILE]         run dynamic-profile builds only\n"
    "       provium list [--fixtures] [PATHS]\n"
    "       provium --version\n";

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
        if (!strcmp(c, "help")) {
            fputs(USAGE, stdout);
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
    }
    return cmd_run(argc, argv);
}
