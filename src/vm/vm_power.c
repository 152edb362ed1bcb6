/* vm_power.c - the guest's power and the boot-time options around it: the ACPI power
 * button, waking a guest suspended to RAM, the virtio console (hvc0) that goes into the
 * console log, the guest clock at boot (initial_time) and typing into the serial
 * console. Kept apart from vm.c, which starts QEMU: these only add QEMU arguments and
 * send QMP commands.
 *
 * The power button is ACPI's: QMP system_powerdown raises the fixed power button event
 * on q35 and the generic event device's power-down event on microvm (QEMU 7.2 builds
 * microvm with ACPI and a PNP0C0C "Power Button" behind it). Either way the guest's
 * `button` driver reports KEY_POWER; whoever watches that device (systemd-logind,
 * acpid, or the agent when nobody else does, agent/button.c) powers the guest off, and
 * QEMU exits with a guest-shutdown. */
#include "vm.h"

#include "vm/conlog.h"
#include "vm/qmp.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define QMP_WAIT_NS 10000000000LL

int vm_power_button(struct vm *vm, char *err, size_t errlen)
{
    json_t *r = qmp_exec(vm->qmp, "system_powerdown", NULL, now_ns() + QMP_WAIT_NS, err, errlen);
    if (!r)
        return -1;
    json_decref(r);
    vm->power_button_ns = now_ns();
    return 0;
}

/* QEMU's run state ("running", "suspended", "paused", ...) into out; -1 with err. */
static int run_status(struct vm *vm, char *out, size_t outlen, char *err, size_t errlen)
{
    json_t *r = qmp_exec(vm->qmp, "query-status", NULL, now_ns() + QMP_WAIT_NS, err, errlen);
    if (!r)
        return -1;
    const char *s = json_string_value(json_object_get(r, "status"));
    snprintf(out, outlen, "%s", s ? s : "?");
    json_decref(r);
    return 0;
}

/* Suspending resets the guest's virtio devices, which closes the agent's port (QMP
 * VSERPORT_CHANGE); the driver opens it again as the guest resumes, and QEMU may report
 * that up to a second late. Until then the VM would look `dead` (agent exited), so the
 * wake-up waits for the open. */
static int wait_port_reopened(struct vm *vm, int64_t deadline, char *err, size_t errlen)
{
    if (!vm->agent.qmp)
        return 0;
    while (qmp_poll(vm->qmp) == 0 && qmp_agent_port_closed(vm->qmp)) {
        if (now_ns() >= deadline) {
            snprintf(err, errlen, "the agent's port did not open again within 10 s of the "
                                  "wake-up");
            return -1;
        }
        sleep_ms(10);
    }
    return 0;
}

int vm_wakeup(struct vm *vm, char *err, size_t errlen)
{
    char st[32];
    if (!strcmp(vm->machine, "microvm")) {
        snprintf(err, errlen, "machine microvm has no suspend to RAM (ACPI S3); "
                              "use machine = \"q35\"");
        return -1;
    }
    if (run_status(vm, st, sizeof st, err, errlen) < 0)
        return -1;
    if (strcmp(st, "suspended") != 0) {
        snprintf(err, errlen, "the guest is not suspended (QEMU says %s)", st);
        return -1;
    }
    json_t *r = qmp_exec(vm->qmp, "system_wakeup", NULL, now_ns() + QMP_WAIT_NS, err, errlen);
    if (!r)
        return -1;
    json_decref(r);
    int64_t deadline = now_ns() + QMP_WAIT_NS;
    for (;;) {
        if (run_status(vm, st, sizeof st, err, errlen) < 0)
            return -1;
        if (strcmp(st, "suspended") != 0)
            break;
        if (now_ns() >= deadline) {
            snprintf(err, errlen, "the guest is still suspended 10 s after the wake-up");
            return -1;
        }
        sleep_ms(10);
    }
    return wait_port_reopened(vm, deadline, err, errlen);
}

/* "YYYY-MM-DDTHH:MM:SS" (UTC) for QEMU's -rtc base=. */
static void rtc_base(double epoch, char *out, size_t n)
{
    time_t t = (time_t)epoch;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
}

void vm_power_argv(const struct vm *vm, struct strv *a, int hvc_fd, int incoming)
{
    if (hvc_fd >= 0) {
        /* port 0 of the agent's virtio-serial bus, which virtio-serial keeps for a console */
        strv_push(a, "-chardev");
        strv_pushf(a, "socket,id=hvc0,fd=%d", hvc_fd);
        strv_push(a, "-device");
        strv_push(a, "virtconsole,chardev=hvc0,id=provium-hvc0");
    }
    if (vm->opts.has_initial_time && !incoming) {
        char base[32];
        rtc_base(vm->opts.initial_time, base, sizeof base);
        strv_push(a, "-rtc");
        strv_pushf(a, "base=%s", base);
    }
}

void vm_guest_clock(const struct vm *vm, int at_boot, struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
    if (!at_boot || !vm->opts.has_initial_time)
        return;
    int64_t ns = (int64_t)(vm->opts.initial_time * 1e9) + (now_ns() - vm->boot_t0);
    ts->tv_sec = (time_t)(ns / 1000000000);
    ts->tv_nsec = (long)(ns % 1000000000);
}

int vm_console_write(struct vm *vm, const void *data, size_t len, int64_t deadline_ns,
                     size_t *written)
{
    *written = 0;
    if (!vm->con) {
        errno = EPIPE;
        return -1;
    }
    return conlog_write(vm->con, data, len, deadline_ns, written);
}
