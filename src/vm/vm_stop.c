/* vm_stop.c - how a VM's QEMU ends: the shutdown of many VMs side by side (agent
 * POWEROFF, QMP quit, SIGKILL), kill, reaping QEMU and releasing what it held, and
 * noticing a QEMU that went away unasked. Kept apart from vm.c, which starts QEMU. */
#include "vm.h"

#include "net/switch.h"
#include "vm/qmp.h"
#include "util/util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

void vm_reap_qemu(struct vm *vm, int wait_ms)
{
    if (vm->qemu_pid <= 0)
        return;
    int64_t end = now_ns() + (int64_t)wait_ms * 1000000;
    for (;;) {
        int status;
        pid_t r = waitpid(vm->qemu_pid, &status, WNOHANG);
        if (r == vm->qemu_pid || (r < 0 && errno == ECHILD))
            break;
        if (now_ns() >= end) {
            kill(vm->qemu_pid, SIGKILL);
            waitpid(vm->qemu_pid, &status, 0);
            break;
        }
        if (vm->pidfd >= 0) {
            struct pollfd p = {vm->pidfd, POLLIN, 0};
            int left = (int)((end - now_ns()) / 1000000);
            poll(&p, 1, left > 0 ? left : 0);
        } else
            sleep_ms(5);
    }
    vm->qemu_pid = -1;
    if (vm->pidfd >= 0)
        close(vm->pidfd);
    vm->pidfd = -1;
    vm_pool_uncharge(vm);
    for (int i = 0; i < VM_MAX_NICS; i++) {
        if (vm->nic_port[i] >= 0)
            sw_remove_port(vm->nic_port[i]);
        vm->nic_port[i] = -1;
    }
}

static void close_channels(struct vm *vm)
{
    qmp_close(vm->qmp);
    vm->qmp = NULL;
    agent_conn_close(&vm->agent);
}

void vm_kill(struct vm *vm)
{
    if (vm->qemu_pid > 0)
        kill(vm->qemu_pid, SIGKILL);
    vm_reap_qemu(vm, 2000);
    close_channels(vm);
}

/* ---- shutdown: ask every VM first, then wait for all (lab:shutdown runs them side by
 * side; vm_shutdown is the same for one) ---- */

void vm_shutdown_begin(struct vm *vm)
{
    vm->stop_t0 = now_ns();
    vm->stop_ns = 0;
    vm->stop_killed = 0;
    vm->stop_quit = 0;
    vm->stop_exited = vm->qemu_pid <= 0;
    if (vm->stop_exited)
        return;
    if (vm->state == VM_BOOTED && !vm->agent.dead && vm->agent.fd >= 0) {
        struct wire_writer w = {0};
        wire_begin(&w, WIRE_POWEROFF, agent_next_id(&vm->agent));
        if (wire_finish(&w) == 0)
            agent_queue(&vm->agent, &w);
        wire_writer_free(&w);
        if (agent_flush(&vm->agent) == 0)
            return; /* the guest powers off; quit only if it has not after 2 s */
    }
    if (vm->qmp && qmp_send(vm->qmp, "quit") == 0)
        vm->stop_quit = 1;
}

/* Has this VM's QEMU exited? Records how long its shutdown took. */
static int stop_done(struct vm *vm)
{
    if (vm->stop_exited)
        return 1;
    int status;
    pid_t r = waitpid(vm->qemu_pid, &status, WNOHANG);
    if (r != vm->qemu_pid && !(r < 0 && errno == ECHILD))
        return 0;
    vm->stop_ns = now_ns() - vm->stop_t0;
    vm->stop_exited = 1; /* reaped: reap_qemu then only releases the rest (ECHILD) */
    return 1;
}

/* Polls until every QEMU of vms has exited or deadline_ns; returns how many still run. */
static size_t stop_wait_until(struct vm **vms, size_t n, int64_t deadline_ns)
{
    for (;;) {
        size_t left = 0;
        struct pollfd pfd[64];
        nfds_t np = 0;
        for (size_t i = 0; i < n; i++) {
            if (stop_done(vms[i]))
                continue;
            left++;
            if (vms[i]->pidfd >= 0 && np < 64)
                pfd[np++] = (struct pollfd){vms[i]->pidfd, POLLIN, 0};
        }
        int64_t ms = (deadline_ns - now_ns()) / 1000000;
        if (!left || ms <= 0)
            return left;
        poll(pfd, np, (int)(ms < 20 ? ms : 20));
    }
}

void vm_shutdown_wait(struct vm **vms, size_t n)
{
    /* 2 s for the guests to power off, then QMP quit and 1 s more, then SIGKILL */
    if (stop_wait_until(vms, n, now_ns() + 2000000000LL)) {
        for (size_t i = 0; i < n; i++)
            if (!vms[i]->stop_exited && !vms[i]->stop_quit && vms[i]->qmp)
                vms[i]->stop_quit = qmp_send(vms[i]->qmp, "quit") == 0;
        stop_wait_until(vms, n, now_ns() + 1000000000LL);
    }
    for (size_t i = 0; i < n; i++) {
        struct vm *vm = vms[i];
        if (!vm->stop_exited) {
            vm->stop_killed = 1;
            kill(vm->qemu_pid, SIGKILL);
        }
        vm_reap_qemu(vm, 2000);
        if (vm->stop_killed)
            vm->stop_ns = now_ns() - vm->stop_t0;
        close_channels(vm);
        vm->state = VM_SHUTDOWN; /* from any state, including created (spec §1) */
    }
}

void vm_shutdown(struct vm *vm)
{
    vm_shutdown_begin(vm);
    vm_shutdown_wait(&vm, 1);
}

/* QEMU went away without being asked, or the agent link broke: a guest that powered
 * itself off leaves the VM `shutdown` (QEMU reaped), anything else `dead` (spec §1).
 * After vm:power_button the guest's init may stop the agent well before it powers off,
 * so then the wait for the power-off is 15 s instead of 1. */
void vm_lost(struct vm *vm)
{
    int64_t wait = vm->power_button_ns ? 15000000000LL : 1000000000LL;
    if (vm->qmp && qmp_guest_powered_off(vm->qmp, now_ns() + wait)) {
        vm_reap_qemu(vm, 2000);
        close_channels(vm);
        snprintf(vm->dead_reason, sizeof vm->dead_reason, "the guest powered off");
        vm->state = VM_SHUTDOWN;
        return;
    }
    vm->state = VM_DEAD;
}

/* Without a call in flight: has QEMU exited, or the guest closed the agent's port? */
void vm_refresh_state(struct vm *vm)
{
    if ((vm->state != VM_BOOTED && vm->state != VM_PAUSED) || vm->pidfd < 0)
        return;
    struct pollfd p = {vm->pidfd, POLLIN, 0};
    const char *why = NULL;
    if (poll(&p, 1, 0) > 0)
        why = "QEMU exited";
    else if (vm->agent.qmp && qmp_poll(vm->agent.qmp) == 0 &&
             qmp_agent_port_closed(vm->agent.qmp))
        why = "agent exited";
    if (!why)
        return;
    snprintf(vm->dead_reason, sizeof vm->dead_reason, "%s", why);
    vm_lost(vm);
}
