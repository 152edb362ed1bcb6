/* userns.h - run a QEMU inside a user namespace that maps our uid and gid to 0, so a
 * non-root mapped restore can open the 0400 template RAM file (QEMU 7.2 opens mem-path
 * read-write even with share=off). See userns.c. */
#ifndef PROVIUM_USERNS_H
#define PROVIUM_USERNS_H

#include <stddef.h>
#include <sys/types.h>

/* 1 when this process can make such a namespace (probed once in a child, cached);
 * 0 with why filled (e.g. "user namespaces unavailable: unshare: Operation not
 * permitted"). */
int userns_available(char *why, size_t whylen);

/* In a forked child, before exec: enter a new user namespace where euid/egid (the
 * values given, taken before the fork) are 0. 0 on success, else -1 with errno set.
 * The credential change clears PR_SET_PDEATHSIG: the caller re-arms it. */
int userns_enter(unsigned uid, unsigned gid);

/* userns_enter() for the QEMU child of spawn_qemu: says why on stderr (its qemu.log)
 * when it fails, re-arms PR_SET_PDEATHSIG and checks that parent is still there. */
int userns_enter_child(unsigned uid, unsigned gid, pid_t parent);

#endif
