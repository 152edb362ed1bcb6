/* config.h - the in-memory model of provium.toml: run settings and guest profiles.
 *
 * config_load() reads the file with our strict TOML reader, checks every key and type,
 * resolves relative paths against the file's directory and expands `{out}`. Anything
 * wrong is reported as one message (file:line:col for syntax, dotted key for meaning)
 * and the caller exits 2 before anything is built or booted. */
#ifndef PROVIUM_CONFIG_H
#define PROVIUM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

struct disk_spec {
    char *path;    /* NULL for scratch disks */
    char *id;
    int readonly, mediated;
    uint64_t scratch; /* bytes, 0 when path is set */
};

struct profile {
    char *name;
    char *dir;          /* directory relative paths resolved against */
    char *kernel;
    char *initrd;       /* NULL = agent overlay is the whole userspace */
    char *cmdline;      /* may be NULL */
    char *cmdline_file; /* may be NULL */
    char *build;        /* shell command, NULL for static profiles */
    char *out;          /* value of {out} (absolute) */
    uint64_t memory;
    int cpus;
    int inject_agent;
    char *agent_overlay_path;
    double agent_boot_timeout; /* 0 = default for the accelerator */
    char *machine;             /* auto | microvm | q35 */
    int nic_slots;
    uint64_t console_log_max; /* bytes of console log kept per VM; 0 = default */
    char *modules_dir;
    char *guest_os;
    struct disk_spec *disks;
    size_t n_disks;
};

struct config {
    char *path; /* absolute path of provium.toml, or NULL when none was found */
    char *dir;  /* its directory (cwd when no file) */
    char **roots; /* never empty: the config directory when `roots` is not set */
    size_t n_roots;
    char *cache_dir;
    uint64_t cache_max_size;
    int jobs;       /* 0 = not set */
    char *accel;    /* auto | kvm | tcg */
    char *qemu;     /* QEMU binary */
    /* remote fixture cache (fixture/remote.h): http(s) URL prefix or NULL; flag >
     * $PROVIUM_REMOTE_CACHE > file. read_only: remote_cache_mode = "read" */
    char *remote_cache;
    int remote_cache_read_only;
    struct profile *profiles;
    size_t n_profiles;
};

/* Loads `path` (or ./provium.toml when path is NULL; a missing default file yields an
 * empty config). Returns NULL and writes the full message (without "provium: ") into
 * err on failure. */
struct config *config_load(const char *path, char *err, size_t errlen);
void config_free(struct config *c);
const struct profile *config_profile(const struct config *c, const char *name);
/* "a, b, c": every profile name, sorted (for "known: ..." messages); "none" when the
 * config has none. malloc'd. */
char *config_profile_names(const struct config *c);

#endif
