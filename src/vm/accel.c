/* accel.c - choose between KVM and TCG, and learn the host TSC rate for TCG guests.
 *
 * KVM is used only when /dev/kvm opens AND the CPU advertises vmx/svm: some hosts
 * (nested clouds) expose a /dev/kvm that opens but cannot run a stock kernel, and
 * choosing it there would hang. Under TCG the guest's TSC is the host's, but the
 * guest's own calibration against the emulated PIT fails when the host is busy and
 * the kernel then hangs in early boot; handing it tsc_early_khz avoids that. */
#include "vm.h"

#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int cpu_has_virt_flags(void)
{
    size_t len;
    char *info = read_file("/proc/cpuinfo", &len);
    if (!info)
        return 0;
    int found = 0;
    for (char *line = strtok(info, "\n"); line && !found; line = strtok(NULL, "\n")) {
        if (strncmp(line, "flags", 5) != 0)
            continue;
        found = strstr(line, " vmx") || strstr(line, " svm");
        break;
    }
    free(info);
    return found;
}

int accel_resolve(const char *policy, char out[8], char *reason, size_t reasonlen, char *err,
                  size_t errlen)
{
    reason[0] = 0;
    if (!strcmp(policy, "tcg")) {
        strcpy(out, "tcg");
        return 0;
    }
    char why[200] = "";
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        snprintf(why, sizeof why, "/dev/kvm: %s", strerror(errno));
    else {
        close(fd);
        if (!cpu_has_virt_flags())
            snprintf(why, sizeof why, "the CPU flags show no vmx or svm");
    }
    if (!why[0]) {
        strcpy(out, "kvm");
        return 0;
    }
    if (!strcmp(policy, "kvm")) {
        snprintf(err, errlen, "--accel kvm: KVM is not usable (%s)", why);
        return -1;
    }
    strcpy(out, "tcg");
    snprintf(reason, reasonlen, "%s", why);
    return 0;
}

#if defined(__x86_64__) || defined(__i386__)
static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

unsigned host_tsc_khz(void)
{
    static unsigned cached;
    if (cached)
        return cached;
    /* best of three 10 ms windows against CLOCK_MONOTONIC_RAW */
    double best = 0;
    for (int i = 0; i < 3; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC_RAW, &a);
        uint64_t t0 = rdtsc();
        sleep_ms(10);
        uint64_t t1 = rdtsc();
        clock_gettime(CLOCK_MONOTONIC_RAW, &b);
        double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
        double khz = (double)(t1 - t0) / ns * 1e6;
        if (i == 0 || khz < best)
            best = khz; /* preemption only makes the estimate larger */
    }
    cached = best > 1000 ? (unsigned)best : 0;
    return cached;
}
#else
unsigned host_tsc_khz(void) { return 0; }
#endif
