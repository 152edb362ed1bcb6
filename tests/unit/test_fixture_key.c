/* test_fixture_key.c - every cache-key ingredient changes the key; nothing else does. */
#include "config/config.h"
#include "fixture/fixture.h"
#include "tests/unit/testlib.h"
#include "util/util.h"

#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *root;
static struct config *cfg;

static void put(const char *rel, const char *text)
{
    char *p = path_join(root, rel);
    char *d = path_dirname(p);
    mkdir_p(d, 0755);
    write_file_atomic(p, text, strlen(text), 0644);
    free(d);
    free(p);
}

static void bump_mtime(const char *rel, long secs)
{
    char *p = path_join(root, rel);
    struct timespec ts[2] = {{secs, 0}, {secs, 0}};
    utimensat(AT_FDCWD, p, ts, 0);
    free(p);
}

static void load(void)
{
    config_free(cfg);
    char *toml = xasprintf("[provium]\nroots = [\"tests\"]\n"
                           "[profiles.a]\nkernel = \"k/vmlinuz\"\ninitrd = \"k/initrd\"\ncmdline = \"x\"\n");
    put("provium.toml", toml);
    free(toml);
    char *p = path_join(root, "provium.toml");
    char err[512];
    cfg = config_load(p, err, sizeof err);
    CHECK_MSG(cfg != NULL, "%s", err);
    free(p);
}

static void key_of(const char *name, char out[65])
{
    char err[512] = "";
    int rc = fixture_key(cfg, name, out, err, sizeof err);
    CHECK_MSG(rc == 0, "key of %s: %s", name, err);
}

static void ingredients(void)
{
    put("k/vmlinuz", "kernel");
    put("k/initrd", "initrd");
    put("tests/helpers/setup.lua", "return {}\n");
    put("tests/helpers/inner.lua", "return 1\n");
    put("tests/data.txt", "data");
    put("tests/big.tar", "big");
    put("tests/fixtures/base.fixture.lua",
        "local vm = provium:vm('b', 'a'):boot()\nreturn vm:snapshot()\n");
    put("tests/fixtures/derived.fixture.lua",
        "local h = require('helpers.setup')\nlocal vm = provium:vm_fixture(\"fixtures/base\")\n"
        "vm:push_file(\"../data.txt\", \"/d\")\nvm:push_file('../big.tar', '/b', {auto_dep = false})\n"
        "-- vm:push_file('../commented.txt', '/c')\n"
        "return vm:snapshot()\n");
    load();
    char k0[65], k1[65], base0[65];
    key_of("fixtures/derived", k0);
    key_of("fixtures/base", base0);
    CHECK(strlen(k0) == 64);
    key_of("fixtures/derived", k1);
    CHECK_STR_EQ(k0, k1); /* deterministic */

    /* the fixture's own source */
    put("tests/fixtures/derived.fixture.lua",
        "local h = require('helpers.setup')\nlocal vm = provium:vm_fixture(\"fixtures/base\")\n"
        "vm:push_file(\"../data.txt\", \"/d\")\nvm:push_file('../big.tar', '/b', {auto_dep = false})\n"
        "-- vm:push_file('../commented.txt', '/c')\n"
        "return vm:snapshot() -- edited\n");
    key_of("fixtures/derived", k1);
    CHECK(strcmp(k0, k1) != 0);
    memcpy(k0, k1, 65);

    /* a referenced fixture changes: both change */
    put("tests/fixtures/base.fixture.lua",
        "local vm = provium:vm('b', 'a'):boot()\nvm:run('x')\nreturn vm:snapshot()\n");
    char base1[65];
    key_of("fixtures/base", base1);
    CHECK(strcmp(base0, base1) != 0);
    key_of("fixtures/derived", k1);
    CHECK(strcmp(k0, k1) != 0);
    memcpy(k0, k1, 65);

    /* a required helper, and a helper it requires */
    put("tests/helpers/setup.lua", "return {x = 1}\n");
    key_of("fixtures/derived", k1);
    CHECK(strcmp(k0, k1) != 0);
    memcpy(k0, k1, 65);
    put("tests/helpers/setup.lua", "local i = require \"helpers.inner\"\nreturn {x = 1}\n");
    key_of("fixtures/derived", k0);
    put("tests/helpers/inner.lua", "return 2\n");
    key_of("fixtures/derived", k1);
    CHECK(strcmp(k0, k1) != 0);
    memcpy(k0, k1, 65);

    /* a pushed host file (size or mtime) */
    bump_mtime("tests/data.txt", 1000000);
    key_of("fixtures/derived", k1);
    CHECK(strcmp(k0, k1) != 0);
    memcpy(k0, k1, 65);
    /* an opted-out push and a commented-out push do not count */
    bump_mtime("tests/big.tar", 2000000);
    put("tests/commented.txt", "x");
    key_of("fixtures/derived", k1);
    CHECK_STR_EQ(k0, k1);

    /* kernel and initrd of any profile */
    bump_mtime("k/vmlinuz", 3000000);
    key_of("fixtures/derived", k1);
    CHECK(strcmp(k0, k1) != 0);
    memcpy(k0, k1, 65);
    put("k/initrd", "initrd2");
    key_of("fixtures/derived", k1);
    CHECK(strcmp(k0, k1) != 0);
    memcpy(k0, k1, 65);

    /* an unrelated file in the tree does not */
    put("tests/other.test.lua", "test('x', function() end)\n");
    put("tests/unrelated.txt", "x");
    key_of("fixtures/derived", k1);
    CHECK_STR_EQ(k0, k1);
}

static void errors(void)
{
    char out[65], err[512];
    CHECK_EQ_INT(fixture_key(cfg, "fixtures/nope", out, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "fixture `fixtures/nope` not found in any test root");
    put("tests/fixtures/c1.fixture.lua", "provium:vm_fixture('fixtures/c2')\n");
    put("tests/fixtures/c2.fixture.lua", "provium:vm_fixture('fixtures/c1')\n");
    CHECK_EQ_INT(fixture_key(cfg, "fixtures/c1", out, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "fixture cycle: fixtures/c1 -> fixtures/c2 -> fixtures/c1");
}

static void depends_and_identity(void)
{
    put("tests/fixtures/dep.fixture.lua",
        "provium:depends_on_file('../tmpl.in')\nreturn provium:vm('a','a'):boot():snapshot()\n");
    char k0[65], k1[65];
    key_of("fixtures/dep", k0);
    put("tests/tmpl.in", "now it exists");
    key_of("fixtures/dep", k1);
    CHECK(strcmp(k0, k1) != 0); /* missing -> present */
    char *p = path_join(root, "tests/none");
    char *id = file_identity(p);
    CHECK(strstr(id, "\nmissing") != NULL);
    free(id);
    free(p);
    struct strv refs = {0};
    char *fx = path_join(root, "tests/fixtures/derived.fixture.lua");
    CHECK_EQ_INT(fixture_refs_in_file(fx, &refs), 0);
    CHECK_EQ_INT(refs.n, 1);
    CHECK_STR_EQ(refs.n ? refs.v[0] : NULL, "fixtures/base");
    strv_free(&refs);
    free(fx);
}

int main(void)
{
    root = make_scratch_dir("provium-test-key");
    RUN(ingredients);
    RUN(errors);
    RUN(depends_and_identity);
    config_free(cfg);
    rm_rf(root);
    free(root);
    return TEST_SUMMARY();
}
