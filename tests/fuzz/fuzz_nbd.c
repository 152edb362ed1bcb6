/* fuzz_nbd.c - libFuzzer target for the NBD block server (src/vm/nbd.c, nbd_store.c).
 *
 * Why: the server parses whatever a client sends on its socket; a confused or hostile
 * client must get answers or a closed connection, never a crash, an out-of-bounds
 * access or a leak. One server runs for the whole process on a 64 KiB backing file.
 * Per input: the first byte picks a fault policy (bit 0 fail_reads, 1 fail_writes,
 * 2 fail_range(8, 8), 3 fail_after(3)), the rest is sent as one client's byte stream
 * (client flags, options, requests) while its replies are drained; then the policy is
 * cleared and held writes are cut, so every input starts alike.
 *
 *   clang -std=c17 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -I. -Isrc \
 *       tests/fuzz/fuzz_nbd.c src/vm/nbd.c src/vm/nbd_store.c src/vm/sockpath.c \
 *       src/util/util.c -o /tmp/fuzz_nbd -lpthread
 *   /tmp/fuzz_nbd -max_total_time=120 /tmp/nbd-corpus tests/fuzz/corpus/nbd
 */
#include "vm/nbd.h"
#include "vm/sockpath.h"

#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static struct nbd_server *server;
static char dir[] = "/tmp/provium-fuzz-nbd-XXXXXX", disk[128];

/* At exit: the server stopped (its socket unlinked), the disk and directory gone. */
static void stop_server(void)
{
    nbd_stop(server);
    unlink(disk);
    rmdir(dir);
}

static void start_server(void)
{
    char sock[128], err[256];
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(disk, sizeof disk, "%s/disk", dir);
    snprintf(sock, sizeof sock, "%s/sock", dir);
    int fd = open(disk, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, 65536) < 0)
        abort();
    close(fd);
    struct nbd_opts o = {.backing = disk, .socket_path = sock, .hold_limit = 32768};
    server = nbd_start(&o, err, sizeof err);
    if (server == NULL) {
        fprintf(stderr, "fuzz_nbd: %s\n", err);
        abort();
    }
    atexit(stop_server);
}

/* Sends data while draining replies, then half-closes and drains to the end. */
static void converse(int fd, const uint8_t *data, size_t size)
{
    size_t sent = 0;
    char buf[65536];
    int open_w = 1;
    for (;;) {
        if (open_w && sent == size) {
            shutdown(fd, SHUT_WR);
            open_w = 0;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN | (open_w ? POLLOUT : 0)};
        if (poll(&p, 1, 30000) <= 0)
            return;
        if (p.revents & POLLIN) {
            ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && !open_w))
                return;
        }
        if (open_w && (p.revents & POLLOUT)) {
            ssize_t w = send(fd, data + sent, size - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w < 0)
                open_w = 0;   /* the server closed; drain what it said */
            else
                sent += (size_t)w;
        }
        if (!open_w && (p.revents & (POLLHUP | POLLERR)) && !(p.revents & POLLIN))
            return;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (server == NULL)
        start_server();
    if (size == 0)
        return 0;
    uint8_t pol = data[0];
    nbd_fail_reads(server, pol & 1);
    nbd_fail_writes(server, pol & 2);
    if (pol & 4)
        nbd_fail_range(server, 8, 8);
    if (pol & 8)
        nbd_fail_after(server, 3);
    int fd = sockpath_connect(nbd_socket_path(server), 0);
    if (fd < 0)
        abort();
    converse(fd, data + 1, size - 1);
    close(fd);
    nbd_clear_policy(server);
    nbd_power_cut(server);
    return 0;
}
