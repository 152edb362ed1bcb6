/* test_remote.c - the remote fixture cache's transfers (fixture/remote.c, remote_entry.c)
 * against a tiny HTTP server in a child process: a matching download is installed, a
 * digest mismatch or a truncated body is REMOTE_BAD with nothing left in the cache
 * directory, a 404 is REMOTE_ABSENT asked once, a 5xx is retried (then succeeds, or is
 * REMOTE_DOWN), uploads round-trip with the digest object last (a lab directory as one
 * tar), the bearer token is sent on every request, and `.building` markers tell their
 * owner from others.
 *
 * The server answers by the first character of the key in the path: 1 whole, 2 wrong
 * digest, 3 body shorter than its Content-Length, 4 missing, 5 the digest fails twice
 * with 503 first, 6 always 500; anything else is a plain store (PUT, GET, DELETE). It
 * logs "METHOD PATH AUTH" per request (AUTH: 1 when the bearer token was right). */
#include "fixture/fixture.h"
#include "fixture/remote.h"
#include "tests/unit/testlib.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOKEN "s3cret-token"
#define BODY "hello world" /* sha256 below */
#define BODY_SHA "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
#define OTHER_SHA "0000000000000000000000000000000000000000000000000000000000000000"

static char *dir, *logpath;

/* ---- the server (child process) ---- */

struct stored {
    char path[256];
    struct buf body;
};
static struct stored store[32];

static struct stored *slot(const char *path, int create)
{
    for (int i = 0; i < 32; i++)
        if (!strcmp(store[i].path, path))
            return &store[i];
    for (int i = 0; create && i < 32; i++)
        if (!store[i].path[0]) {
            snprintf(store[i].path, sizeof store[i].path, "%s", path);
            return &store[i];
        }
    return NULL;
}

static void reply(int fd, int status, const char *body, size_t len, size_t claimed)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, claimed);
    write_all(fd, head, (size_t)n);
    write_all(fd, body, len);
}

/* Reads one request; returns its body length (body in b). */
static int read_request(int fd, struct buf *req, char **body, size_t *blen)
{
    char c[4096];
    ssize_t n;
    char *end = NULL;
    while (!(end = req->len ? strstr(buf_cstr(req), "\r\n\r\n") : NULL)) {
        if ((n = read(fd, c, sizeof c)) <= 0)
            return -1;
        buf_append(req, c, (size_t)n);
    }
    char *cl = strcasestr(req->data, "Content-Length:");
    size_t want = cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0, have;
    size_t off = (size_t)(end + 4 - req->data);
    while ((have = req->len - off) < want && (n = read(fd, c, sizeof c)) > 0)
        buf_append(req, c, (size_t)n);
    *body = req->data + off;
    *blen = want;
    return 0;
}

static void serve_one(int fd, FILE *log, int *flaky)
{
    struct buf req = {0};
    char *body, method[16] = "", path[256] = "";
    size_t blen;
    if (read_request(fd, &req, &body, &blen) < 0 || sscanf(req.data, "%15s %255s", method, path) != 2)
        goto done;
    int auth = strstr(req.data, "\r\nAuthorization: Bearer " TOKEN "\r\n") != NULL;
    fprintf(log, "%s %s %d\n", method, path, auth);
    fflush(log);
    const char *name = strrchr(path, '/') + 1;
    int digest = strstr(name, ".sha256") != NULL;
    char d[128];
    snprintf(d, sizeof d, "%s  x.snap\n", name[0] == '2' ? OTHER_SHA : BODY_SHA);
    if (strchr("1235", name[0]) && !strcmp(method, "GET") && digest) {
        if (name[0] == '5' && (*flaky)++ < 2)
            reply(fd, 503, "", 0, 0);
        else
            reply(fd, 200, d, strlen(d), strlen(d));
    } else if (strchr("125", name[0]) && !strcmp(method, "GET"))
        reply(fd, 200, BODY, strlen(BODY), strlen(BODY));
    else if (name[0] == '3' && !strcmp(method, "GET"))
        reply(fd, 200, BODY, 5, strlen(BODY)); /* cut short */
    else if (name[0] == '4')
        reply(fd, 404, "", 0, 0);
    else if (name[0] == '6')
        reply(fd, 500, "", 0, 0);
    else if (!strcmp(method, "PUT")) {
        struct stored *s = slot(path, 1);
        s->body.len = 0;
        buf_append(&s->body, body, blen);
        reply(fd, 201, "", 0, 0);
    } else {
        struct stored *s = slot(path, 0);
        if (s && !strcmp(method, "DELETE"))
            s->path[0] = 0;
        if (!s)
            reply(fd, 404, "", 0, 0);
        else
            reply(fd, 200, s->body.data ? s->body.data : "", s->body.len, s->body.len);
    }
done:
    buf_free(&req);
}

static pid_t start_server(int *port)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    bind(ls, (struct sockaddr *)&a, sizeof a);
    listen(ls, 16);
    getsockname(ls, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *log = fopen(logpath, "a");
        int flaky = 0, fd;
        while ((fd = accept(ls, NULL, NULL)) >= 0) {
            serve_one(fd, log, &flaky);
            close(fd);
        }
        _exit(0);
    }
    close(ls);
    return pid;
}

/* ---- the tests ---- */

static struct config cfg;
static struct remote *r;

static char *key(char c)
{
    static char k[65];
    memset(k, c, 64);
    k[64] = 0;
    return k;
}

static int count_in_log(const char *needle)
{
    size_t n;
    char *s = read_file(logpath, &n);
    int c = 0;
    for (char *p = s; p && (p = strstr(p, needle)); p++)
        c++;
    free(s);
    return c;
}

/* Files in the cache directory, temps included. */
static int files_in_cache(void)
{
    DIR *d = opendir(cfg.cache_dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

static int fetch(char c, char *why, size_t whylen)
{
    int lab = 0;
    uint64_t bytes = 0;
    return remote_fetch_entry(r, &cfg, key(c), &lab, &bytes, why, whylen);
}

static void test_whole_download_installs(void)
{
    char why[512] = "";
    CHECK_EQ_INT(fetch('1', why, sizeof why), REMOTE_OK);
    char *entry = cache_entry_path(&cfg, key('1'), 0);
    size_t n;
    char *got = read_file(entry, &n);
    CHECK_STR_EQ(got, BODY);
    CHECK_EQ_INT(files_in_cache(), 1);
    rm_rf(entry);
    free(got);
    free(entry);
}

static void test_mismatch_and_truncation_leave_nothing(void)
{
    char why[512] = "";
    CHECK_EQ_INT(fetch('2', why, sizeof why), REMOTE_BAD);
    CHECK_STR_CONTAINS(why, "digest mismatch");
    CHECK_EQ_INT(files_in_cache(), 0);
    CHECK_EQ_INT(fetch('3', why, sizeof why), REMOTE_BAD);
    CHECK_EQ_INT(files_in_cache(), 0);
}

static void test_404_absent_asked_once(void)
{
    char why[512] = "";
    CHECK_EQ_INT(fetch('4', why, sizeof why), REMOTE_ABSENT);
    char *p = xasprintf("GET /p/%s.snap.sha256 ", key('4'));
    CHECK_EQ_INT(count_in_log(p), 1);
    free(p);
}

static void test_5xx_retried(void)
{
    char why[512] = "";
    CHECK_EQ_INT(fetch('5', why, sizeof why), REMOTE_OK); /* 503, 503, then the digest */
    char *p = cache_entry_path(&cfg, key('5'), 0);
    rm_rf(p);
    free(p);
    p = xasprintf("GET /p/%s.snap.sha256 ", key('5'));
    CHECK_EQ_INT(count_in_log(p), 3);
    free(p);
    CHECK_EQ_INT(fetch('6', why, sizeof why), REMOTE_DOWN);
    CHECK_STR_CONTAINS(why, "HTTP 500");
    p = xasprintf("GET /p/%s.snap.sha256 ", key('6'));
    CHECK_EQ_INT(count_in_log(p), 3);
    free(p);
}

static void test_upload_round_trip(void)
{
    char why[512] = "", *src = path_join(dir, "up.snap");
    write_file_atomic(src, BODY, strlen(BODY), 0600);
    uint64_t bytes = 0;
    CHECK_EQ_INT(remote_store_entry(r, &cfg, key('a'), src, 0, &bytes, why, sizeof why), REMOTE_OK);
    CHECK_EQ_U64(bytes, strlen(BODY));
    CHECK_EQ_INT(remote_has_entry(r, key('a'), why, sizeof why), REMOTE_OK);
    CHECK_EQ_INT(fetch('a', why, sizeof why), REMOTE_OK);
    char *entry = cache_entry_path(&cfg, key('a'), 0);
    rm_rf(entry);
    free(entry);
    /* the digest object went up after the object */
    size_t n;
    char *log = read_file(logpath, &n);
    char *obj = xasprintf("PUT /p/%s.snap ", key('a')), *dig = xasprintf("PUT /p/%s.snap.sha256 ", key('a'));
    CHECK(log && strstr(log, obj) && strstr(log, dig) && strstr(log, obj) < strstr(log, dig));
    free(log);
    free(obj);
    free(dig);
    free(src);
}

/* A lab entry travels as one tar and comes back as the same directory. */
static void test_lab_round_trip(void)
{
    char why[512] = "", *lab = path_join(dir, "src.lab"), *f;
    mkdir_p(lab, 0700);
    f = path_join(lab, "lab.json");
    write_file_atomic(f, "{\"format\":1}", 12, 0600);
    free(f);
    f = path_join(lab, "a.snap");
    write_file_atomic(f, BODY, strlen(BODY), 0600);
    free(f);
    uint64_t bytes = 0;
    CHECK_EQ_INT(remote_store_entry(r, &cfg, key('c'), lab, 1, &bytes, why, sizeof why), REMOTE_OK);
    int is_lab = 0;
    CHECK_EQ_INT(remote_fetch_entry(r, &cfg, key('c'), &is_lab, &bytes, why, sizeof why), REMOTE_OK);
    CHECK_EQ_INT(is_lab, 1);
    char *entry = cache_entry_path(&cfg, key('c'), 1), *got_path = path_join(entry, "a.snap");
    size_t n;
    char *got = read_file(got_path, &n);
    CHECK_STR_EQ(got, BODY);
    CHECK_EQ_INT(files_in_cache(), 1); /* the entry, no temp */
    rm_rf(entry);
    free(got);
    free(got_path);
    free(entry);
    free(lab);
}

static void test_markers(void)
{
    char why[256];
    CHECK(remote_marker_live(r, key('b')) == 0);
    remote_marker_put(r, key('b'), wall_time() + 60);
    CHECK_MSG(remote_marker_live(r, key('b')) == 0, "our own marker does not hold us");
    char *name = xasprintf("%s.building", key('b'));
    const char *other = "{\"owner\":\"elsewhere:1-2\",\"expiry\":9999999999}";
    remote_put_small(r, name, other, strlen(other), why, sizeof why);
    CHECK_MSG(remote_marker_live(r, key('b')) > 0, "another owner's live marker holds us");
    const char *stale = "{\"owner\":\"elsewhere:1-2\",\"expiry\":1}";
    remote_put_small(r, name, stale, strlen(stale), why, sizeof why);
    CHECK_MSG(remote_marker_live(r, key('b')) == 0, "a stale marker is ignored");
    remote_marker_delete(r, key('b'));
    CHECK_EQ_INT(remote_head(r, name, why, sizeof why), REMOTE_ABSENT);
    free(name);
}

static void test_token_on_every_request(void)
{
    CHECK(count_in_log(" 1\n") > 10);
    CHECK_EQ_INT(count_in_log(" 0\n"), 0);
}

static void test_urls(void)
{
    CHECK(remote_url_ok("http://host/p"));
    CHECK(remote_url_ok("https://host"));
    CHECK(!remote_url_ok("ftp://host/p"));
    CHECK(!remote_url_ok("http:///p"));
    CHECK(!remote_url_ok("host/p"));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    dir = make_scratch_dir("provium-test-remote");
    logpath = path_join(dir, "server.log");
    int port;
    pid_t server = start_server(&port);
    setenv("PROVIUM_REMOTE_CACHE_TOKEN", TOKEN, 1);
    cfg.cache_dir = path_join(dir, "cache");
    cfg.remote_cache = xasprintf("http://127.0.0.1:%d/p/", port);
    mkdir_p(cfg.cache_dir, 0700);
    r = remote_open(&cfg);
    remote_set_retries(r, 3, 1);
    RUN(test_urls);
    RUN(test_whole_download_installs);
    RUN(test_mismatch_and_truncation_leave_nothing);
    RUN(test_404_absent_asked_once);
    RUN(test_5xx_retried);
    RUN(test_upload_round_trip);
    RUN(test_lab_round_trip);
    RUN(test_markers);
    RUN(test_token_on_every_request);
    remote_close(r);
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
    rm_rf(dir);
    return TEST_SUMMARY();
}
