/* image.c - the `provium image` subcommand.
 *
 * Only `provium image build` exists for now: it turns the host's kernel, a static busybox
 * and the kernel's virtio modules into a bootable base image (see image/image_build.h),
 * so tests can run on a machine where nobody prepared a guest image. This file only
 * parses arguments and reports; the work is in src/image/.
 *
 * Exit codes: 0 on success, 2 for usage errors and for anything the environment lacks
 * (no kernel, dynamic busybox, unwritable cache...). Errors are one line on stderr,
 * prefixed "provium: ".
 */
#include "cli/cli.h"
#include "image/image_build.h"
#include "util/util.h"

#include <stdio.h>
#include <string.h>

#define EXIT_USAGE 2

static const char image_usage[] =
    "usage: provium image build [--out DIR] [--kernel PATH] [--busybox PATH] [--modules-dir DIR]\n"
    "\n"
    "Builds a minimal bootable guest image from the host: the kernel, a static busybox\n"
    "and the kernel's virtio modules. Running it twice gives byte-identical files.\n"
    "\n"
    "  --out DIR          where to write vmlinuz, initrd.img, cmdline and image.json\n"
    "                     (default: $XDG_CACHE_HOME/provium/images/default,\n"
    "                      else ~/.cache/provium/images/default)\n"
    "  --kernel PATH      kernel to use (default: /boot/vmlinuz-$(uname -r), else the\n"
    "                     newest /boot/vmlinuz-*)\n"
    "  --busybox PATH     statically linked busybox (default: /bin/busybox,\n"
    "                     from the busybox-static package)\n"
    "  --modules-dir DIR  the kernel's modules (default: /lib/modules/<kernel version>)\n"
    "  -h, --help         show this help\n";

static int is_help(const char *a) {
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

/* Matches "--name VALUE" and "--name=VALUE"; advances *i past a separate value.
 * Returns 1 on a match (value in *out), 0 if arg is another option, -1 if the value is missing. */
static int take_value(int argc, char **argv, int *i, const char *name, const char **out) {
    const char *a = argv[*i];
    size_t len = strlen(name);
    if (strncmp(a, name, len) != 0) return 0;
    if (a[len] == '=') {
        *out = a + len + 1;
        return 1;
    }
    if (a[len] != '\0') return 0;
    if (*i + 1 >= argc) return -1;
    *out = argv[++*i];
    return 1;
}

/* Parses `image build` options into o; returns -1 after printing help, or an exit code >0 on error. */
static int parse_build_args(int argc, char **argv, struct image_opts *o) {
    static const char *const names[] = { "--out", "--kernel", "--busybox", "--modules-dir" };
    for (int i = 2; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(image_usage, stdout);
            return -1;
        }
        const char **slots[] = { &o->out_dir, &o->kernel, &o->busybox, &o->modules_dir };
        int matched = 0;
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]) && !matched; k++) {
            int r = take_value(argc, argv, &i, names[k], slots[k]);
            if (r < 0) return cli_usage_error("image build", "option '%s' needs a value", names[k]);
            if (r > 0 && (*slots[k])[0] == '\0') return cli_usage_error("image build", "option '%s' needs a value", names[k]);
            matched = r > 0;
        }
        if (matched) continue;
        if (argv[i][0] == '-') return cli_usage_error("image build", "unknown option '%s'", argv[i]);
        return cli_usage_error("image build", "unexpected argument '%s'", argv[i]);
    }
    return 0;
}

static int image_build_command(int argc, char **argv) {
    struct image_opts o = { 0 };
    int rc = parse_build_args(argc, argv, &o);
    if (rc < 0) return 0;
    if (rc > 0) return rc;
    struct image_info info;
    char err[1024];
    if (image_build_info(&o, &info, err, sizeof(err)) < 0) {
        warnx_p("%s", err);
        return EXIT_USAGE;
    }
    printf("image: %s (kernel %s, %zu modules)\n", info.out_dir, info.kernel_version, info.n_modules);
    return 0;
}

int cmd_image(int argc, char **argv) {
    if (argc < 2)
        return cli_usage_error("image", "missing subcommand");
    if (is_help(argv[1])) {
        fputs(image_usage, stdout);
        return 0;
    }
    if (strcmp(argv[1], "build") == 0) return image_build_command(argc, argv);
    if (argv[1][0] == '-') return cli_usage_error("image", "unknown option '%s'", argv[1]);
    return cli_usage_error("image", "unknown subcommand '%s'", argv[1]);
}
