/* test_overlay.c - unit tests for the agent overlay (src/image/overlay.c) and the initrd
 * assembly around it (src/image/initrd.c).
 *
 * The kernel drops an initramfs entry whose parent directory does not exist and replaces
 * an existing path of another type, so the overlay must be self-contained: every entry's
 * parent is an entry of the overlay itself (or "sbin", which the prelude provides), and
 * nothing at the top level but the private tree and sbin/provium-agent. These tests build
 * overlays from a fake kernel and modules directory, parse them back and check exactly
 * that; then the lz4 wrapping, decoded by the lz4(1) tool when it is installed.
 */
#include "testlib.h"

#include "image/initrd.h"
#include "image/overlay.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_NAMES 64

static char scratch[] = "/tmp/provium-test-overlay-XXXXXX";

static const char *path_in(const char *name) {
    static char buf[8][600];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", scratch, name);
    return buf[i];
}

static void write_bytes(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (f == NULL) return;
    fwrite(data, 1, len, f);
    fclose(f);
}

static unsigned long hex8(const unsigned char *p) {
    char tmp[9];
    memcpy(tmp, p, 8);
    tmp[8] = '\0';
    return strtoul(tmp, NULL, 16);
}

struct entry {
    char name[300];
    unsigned long mode;
    const unsigned char *data;
    size_t size;
};

/* Parses one newc archive; returns the number of entries before the trailer, or -1. */
static int parse(const unsigned char *b, size_t len, struct entry *out, int max) {
    size_t off = 0;
    for (int n = 0; n < max; n++) {
        if (off + 110 > len || memcmp(b + off, "070701", 6) != 0) return -1;
        size_t namesize = hex8(b + off + 94), size = hex8(b + off + 54);
        if (namesize == 0 || namesize > sizeof(out[n].name)) return -1;
        memcpy(out[n].name, b + off + 110, namesize);
        size_t data = (off + 110 + namesize + 3) & ~(size_t)3;
        if (strcmp(out[n].name, "TRAILER!!!") == 0) return n;
        out[n].mode = hex8(b + off + 14);
        out[n].data = b + data;
        out[n].size = size;
        off = (data + size + 3) & ~(size_t)3;
    }
    return -1;
}

static const struct entry *find(const struct entry *e, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(e[i].name, name) == 0) return &e[i];
    return NULL;
}

/* A fake bzImage announcing 9.9.9-test, and a modules dir with virtio_console (+ dep). */
static void make_inputs(void) {
    unsigned char k[0x1000] = {0};
    memcpy(k + 0x202, "HdrS", 4);
    k[0x206] = 0x0f, k[0x207] = 0x02;     /* boot protocol 2.15 */
    k[0x20e] = 0x00, k[0x20f] = 0x01;     /* version string at 0x100 + 0x200 */
    strcpy((char *)k + 0x300, "9.9.9-test (x@y) #1");
    write_bytes(path_in("vmlinuz"), k, sizeof k);
    write_bytes(path_in("agent"), "\177ELF-agent", 10);
    mkdir(path_in("mods"), 0755);
    mkdir(path_in("mods/kernel"), 0755);
    mkdir(path_in("mods/kernel/drivers"), 0755);
    const char *dep = "kernel/drivers/virtio_ring.ko:\n"
                      "kernel/drivers/virtio_console.ko: kernel/drivers/virtio_ring.ko\n";
    write_bytes(path_in("mods/modules.dep"), dep, strlen(dep));
    write_bytes(path_in("mods/modules.builtin"), "", 0);
    write_bytes(path_in("mods/kernel/drivers/virtio_ring.ko"), "RING", 4);
    write_bytes(path_in("mods/kernel/drivers/virtio_console.ko"), "CONS", 4);
}

/* Every entry's parent is an entry too (only "sbin" may come from the prelude), and the
 * top level holds nothing but .provium and sbin/provium-agent. */
static void check_self_contained(const struct entry *e, int n) {
    for (int i = 0; i < n; i++) {
        char parent[sizeof e[i].name];
        memcpy(parent, e[i].name, sizeof parent);
        char *slash = strrchr(parent, '/');
        if (slash == NULL) {
            CHECK_MSG(strcmp(e[i].name, ".provium") == 0, "top-level entry %s", e[i].name);
            continue;
        }
        *slash = 0;
        CHECK_MSG(strcmp(parent, "sbin") == 0 || find(e, n, parent) != NULL,
                  "%s has its parent %s in the overlay", e[i].name, parent);
        CHECK_MSG(strncmp(e[i].name, ".provium/", 9) == 0 || strcmp(e[i].name, "sbin/provium-agent") == 0,
                  "%s lies in the private tree", e[i].name);
    }
}

static void test_overlay_entries(void) {
    char err[512] = "";
    const char *out = path_in("overlay.cpio");
    CHECK_EQ_INT(overlay_build(path_in("agent"), path_in("vmlinuz"), path_in("mods"), out, err, sizeof err), 0);
    size_t len = 0;
    unsigned char *b = tl_slurp(out, &len);
    struct entry e[MAX_NAMES];
    int n = b ? parse(b, len, e, MAX_NAMES) : -1;
    CHECK(n > 0);
    if (n <= 0) goto done;
    check_self_contained(e, n);
    CHECK(find(e, n, "lib") == NULL && find(e, n, "sbin") == NULL && find(e, n, "etc") == NULL);
    const struct entry *agent = find(e, n, "sbin/provium-agent");
    CHECK(agent != NULL && (agent->mode & 0777) == 0755 && agent->size == 10);
    CHECK(find(e, n, ".provium/lib/modules/9.9.9-test/kernel/drivers/virtio_console.ko") != NULL);
    const struct entry *list = find(e, n, ".provium/modules.list");
    CHECK(list != NULL);
    if (list) {
        const char *want = "/.provium/lib/modules/9.9.9-test/kernel/drivers/virtio_ring.ko\n"
                           "/.provium/lib/modules/9.9.9-test/kernel/drivers/virtio_console.ko\n";
        CHECK(list->size == strlen(want) && memcmp(list->data, want, list->size) == 0);
    }
    CHECK_STR_EQ(OVERLAY_MODULES_LIST, "/.provium/modules.list");
done:
    free(b);
}

static void test_prelude(void) {
    char err[512] = "";
    CHECK_EQ_INT(overlay_build_prelude(path_in("prelude.cpio"), err, sizeof err), 0);
    size_t len = 0;
    unsigned char *b = tl_slurp(path_in("prelude.cpio"), &len);
    struct entry e[4];
    CHECK_EQ_INT(b ? parse(b, len, e, 4) : -1, 1);
    CHECK_STR_EQ(e[0].name, "sbin");
    CHECK((e[0].mode & 0170000) == 0040000 && e[0].size == 0);
    free(b);
}

static enum initrd_tail tail_of(const void *data, size_t len) {
    char err[256];
    enum initrd_tail k = (enum initrd_tail)-1;
    write_bytes(path_in("base"), data, len);
    initrd_tail_kind(path_in("base"), &k, err, sizeof err);
    return k;
}

static void test_tail_kind(void) {
    size_t len = 0;
    unsigned char *cpio = tl_slurp(path_in("prelude.cpio"), &len);
    if (cpio == NULL) return;
    unsigned char buf[4096] = {0};
    memcpy(buf, cpio, len);
    CHECK_EQ_INT(tail_of(buf, len), INITRD_TAIL_OPEN);
    memcpy(buf + len, "\x02\x21\x4c\x18" "chunks", 10); /* cpio, then legacy lz4 */
    CHECK_EQ_INT(tail_of(buf, len + 10), INITRD_TAIL_LZ4_LEGACY);
    memcpy(buf + len, "\x1f\x8b\x08\x00" "gzip..", 10); /* cpio, then gzip: ends itself */
    CHECK_EQ_INT(tail_of(buf, len + 10), INITRD_TAIL_OPEN);
    CHECK_EQ_INT(tail_of("\x02\x21\x4c\x18", 4), INITRD_TAIL_LZ4_LEGACY);
    CHECK_EQ_INT(tail_of("\x28\xb5\x2f\xfd", 4), INITRD_TAIL_OPEN);
    CHECK_EQ_INT(tail_of("", 0), INITRD_TAIL_OPEN);
    char err[256];
    enum initrd_tail k;
    CHECK_EQ_INT(initrd_tail_kind(path_in("no-such"), &k, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "no-such");
    free(cpio);
}

/* Wraps n pseudo-random bytes as lz4 chunks and decodes them with lz4(1). */
static void check_lz4_roundtrip(size_t n) {
    unsigned char *data = malloc(n + 1);
    for (size_t i = 0; i < n; i++) data[i] = (unsigned char)((i * 2654435761u) >> 13);
    write_bytes(path_in("plain"), data, n);
    FILE *f = fopen(path_in("wrapped"), "wb");
    char err[256] = "";
    CHECK_MSG(f && initrd_append_lz4(fileno(f), path_in("plain"), err, sizeof err) == 0, "wrap %zu: %s", n, err);
    if (f) fclose(f);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "lz4 -dcq < %s > %s", path_in("wrapped"), path_in("decoded"));
    CHECK_MSG(system(cmd) == 0, "lz4 decodes %zu bytes", n);
    size_t got = 0;
    unsigned char *back = tl_slurp(path_in("decoded"), &got);
    CHECK_MSG(back && got == n && memcmp(back, data, n) == 0, "%zu bytes come back (got %zu)", n, got);
    free(back);
    free(data);
}

static void test_lz4_wrap(void) {
    if (system("command -v lz4 >/dev/null 2>&1") != 0) {
        printf("skip: lz4(1) not installed\n");
        return;
    }
    size_t sizes[] = {1, 14, 15, 16, 269, 270, 271, 65536, (4u << 20) + 7};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) check_lz4_roundtrip(sizes[i]);
}

/* prelude, base, overlay: 4-byte padding after an open base, none after an lz4 one. */
static void test_assemble(void) {
    struct initrd_parts p = {path_in("p1"), path_in("b1"), path_in("o1"), NULL};
    write_bytes(p.prelude, "PRE", 3);
    write_bytes(p.base, "070701", 6);
    write_bytes(p.overlay, "OV", 2);
    char err[256] = "";
    CHECK_EQ_INT(initrd_assemble(path_in("out1"), &p, err, sizeof err), 0);
    size_t len = 0;
    unsigned char *b = tl_slurp(path_in("out1"), &len);
    CHECK(b && len == 4 + 8 + 4 && memcmp(b, "PRE\0" "070701\0\0" "OV\0\0", len) == 0);
    free(b);
    write_bytes(p.base, "\x02\x21\x4c\x18\x01\x00\x00\x00\x10", 9); /* lz4: one 1-byte chunk */
    CHECK_EQ_INT(initrd_assemble(path_in("out2"), &p, err, sizeof err), 0);
    b = tl_slurp(path_in("out2"), &len);
    /* base unpadded, then magic and a chunk of 3 bytes: token 0x20 and "OV" */
    const unsigned char want[] = "PRE\0\x02\x21\x4c\x18\x01\x00\x00\x00\x10"
                                 "\x02\x21\x4c\x18\x03\x00\x00\x00\x20OV";
    CHECK(b && len == sizeof want - 1 && memcmp(b, want, len) == 0);
    free(b);
    p.base = path_in("missing-base");
    CHECK_EQ_INT(initrd_assemble(path_in("out3"), &p, err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "missing-base");
}

int main(void) {
    if (mkdtemp(scratch) == NULL) return 1;
    make_inputs();
    RUN(test_overlay_entries);
    RUN(test_prelude);
    RUN(test_tail_kind);
    RUN(test_lz4_wrap);
    RUN(test_assemble);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", scratch);
    if (system(cmd) != 0) return 1;
    return TEST_SUMMARY();
}
