/* test_conlog.c - the bounded console log (src/vm/conlog.c): rotation keeps the files
 * under the cap and the newest bytes, positions survive rotations, and bytes written
 * into QEMU's end of the socket are drained by the thread (and by a reader at once);
 * the virtio console's socket shares the log, and typing reaches QEMU's serial end. */
#include "tests/unit/testlib.h"
#include "vm/conlog.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#define KiB (1ull << 10)

static char dir[] = "/tmp/provium-test-conlog-XXXXXX";

static uint64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static uint64_t on_disk(const char *path)
{
    char old[512];
    snprintf(old, sizeof old, "%s.1", path);
    return file_size(path) + file_size(old);
}

/* The byte the pattern has at position p: each line is "line NNNNNNN\n" (13 bytes). */
static void line_at(uint64_t n, char out[14])
{
    snprintf(out, 14, "line %07llu\n", (unsigned long long)n);
}

static char *read_all(struct conlog *c, uint64_t *pos, size_t *len)
{
    struct buf b = {0};
    while (conlog_read(c, pos, 7 * KiB, &b) > 0) {
    }
    *len = b.len;
    return buf_cstr(&b);
}

static void rotation_keeps_the_newest(void)
{
    char *path = xasprintf("%s/a.log", dir);
    struct conlog *c = conlog_new(path, 64 * KiB);
    CHECK(c != NULL);
    uint64_t lines = 20000, most = 0; /* 260 KB: four times the cap */
    for (uint64_t i = 0; i < lines; i++) {
        char l[14];
        line_at(i, l);
        conlog_append(c, l, 13);
        uint64_t now = on_disk(path);
        most = now > most ? now : most;
    }
    CHECK(most <= 64 * KiB && most > 60 * KiB); /* up to the cap on disk, never more */
    CHECK_EQ_U64(conlog_end(c), lines * 13);
    uint64_t start = conlog_start(c);
    CHECK(start > 0);
    CHECK(conlog_end(c) - start >= 32 * KiB);
    CHECK(conlog_end(c) - start <= 64 * KiB);
    uint64_t pos = 0; /* rotated away: starts at the oldest byte kept */
    size_t len;
    char *all = read_all(c, &pos, &len);
    CHECK_EQ_U64(pos, lines * 13);
    CHECK_EQ_U64(len, lines * 13 - start);
    char last[14];
    line_at(lines - 1, last);
    CHECK(len >= 13 && memcmp(all + len - 13, last, 13) == 0);
    /* every byte is where its position says, across the segment boundary */
    int ok = 1;
    for (uint64_t p = start; p < lines * 13 && ok; p++) {
        char l[14];
        line_at(p / 13, l);
        ok = all[p - start] == l[p % 13];
    }
    CHECK(ok);
    free(all);
    /* a reader in the middle keeps its place */
    pos = lines * 13 - 100;
    struct buf b = {0};
    CHECK_EQ_U64(conlog_read(c, &pos, 1000, &b), 100);
    CHECK(memcmp(b.data + 87, last, 13) == 0);
    buf_free(&b);
    conlog_free(c);
    free(path);
}

static void small_caps_are_raised(void)
{
    char *path = xasprintf("%s/b.log", dir);
    struct conlog *c = conlog_new(path, 1000);
    char block[4096];
    memset(block, 'x', sizeof block);
    for (int i = 0; i < 100; i++)
        conlog_append(c, block, sizeof block);
    CHECK(on_disk(path) <= CONLOG_MIN_MAX);
    CHECK(on_disk(path) >= CONLOG_MIN_MAX / 2);
    conlog_free(c);
    free(path);
}

/* QEMU's side: a writer on the other end of the socket, more than the cap. */
static void socket_is_drained(void)
{
    char *path = xasprintf("%s/c.log", dir);
    struct conlog *c = conlog_new(path, 128 * KiB);
    int fd = conlog_attach(c, NULL);
    CHECK(fd >= 0);
    uint64_t lines = 100000; /* 1.3 MB through the socket */
    for (uint64_t i = 0; i < lines; i++) {
        char l[14];
        line_at(i, l);
        CHECK(write(fd, l, 13) == 13);
    }
    /* a reader sees everything written so far without waiting for the thread */
    CHECK_EQ_U64(conlog_end(c), lines * 13);
    CHECK(on_disk(path) <= 128 * KiB);
    char *tail_pos_line = xasprintf("line %07llu\n", (unsigned long long)(lines - 1));
    uint64_t pos = lines * 13 - 13;
    struct buf b = {0};
    conlog_read(c, &pos, 64, &b);
    CHECK(b.len == 13 && memcmp(b.data, tail_pos_line, 13) == 0);
    buf_free(&b);
    free(tail_pos_line);
    /* the thread drains alone: write, wait, and look at the file without a reader */
    CHECK(write(fd, "marker-after\n", 13) == 13);
    uint64_t sz = 0;
    for (int i = 0; i < 200 && sz != lines * 13 + 13; i++) {
        usleep(5000);
        sz = conlog_start(c) + on_disk(path);
    }
    CHECK_EQ_U64(sz, lines * 13 + 13);
    /* QEMU exits and a new one attaches: the log goes on (kept across restores) */
    close(fd);
    fd = conlog_attach(c, NULL);
    CHECK(fd >= 0);
    CHECK(write(fd, "second-qemu\n", 12) == 12);
    close(fd);
    conlog_detach(c);
    pos = lines * 13;
    size_t len;
    char *rest = read_all(c, &pos, &len);
    CHECK_EQ_U64(len, 25);
    CHECK(tl_str_eq(rest, "marker-after\nsecond-qemu\n"));
    free(rest);
    conlog_free(c);
    free(path);
}

/* The virtio console's socket goes into the same log; typing reaches QEMU's serial end. */
static void hvc_and_typing(void)
{
    char *path = xasprintf("%s/d.log", dir);
    struct conlog *c = conlog_new(path, 128 * KiB);
    int hvc = -1;
    int fd = conlog_attach(c, &hvc);
    CHECK(fd >= 0 && hvc >= 0);
    CHECK(write(fd, "serial\n", 7) == 7);
    CHECK_EQ_U64(conlog_end(c), 7);
    CHECK(write(hvc, "hvc0\n", 5) == 5);
    CHECK_EQ_U64(conlog_end(c), 12);
    size_t written = 0;
    CHECK(conlog_write(c, "typed", 5, now_ns() + 1000000000LL, &written) == 0);
    CHECK(written == 5);
    char in[8] = {0};
    CHECK(read(fd, in, sizeof in) == 5 && memcmp(in, "typed", 5) == 0);
    /* nobody reads: the socket fills and the write times out, saying how much went in */
    static char big[4 << 20];
    CHECK(conlog_write(c, big, sizeof big, now_ns() + 50000000LL, &written) < 0);
    CHECK(errno == ETIMEDOUT && written > 0 && written < sizeof big);
    close(fd);
    close(hvc);
    conlog_detach(c);
    uint64_t pos = 0;
    size_t len;
    char *all = read_all(c, &pos, &len);
    CHECK(tl_str_eq(all, "serial\nhvc0\n"));
    free(all);
    /* detached: typing has nowhere to go */
    CHECK(conlog_write(c, "x", 1, now_ns() + 1000000000LL, &written) < 0 && errno == EPIPE);
    conlog_free(c);
    free(path);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(rotation_keeps_the_newest);
    RUN(small_caps_are_raised);
    RUN(socket_is_drained);
    RUN(hvc_and_typing);
    rm_rf(dir);
    return TEST_SUMMARY();
}
