/* lsp.c - `provium lsp-setup [DIR] [--force]`: make editors understand test files.
 *
 * Writes DIR/.provium-meta/types.lua, LuaLS annotations (`---@meta`, `---@class`, ...)
 * for the whole Lua API, and DIR/.luarc.json, which points lua-language-server at them,
 * selects Lua 5.4 and declares provium's globals. The annotations live in
 * src/cli/lsp_types.lua and are compiled in (meson turns them into lsp_types.h with
 * scripts/embed.py), so the text always matches this binary. No config, no preflight.
 * `provium init` calls lsp_setup_check and lsp_setup_write below. */
#include "cli.h"

#include "util/util.h"

#include "lsp_types.h" /* generated: LSP_TYPES_LUA */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char LUARC_JSON[] =
    "{\n"
    "  \"runtime\": {\n"
    "    \"version\": \"Lua 5.4\"\n"
    "  },\n"
    "  \"workspace\": {\n"
    "    \"library\": [\".provium-meta\"],\n"
    "    \"checkThirdParty\": false\n"
    "  },\n"
    "  \"diagnostics\": {\n"
    "    \"globals\": [\"provium\", \"test\", \"todo\", \"wait_until\", \"json\", \"_PROVIUM_SOURCE_PATH\"]\n"
    "  }\n"
    "}\n";

static const char LSP_USAGE[] =
    "usage: provium lsp-setup [DIR] [--force]\n"
    "\n"
    "Writes DIR/.provium-meta/types.lua (LuaLS annotations for the Provium Lua API) and\n"
    "DIR/.luarc.json (points lua-language-server at them, Lua 5.4, provium's globals),\n"
    "so editors complete and check *.test.lua files. DIR defaults to the current directory.\n"
    "\n"
    "  --force      overwrite files that exist\n"
    "  -h, --help   show this help\n";

static const struct {
    const char *rel;
    const char *text;
    size_t len;
} lsp_files[] = {
    {".provium-meta/types.lua", LSP_TYPES_LUA, sizeof LSP_TYPES_LUA - 1},
    {".luarc.json", LUARC_JSON, sizeof LUARC_JSON - 1},
};

#define N_LSP_FILES (sizeof lsp_files / sizeof lsp_files[0])

/* DIR/rel as the user should see it: no "./" prefix for the current directory. */
char *cli_shown_path(const char *dir, const char *rel)
{
    if (!strcmp(dir, ".") || !strcmp(dir, "./"))
        return xstrdup(rel);
    return path_join(dir, rel);
}

/* Anything at path, a dangling symlink included. */
int cli_path_taken(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int lsp_setup_check(const char *dir, int force, const char *cmd)
{
    if (force)
        return 0;
    for (size_t i = 0; i < N_LSP_FILES; i++) {
        char *p = cli_shown_path(dir, lsp_files[i].rel);
        if (cli_path_taken(p)) {
            warnx_p("%s: %s exists; not overwriting it (use --force)", cmd, p);
            free(p);
            return 2;
        }
        free(p);
    }
    return 0;
}

int cli_write_text(const char *path, const char *text, size_t len)
{
    char *parent = path_dirname(path);
    int rc = mkdir_p(parent, 0755);
    free(parent);
    if (rc < 0 || write_file_atomic(path, text, len, 0644) < 0) {
        warnx_p("cannot write %s: %s", path, strerror(errno));
        return 2;
    }
    printf("wrote %s\n", path);
    return 0;
}

int cli_dir_force_args(int argc, char **argv, const char *cmd, const char *usage,
                       const char **dir, int *force)
{
    *dir = NULL;
    *force = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--force"))
            *force = 1;
        else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        else if (!*dir)
            *dir = argv[i];
        else
            return cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
    }
    if (!*dir)
        *dir = ".";
    return -1;
}

int lsp_setup_write(const char *dir)
{
    for (size_t i = 0; i < N_LSP_FILES; i++) {
        char *p = cli_shown_path(dir, lsp_files[i].rel);
        int rc = cli_write_text(p, lsp_files[i].text, lsp_files[i].len);
        free(p);
        if (rc)
            return rc;
    }
    return 0;
}

int cmd_lsp_setup(int argc, char **argv)
{
    const char *dir;
    int force;
    int rc = cli_dir_force_args(argc, argv, "lsp-setup", LSP_USAGE, &dir, &force);
    if (rc >= 0)
        return rc;
    rc = lsp_setup_check(dir, force, "lsp-setup");
    if (rc)
        return rc;
    return lsp_setup_write(dir);
}
