/* kernel.c - finding a host kernel and reading its release from the bzImage header.
 *
 * Only the few header bytes are read (see kernel.h for the layout). Everything that can
 * go wrong is turned into a sentence naming the file, because the usual causes are on the
 * user's side: Ubuntu makes /boot/vmlinuz-* readable by root only, and containers or
 * minimal hosts often have no kernel in /boot at all.
 */
#include "image/kernel.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#define HDR_MAGIC_OFF 0x202
#define HDR_PROTOCOL_OFF 0x206
#define HDR_VERSION_PTR_OFF 0x20E
#define HDR_END 0x210
#define HDR_VERSION_BASE 0x200
#define HDR_MIN_PROTOCOL 0x0200
#define VERSION_MAX 256

static uint16_t read_le16(const unsigned char *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}

static void explain_open_error(const char *path, int e, char *err, size_t errlen) {
    if (e == EACCES)
        snprintf(err, errlen,
                 "%s: %s (on Ubuntu /boot/vmlinuz-* is readable by root only: run "
                 "`sudo chmod 0644 %s` or pass another kernel with --kernel)",
                 path, strerror(e), path);
    else
        snprintf(err, errlen, "%s: %s", path, strerror(e));
}

/* Reads exactly len bytes at off; returns the count actually read, or -1 on error. */
static ssize_t read_at(int fd, void *buf, size_t len, off_t off) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

/* Copies the first whitespace-separated word of s into ver. */
static int first_word(const char *path, const char *s, char *ver, size_t verlen, char *err, size_t errlen) {
    while (*s && isspace((unsigned char)*s)) s++;
    size_t len = 0;
    while (s[len] && !isspace((unsigned char)s[len])) {
        if (!isprint((unsigned char)s[len])) {
            snprintf(err, errlen, "%s: the kernel version string in the boot header is garbled", path);
            return -1;
        }
        len++;
    }
    if (len == 0) {
        snprintf(err, errlen, "%s: the kernel version string in the boot header is empty", path);
        return -1;
    }
    if (len >= verlen) {
        snprintf(err, errlen, "%s: the kernel version is too long (%zu bytes)", path, len);
        return -1;
    }
    memcpy(ver, s, len);
    ver[len] = '\0';
    return 0;
}

static int read_version_fd(int fd, const char *path, char *ver, size_t verlen, char *err, size_t errlen) {
    unsigned char hdr[HDR_END];
    ssize_t n = read_at(fd, hdr, sizeof(hdr), 0);
    if (n < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (n < (ssize_t)sizeof(hdr) || memcmp(hdr + HDR_MAGIC_OFF, "HdrS", 4) != 0) {
        snprintf(err, errlen, "%s is not a bzImage (no HdrS boot header)", path);
        return -1;
    }
    unsigned protocol = read_le16(hdr + HDR_PROTOCOL_OFF);
    if (protocol < HDR_MIN_PROTOCOL) {
        snprintf(err, errlen, "%s uses boot protocol %u.%02u, older than 2.00, which records no kernel version",
                 path, protocol >> 8, protocol & 0xff);
        return -1;
    }
    unsigned ptr = read_le16(hdr + HDR_VERSION_PTR_OFF);
    if (ptr == 0) {
        snprintf(err, errlen, "%s does not record its kernel version in the boot header", path);
        return -1;
    }
    char s[VERSION_MAX + 1];
    n = read_at(fd, s, VERSION_MAX, (off_t)ptr + HDR_VERSION_BASE);
    if (n < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (n == 0) {
        snprintf(err, errlen, "%s: the kernel version pointer (0x%x) points past the end of the file", path, ptr);
        return -1;
    }
    if (memchr(s, '\0', (size_t)n) == NULL) {
        snprintf(err, errlen, "%s: the kernel version string in the boot header is not terminated", path);
        return -1;
    }
    return first_word(path, s, ver, verlen, err, errlen);
}

int kernel_read_version(const char *bzimage, char *ver, size_t verlen, char *err, size_t errlen) {
    int fd = open(bzimage, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        explain_open_error(bzimage, errno, err, errlen);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", bzimage);
        close(fd);
        return -1;
    }
    int rc = read_version_fd(fd, bzimage, ver, verlen, err, errlen);
    close(fd);
    return rc;
}

static int is_regular_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int copy_path(char *out, size_t n, const char *dir, const char *name, char *err, size_t errlen) {
    if ((size_t)snprintf(out, n, "%s/%s", dir, name) >= n) {
        snprintf(err, errlen, "%s/%s: path too long", dir, name);
        return -1;
    }
    return 0;
}

/* Finds the vmlinuz-* with the highest version in boot_dir; writes its name into best. */
static int newest_vmlinuz(const char *boot_dir, char *best, size_t bestlen) {
    DIR *d = opendir(boot_dir);
    if (d == NULL) return -1;
    best[0] = '\0';
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "vmlinuz-", 8) != 0 || strlen(de->d_name) >= bestlen) continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", boot_dir, de->d_name);
        if (!is_regular_file(path)) continue;
        if (best[0] == '\0' || strverscmp(de->d_name + 8, best + 8) > 0) snprintf(best, bestlen, "%s", de->d_name);
    }
    closedir(d);
    return best[0] ? 0 : -1;
}

int kernel_find_in(const char *boot_dir, const char *release, char *out, size_t n, char *err, size_t errlen) {
    char name[256];
    if (release && release[0]) {
        snprintf(name, sizeof(name), "vmlinuz-%s", release);
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", boot_dir, name);
        if (is_regular_file(path)) return copy_path(out, n, boot_dir, name, err, errlen);
    }
    if (newest_vmlinuz(boot_dir, name, sizeof(name)) == 0) return copy_path(out, n, boot_dir, name, err, errlen);
    snprintf(err, errlen,
             "no kernel found in %s (looked for vmlinuz-%s and any vmlinuz-*); "
             "install one with `apt-get install linux-image-amd64` or pass --kernel PATH",
             boot_dir, release ? release : "*");
    return -1;
}

int kernel_default_path(char *out, size_t n, char *err, size_t errlen) {
    struct utsname u;
    const char *release = uname(&u) == 0 ? u.release : NULL;
    return kernel_find_in("/boot", release, out, n, err, errlen);
}
