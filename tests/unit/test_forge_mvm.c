/* test_forge_mvm.c - unit tests for the mvmctl backend of `forge up` (src/forge/up_mvm.c).
 *
 * Why: the backend is a thin forwarder, so what matters is exact: the version floor
 * (X.Y.Z compared numerically, a pre-release below its release), the controller's command
 * line (flags in a fixed order, $PROVIUM_FORGE_UP_ARGS split on whitespace, then the ARGS
 * after `--`), which binary is found, the E_MVM_* lines and exit 2, and the controller's
 * status passed through. The last ones run the repository's fake controller
 * (scripts/forge/fake-mvmctl; the test runs in the source directory).
 */
#include "forge/forge.h"
#include "forge/up.h"
#include "forge/up_mvm.h"
#include "testlib.h"
#include "util/util.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FAKE "scripts/forge/fake-mvmctl"

static char *tmp;

static void test_parse_version(void)
{
    unsigned long v[3];
    int pre;
    CHECK_EQ_INT(mvm_parse_version("mvmctl 0.10.1\n", v, &pre), 0);
    CHECK(v[0] == 0 && v[1] == 10 && v[2] == 1 && !pre);
    CHECK_EQ_INT(mvm_parse_version("mvm v1.2.30-rc1 (abc)", v, &pre), 0);
    CHECK(v[0] == 1 && v[1] == 2 && v[2] == 30 && pre);
    CHECK_EQ_INT(mvm_parse_version("mvmctl2 0.9.0", v, &pre), 0); /* not "2" of the name */
    CHECK(v[0] == 0 && v[1] == 9);
    CHECK_EQ_INT(mvm_parse_version("mvmctl", v, &pre), -1);
    CHECK_EQ_INT(mvm_parse_version("mvmctl 0.10", v, &pre), -1);
    CHECK_EQ_INT(mvm_parse_version("", v, &pre), -1);
}

static void test_version_floor(void)
{
    CHECK_STR_EQ(MVM_VERSION_FLOOR, "0.10.0");
    CHECK_EQ_INT(mvm_version_ok("mvmctl 0.10.0"), 1);
    CHECK_EQ_INT(mvm_version_ok("mvmctl 0.10.1"), 1);
    CHECK_EQ_INT(mvm_version_ok("mvmctl 0.11.0"), 1);
    CHECK_EQ_INT(mvm_version_ok("mvmctl 1.0.0"), 1);
    CHECK_EQ_INT(mvm_version_ok("mvmctl 0.9.99"), 0);
    CHECK_EQ_INT(mvm_version_ok("mvmctl 0.2.0"), 0);  /* numeric, not "0.2" > "0.10" */
    CHECK_EQ_INT(mvm_version_ok("mvmctl 0.10.0-rc1"), 0);
    CHECK_EQ_INT(mvm_version_ok("mvmctl 0.10.0+build5"), 1);
    CHECK_EQ_INT(mvm_version_ok("garbage"), -1);
}

static char *joined(struct strv *s)
{
    struct buf b = {0};
    for (size_t i = 0; i < s->n; i++)
        buf_printf(&b, "%s%s", i ? "|" : "", s->v[i]);
    return buf_cstr(&b);
}

static void test_argv(void)
{
    struct up_opts o = {.hypervisor = "mvmctl"};
    struct strv s = {0};
    mvm_build_argv(&s, "/bin/m", "/a", &o, NULL, 0, NULL);
    char *j = joined(&s);
    CHECK_STR_EQ(j, "/bin/m|up|--flake|/a");
    free(j);
    strv_free(&s);

    o.name = "web";
    o.cpus = 2;
    o.memory_mb = 4096;
    o.nports = 2;
    strcpy(o.ports[0].spec, "8080:80");
    strcpy(o.ports[1].spec, "5353:53/udp");
    o.nenv = 1;
    o.env[0] = "K=a b";
    o.detach = 1;
    o.watch = 1;
    char *args[] = {"--hypervisor", "firecracker"};
    mvm_build_argv(&s, "m", "/a", &o, "  --x 1\t--y  ", 2, args);
    j = joined(&s);
    CHECK_STR_EQ(j, "m|up|--flake|/a|--name|web|--cpus|2|--memory|4096M|-p|8080:80|"
                    "-p|5353:53/udp|-e|K=a b|-d|--watch|--x|1|--y|--hypervisor|firecracker");
    free(j);
    strv_free(&s);
}

static void test_find_bin(void)
{
    char *saved = getenv("PATH") ? xstrdup(getenv("PATH")) : NULL;
    char *mvm = path_join(tmp, "mvm"), *mvmctl = path_join(tmp, "mvmctl");
    write_file_atomic(mvm, "#!/bin/sh\n", 10, 0755);
    setenv("PATH", tmp, 1);
    unsetenv("PROVIUM_FORGE_MVM_BIN");
    char *b = mvm_find_bin();
    CHECK_STR_EQ(b, mvm); /* no mvmctl: mvm */
    free(b);
    write_file_atomic(mvmctl, "#!/bin/sh\n", 10, 0644);
    b = mvm_find_bin();
    CHECK_STR_EQ(b, mvm); /* mvmctl not executable */
    free(b);
    chmod(mvmctl, 0755);
    b = mvm_find_bin();
    CHECK_STR_EQ(b, mvmctl); /* mvmctl first */
    free(b);
    setenv("PROVIUM_FORGE_MVM_BIN", "mvm", 1); /* a name: looked up on PATH */
    b = mvm_find_bin();
    CHECK_STR_EQ(b, mvm);
    free(b);
    setenv("PROVIUM_FORGE_MVM_BIN", FAKE, 1);
    b = mvm_find_bin();
    CHECK_STR_EQ(b, FAKE);
    free(b);
    setenv("PROVIUM_FORGE_MVM_BIN", "/nonexistent/mvmctl", 1); /* no fallback */
    b = mvm_find_bin();
    CHECK(b == NULL);
    unsetenv("PROVIUM_FORGE_MVM_BIN");
    setenv("PATH", "/nonexistent", 1);
    b = mvm_find_bin();
    CHECK(b == NULL);
    if (saved)
        setenv("PATH", saved, 1);
    unlink(mvm);
    unlink(mvmctl);
    free(saved);
    free(mvm);
    free(mvmctl);
}

/* up_mvm_run with stdout and stderr captured into *out / *err (malloc'd) */
static int run_up(const char *artifact, const struct up_opts *o, int argc, char **argv,
                  char **out, char **err)
{
    char *po = path_join(tmp, "out"), *pe = path_join(tmp, "err");
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    int fo = open(po, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(pe, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fo, 1);
    dup2(fe, 2);
    int rc = up_mvm_run(artifact, o, argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so), close(se), close(fo), close(fe);
    size_t n;
    *out = read_file(po, &n);
    *err = read_file(pe, &n);
    free(po);
    free(pe);
    return rc;
}

static char *make_artifact(void)
{
    char *art = path_join(tmp, "art"), *src = path_join(art, "src");
    mkdir_p(src, 0755);
    char *p = path_join(art, "launch.json");
    const char *lj = "{\"artifact_format_version\":\"1.0\",\"workload_id\":\"hello-app\"}";
    write_file_atomic(p, lj, strlen(lj), 0644);
    free(p);
    p = path_join(art, "flake.nix");
    write_file_atomic(p, "{ }\n", 4, 0644);
    free(p);
    free(src);
    return art;
}

static void test_run_fake(void)
{
    char *art = make_artifact(), *rec = path_join(tmp, "rec"), *out, *err;
    setenv("PROVIUM_FORGE_MVM_BIN", FAKE, 1);
    setenv("PROVIUM_FORGE_FAKE_MVM_RECORD", rec, 1);
    setenv("PROVIUM_FORGE_UP_ARGS", " --hypervisor  qemu ", 1);
    setenv("PROVIUM_FORGE_FAKE_MVM_STDOUT", "booted", 1);
    setenv("PROVIUM_FORGE_FAKE_MVM_EXIT", "3", 1);
    struct up_opts o = {.hypervisor = "mvmctl", .name = "web", .nenv = 1, .env = {"A=1"}};
    char *args[] = {"--memory", "1G"};
    CHECK_EQ_INT(run_up(art, &o, 2, args, &out, &err), 3); /* its status */
    CHECK_STR_EQ(out, "booted\n");
    CHECK_STR_EQ(err, "");
    size_t n;
    char *r = read_file(rec, &n);
    char *cwd = getcwd(NULL, 0);
    char *want = xasprintf("--\nsubcommand=up\ncwd=%s\nflake=%s\nworkload=hello-app\n"
                           "arg=up\narg=--flake\narg=%s\narg=--name\narg=web\narg=-e\narg=A=1\n"
                           "arg=--hypervisor\narg=qemu\narg=--memory\narg=1G\n",
                           cwd, art, art);
    CHECK_STR_EQ(r, want);
    free(cwd), free(r), free(want), free(out), free(err);
    unsetenv("PROVIUM_FORGE_UP_ARGS");
    unsetenv("PROVIUM_FORGE_FAKE_MVM_STDOUT");
    unsetenv("PROVIUM_FORGE_FAKE_MVM_EXIT");

    /* an incomplete artifact: the controller's 65 passes through */
    char *flake = path_join(art, "flake.nix");
    unlink(flake);
    CHECK_EQ_INT(run_up(art, &o, 0, NULL, &out, &err), 65);
    CHECK_STR_CONTAINS(err, "fake-mvm: artifact incomplete");
    free(out), free(err), free(flake), free(art), free(rec);
    unsetenv("PROVIUM_FORGE_FAKE_MVM_RECORD");
}

static void test_errors(void)
{
    char *art = make_artifact(), *out, *err;
    struct up_opts o = {.hypervisor = "mvmctl"};
    setenv("PROVIUM_FORGE_MVM_BIN", FAKE, 1);
    setenv("PROVIUM_FORGE_FAKE_MVM_VERSION", "0.9.9", 1);
    CHECK_EQ_INT(run_up(art, &o, 0, NULL, &out, &err), FORGE_EXIT_ERROR);
    CHECK_STR_EQ(out, "");
    CHECK_STR_CONTAINS(err, "provium: forge up: E_MVM_VERSION_TOO_OLD: ");
    CHECK_STR_CONTAINS(err, "'mvmctl 0.9.9'; need mvmctl 0.10.0 or newer");
    free(out), free(err);
    setenv("PROVIUM_FORGE_FAKE_MVM_VERSION", "unknown", 1);
    CHECK_EQ_INT(run_up(art, &o, 0, NULL, &out, &err), FORGE_EXIT_ERROR);
    CHECK_STR_CONTAINS(err, "E_MVM_VERSION_TOO_OLD");
    free(out), free(err);
    unsetenv("PROVIUM_FORGE_FAKE_MVM_VERSION");
    setenv("PROVIUM_FORGE_MVM_BIN", "/bin/false", 1); /* --version fails */
    CHECK_EQ_INT(run_up(art, &o, 0, NULL, &out, &err), FORGE_EXIT_ERROR);
    CHECK_STR_CONTAINS(err, "E_MVM_VERSION_TOO_OLD");
    free(out), free(err);
    setenv("PROVIUM_FORGE_MVM_BIN", "/nonexistent/mvmctl", 1);
    CHECK_EQ_INT(run_up(art, &o, 0, NULL, &out, &err), FORGE_EXIT_ERROR);
    CHECK_STR_EQ(err, "provium: forge up: E_MVM_NOT_FOUND: PROVIUM_FORGE_MVM_BIN="
                      "/nonexistent/mvmctl is not an executable file\n");
    free(out), free(err);
    unsetenv("PROVIUM_FORGE_MVM_BIN");
    char *saved = xstrdup(getenv("PATH"));
    setenv("PATH", tmp, 1);
    CHECK_EQ_INT(run_up(art, &o, 0, NULL, &out, &err), FORGE_EXIT_ERROR);
    CHECK_STR_CONTAINS(err, "provium: forge up: E_MVM_NOT_FOUND: neither mvmctl nor mvm");
    setenv("PATH", saved, 1);
    free(out), free(err), free(saved), free(art);
}

int main(void)
{
    char tmpl[] = "/tmp/test_forge_mvm-XXXXXX";
    tmp = mkdtemp(tmpl);
    if (!tmp)
        return 1;
    RUN(test_parse_version);
    RUN(test_version_floor);
    RUN(test_argv);
    RUN(test_find_bin);
    RUN(test_run_fake);
    RUN(test_errors);
    rm_rf(tmp);
    return TEST_SUMMARY();
}
