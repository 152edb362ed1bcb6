/* preflight.c - what every command that boots VMs checks first (run, console, repl):
 * the accelerator (KVM or TCG, and the host TSC rate under TCG), QEMU on $PATH, the
 * guest agent binary; and the host_env a worker or a REPL boots VMs with. */
#include "run.h"
#include "vm/vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int host_env_init(struct host_env *env, const struct config *cfg, const struct run_opts *ro,
                  const char *scratch)
{
    memset(env, 0, sizeof *env);
    env->cfg = cfg;
    snprintf(env->accel, sizeof env->accel, "%s", ro->accel);
    env->agent_bin = ro->agent_bin;
    env->tsc_khz = ro->tsc_khz;
    env->scratch = scratch ? xstrdup(scratch) : make_scratch_dir("provium");
    if (!env->scratch) {
        warnx_p("cannot create a scratch directory: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Finds cfg->qemu (a path, or a name looked up in $PATH); 0 when it is executable. */
static int qemu_present(const struct config *cfg)
{
    char *q = find_executable(cfg->qemu);
    free(q);
    return q ? 0 : -1;
}

int run_preflight(struct run_opts *ro, const struct config *cfg, int need_agent)
{
    char err[4096], reason[256] = "";
    const char *policy = ro->accel_flag ? ro->accel_flag : cfg->accel;
    if (strcmp(policy, "auto") && strcmp(policy, "kvm") && strcmp(policy, "tcg")) {
        warnx_p("--accel must be kvm, tcg or auto");
        return -1;
    }
    if (!ro->no_preflight) {
        if (accel_resolve(policy, ro->accel, reason, sizeof reason, err, sizeof err) < 0) {
            warnx_p("%s", err);
            return -1;
        }
        if (reason[0] && !ro->quiet)
            warnx_p("KVM not usable (%s); using TCG — VMs will be slow",
                    reason);
        if (qemu_present(cfg) < 0) {
            warnx_p("QEMU not found (%s); install it with `apt-get install "
                    "qemu-system-x86` or set $PROVIUM_QEMU",
                    cfg->qemu);
            return -1;
        }
        ro->agent_bin = find_agent_binary();
        if (need_agent && !ro->agent_bin && !getenv("PROVIUM_OVERLAY")) {
            warnx_p("the guest agent (provium-agent) was not found next to "
                    "the provium binary; build it (`meson compile -C build`) or set "
                    "$PROVIUM_AGENT");
            return -1;
        }
    } else {
        accel_resolve(policy, ro->accel, reason, sizeof reason, err, sizeof err);
        if (!ro->accel[0])
            strcpy(ro->accel, "tcg");
        ro->agent_bin = find_agent_binary();
    }
    if (!strcmp(ro->accel, "tcg"))
        ro->tsc_khz = host_tsc_khz();
    return 0;
}
