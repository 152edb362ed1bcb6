/* test_kernel.c - unit tests for reading a kernel's release from its bzImage header
 * and for choosing the host's default kernel (src/image/kernel.c).
 *
 * Synthetic files cover the header layouts and every way one can be broken; the real
 * kernel in /boot, when there is one, checks we agree with an actual Debian bzImage.
 */
#include "testlib.h"

#include "image/kernel.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch[] = "/tmp/provium-test-kernel-XXXXXX";

static const char *path_in(const char *name) {
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", scratch, name);
    return buf[i];
}

static void put_le16(unsigned char *p, unsigned v) {
    p[0] = (unsigned char)(v & 0xff);
    p[1] = (unsigned char)(v >> 8);
}

static void write_bytes(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, len, f);
    fclose(f);
}

/* A bzImage-like buffer of `size` bytes: HdrS, protocol, version pointer, version text. */
static unsigned char *fake_bzimage(size_t size, unsigned protocol, unsigned ptr, const char *version) {
    unsigned char *b = calloc(1, size);
    memcpy(b + 0x202, "HdrS", 4);
    put_le16(b + 0x206, protocol);
    put_le16(b + 0x20E, ptr);
    if (version && ptr + 0x200 + strlen(version) < size) memcpy(b + ptr + 0x200, version, strlen(version));
    return b;
}

static int read_version(const char *path, char *ver, size_t verlen, char *err, size_t errlen) {
    ver[0] = err[0] = '\0';
    return kernel_read_version(path, ver, verlen, err, errlen);
}

static void test_good_header(void) {
    unsigned char *b = fake_bzimage(0x1000, 0x020f, 0x100, "6.1.0-99-amd64 (builder@host) #1 SMP Debian");
    write_bytes(path_in("good"), b, 0x1000);
    char ver[64], err[512];
    CHECK_EQ_INT(read_version(path_in("good"), ver, sizeof(ver), err, sizeof(err)), 0);
    CHECK_STR_EQ(ver, "6.1.0-99-amd64");
    CHECK_STR_EQ(err, "");

    /* protocol 2.00 exactly is enough */
    put_le16(b + 0x206, 0x0200);
    write_bytes(path_in("proto200"), b, 0x1000);
    CHECK_EQ_INT(read_version(path_in("proto200"), ver, sizeof(ver), err, sizeof(err)), 0);
    CHECK_STR_EQ(ver, "6.1.0-99-amd64");

    /* a version buffer too small is an error, not a truncated version */
    char tiny[8];
    CHECK_EQ_INT(read_version(path_in("good"), tiny, sizeof(tiny), err, sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "too long");
    free(b);
}

static void test_missing_magic(void) {
    unsigned char *b = fake_bzimage(0x1000, 0x020f, 0x100, "6.1.0 x");
    memcpy(b + 0x202, "Hdrs", 4);
    write_bytes(path_in("nomagic"), b, 0x1000);
    char ver[64], err[512];
    CHECK_EQ_INT(read_version(path_in("nomagic"), ver, sizeof(ver), err, sizeof(err)), -1);
    char want[600];
    snprintf(want, sizeof(want), "%s is not a bzImage (no HdrS boot header)", path_in("nomagic"));
    CHECK_STR_EQ(err, want);
    free(b);
}

static void test_truncated(void) {
    unsigned char *b = fake_bzimage(0x1000, 0x020f, 0x100, "6.1.0 x");
    write_bytes(path_in("short"), b, 0x100); /* ends before the header */
    char ver[64], err[512];
    CHECK_EQ_INT(read_version(path_in("short"), ver, sizeof(ver), err, sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "is not a bzImage (no HdrS boot header)");

    write_bytes(path_in("empty"), b, 0);
    CHECK_EQ_INT(read_version(path_in("empty"), ver, sizeof(ver), err, sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "is not a bzImage");

    /* header complete, but the file ends inside the version string (no NUL) */
    write_bytes(path_in("cut"), b, 0x300 + 3);
    CHECK_EQ_INT(read_version(path_in("cut"), ver, sizeof(ver), err, sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "not terminated");
    free(b);
}

static void test_pointer_out_of_bounds(void) {
    unsigned char *b = fake_bzimage(0x400, 0x020f, 0xF000, NULL);
    write_bytes(path_in("oob"), b, 0x400);
    char ver[64], err[512];
    CHECK_EQ_INT(read_version(path_in("oob"), ver, sizeof(ver), err, sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, path_in("oob"));
    CHECK_STR_CONTAINS(err, "points past the end of the file");
    free(b);
}

static void test_other_header_problems(void) {
    char ver[64], err[512];
    unsigned char *b = fake_bzimage(0x1000, 0x0105, 0x100, "2.4.0 x");
    write_bytes(path_in("old"), b, 0x1000);
    CHECK_EQ_INT(read_version(path_in("old"), ver, sizeof(ver), err, sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "older than 2.00");
    free(b);

    b = fake_bzimage(0x1000, 0x020f, 0, NULL);
    write_bytes(path_in("noptr"), b, 0x1000);
    CHECK_EQ_INT(read_version(path_in("noptr"), ver, sizeof(ver), err, sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "does not record its kernel version");
    free(b);

    b = fake_bzimage(0x1000, 0x020f, 0x100, "   ");
    write_bytes(path_in("blank"), b, 0x1000);
    CHECK_EQ_INT(read_version(path_in("blank"), ver, sizeof(ver), err, sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "empty");
    free(b);

    b = fake_bzimage(0x1000, 0x020f, 0x100, "6.1\001bad x");
    write_bytes(path_in("garbled"), b, 0x1000);
    CHECK_EQ_INT(read_version(path_in("garbled"), ver, sizeof(ver), err, sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "garbled");
    free(b);
}

static void test_open_errors(void) {
    char ver[64], err[512];
    CHECK_EQ_INT(read_version(path_in("missing"), ver, sizeof(ver), err, sizeof(err)), -1);
    char want[600];
    snprintf(want, sizeof(want), "%s: No such file or directory", path_in("missing"));
    CHECK_STR_EQ(err, want);

    CHECK_EQ_INT(read_version(scratch, ver, sizeof(ver), err, sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "is not a regular file");

    if (geteuid() == 0) {
        printf("skip: permission test (running as root)\n");
        return;
    }
    unsigned char *b = fake_bzimage(0x1000, 0x020f, 0x100, "6.1.0 x");
    write_bytes(path_in("locked"), b, 0x1000);
    chmod(path_in("locked"), 0);
    CHECK_EQ_INT(read_version(path_in("locked"), ver, sizeof(ver), err, sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "Permission denied");
    CHECK_STR_CONTAINS(err, "sudo chmod 0644");
    free(b);
}

static void touch(const char *dir, const char *name) {
    char p[600];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    write_bytes(p, "x", 1);
}

static void test_find_in(void) {
    char boot[600], out[700], err[512], want[700];
    snprintf(boot, sizeof(boot), "%s/boot", scratch);
    mkdir(boot, 0755);

    CHECK_EQ_INT(kernel_find_in(boot, "6.1.0-1-amd64", out, sizeof(out), err, sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "apt-get install linux-image-amd64");
    CHECK_STR_CONTAINS(err, "--kernel");
    CHECK_STR_CONTAINS(err, boot);

    touch(boot, "vmlinuz-6.1.0-9-amd64");
    touch(boot, "vmlinuz-6.1.0-10-amd64");
    touch(boot, "vmlinuz-5.10.0-30-amd64");
    touch(boot, "config-6.1.0-99-amd64");
    touch(boot, "vmlinuz.old");
    char sub[700];
    snprintf(sub, sizeof(sub), "%s/vmlinuz-9.9.9", boot); /* a directory is not a kernel */
    mkdir(sub, 0755);

    CHECK_EQ_INT(kernel_find_in(boot, "6.18.0-running", out, sizeof(out), err, sizeof(err)), 0);
    snprintf(want, sizeof(want), "%s/vmlinuz-6.1.0-10-amd64", boot);
    CHECK_STR_EQ(out, want); /* version order: 10 > 9 */

    CHECK_EQ_INT(kernel_find_in(boot, "5.10.0-30-amd64", out, sizeof(out), err, sizeof(err)), 0);
    snprintf(want, sizeof(want), "%s/vmlinuz-5.10.0-30-amd64", boot);
    CHECK_STR_EQ(out, want); /* the running kernel wins over newer ones */

    char small[8];
    CHECK_EQ_INT(kernel_find_in(boot, NULL, small, sizeof(small), err, sizeof(err)), -1);
}

static void test_real_kernel(void) {
    char path[4096], ver[256], err[512];
    if (kernel_default_path(path, sizeof(path), err, sizeof(err)) < 0) {
        printf("skip: no kernel in /boot (%s)\n", err);
        return;
    }
    if (access(path, R_OK) != 0) {
        printf("skip: %s is not readable\n", path);
        return;
    }
    CHECK_EQ_INT(read_version(path, ver, sizeof(ver), err, sizeof(err)), 0);
    CHECK(ver[0] != '\0');
    /* Debian names the file after the release: /boot/vmlinuz-<release> */
    const char *dash = strstr(path, "vmlinuz-");
    if (dash) CHECK_STR_EQ(ver, dash + strlen("vmlinuz-"));
}

int main(void) {
    if (mkdtemp(scratch) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_good_header);
    RUN(test_missing_magic);
    RUN(test_truncated);
    RUN(test_pointer_out_of_bounds);
    RUN(test_other_header_problems);
    RUN(test_open_errors);
    RUN(test_find_in);
    RUN(test_real_kernel);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", scratch);
    return TEST_SUMMARY();
}
