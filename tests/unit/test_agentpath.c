/* test_agentpath.c - where provium finds its agent: relative paths between install
 * directories, and the search order over a build tree, a DESTDIR install with a Debian
 * multiarch libexecdir, and the configured absolute path. */
#include "run/agentpath.h"
#include "tests/unit/testlib.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void check_rel(const char *from, const char *to, const char *want)
{
    char *got = path_relative(from, to);
    CHECK_STR_EQ(got, want);
    free(got);
}

static void relative_paths(void)
{
    check_rel("/usr/local/bin", "/usr/local/libexec/provium/provium-agent",
              "../libexec/provium/provium-agent");
    check_rel("/usr/bin", "/usr/lib/x86_64-linux-gnu/provium/provium-agent",
              "../lib/x86_64-linux-gnu/provium/provium-agent");
    check_rel("/opt/p/bin/", "//opt/p//bin/provium-agent", "provium-agent");
    check_rel("/opt/p/bin", "/usr/libexec/a", "../../../usr/libexec/a");
    check_rel("/usr/binx", "/usr/bin/a", "../bin/a"); /* components, not prefixes */
    check_rel("/a/b", "/a/b", ".");
    check_rel("/", "/x/y", "x/y");
}

/* Makes every directory of path's parent, then an empty file at path. */
static void make_file(const char *path)
{
    char *dir = xstrdup(path);
    for (char *s = strchr(dir + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = 0;
        mkdir(dir, 0755);
        *s = '/';
    }
    free(dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
}

static char *cat(const char *a, const char *b)
{
    struct buf x = {0};
    buf_printf(&x, "%s%s", a, b);
    char *s = xstrdup(buf_cstr(&x));
    buf_free(&x);
    return s;
}

static void search_order(void)
{
    char tmpl[] = "/tmp/provium-agentpath-XXXXXX";
    char *root = mkdtemp(tmpl);
    CHECK(root != NULL);
    if (!root)
        return;
    const char *bindir = "/usr/local/bin";
    const char *abs = "/usr/local/lib/x86_64-linux-gnu/provium/provium-agent";
    char *exe_dir = cat(root, "/dest/usr/local/bin");
    char *installed = cat(root, "/dest/usr/local/lib/x86_64-linux-gnu/provium/provium-agent");
    char *beside = cat(exe_dir, "/provium-agent");
    char *elsewhere = cat(root, "/elsewhere/provium-agent");

    /* nothing there, and the configured absolute path does not exist here either */
    char *exe = cat(exe_dir, "/provium");
    make_file(exe);
    free(exe);
    char *got = agent_find_in(exe_dir, bindir, elsewhere);
    CHECK(got == NULL);
    free(got);

    /* the configured absolute path */
    make_file(elsewhere);
    got = agent_find_in(exe_dir, bindir, elsewhere);
    CHECK_STR_EQ(got, elsewhere);
    free(got);

    /* run from a DESTDIR: found relative to the binary, before the absolute path */
    make_file(installed);
    got = agent_find_in(exe_dir, bindir, abs);
    CHECK_STR_EQ(got, installed);
    free(got);

    /* a build tree: the agent beside the binary wins */
    make_file(beside);
    got = agent_find_in(exe_dir, bindir, abs);
    CHECK_STR_EQ(got, beside);
    free(got);

    char *rm = cat("rm -rf ", root);
    CHECK_EQ_INT(system(rm), 0);
    free(rm);
    free(exe_dir);
    free(installed);
    free(beside);
    free(elsewhere);
}

int main(void)
{
    RUN(relative_paths);
    RUN(search_order);
    return TEST_SUMMARY();
}
