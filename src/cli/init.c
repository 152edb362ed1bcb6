/* init.c - `provium init [DIR] [--force]`: write a starter suite that passes as is.
 *
 * DIR/provium.toml has one dynamic profile, `default`, built by `"$PROVIUM_EXE" image
 * build` (this host's kernel from /boot, static busybox, the virtio modules), so a fresh
 * `provium init demo && cd demo && provium` boots real VMs with nothing else set up. It
 * names no path of this machine (provium sets $PROVIUM_EXE for builds): commit it as is.
 * tests/smoke.test.lua boots a VM and runs commands, and restores the fixture
 * tests/fixtures/base.fixture.lua. Then the `lsp-setup` files are written too.
 *
 * Nothing is written into a non-empty DIR (or over any file) without --force: every
 * check happens before the first write. No config, no preflight. */
#include "cli.h"

#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char INIT_USAGE[] =
    "usage: provium init [DIR] [--force]\n"
    "\n"
    "Writes a starter suite into DIR (default: the current directory):\n"
    "  provium.toml                     roots = [\"tests\"], a dynamic profile `default`\n"
    "                                   built by `\"$PROVIUM_EXE\" image build --out \"{out}\"`\n"
    "  tests/smoke.test.lua             boots a VM, runs commands, restores the fixture\n"
    "  tests/fixtures/base.fixture.lua  a cached, prepared VM\n"
    "  .provium-meta/types.lua, .luarc.json   editor support (see provium lsp-setup)\n"
    "A non-empty DIR is refused unless --force, which overwrites those files.\n"
    "\n"
    "  --force      write into a non-empty DIR, overwriting the files above\n"
    "  -h, --help   show this help\n";

static const char TOML[] =
    "# provium.toml - written by `provium init`; see `man provium` for every key.\n"
    "[provium]\n"
    "roots = [\"tests\"]\n"
    "\n"
    "# A dynamic profile: before the suite runs, provium runs `build` and boots what it made.\n"
    "# `provium image build` assembles a minimal guest from this host: the kernel in /boot,\n"
    "# a static busybox and the kernel's virtio modules. {out} is the build's output\n"
    "# directory (default ~/.cache/provium/builds/default); `provium --no-build` skips it.\n"
    "# $PROVIUM_EXE is the provium binary that runs the build (provium sets it), so this\n"
    "# file names no path of this machine and can be committed.\n"
    "[profiles.default]\n"
    "build = '\"$PROVIUM_EXE\" image build --out \"{out}\"'\n"
    "kernel = \"{out}/vmlinuz\"\n"
    "initrd = \"{out}/initrd.img\"\n"
    "cmdline_file = \"{out}/cmdline\"\n"
    "memory = \"256M\"\n";

static const char SMOKE_TEST[] =
    "-- smoke.test.lua - written by `provium init`. Each *.test.lua file runs in its own\n"
    "-- worker; each test gets its own lab, and the VMs it made are shut down at its end.\n"
    "\n"
    "test(\"the guest boots and runs commands\", function(t)\n"
    "  local vm = provium:vm(\"smoke\", \"default\"):boot()\n"
    "  local r = vm:run(\"uname -s\"):assert_ok()\n"
    "  t:assert_eq(r.stdout, \"Linux\\n\")\n"
    "  t:assert_eq(vm:run(\"hostname\").stdout, \"smoke\\n\")\n"
    "\n"
    "  vm:write_file(\"/tmp/greeting\", \"hello from the host\\n\")\n"
    "  local wc = vm:run(\"wc -w < /tmp/greeting\")\n"
    "  t:assert_eq(wc.exit_code, 0)\n"
    "  t:assert_eq(tonumber(wc.stdout), 4)\n"
    "\n"
    "  local fail = vm:run(\"echo oops >&2; exit 3\")\n"
    "  t:assert(not fail:ok(), \"exit 3 is a failure\")\n"
    "  t:assert_eq(fail.exit_code, 3)\n"
    "  t:assert_contains(fail.stderr, \"oops\")\n"
    "end)\n"
    "\n"
    "test(\"a fixture restores a prepared VM\", function(t)\n"
    "  -- built from tests/fixtures/base.fixture.lua on first use, then restored from the cache\n"
    "  local vm = provium:vm_fixture(\"fixtures/base\")\n"
    "  t:assert_eq(vm:read_file(\"/etc/provium-marker\"), \"prepared by the base fixture\\n\")\n"
    "  t:assert(vm:run(\"test -f /etc/provium-marker\"):ok(), \"the marker is a regular file\")\n"
    "end)\n";

static const char BASE_FIXTURE[] =
    "-- base.fixture.lua - written by `provium init`. A fixture boots and prepares a VM,\n"
    "-- then returns its snapshot; provium caches it (keyed on this file, the helpers it\n"
    "-- requires and the profiles' kernels and initrds) and provium:vm_fixture(\"fixtures/base\")\n"
    "-- restores it instead of booting and preparing again. `provium fixture list` shows the cache.\n"
    "local vm = provium:vm(\"base\", \"default\"):boot()\n"
    "vm:write_file(\"/etc/provium-marker\", \"prepared by the base fixture\\n\")\n"
    "return vm:snapshot()\n";

/* True when `provium` is an executable file in a directory of $PATH. */
static int provium_on_path(void)
{
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    char *copy = xstrdup(path), *save = NULL;
    int found = 0;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *p = path_join(*d ? d : ".", "provium");
        struct stat st;
        found = stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
        free(p);
    }
    free(copy);
    return found;
}

/* s as one sh word: unchanged when it holds only safe characters, else single-quoted. */
static void sh_quote(struct buf *b, const char *s, int always)
{
    int safe = *s != 0;
    for (const char *c = s; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._+-=:,@%", *c))
            safe = 0;
    if (safe && !always) {
        buf_puts(b, s);
        return;
    }
    buf_puts(b, "'");
    for (const char *c = s; *c; c++)
        buf_puts(b, *c == '\'' ? "'\\''" : (char[]){*c, 0});
    buf_puts(b, "'");
}

/* The running binary: /proc/self/exe, else $PROVIUM_EXE (set by main.c). */
static char *self_exe(void)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        return xstrdup(exe);
    }
    const char *env = getenv("PROVIUM_EXE");
    return env && *env ? xstrdup(env) : NULL;
}

/* 1 when dir has any entry, 0 when empty or missing, -1 (message printed) when unusable. */
static int dir_has_entries(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) < 0)
        return errno == ENOENT ? 0 : (warnx_p("init: %s: %s", dir, strerror(errno)), -1);
    if (!S_ISDIR(st.st_mode)) {
        warnx_p("init: %s is not a directory", dir);
        return -1;
    }
    DIR *d = opendir(dir);
    if (!d) {
        warnx_p("init: %s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *de;
    int any = 0;
    while (!any && (de = readdir(d)))
        any = strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    return any;
}

int cmd_init(int argc, char **argv)
{
    const char *dir;
    int force;
    int done = cli_dir_force_args(argc, argv, "init", INIT_USAGE, &dir, &force);
    if (done >= 0)
        return done;

    int full = dir_has_entries(dir);
    if (full < 0)
        return 2;
    if (full && !force) {
        warnx_p("init: %s is not empty; nothing written (use --force to write "
                "into it, overwriting provium.toml, tests/smoke.test.lua, ...)",
                strcmp(dir, ".") ? dir : "the current directory");
        return 2;
    }

    /* the command to suggest: `provium` when the shell will find it, else this binary */
    char *exe = provium_on_path() ? NULL : self_exe();

    const struct {
        const char *rel, *text;
        size_t len;
    } files[] = {
        {"provium.toml", TOML, sizeof TOML - 1},
        {"tests/smoke.test.lua", SMOKE_TEST, sizeof SMOKE_TEST - 1},
        {"tests/fixtures/base.fixture.lua", BASE_FIXTURE, sizeof BASE_FIXTURE - 1},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0] && !rc; i++) {
        char *p = cli_shown_path(dir, files[i].rel);
        rc = cli_write_text(p, files[i].text, files[i].len);
        free(p);
    }
    if (!rc)
        rc = lsp_setup_write(dir);
    if (!rc) {
        struct buf next = {0};
        if (strcmp(dir, ".")) {
            buf_puts(&next, "cd ");
            sh_quote(&next, dir, 0);
            buf_puts(&next, " && ");
        }
        if (exe)
            sh_quote(&next, exe, 0);
        else
            buf_puts(&next, "provium");
        printf("\nnext: %s\n"
               "(builds the `default` image, then boots VMs for tests/smoke.test.lua)\n",
               buf_cstr(&next));
        buf_free(&next);
    }
    free(exe);
    return rc;
}
