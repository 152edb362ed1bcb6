/* port.c - finding the virtio-serial port inside the guest and noticing the host.
 *
 * The port is the /dev/vportNpM whose /sys/class/virtio-ports/vportNpM/name reads
 * WIRE_PORT_NAME. It appears asynchronously after virtio_console is loaded, so the
 * first open retries for a while. Whether a host is attached is visible through poll():
 * the driver reports POLLHUP while the host side of the port is closed. That is how the
 * agent notices a (re)connection - at boot, or after a snapshot restore - and greets
 * the new host with HELLO. */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PORTS_DIR "/sys/class/virtio-ports"
#define FIND_RETRY_MS 10
#define FIND_PATIENCE_MS 60000 /* then keep trying, but quietly and slowly */
#define FIND_SLOW_RETRY_MS 1000
#define RECONNECT_CHECK_MS 10

static int read_port_name(const char *vport, char *name, size_t cap)
{
    char path[512];
    snprintf(path, sizeof(path), PORTS_DIR "/%s/name", vport);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, name, cap - 1);
    close(fd);
    if (n < 0)
        return -1;
    while (n > 0 && (name[n - 1] == '\n' || name[n - 1] == ' '))
        n--;
    name[n] = 0;
    return 0;
}

/* Returns an open fd on the named port, or -1 if it is not there (yet). */
static int port_find_and_open(void)
{
    DIR *d = opendir(PORTS_DIR);
    if (!d)
        return -1;
    int fd = -1;
    struct dirent *e;
    while (fd < 0 && (e = readdir(d)) != NULL) {
        char name[128];
        if (e->d_name[0] == '.' || read_port_name(e->d_name, name, sizeof(name)) < 0)
            continue;
        if (strcmp(name, WIRE_PORT_NAME) != 0)
            continue;
        char dev[300];
        snprintf(dev, sizeof(dev), "/dev/%s", e->d_name);
        fd = open(dev, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    }
    closedir(d);
    return fd;
}

static int host_attached(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 0) < 0)
        return 0;
    return !(p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* If a host is attached now, start a fresh connection and greet it. */
static void check_for_host(void)
{
    if (agent.port_fd < 0 && (agent.port_fd = port_find_and_open()) < 0)
        return;
    if (!host_attached(agent.port_fd))
        return;
    wire_inbuf_free(&agent.in); /* nothing of a previous connection carries over */
    agent.connected = 1;
    send_hello();
}

void port_open_initial(void)
{
    int64_t start = now_ms();
    int warned = 0;
    while ((agent.port_fd = port_find_and_open()) < 0) {
        int64_t waited = now_ms() - start;
        if (waited >= FIND_PATIENCE_MS && !warned) {
            agent_log("port %s not found after %d s; still looking", WIRE_PORT_NAME,
                      FIND_PATIENCE_MS / 1000);
            warned = 1;
        }
        sleep_ms(warned ? FIND_SLOW_RETRY_MS : FIND_RETRY_MS);
    }
    agent.connected = 0;
    check_for_host();
}

void port_try_reconnect(void)
{
    static int64_t last_check;
    int64_t now = now_ms();
    if (now - last_check < RECONNECT_CHECK_MS)
        return;
    last_check = now;
    check_for_host();
}
