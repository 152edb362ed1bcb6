/* kernel.h - finding a host kernel and reading its version from the bzImage header.
 *
 * Provium boots guests with a kernel taken from the host (/boot/vmlinuz-*) and must ship
 * that kernel's own virtio modules, found under /lib/modules/<version>. The version is
 * read from the x86 boot protocol header inside the bzImage, so no decompression and no
 * external tool is needed: the "HdrS" magic sits at 0x202, the protocol version at 0x206
 * and, from protocol 2.00 on, a u16 at 0x20E points (minus 0x200) at a NUL-terminated
 * string such as "6.1.0-56-amd64 (debian-kernel@...) #1 SMP ...". Its first word is the
 * kernel release, the same string `uname -r` prints inside the guest.
 */
#ifndef PROVIUM_IMAGE_KERNEL_H
#define PROVIUM_IMAGE_KERNEL_H

#include <stddef.h>

/* Writes the release (e.g. "6.1.0-56-amd64") into ver. */
int kernel_read_version(const char *bzimage, char *ver, size_t verlen, char *err, size_t errlen);

/* The host's kernel: /boot/vmlinuz-$(uname -r) if present, else the newest /boot/vmlinuz-*. */
int kernel_default_path(char *out, size_t n, char *err, size_t errlen);

/* kernel_default_path with the directory and running release given (for tests). */
int kernel_find_in(const char *boot_dir, const char *release, char *out, size_t n, char *err, size_t errlen);

#endif
