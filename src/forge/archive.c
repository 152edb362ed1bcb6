/* archive.c - the reproducible .tar.gz of an artifact directory (spec §10.6).
 *
 * The same directory always gives the same bytes: entries sorted by relative path in
 * byte order, ustar headers with mtime 0, uid/gid 0, empty uname/gname, modes normalised
 * (directories 0755, files 0755 when any execute bit is set else 0644, symlinks 0777),
 * and libarchive's gzip filter told to leave the time out of the gzip header (it never
 * writes a file name). Written to a temp file beside out_path, then renamed over it.
 */
#include "forge/archive.h"
#include "forge/forge.h"

#include "util/util.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARCHIVE_CHUNK (1 << 16)

/* Every path below dir (relative, no leading "./"), in walk order. */
static int collect(const char *dir, const char *prefix, struct strv *out)
{
    char *path = prefix[0] ? path_join(dir, prefix) : xstrdup(dir);
    DIR *d = opendir(path);
    int rc = d ? 0 : -1;
    struct dirent *de;
    while (d && rc == 0 && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *rel = prefix[0] ? xasprintf("%s/%s", prefix, de->d_name) : xstrdup(de->d_name);
        strv_push(out, rel);
        struct stat st;
        char *full = path_join(dir, rel);
        if (lstat(full, &st) < 0)
            rc = -1;
        else if (S_ISDIR(st.st_mode))
            rc = collect(dir, rel, out);
        free(full);
        free(rel);
    }
    if (d)
        closedir(d);
    free(path);
    return rc;
}

static int add_data(struct archive *a, const char *full)
{
    int fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char *buf = xmalloc(ARCHIVE_CHUNK);
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, buf, ARCHIVE_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -1 : 0;
            break;
        }
        if (archive_write_data(a, buf, (size_t)n) != n) {
            rc = -1;
            break;
        }
    }
    free(buf);
    close(fd);
    return rc;
}

/* One entry: normalised header, then the content of a regular file. */
static int add_entry(struct archive *a, const char *dir, const char *rel, char *err,
                     size_t errlen)
{
    char *full = path_join(dir, rel);
    struct archive_entry *e = archive_entry_new();
    struct stat st;
    int rc = -1;
    if (lstat(full, &st) < 0) {
        snprintf(err, errlen, "%s: %s", rel, strerror(errno));
        goto done;
    }
    archive_entry_set_mtime(e, 0, 0);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    archive_entry_set_uname(e, "");
    archive_entry_set_gname(e, "");
    if (S_ISDIR(st.st_mode)) {
        char *p = xasprintf("%s/", rel);
        archive_entry_copy_pathname(e, p);
        free(p);
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, 0755);
    } else if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlink(full, target, sizeof target - 1);
        if (n < 0) {
            snprintf(err, errlen, "%s: %s", rel, strerror(errno));
            goto done;
        }
        target[n] = '\0';
        archive_entry_copy_pathname(e, rel);
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_perm(e, 0777);
        archive_entry_copy_symlink(e, target);
    } else if (S_ISREG(st.st_mode)) {
        archive_entry_copy_pathname(e, rel);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, (st.st_mode & 0111) ? 0755 : 0644);
        archive_entry_set_size(e, st.st_size);
    } else {
        rc = 0; /* nothing else belongs in an artifact */
        goto done;
    }
    if (archive_write_header(a, e) != ARCHIVE_OK) {
        snprintf(err, errlen, "%s: %s", rel, archive_error_string(a));
        goto done;
    }
    if (S_ISREG(st.st_mode) && add_data(a, full) < 0) {
        snprintf(err, errlen, "%s: %s", rel,
                 archive_error_string(a) ? archive_error_string(a) : strerror(errno));
        goto done;
    }
    rc = 0;
done:
    archive_entry_free(e);
    free(full);
    return rc;
}

static struct archive *open_targz(int fd, char *err, size_t errlen)
{
    struct archive *a = archive_write_new();
    if (archive_write_set_format_ustar(a) != ARCHIVE_OK ||
        archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
        archive_write_set_filter_option(a, "gzip", "timestamp", NULL) != ARCHIVE_OK ||
        archive_write_open_fd(a, fd) != ARCHIVE_OK) {
        snprintf(err, errlen, "libarchive: %s", archive_error_string(a));
        archive_write_free(a);
        return NULL;
    }
    return a;
}

int archive_write_targz(const char *dir, const char *out_path, char *err, size_t errlen)
{
    struct strv paths = {0};
    char *tmp = xasprintf("%s.tmp.XXXXXX", out_path);
    struct archive *a = NULL;
    int fd = -1, rc = -1;
    if (collect(dir, "", &paths) < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        goto done;
    }
    strv_sort(&paths);
    fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        goto done;
    }
    if (!(a = open_targz(fd, err, errlen)))
        goto done;
    for (size_t i = 0; i < paths.n; i++)
        if (add_entry(a, dir, paths.v[i], err, errlen) < 0)
            goto done;
    if (archive_write_close(a) != ARCHIVE_OK) {
        snprintf(err, errlen, "libarchive: %s", archive_error_string(a));
        goto done;
    }
    if (fchmod(fd, 0644) < 0 || fsync(fd) < 0 || rename(tmp, out_path) < 0) {
        snprintf(err, errlen, "%s: %s", out_path, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    if (a)
        archive_write_free(a);
    if (fd >= 0)
        close(fd);
    if (rc < 0 && fd >= 0)
        unlink(tmp);
    free(tmp);
    strv_free(&paths);
    return rc;
}
