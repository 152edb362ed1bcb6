/* test_config.c - unit tests of provium.toml loading and validation (src/config). */
#include "config/config.h"
#include "tests/unit/testlib.h"
#include "util/util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *g_dir;

static struct config *load_text(const char *text, char *err, size_t n)
{
    char *p = path_join(g_dir, "provium.toml");
    write_file_atomic(p, text, strlen(text), 0644);
    struct config *c = config_load(p, err, n);
    free(p);
    return c;
}

static void full_profile(void)
{
    char err[1024] = "";
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    unsetenv("PROVIUM_BUILD_DIR");
    struct config *c = load_text("[provium]\nroots = [\"tests\", \"more/\"]\n"
                                 "cache_max_size = \"1G\"\njobs = 3\naccel = \"tcg\"\n"
                                 "[profiles.a]\nkernel = \"k/vmlinuz\"\ninitrd = \"/abs/initrd\"\n"
                                 "cmdline = \"quiet\"\nmemory = \"256M\"\ncpus = 2\n"
                                 "agent_boot_timeout = \"90s\"\nconsole_log_max = \"1M\"\n"
                                 "[profiles.b]\nbuild = \"make --out {out}\"\n"
                                 "kernel = \"{out}/vmlinuz\"\ncmdline_file = \"{out}/cmdline\"\n",
                                 err, sizeof err);
    CHECK_MSG(c != NULL, "%s", err);
    if (!c)
        return;
    CHECK_EQ_INT(c->n_roots, 2);
    char *want = path_join(g_dir, "tests");
    CHECK_STR_EQ(c->roots[0], want);
    free(want);
    want = path_join(g_dir, "more");
    CHECK_STR_EQ(c->roots[1], want);
    free(want);
    CHECK(c->cache_max_size == (1ull << 30));
    CHECK_EQ_INT(c->jobs, 3);
    CHECK_STR_EQ(c->accel, "tcg");
    const struct profile *a = config_profile(c, "a");
    CHECK(a && a->memory == (256ull << 20) && a->cpus == 2);
    CHECK(a && a->agent_boot_timeout == 90);
    CHECK(a && a->console_log_max == (1ull << 20));
    want = path_join(g_dir, "k/vmlinuz");
    CHECK_STR_EQ(a ? a->kernel : NULL, want);
    free(want);
    CHECK_STR_EQ(a ? a->initrd : NULL, "/abs/initrd");
    CHECK_STR_EQ(c->qemu, "qemu-system-x86_64");
    const struct profile *b = config_profile(c, "b");
    CHECK_STR_EQ(b ? b->out : NULL, "/xdg/provium/builds/b");
    CHECK_STR_EQ(b ? b->build : NULL, "make --out /xdg/provium/builds/b");
    CHECK_STR_EQ(b ? b->kernel : NULL, "/xdg/provium/builds/b/vmlinuz");
    CHECK_STR_EQ(b ? b->cmdline_file : NULL, "/xdg/provium/builds/b/cmdline");
    CHECK(b && b->console_log_max == 0); /* the default (16 MiB, vm/conlog.h) */
    CHECK(config_profile(c, "nope") == NULL);
    config_free(c);
}

static void build_out_and_env(void)
{
    char err[1024] = "";
    setenv("PROVIUM_BUILD_DIR", "/bd", 1);
    struct config *c = load_text("[profiles.p]\nkernel = \"{out}/k\"\ncmdline = \"x\"\n"
                                 "[profiles.q]\nbuild_out = \"out/q/\"\nkernel = \"{out}/k\"\n"
                                 "cmdline = \"x\"\n",
                                 err, sizeof err);
    CHECK_MSG(c != NULL, "%s", err);
    if (c) {
        CHECK_STR_EQ(config_profile(c, "p")->kernel, "/bd/p/k");
        char *want = path_join(g_dir, "out/q/k");
        CHECK_STR_EQ(config_profile(c, "q")->kernel, want);
        free(want);
        config_free(c);
    }
    unsetenv("PROVIUM_BUILD_DIR");
}

/* $PROVIUM_QEMU wins over `[provium] qemu` (spec 2.1); the file's value is used without it. */
static void qemu_env_wins(void)
{
    char err[1024] = "";
    const char *text = "[provium]\nqemu = \"/cfg/qemu\"\n";
    setenv("PROVIUM_QEMU", "/env/qemu", 1);
    struct config *c = load_text(text, err, sizeof err);
    CHECK_MSG(c != NULL, "%s", err);
    CHECK_STR_EQ(c ? c->qemu : NULL, "/env/qemu");
    config_free(c);
    unsetenv("PROVIUM_QEMU");
    c = load_text(text, err, sizeof err);
    CHECK_STR_EQ(c ? c->qemu : NULL, "/cfg/qemu");
    config_free(c);
    setenv("PROVIUM_QEMU", "/env/qemu", 1); /* still type-checked */
    c = load_text("[provium]\nqemu = 3\n", err, sizeof err);
    CHECK(c == NULL);
    CHECK_STR_CONTAINS(err, "provium.toml:2:1: provium.qemu: expected string");
    config_free(c);
    unsetenv("PROVIUM_QEMU");
}

static void expect_error(const char *text, const char *needle)
{
    char err[1024] = "";
    struct config *c = load_text(text, err, sizeof err);
    CHECK_MSG(c == NULL, "expected an error for: %s", text);
    CHECK_STR_CONTAINS(err, needle);
    config_free(c);
}

static void errors(void)
{
    expect_error("[provium]\nbogus = 1\n", "provium.bogus: unknown key");
    expect_error("[nope]\n", "nope: unknown table");
    expect_error("[profiles.a]\ncmdline = \"x\"\n", "profiles.a: missing required key `kernel`");
    expect_error("[profiles.a]\nkernel = \"k\"\n", "needs `cmdline` or `cmdline_file`");
    expect_error("[profiles.a]\nkernel = \"k\"\ncmdline = \"x\"\nmemory = \"12Q\"\n",
                 "profiles.a.memory: invalid size: 12Q");
    expect_error("[profiles.a]\nkernel = \"k\"\ncmdline = \"x\"\ncpus = 0\n",
                 "profiles.a.cpus: must be between 1 and 64");
    expect_error("[profiles.a]\nkernel = \"k\"\ncmdline = \"x\"\nbuild_out = \"{out}/x\"\n",
                 "`{out}` cannot be used inside build_out");
    expect_error("[profiles.a]\nkernel = \"k\"\ncmdline = \"x\"\nmachine = \"pc\"\n",
                 "profiles.a.machine: must be one of");
    expect_error("[profiles.a]\nkernel = 3\ncmdline = \"x\"\n", "profiles.a.kernel: expected string");
    expect_error("[profiles.a]\nkernel = \"k\"\ncmdline = \"x\"\nconsole_log_max = \"1K\"\n",
                 "profiles.a.console_log_max: must be at least 64K");
    expect_error("[profiles.a]\nkernel = \"k\"\ncmdline = \"x\"\nagent_boot_timeout = \"-1s\"\n",
                 "agent_boot_timeout: invalid duration");
    expect_error("[profiles.a]\nkernel = \"k\"\ncmdline = \"x\"\ndisks = [{id = \"d\"}]\n",
                 "exactly one of `path` and `scratch`");
    expect_error("[profiles.a]\nkernel = \"k\"\ncmdline = \"x\"\n"
                 "disks = [{path = \"a\", id = \"d\"}, {scratch = \"1M\", id = \"d\"}]\n",
                 "duplicate disk id");
    expect_error("[provium]\njobs = 0\n", "provium.jobs");
    /* meaning errors about a key in the file carry its line:col and the dotted key */
    expect_error("[profiles.a]\nkernel = \"k\"\ncmdline = \"x\"\nmemory = \"12Q\"\n",
                 "invalid config in ");
    expect_error("[profiles.a]\nkernel = \"k\"\ncmdline = \"x\"\nmemory = \"12Q\"\n",
                 "provium.toml:4:1: profiles.a.memory: invalid size: 12Q");
    expect_error("[provium]\n\n  bogus = 1\n", "provium.toml:3:3: provium.bogus: unknown key");
    expect_error("x = 1\n[nope]\n", "provium.toml:1:1: x: unknown table or key");
    expect_error("[provium]\nroots = [\"a\", 3]\n", "provium.toml:2:15: provium.roots: expected");
    expect_error("[profiles.a]\ncmdline = \"x\"\n",
                 "provium.toml:1:11: profiles.a: missing required key `kernel`");
    expect_error("[profiles.a]\nkernel = \"k\"\ncmdline = \"x\"\n"
                 "disks = [{path = \"a\", id = \"d\"}, {scratch = \"1M\", id = \"d\"}]\n",
                 "provium.toml:4:34: profiles.a.disks[1]: duplicate disk id");
    expect_error("[profiles.a]\nkernel = \"k\"\ncmdline = \"x\"\ndisks = [{path = \"a\", bad = 1}]\n",
                 "provium.toml:4:23: profiles.a.disks[0].bad: unknown key");
    expect_error("[profiles]\nfrom_dir = \"nowhere\"\n", "provium.toml:2:1: profiles.from_dir: cannot open");
    /* syntax errors carry file:line:col */
    expect_error("[provium]\nroots = [\n", "provium.toml:");
    expect_error("[provium\n", "provium.toml:1:");
}

static void missing_default_is_empty(void)
{
    char cwd[4096];
    char err[256];
    if (!getcwd(cwd, sizeof cwd))
        return;
    char *empty = make_scratch_dir("provium-test-empty");
    if (chdir(empty) == 0) {
        struct config *c = config_load(NULL, err, sizeof err);
        CHECK(c != NULL);
        CHECK(c && c->n_profiles == 0 && c->path == NULL);
        /* without `roots`, the directory is the one root */
        CHECK(c && c->n_roots == 1 && !strcmp(c->roots[0], c->dir));
        config_free(c);
        CHECK(config_load("nope.toml", err, sizeof err) == NULL);
        CHECK_STR_CONTAINS(err, "nope.toml");
    }
    if (chdir(cwd) != 0)
        return;
    rm_rf(empty);
    free(empty);
}

/* --config takes a regular file of at most 1 MiB: a device or FIFO is refused before
 * anything is read (/dev/zero once ran out of memory), and so is a larger file. */
static void only_small_regular_files(void)
{
    char err[1024] = "";
    CHECK(config_load("/dev/zero", err, sizeof err) == NULL);
    CHECK_STR_CONTAINS(err, "/dev/zero: not a regular file");
    CHECK(config_load(g_dir, err, sizeof err) == NULL); /* a directory */
    CHECK_STR_CONTAINS(err, ": not a regular file");
    char *fifo = path_join(g_dir, "fifo.toml");
    CHECK(mkfifo(fifo, 0600) == 0);
    CHECK(config_load(fifo, err, sizeof err) == NULL); /* no writer: must not block */
    CHECK_STR_CONTAINS(err, "fifo.toml: not a regular file");
    unlink(fifo);
    free(fifo);
    size_t big = (1u << 20) + 1;
    char *text = xmalloc(big + 1);
    memset(text, '#', big);
    text[big] = 0;
    char *p = path_join(g_dir, "big.toml");
    write_file_atomic(p, text, big, 0644);
    CHECK(config_load(p, err, sizeof err) == NULL);
    CHECK_STR_CONTAINS(err, "big.toml: too large");
    write_file_atomic(p, text, big - 1, 0644); /* exactly 1 MiB of comments is fine */
    struct config *c = config_load(p, err, sizeof err);
    CHECK_MSG(c != NULL, "%s", err);
    config_free(c);
    free(p);
    free(text);
}

int main(void)
{
    g_dir = make_scratch_dir("provium-test-config");
    RUN(full_profile);
    RUN(build_out_and_env);
    RUN(qemu_env_wins);
    RUN(errors);
    RUN(missing_default_is_empty);
    RUN(only_small_regular_files); /* last: its loads fix xdg_cache_home */
    rm_rf(g_dir);
    free(g_dir);
    return TEST_SUMMARY();
}
