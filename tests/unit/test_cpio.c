/* test_cpio.c - unit tests for the newc cpio writer (src/image/cpio.c).
 *
 * The kernel is an unforgiving cpio reader: a wrong pad or a stray byte silently ends
 * the unpacking. So these tests parse the archives back with their own small newc
 * reader, checking every header field, the 4-byte alignment of names and data, the
 * trailer and the 512-byte final padding, and that the same entries give the same bytes.
 * When the cpio(1) tool is installed its listing is compared too, as a second opinion.
 */
#include "testlib.h"

#include "image/cpio.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ENTRIES 64

struct entry {
    unsigned long f[13]; /* ino mode uid gid nlink mtime size devmaj devmin rdevmaj rdevmin namesize check */
    char name[256];
    const unsigned char *data;
};

enum { F_INO, F_MODE, F_UID, F_GID, F_NLINK, F_MTIME, F_SIZE, F_DEVMAJ, F_DEVMIN, F_RMAJ, F_RMIN, F_NAMESIZE, F_CHECK };

static char scratch[] = "/tmp/provium-test-cpio-XXXXXX";

static unsigned long hex8(const unsigned char *p) {
    char tmp[9];
    memcpy(tmp, p, 8);
    tmp[8] = '\0';
    return strtoul(tmp, NULL, 16);
}

static int all_zero(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

/* Parses a newc archive including its trailer; returns the entry count (trailer included)
 * or -1 if the framing is wrong. Checks alignment and zero padding along the way. */
static int parse_newc(const unsigned char *buf, size_t len, struct entry *out, int max) {
    size_t off = 0;
    for (int n = 0; n < max; n++) {
        if (off % 4 != 0 || off + 110 > len || memcmp(buf + off, "070701", 6) != 0) return -1;
        struct entry *e = &out[n];
        for (int k = 0; k < 13; k++) e->f[k] = hex8(buf + off + 6 + 8 * k);
        size_t namesize = e->f[F_NAMESIZE];
        if (namesize == 0 || namesize > sizeof(e->name) || off + 110 + namesize > len) return -1;
        memcpy(e->name, buf + off + 110, namesize);
        if (e->name[namesize - 1] != '\0') return -1;
        size_t data = (off + 110 + namesize + 3) & ~(size_t)3;
        if (!all_zero(buf + off + 110 + namesize, data - (off + 110 + namesize))) return -1;
        size_t size = e->f[F_SIZE];
        if (data + size > len) return -1;
        e->data = buf + data;
        size_t next = (data + size + 3) & ~(size_t)3;
        if (next > len || !all_zero(buf + data + size, next - (data + size))) return -1;
        off = next;
        if (strcmp(e->name, "TRAILER!!!") == 0) {
            if (len % 512 != 0 || !all_zero(buf + off, len - off)) return -1;
            return n + 1;
        }
    }
    return -1;
}

static char *path_in(const char *name) {
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", scratch, name);
    return buf[i];
}

static int count_dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) n++;
    if (d) closedir(d);
    return n;
}

static void write_host_file(const char *path, size_t len) {
    FILE *f = fopen(path, "wb");
    for (size_t i = 0; i < len; i++) fputc((int)(i * 7 % 251), f);
    fclose(f);
}

/* The archive every test below works with: each entry type, odd name and data lengths. */
static int write_sample(const char *path, const char *host_file) {
    char err[512];
    struct cpio *c = cpio_create(path, err, sizeof(err));
    if (c == NULL) return -1;
    cpio_add_dir(c, "etc", 0755);
    cpio_add_dir(c, "etc/provium", 0700);
    cpio_add_file(c, "etc/provium/hello.txt", 0644, "hello", 5);
    cpio_add_file(c, "empty", 0600, "", 0);
    cpio_add_file_from(c, "bin/tool", 0755, host_file);
    cpio_add_symlink(c, "sbin", "bin");
    cpio_add_chardev(c, "dev/console", 0600, 5, 1);
    return cpio_finish(c, err, sizeof(err));
}

static void test_sample_archive(void) {
    const char *host = path_in("host.bin");
    write_host_file(host, 70001);
    CHECK_EQ_INT(write_sample(path_in("a.cpio"), host), 0);

    size_t len = 0;
    unsigned char *buf = tl_slurp(path_in("a.cpio"), &len);
    CHECK(buf != NULL);
    CHECK_EQ_INT(len % 512, 0);
    struct entry e[MAX_ENTRIES];
    int n = parse_newc(buf, len, e, MAX_ENTRIES);
    CHECK_EQ_INT(n, 8);
    if (n != 8) {
        free(buf);
        return;
    }
    const char *names[] = { "etc", "etc/provium", "etc/provium/hello.txt", "empty", "bin/tool", "sbin",
                            "dev/console", "TRAILER!!!" };
    const unsigned long modes[] = { S_IFDIR | 0755, S_IFDIR | 0700, S_IFREG | 0644, S_IFREG | 0600,
                                    S_IFREG | 0755, S_IFLNK | 0777, S_IFCHR | 0600, 0 };
    const unsigned long nlinks[] = { 2, 2, 1, 1, 1, 1, 1, 1 };
    for (int i = 0; i < n; i++) {
        CHECK_STR_EQ(e[i].name, names[i]);
        CHECK_EQ_INT(e[i].f[F_MODE], modes[i]);
        CHECK_EQ_INT(e[i].f[F_INO], i < 7 ? i + 1 : 0);
        CHECK_EQ_INT(e[i].f[F_NLINK], nlinks[i]);
        CHECK_EQ_INT(e[i].f[F_UID], 0);
        CHECK_EQ_INT(e[i].f[F_GID], 0);
        CHECK_EQ_INT(e[i].f[F_MTIME], 0);
        CHECK_EQ_INT(e[i].f[F_DEVMAJ], 0);
        CHECK_EQ_INT(e[i].f[F_DEVMIN], 0);
        CHECK_EQ_INT(e[i].f[F_CHECK], 0);
    }
    CHECK_EQ_INT(e[2].f[F_SIZE], 5);
    CHECK(memcmp(e[2].data, "hello", 5) == 0);
    CHECK_EQ_INT(e[3].f[F_SIZE], 0);
    CHECK_EQ_INT(e[4].f[F_SIZE], 70001);
    size_t hostlen = 0;
    unsigned char *hostdata = tl_slurp(host, &hostlen);
    CHECK(hostdata && hostlen == 70001 && memcmp(e[4].data, hostdata, hostlen) == 0);
    free(hostdata);
    CHECK_EQ_INT(e[5].f[F_SIZE], 3);
    CHECK(memcmp(e[5].data, "bin", 3) == 0);
    CHECK_EQ_INT(e[6].f[F_RMAJ], 5);
    CHECK_EQ_INT(e[6].f[F_RMIN], 1);
    free(buf);
}

static void test_deterministic(void) {
    const char *host = path_in("host.bin");
    CHECK_EQ_INT(write_sample(path_in("b1.cpio"), host), 0);
    sleep(1); /* a leaked timestamp would now differ */
    CHECK_EQ_INT(write_sample(path_in("b2.cpio"), host), 0);
    size_t l1 = 0, l2 = 0;
    unsigned char *a = tl_slurp(path_in("b1.cpio"), &l1), *b = tl_slurp(path_in("b2.cpio"), &l2);
    CHECK(a && b && l1 == l2 && memcmp(a, b, l1) == 0);
    free(a);
    free(b);
}

static void test_abort_leaves_nothing(void) {
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/abort", scratch);
    mkdir(dir, 0755);
    char path[600], err[512];
    snprintf(path, sizeof(path), "%s/x.cpio", dir);
    struct cpio *c = cpio_create(path, err, sizeof(err));
    CHECK(c != NULL);
    CHECK_EQ_INT(count_dir_entries(dir), 1); /* the temp file */
    cpio_add_file(c, "a", 0644, "data", 4);
    cpio_abort(c);
    CHECK_EQ_INT(count_dir_entries(dir), 0);
}

static void test_errors(void) {
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/errors", scratch);
    mkdir(dir, 0755);
    char path[600], err[512];
    snprintf(path, sizeof(path), "%s/x.cpio", dir);

    struct cpio *c = cpio_create(path, err, sizeof(err));
    CHECK_EQ_INT(cpio_add_dir(c, "/etc", 0755), -1);
    CHECK_EQ_INT(cpio_add_file(c, "later", 0644, "x", 1), -1); /* sticky */
    CHECK_EQ_INT(cpio_finish(c, err, sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "'/etc'");
    CHECK_EQ_INT(count_dir_entries(dir), 0);

    c = cpio_create(path, err, sizeof(err));
    CHECK_EQ_INT(cpio_add_file_from(c, "bin/x", 0755, "/nonexistent/provium-host-file"), -1);
    CHECK_EQ_INT(cpio_finish(c, err, sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "/nonexistent/provium-host-file: No such file or directory");
    CHECK_EQ_INT(count_dir_entries(dir), 0);

    c = cpio_create(path, err, sizeof(err));
    CHECK_EQ_INT(cpio_add_file_from(c, "bin/x", 0755, dir), -1);
    cpio_abort(c);

    c = cpio_create(path, err, sizeof(err));
    CHECK_EQ_INT(cpio_add_dir(c, "a/../b", 0755), -1);
    cpio_abort(c);

    CHECK(cpio_create("/nonexistent-dir/x.cpio", err, sizeof(err)) == NULL);
    CHECK_STR_CONTAINS(err, "/nonexistent-dir/x.cpio");
}

static void test_tree_sorted(void) {
    struct cpio_tree *t = cpio_tree_new();
    cpio_tree_file(t, "sbin/agent", 0755, "#!", 2);
    cpio_tree_assume_dir(t, "sbin");
    cpio_tree_symlink(t, "bin/sh", "busybox");
    cpio_tree_dir(t, "tmp", 01777);
    cpio_tree_file(t, "lib/modules/1.0/kernel/a.ko", 0644, "ko", 2);
    cpio_tree_dir(t, "bin", 0700); /* sets the mode of a parent implied above */
    cpio_tree_file(t, "bin-extra", 0644, "", 0);
    char err[512];
    CHECK_EQ_INT(cpio_tree_write(t, path_in("t.cpio"), err, sizeof(err)), 0);
    cpio_tree_free(t);

    size_t len = 0;
    unsigned char *buf = tl_slurp(path_in("t.cpio"), &len);
    struct entry e[MAX_ENTRIES];
    int n = parse_newc(buf, len, e, MAX_ENTRIES);
    const char *names[] = { "bin", "bin-extra", "bin/sh", "lib", "lib/modules", "lib/modules/1.0",
                            "lib/modules/1.0/kernel", "lib/modules/1.0/kernel/a.ko", "sbin/agent", "tmp",
                            "TRAILER!!!" };
    CHECK_EQ_INT(n, 11);
    for (int i = 0; i < n && i < 11; i++) {
        CHECK_STR_EQ(e[i].name, names[i]);
        if (i < 10) CHECK_EQ_INT(e[i].f[F_INO], i + 1);
    }
    if (n == 11) {
        CHECK_EQ_INT(e[0].f[F_MODE], S_IFDIR | 0700);
        CHECK_EQ_INT(e[3].f[F_MODE], S_IFDIR | 0755);
        CHECK_EQ_INT(e[9].f[F_MODE], S_IFDIR | 01777);
    }
    free(buf);
}

static void test_tree_errors(void) {
    char err[512];
    struct cpio_tree *t = cpio_tree_new();
    cpio_tree_file(t, "etc/passwd", 0644, "x", 1);
    CHECK_EQ_INT(cpio_tree_symlink(t, "etc/passwd", "y"), -1);
    CHECK_EQ_INT(cpio_tree_write(t, path_in("dup.cpio"), err, sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "'etc/passwd' is added twice");
    CHECK(access(path_in("dup.cpio"), F_OK) != 0);
    cpio_tree_free(t);

    t = cpio_tree_new();
    cpio_tree_file(t, "etc", 0644, "x", 1);
    CHECK_EQ_INT(cpio_tree_file(t, "etc/passwd", 0644, "x", 1), -1);
    CHECK_EQ_INT(cpio_tree_write(t, path_in("notdir.cpio"), err, sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "not a directory");
    cpio_tree_free(t);
}

/* cpio(1), when present, must list the same names. */
static void test_cpio_tool_agrees(void) {
    if (access("/usr/bin/cpio", X_OK) != 0) {
        printf("skip: cpio(1) not installed\n");
        return;
    }
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "cpio -it --quiet < %s 2>&1", path_in("a.cpio"));
    FILE *p = popen(cmd, "r");
    char out[4096];
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    CHECK_EQ_INT(pclose(p), 0);
    CHECK_STR_EQ(out, "etc\netc/provium\netc/provium/hello.txt\nempty\nbin/tool\nsbin\ndev/console\n");
}

int main(void) {
    if (mkdtemp(scratch) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_sample_archive);
    RUN(test_deterministic);
    RUN(test_abort_leaves_nothing);
    RUN(test_errors);
    RUN(test_tree_sorted);
    RUN(test_tree_errors);
    RUN(test_cpio_tool_agrees);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", scratch);
    return TEST_SUMMARY();
}
