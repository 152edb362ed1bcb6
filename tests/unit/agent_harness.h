/* agent_harness.h - the host build of provium-agent on a socketpair, wrapped in a struct
 * vm that is `booted`, so unit tests drive the real host operations (vm_ops.c,
 * vm_batch.c) against the real agent without QEMU. Shared by test_vmops.c and
 * test_batch.c; each includes it once. */
#ifndef PROVIUM_AGENT_HARNESS_H
#define PROVIUM_AGENT_HARNESS_H

#include "tests/unit/testlib.h"
#include "util/util.h"
#include "vm/vm.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

static struct host_env env;
static struct vm *vm;
static pid_t agent_pid;
static char *dir;

/* Starts the agent binary bin with --fd 3 and waits for its HELLO. */
static void start_agent(const char *bin)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
    agent_pid = fork();
    if (agent_pid == 0) {
        dup2(sv[1], 3);
        execl(bin, bin, "--fd", "3", (char *)NULL);
        _exit(127);
    }
    close(sv[1]);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    static struct profile prof = {.name = "host"};
    vm = vm_new(&env, "unit", &prof, 1 << 20, 1);
    agent_conn_init(&vm->agent, sv[0], -1);
    uint32_t proto = 0;
    CHECK_EQ_INT(agent_wait_hello(&vm->agent, now_ns() + 5000000000LL, &proto), AGENT_OK);
    CHECK_EQ_INT(proto, WIRE_PROTOCOL_VERSION);
    vm->state = VM_BOOTED;
}

#endif
