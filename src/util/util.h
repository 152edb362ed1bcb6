/* util.h - small helpers shared by the whole host program: messages, memory, strings,
 * paths, files and clocks. Everything here is plain libc; nothing knows about VMs. */
#ifndef PROVIUM_UTIL_H
#define PROVIUM_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROVIUM_VERSION "0.1.0"

/* ---- messages: every line the harness prints about itself starts with "provium: " ----
 * The message is given without the prefix and without a final newline; each of its lines
 * gets the prefix (a message ending in '\n' does not add an empty line). Nothing else in
 * the host writes its own text to stderr. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void warnx_p(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vwarnx_p(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
extern int g_verbose; /* -v */

/* ---- memory ---- */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- growable byte buffer ---- */
struct buf {
    char *data;
    size_t len, cap;
};
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *buf_cstr(struct buf *b); /* NUL-terminates (not counted in len) and returns data */
void buf_free(struct buf *b);
void buf_sh_quote(struct buf *b, const char *s); /* s in single quotes for sh: 'it'\''s' */

/* ---- string vectors (NULL-terminated) ---- */
struct strv {
    char **v;
    size_t n, cap;
};
void strv_push(struct strv *s, const char *str);
void strv_pushf(struct strv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strv_free(struct strv *s);
void strv_sort(struct strv *s); /* byte order */

/* ---- files and paths ---- */
/* Reads a whole file; returns malloc'd data (NUL-terminated) or NULL with errno set. */
char *read_file(const char *path, size_t *len);
/* Writes data to path via a temp file in the same directory, fsync, rename. 0 / -1+errno. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
int mkdir_p(const char *path, mode_t mode);
int rm_rf(const char *path);
char *path_join(const char *dir, const char *name);
char *path_dirname(const char *path);
/* name (with a slash) or its first executable match in $PATH, malloc'd; NULL if none. */
char *find_executable(const char *name);
/* Absolute path of `path` relative to `base_dir` (no symlink resolution, no I/O). */
char *path_resolve(const char *base_dir, const char *path);
int file_exists(const char *path);
/* Every regular file below dir whose name ends with suffix (hidden entries skipped,
 * symlinks not followed), appended to out sorted by path. */
void walk_files_with_suffix(const char *dir, const char *suffix, struct strv *out);
int write_all(int fd, const void *p, size_t n);
/* Private scratch directory (0700) under $TMPDIR via mkdtemp, named <prefix>-XXXXXX;
 * its SCRATCH_OWNER_FILE holds the creator's owner_tag(). */
char *make_scratch_dir(const char *prefix);
#define SCRATCH_OWNER_FILE ".owner"
/* Removes this user's <prefix>-XXXXXX directories under $TMPDIR whose recorded owner
 * process is gone (a run killed with SIGKILL, an OOM kill); directories without a
 * record are left alone. Returns how many were removed. */
int scratch_sweep_stale(const char *prefix);
/* Directory holding the running executable. */
const char *self_exe_dir(void);
const char *xdg_cache_home(void); /* $XDG_CACHE_HOME or ~/.cache */
/* "<pid>-<start ticks>" of the calling process: put into the name of a temporary file
 * so that a later process can tell whether its writer is still running. */
const char *owner_tag(void);
/* For a name part starting with an owner tag ("<pid>-<start>" then '-' or the end):
 * 1 while that process runs, 0 once it is gone (or a zombie, or the PID was reused),
 * -1 when s holds no tag. */
int owner_tag_alive(const char *s);

/* ---- time ---- */
int64_t now_ns(void);      /* CLOCK_MONOTONIC */
double wall_time(void);    /* CLOCK_REALTIME, seconds */
void sleep_ms(int ms);

/* A malloc'd copy of s in which every byte that does not belong to a well-formed UTF-8
 * sequence is written as the text \xNN (reports and events never drop a byte, and
 * JSON needs UTF-8). NULL stays NULL. */
/* Length of the well-formed UTF-8 sequence at p, at most avail bytes (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0. */
size_t utf8_seq_len(const unsigned char *p, size_t avail);
char *utf8_escape(const char *s);

/* Collapse whitespace runs to single spaces and trim; in place. */
void collapse_ws(char *s);

/* The fields of /proc/<pid>/stat after the command name ("S 1 1234 ..."), into out;
 * -1 when pid is gone. */
int proc_stat_after_comm(pid_t pid, char *out, size_t n);

#endif
