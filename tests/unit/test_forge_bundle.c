/* test_forge_bundle.c - the source bundle (src/forge/bundle.c, spec §10.4): the glob
 * table, a tree_hash recomputed here from the §10.4 recipe (so the walk order, the
 * record format and the kept entries are all checked), the copy, and the rules:
 * symlinks in/out of the tree, FIFOs and .git skipped, empty directories dropped,
 * permission bits counting and times not.
 */
#include "forge/bundle.h"
#include "forge/errors.h"

#include "tests/unit/testlib.h"
#include "util/util.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

static void t_globs(void)
{
    static const struct {
        const char *glob, *path;
        int want;
    } cases[] = {
        {"**", "a.txt", 1},
        {"**", "a/b/c", 1},
        {"**/*.py", "main.py", 1},
        {"**/*.py", "pkg/sub/main.py", 1},
        {"**/*.py", "pkg/main.pyc", 0},
        {"*.py", "main.py", 1},
        {"*.py", "pkg/main.py", 0},
        {"src/**", "src/a/b", 1},
        {"src/**", "srcx/a", 0},
        {"src/**/x", "src/x", 1},
        {"src/**/x", "src/a/b/x", 1},
        {"src/**/x", "src/a/bx", 0},
        {"a?c", "abc", 1},
        {"a?c", "a/c", 0},
        {"a*", "a/b", 0},
        {"[abc].txt", "b.txt", 1},
        {"[abc].txt", "d.txt", 0},
        {"[!abc].txt", "d.txt", 1},
        {"[!abc].txt", "a.txt", 0},
        {"[^a].txt", "a.txt", 0},
        {"[a-c]x", "bx", 1},
        {"[a-c]x", "dx", 0},
        {"[]]", "]", 1},
        {"\\*", "*", 1},
        {"\\*", "a", 0},
        {"**/node_modules/**", "node_modules/x/y.js", 1},
        {"**/node_modules/**", "web/node_modules/y.js", 1},
        {"**/__pycache__", "pkg/__pycache__", 1},
        {"a**b", "axxb", 1},
        {"a**b", "a/b", 0},
        {"[abc", "a", -1},
        {"a\\", "a", -1},
        {"", "a", -1},
        {"[a/b]", "a", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = bundle_glob_match(cases[i].glob, cases[i].path);
        CHECK_MSG(got == cases[i].want, "glob '%s' on '%s': got %d, want %d", cases[i].glob,
                  cases[i].path, got, cases[i].want);
    }
}

/* ---- a small tree ---- */

static char *root;

static void put(const char *rel, const char *data, mode_t mode)
{
    char *p = path_join(root, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, data, strlen(data)) < 0 || fchmod(fd, mode) < 0)
        perror(p);
    close(fd);
    free(p);
}

static void dir(const char *rel, mode_t mode)
{
    char *p = path_join(root, rel);
    if (mkdir(p, 0700) < 0 || chmod(p, mode) < 0)
        perror(p);
    free(p);
}

static void lnk(const char *target, const char *rel)
{
    char *p = path_join(root, rel);
    if (symlink(target, p) < 0)
        perror(p);
    free(p);
}

static void sha_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

static void rec(struct buf *b, const char *kind_mode, const char *rel, const char *record)
{
    buf_printf(b, "%s %s", kind_mode, rel);
    buf_append(b, "", 1);
    buf_printf(b, "%s\n", record);
}

static void rec_file(struct buf *b, const char *mode, const char *rel, const char *content)
{
    char h[65], km[16];
    sha_hex(content, strlen(content), h);
    snprintf(km, sizeof km, "f %s", mode);
    rec(b, km, rel, h);
}

static void make_tree(void)
{
    const char *tmp = getenv("TMPDIR");
    root = xasprintf("%s/forge-bundle-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root))
        perror(root);
    put("a.txt", "hello\n", 0644);
    put("a-b", "dash\n", 0600);
    dir("a", 0750);
    put("a/x", "x\n", 0755);
    dir("bin", 0755);
    put("bin/run.sh", "#!/bin/sh\necho hi\n", 0755);
    lnk("run.sh", "bin/link");
    lnk("../a.txt", "bin/up");
    dir("empty", 0755);
    dir("empty/deeper", 0755);
    dir(".git", 0755);
    put(".git/config", "[core]\n", 0644);
    put(".gitignore", "*.o\n", 0644);
    char *fifo = path_join(root, "pipe");
    if (mkfifo(fifo, 0644) < 0)
        perror(fifo);
    free(fifo);
}

/* The expected tree_hash, straight from §10.4, in byte order of the paths. */
static void expected_hash(char out[65])
{
    struct buf b = {0};
    rec(&b, "d 0750", "a", "");
    rec_file(&b, "0600", "a-b", "dash\n");
    rec_file(&b, "0644", "a.txt", "hello\n");
    rec_file(&b, "0755", "a/x", "x\n");
    rec(&b, "d 0755", "bin", "");
    rec(&b, "l 0120", "bin/link", "run.sh");
    rec_file(&b, "0755", "bin/run.sh", "#!/bin/sh\necho hi\n");
    rec(&b, "l 0120", "bin/up", "../a.txt");
    sha_hex(b.data, b.len, out);
    buf_free(&b);
}

static void t_tree_hash(void)
{
    static const char *const inc[] = {"**"};
    static const char *const exc[] = {".gitignore"};
    struct forge_errors errs = {0};
    struct bundle_result r;
    char want[65];
    expected_hash(want);
    char *dest = xasprintf("%s.out", root);
    int rc = bundle_source(root, inc, 1, exc, 1, dest, &r, &errs);
    CHECK(rc == 0);
    CHECK(errs.n == 0);
    CHECK_STR_EQ(r.tree_hash, want);
    CHECK(r.file_count == 6);
    /* the copy: kept entries with their bits, nothing else */
    struct stat st;
    char *p = path_join(dest, "a/x");
    CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0755);
    free(p);
    p = path_join(dest, "a");
    CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0750);
    free(p);
    p = path_join(dest, "bin/link");
    char t[64] = "";
    CHECK(readlink(p, t, sizeof t - 1) == 6 && !strcmp(t, "run.sh"));
    free(p);
    const char *gone[] = {"empty", ".git", "pipe", ".gitignore"};
    for (size_t i = 0; i < 4; i++) {
        p = path_join(dest, gone[i]);
        CHECK_MSG(lstat(p, &st) < 0, "%s was copied", gone[i]);
        free(p);
    }
    /* hashing only gives the same hash; include NULL means "**" */
    struct bundle_result r2;
    CHECK(bundle_source(root, NULL, 0, exc, 1, NULL, &r2, &errs) == 0);
    CHECK_STR_EQ(r2.tree_hash, want);
    rm_rf(dest);
    free(dest);
    forge_errors_free(&errs);
}

static void hash_of(char out[65])
{
    struct forge_errors errs = {0};
    struct bundle_result r;
    static const char *const exc[] = {".gitignore"};
    out[0] = 0;
    if (bundle_source(root, NULL, 0, exc, 1, NULL, &r, &errs) == 0)
        memcpy(out, r.tree_hash, 65);
    forge_errors_free(&errs);
}

static void t_bits_and_times(void)
{
    char h0[65], h1[65], h2[65];
    hash_of(h0);
    char *p = path_join(root, "a.txt");
    struct timespec ts[2] = {{12345, 0}, {12345, 0}};
    CHECK(utimensat(AT_FDCWD, p, ts, 0) == 0);
    hash_of(h1);
    CHECK_STR_EQ(h0, h1);
    CHECK(chmod(p, 0640) == 0);
    hash_of(h2);
    CHECK(strcmp(h0, h2) != 0);
    chmod(p, 0644);
    free(p);
}

static int has_code(const struct forge_errors *e, const char *code)
{
    for (size_t i = 0; i < e->n; i++)
        if (!strcmp(e->v[i].code, code))
            return 1;
    return 0;
}

static void t_symlinks(void)
{
    struct forge_errors errs = {0};
    struct bundle_result r;
    static const char *const only_l[] = {"l"};
    const struct {
        const char *target;
        int ok;
    } cases[] = {
        {"a.txt", 1}, {"bin/../a.txt", 1}, {"./a/x", 1}, {"missing-but-inside", 1},
        {"../x", 0},  {"/etc/passwd", 0},  {"a/../../x", 0}, {"bin/up/../../..", 0},
        {"esc", 0}, /* inside by name, but esc (excluded itself) leaves the tree */
    };
    lnk("/", "esc");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lnk(cases[i].target, "l");
        int rc = bundle_source(root, only_l, 1, NULL, 0, NULL, &r, &errs);
        CHECK_MSG((rc == 0) == cases[i].ok, "link to '%s': rc %d", cases[i].target, rc);
        if (!cases[i].ok)
            CHECK(has_code(&errs, "E_SOURCE_OUT_OF_TREE_SYMLINK"));
        forge_errors_free(&errs);
        memset(&errs, 0, sizeof errs);
        char *p = path_join(root, "l");
        unlink(p);
        free(p);
    }
    /* an escaping link that is excluded is no error; every escaping one is reported */
    static const char *const exc[] = {"esc"};
    CHECK(bundle_source(root, NULL, 0, exc, 1, NULL, &r, &errs) == 0);
    lnk("../../y", "bin/out2");
    CHECK(bundle_source(root, NULL, 0, NULL, 0, NULL, &r, &errs) == -1);
    CHECK(errs.n == 2);
    CHECK(errs.exit_code == 1);
    forge_errors_free(&errs);
    memset(&errs, 0, sizeof errs);
    char *p = path_join(root, "bin/out2");
    unlink(p);
    free(p);
    p = path_join(root, "esc");
    unlink(p);
    free(p);
}

static void t_bad_globs(void)
{
    struct forge_errors errs = {0};
    struct bundle_result r;
    static const char *const inc[] = {"**", "[x"};
    static const char *const exc[] = {""};
    CHECK(bundle_source(root, inc, 2, exc, 1, NULL, &r, &errs) == -1);
    CHECK(errs.n == 2);
    CHECK(has_code(&errs, "E_SOURCE_GLOB_INVALID"));
    CHECK(errs.n == 2 && !strcmp(errs.v[0].path, ".apps[0].source.include[1]"));
    forge_errors_free(&errs);
}

static void t_excluded_dir_pruned(void)
{
    struct forge_errors errs = {0};
    struct bundle_result r;
    static const char *const exc[] = {".gitignore", "bin", "a-b", "a.txt", "a"};
    CHECK(bundle_source(root, NULL, 0, exc, 5, NULL, &r, &errs) == 0);
    CHECK(r.file_count == 0);
    forge_errors_free(&errs);
}

static void t_non_utf8_names(void)
{
    /* kept, sorted and hashed as raw bytes ("caf\xe9" sorts after "cafe") */
    char *sub = path_join(root, "names");
    mkdir(sub, 0755);
    char *p1 = path_join(sub, "caf\xe9"), *p2 = path_join(sub, "cafe");
    FILE *f = fopen(p1, "w");
    if (f) { fputs("1", f); fclose(f); }
    f = fopen(p2, "w");
    if (f) { fputs("2", f); fclose(f); }
    chmod(p1, 0644);
    chmod(p2, 0644);
    struct buf b = {0};
    rec_file(&b, "0644", "cafe", "2");
    rec_file(&b, "0644", "caf\xe9", "1");
    char want[65];
    sha_hex(b.data, b.len, want);
    buf_free(&b);
    struct forge_errors errs = {0};
    struct bundle_result r;
    char *dest = xasprintf("%s.names", root);
    CHECK(bundle_source(sub, NULL, 0, NULL, 0, dest, &r, &errs) == 0);
    CHECK_STR_EQ(r.tree_hash, want);
    char *copied = path_join(dest, "caf\xe9");
    CHECK(access(copied, F_OK) == 0);
    free(copied);
    rm_rf(dest);
    free(dest);
    rm_rf(sub);
    free(sub);
    free(p1);
    free(p2);
    forge_errors_free(&errs);
}

int main(void)
{
    umask(022);
    RUN(t_globs);
    make_tree();
    RUN(t_tree_hash);
    RUN(t_bits_and_times);
    RUN(t_symlinks);
    RUN(t_bad_globs);
    RUN(t_excluded_dir_pruned);
    RUN(t_non_utf8_names);
    rm_rf(root);
    free(root);
    return TEST_SUMMARY();
}
