/* button.c - the ACPI power button, for guests where nothing else answers it.
 *
 * The host's vm:power_button() is ACPI's power button: the guest's `button` driver
 * reports KEY_POWER on an input device named "Power Button", seen through evdev as
 * /dev/input/eventN (the overlay loads both drivers). A full system has its own
 * listener there (systemd-logind, acpid); a guest whose PID 1 is the agent, or a
 * small init such as the base image's /init script, has none, and the press would be
 * lost. So the agent watches those devices too, and when the button is pressed it looks
 * whether any other process holds one of them open: if one does, powering off is that
 * process's business and the agent only notes the press; if none does, the agent
 * powers the guest off itself, as POWEROFF does (sync, then reboot(RB_POWER_OFF)).
 * `provium.power_button=ignore` on the kernel command line turns this off, for an init
 * that reads ACPI events some other way (netlink). */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define INPUT_CLASS "/sys/class/input"
#define MAX_BUTTONS 4
#define EV_KEY 1         /* linux/input-event-codes.h, which musl-gcc cannot see */
#define KEY_POWER 116

/* struct input_event of linux/input.h on a 64-bit kernel */
struct input_event_raw {
    struct timeval time;
    uint16_t type, code;
    int32_t value;
};

static int button_fd[MAX_BUTTONS];
static short button_rev[MAX_BUTTONS];
static dev_t button_dev[MAX_BUTTONS];
static int n_buttons;

static int is_power_button(const char *event)
{
    char path[300], name[64];
    snprintf(path, sizeof path, INPUT_CLASS "/%s/device/name", event);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, name, sizeof name - 1);
    close(fd);
    if (n <= 0)
        return 0;
    name[n] = 0;
    name[strcspn(name, "\n")] = 0;
    return strcmp(name, "Power Button") == 0;
}

static int ignored_on_cmdline(void)
{
    char buf[4096];
    int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    return strstr(buf, "provium.power_button=ignore") != NULL;
}

void button_open(void)
{
    if (ignored_on_cmdline())
        return;
    DIR *d = opendir(INPUT_CLASS);
    if (!d)
        return;
    struct dirent *e;
    while (n_buttons < MAX_BUTTONS && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "event", 5) != 0 || !is_power_button(e->d_name))
            continue;
        char dev[300];
        snprintf(dev, sizeof dev, "/dev/input/%s", e->d_name);
        int fd = open(dev, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
            agent_log("%s: %s", dev, strerror(errno));
            if (fd >= 0)
                close(fd);
            continue;
        }
        button_dev[n_buttons] = st.st_rdev;
        button_fd[n_buttons++] = fd;
    }
    closedir(d);
}

void button_add_pollfds(struct pollset *ps)
{
    for (int i = 0; i < n_buttons; i++) {
        button_rev[i] = 0;
        if (button_fd[i] >= 0)
            pollset_add(ps, button_fd[i], POLLIN, &button_rev[i]);
    }
}

static int is_button_dev(dev_t rdev)
{
    for (int i = 0; i < n_buttons; i++)
        if (button_dev[i] == rdev)
            return 1;
    return 0;
}

/* Does process `pid` (a /proc entry name) hold a power button device open? */
static int holds_button(const char *pid)
{
    char dir[300];
    snprintf(dir, sizeof dir, "/proc/%s/fd", pid);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        struct stat st;
        if (e->d_name[0] != '.' && fstatat(dirfd(d), e->d_name, &st, 0) == 0 &&
            S_ISCHR(st.st_mode) && is_button_dev(st.st_rdev))
            found = 1;
    }
    closedir(d);
    return found;
}

/* The first other process watching the button, or 0. */
static long other_listener(void)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    long self = (long)getpid(), found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        long pid = strtol(e->d_name, NULL, 10);
        if (pid > 0 && pid != self && holds_button(e->d_name))
            found = pid;
    }
    closedir(d);
    return found;
}

static void pressed(void)
{
    long pid = other_listener();
    if (pid) {
        agent_log("power button: left to PID %ld, which watches it", pid);
        return;
    }
    agent_log("power button: nothing else watches it; powering off");
    sync();
    if (reboot(RB_POWER_OFF) < 0)
        agent_log("poweroff: %s", strerror(errno));
}

void button_service(void)
{
    for (int i = 0; i < n_buttons; i++) {
        if (!button_rev[i])
            continue;
        struct input_event_raw ev[16];
        ssize_t n;
        int press = 0;
        while ((n = read(button_fd[i], ev, sizeof ev)) > 0)
            for (size_t k = 0; k < (size_t)n / sizeof ev[0]; k++)
                press |= ev[k].type == EV_KEY && ev[k].code == KEY_POWER && ev[k].value == 1;
        if (n < 0 && errno != EAGAIN && errno != EINTR) { /* the device went away */
            close(button_fd[i]);
            button_fd[i] = -1;
        }
        if (press)
            pressed();
    }
}
