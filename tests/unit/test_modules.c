/* test_modules.c - unit tests for resolving kernel modules from modules.dep
 * (src/image/modules.c).
 *
 * Each test writes a small modules.dep / modules.builtin pair into a scratch directory
 * shaped like /lib/modules/<version>, so load order, deduplication, builtin skipping and
 * the '-' / '_' equivalence are checked exactly. The host's own modules directory, when
 * present, is resolved as a final sanity check.
 */
#include "testlib.h"

#include "image/cpio.h"
#include "image/modules.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch[] = "/tmp/provium-test-modules-XXXXXX";

/* Debian 12's real layout for the virtio drivers, trimmed. */
static const char standard_dep[] =
    "kernel/drivers/virtio/virtio_ring.ko:\n"
    "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/drivers/virtio/virtio_pci_modern_dev.ko:\n"
    "kernel/drivers/virtio/virtio_pci_legacy_dev.ko:\n"
    "kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko "
    "kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/net/core/failover.ko:\n"
    "kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko\n"
    "kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko "
    "kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n"
    "\n";

static const char standard_builtin[] =
    "kernel/drivers/block/virtio_blk.ko\n"
    "kernel/drivers/char/virtio_console.ko\n";

static void write_text(const char *dir, const char *name, const char *text) {
    char p[700];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

/* A fresh modules directory named `name` with the given files (NULL = leave out). */
static const char *make_dir(const char *name, const char *dep, const char *builtin) {
    static char buf[4][600];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", scratch, name);
    mkdir(buf[i], 0755);
    if (dep) write_text(buf[i], "modules.dep", dep);
    if (builtin) write_text(buf[i], "modules.builtin", builtin);
    return buf[i];
}

/* The list as "a.ko b.ko ..." with paths made relative to dir, for compact comparisons. */
static char *joined(const char *dir, const struct module_list *l) {
    static char out[4096];
    out[0] = '\0';
    size_t dl = strlen(dir);
    for (size_t i = 0; i < l->n; i++) {
        const char *p = l->paths[i];
        if (strncmp(p, dir, dl) == 0 && p[dl] == '/') p += dl + 1;
        else p = "(outside-dir)";
        const char *base = strrchr(p, '/');
        strcat(out, i ? " " : "");
        strcat(out, base ? base + 1 : p);
    }
    return out;
}

static int resolve(const char *dir, const char *const *wanted, size_t n, struct module_list *l, char *err,
                   size_t errlen) {
    err[0] = '\0';
    return modules_resolve(dir, wanted, n, l, err, errlen);
}

static void test_dependencies_first(void) {
    const char *dir = make_dir("std", standard_dep, standard_builtin);
    const char *wanted[] = { "virtio_mmio", "virtio_pci" };
    struct module_list l;
    char err[512];
    CHECK_EQ_INT(resolve(dir, wanted, 2, &l, err, sizeof(err)), 0);
    CHECK_STR_EQ(joined(dir, &l), "virtio_ring.ko virtio.ko virtio_mmio.ko virtio_pci_modern_dev.ko "
                                  "virtio_pci_legacy_dev.ko virtio_pci.ko");
    char want[700];
    snprintf(want, sizeof(want), "%s/kernel/drivers/virtio/virtio_ring.ko", dir);
    CHECK_STR_EQ(l.n ? l.paths[0] : NULL, want);
    module_list_free(&l);
    CHECK_EQ_INT(l.n, 0);

    const char *net[] = { "virtio_net" };
    CHECK_EQ_INT(resolve(dir, net, 1, &l, err, sizeof(err)), 0);
    CHECK_STR_EQ(joined(dir, &l), "virtio_ring.ko virtio.ko failover.ko net_failover.ko virtio_net.ko");
    module_list_free(&l);
}

static void test_dedup_and_all(void) {
    const char *dir = make_dir("std", standard_dep, standard_builtin);
    const char *wanted[] = { "virtio_mmio", "virtio_mmio", "virtio", "virtio_ring" };
    struct module_list l;
    char err[512];
    CHECK_EQ_INT(resolve(dir, wanted, 4, &l, err, sizeof(err)), 0);
    CHECK_STR_EQ(joined(dir, &l), "virtio_ring.ko virtio.ko virtio_mmio.ko");
    module_list_free(&l);

    size_t n = 0;
    while (provium_virtio_modules[n]) n++;
    CHECK_EQ_INT(n, 8); /* the six virtio drivers, button and evdev (absent here) */
    CHECK_EQ_INT(resolve(dir, provium_virtio_modules, n, &l, err, sizeof(err)), 0);
    CHECK_STR_EQ(joined(dir, &l), "virtio_ring.ko virtio.ko virtio_mmio.ko virtio_pci_modern_dev.ko "
                                  "virtio_pci_legacy_dev.ko virtio_pci.ko failover.ko net_failover.ko "
                                  "virtio_net.ko virtio-rng.ko");
    module_list_free(&l);
}

static void test_builtin_skipped(void) {
    const char *dir = make_dir("std", standard_dep, standard_builtin);
    const char *wanted[] = { "virtio_blk", "virtio_console" };
    struct module_list l;
    char err[512];
    CHECK_EQ_INT(resolve(dir, wanted, 2, &l, err, sizeof(err)), 0);
    CHECK_EQ_INT(l.n, 0);
    module_list_free(&l);

    /* builtin dependencies are skipped too */
    const char *core = make_dir("core-builtin", standard_dep,
                                "kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_ring.ko\n");
    const char *mmio[] = { "virtio_mmio" };
    CHECK_EQ_INT(resolve(core, mmio, 1, &l, err, sizeof(err)), 0);
    CHECK_STR_EQ(joined(core, &l), "virtio_mmio.ko");
    module_list_free(&l);

    /* no modules.builtin at all: nothing is builtin */
    const char *none = make_dir("no-builtin", standard_dep, NULL);
    CHECK_EQ_INT(resolve(none, mmio, 1, &l, err, sizeof(err)), 0);
    CHECK_STR_EQ(joined(none, &l), "virtio_ring.ko virtio.ko virtio_mmio.ko");
    module_list_free(&l);
}

static void test_dash_underscore(void) {
    const char *dir = make_dir("std", standard_dep, "kernel/drivers/block/virtio-blk.ko\n");
    const char *wanted[] = { "virtio_rng", "virtio-mmio", "virtio_blk" };
    struct module_list l;
    char err[512];
    CHECK_EQ_INT(resolve(dir, wanted, 3, &l, err, sizeof(err)), 0);
    CHECK_STR_EQ(joined(dir, &l), "virtio_ring.ko virtio.ko virtio-rng.ko virtio_mmio.ko");
    module_list_free(&l);
}

static void test_unknown_skipped(void) {
    const char *dir = make_dir("std", standard_dep, standard_builtin);
    const char *wanted[] = { "no_such_module", "virtio_mmio" };
    struct module_list l;
    char err[512];
    CHECK_EQ_INT(resolve(dir, wanted, 2, &l, err, sizeof(err)), 0);
    CHECK_STR_EQ(joined(dir, &l), "virtio_ring.ko virtio.ko virtio_mmio.ko");
    CHECK_STR_EQ(err, "");
    module_list_free(&l);
}

/* Dependencies listed in a bad order are still loaded in a good one, and cycles end. */
static void test_recursive_order(void) {
    const char *dir = make_dir("odd",
                               "kernel/a.ko: kernel/c.ko kernel/b.ko\n"
                               "kernel/b.ko: kernel/c.ko\n"
                               "kernel/c.ko:\n"
                               "kernel/x.ko: kernel/y.ko\n"
                               "kernel/y.ko: kernel/x.ko\n",
                               "");
    const char *wanted[] = { "a", "x" };
    struct module_list l;
    char err[512];
    CHECK_EQ_INT(resolve(dir, wanted, 2, &l, err, sizeof(err)), 0);
    CHECK_STR_EQ(joined(dir, &l), "c.ko b.ko a.ko y.ko x.ko");
    module_list_free(&l);
}

static void test_missing_modules_dep(void) {
    const char *dir = make_dir("empty", NULL, NULL);
    const char *wanted[] = { "virtio_mmio" };
    struct module_list l;
    char err[512];
    CHECK_EQ_INT(resolve(dir, wanted, 1, &l, err, sizeof(err)), -1);
    char want[700];
    snprintf(want, sizeof(want), "%s/modules.dep: No such file or directory; the kernel's modules are needed "
                                 "(install the matching linux-image package or set modules_dir)", dir);
    CHECK_STR_EQ(err, want);
    CHECK_EQ_INT(l.n, 0);
    CHECK(l.paths == NULL);
}

static void test_compressed_module(void) {
    const char *dir = make_dir("xz",
                               "kernel/drivers/virtio/virtio_ring.ko.xz:\n"
                               "kernel/drivers/virtio/virtio_mmio.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz\n",
                               "");
    const char *wanted[] = { "virtio_mmio" };
    struct module_list l;
    char err[512];
    CHECK_EQ_INT(resolve(dir, wanted, 1, &l, err, sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "virtio_ring.ko.xz");
    CHECK_STR_CONTAINS(err, "compressed kernel modules are not supported yet");
    CHECK_EQ_INT(l.n, 0);

    const char *zst = make_dir("zst", "kernel/drivers/virtio/virtio_mmio.ko.zst:\n", "");
    CHECK_EQ_INT(resolve(zst, wanted, 1, &l, err, sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, "compressed");
}

static void test_resolve_virtio_dirs(void) {
    struct module_list l;
    char err[512] = "";
    CHECK_EQ_INT(modules_resolve_virtio(NULL, "0.0.0-provium-test-no-such-kernel", &l, err, sizeof(err)), 0);
    CHECK_EQ_INT(l.n, 0);

    char missing[700];
    snprintf(missing, sizeof(missing), "%s/not-there", scratch);
    CHECK_EQ_INT(modules_resolve_virtio(missing, "1.0", &l, err, sizeof(err)), -1);
    CHECK_STR_CONTAINS(err, missing);
    CHECK_STR_CONTAINS(err, "No such file or directory");

    const char *dir = make_dir("std", standard_dep, standard_builtin);
    CHECK_EQ_INT(modules_resolve_virtio(dir, "1.0", &l, err, sizeof(err)), 0);
    CHECK_EQ_INT(l.n, 10);
    module_list_free(&l);
}

static int contains(const unsigned char *buf, size_t len, const char *s) {
    return memmem(buf, len, s, strlen(s) + 1) != NULL; /* with the NUL: names are NUL-terminated */
}

/* modules_stage places the files at lib/modules/<version>/... and writes the list. */
static void test_stage(void) {
    const char *dir = make_dir("stage", "kernel/v/virtio_ring.ko:\nkernel/v/virtio_mmio.ko: kernel/v/virtio_ring.ko\n", "");
    char sub[700];
    snprintf(sub, sizeof(sub), "%s/kernel", dir);
    mkdir(sub, 0755);
    snprintf(sub, sizeof(sub), "%s/kernel/v", dir);
    mkdir(sub, 0755);
    write_text(sub, "virtio_ring.ko", "RING");
    write_text(sub, "virtio_mmio.ko", "MMIO");

    const char *wanted[] = { "virtio_mmio" };
    struct module_list l;
    char err[512];
    CHECK_EQ_INT(resolve(dir, wanted, 1, &l, err, sizeof(err)), 0);
    struct cpio_tree *t = cpio_tree_new();
    CHECK_EQ_INT(modules_stage(t, &l, dir, "9.9.9", "", "etc/test/modules.list", err, sizeof(err)), 0);
    char out[700];
    snprintf(out, sizeof(out), "%s/stage.cpio", scratch);
    CHECK_EQ_INT(cpio_tree_write(t, out, err, sizeof(err)), 0);
    cpio_tree_free(t);
    module_list_free(&l);

    size_t len = 0;
    unsigned char *buf = tl_slurp(out, &len);
    CHECK(buf != NULL);
    CHECK(contains(buf, len, "lib/modules/9.9.9/kernel/v/virtio_ring.ko"));
    CHECK(contains(buf, len, "lib/modules/9.9.9/kernel/v"));
    CHECK(contains(buf, len, "etc/test/modules.list"));
    const char *list = "/lib/modules/9.9.9/kernel/v/virtio_ring.ko\n/lib/modules/9.9.9/kernel/v/virtio_mmio.ko\n";
    CHECK(memmem(buf, len, list, strlen(list)) != NULL);
    CHECK(memmem(buf, len, "RING", 4) != NULL && memmem(buf, len, "MMIO", 4) != NULL);
    free(buf);
}

static void test_host_modules(void) {
    const char *dir = "/lib/modules/6.1.0-56-amd64";
    char dep[256];
    snprintf(dep, sizeof(dep), "%s/modules.dep", dir);
    if (access(dep, R_OK) != 0) {
        printf("skip: %s not present\n", dep);
        return;
    }
    struct module_list l;
    char err[512];
    CHECK_EQ_INT(modules_resolve_virtio(dir, "6.1.0-56-amd64", &l, err, sizeof(err)), 0);
    CHECK(l.n > 0);
    for (size_t i = 0; i < l.n; i++) CHECK_MSG(access(l.paths[i], R_OK) == 0, "%s is readable", l.paths[i]);
    if (l.n) CHECK_STR_CONTAINS(l.paths[0], "virtio_ring.ko");
    module_list_free(&l);
}

int main(void) {
    if (mkdtemp(scratch) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_dependencies_first);
    RUN(test_dedup_and_all);
    RUN(test_builtin_skipped);
    RUN(test_dash_underscore);
    RUN(test_unknown_skipped);
    RUN(test_recursive_order);
    RUN(test_missing_modules_dep);
    RUN(test_compressed_module);
    RUN(test_resolve_virtio_dirs);
    RUN(test_stage);
    RUN(test_host_modules);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", scratch);
    return TEST_SUMMARY();
}
