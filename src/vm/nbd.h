/* nbd.h - Provium's own block server for mediated disks (spec §4.7, issue 12).
 *
 * Why: a test must be able to cut a disk's power and see exactly what a real power loss
 * leaves: the writes the guest flushed, and none of the others. QEMU's own block layer
 * cannot tell us which writes were flushed, so a mediated disk is served by provium
 * itself over NBD (https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md)
 * on a private unix socket, and QEMU opens it as
 *     -blockdev driver=raw,node-name=X,file.driver=nbd,file.server.type=unix,file.server.path=SOCK
 * (or qemu-io/qemu-img with 'nbd+unix:///?socket=SOCK').
 *
 * The server serves ONE export (any name is accepted, "" included) from a backing file,
 * in its own thread (a poll loop; an eventfd stops it). It speaks the fixed newstyle
 * handshake (NBD_OPT_GO, _INFO, _EXPORT_NAME, _ABORT, _LIST; everything else gets
 * NBD_REP_ERR_UNSUP, so QEMU falls back to simple replies) and the commands READ, WRITE
 * (with FUA), FLUSH and DISC. TRIM, WRITE_ZEROES, CACHE and BLOCK_STATUS are not
 * advertised (QEMU then writes zero buffers itself). Several connections may be open
 * at once (a restarted QEMU); they share one disk state and are served in turn.
 *
 * Guarantees
 * - Held writes. A WRITE is kept in memory (an overlay of 4 KiB blocks) and the backing
 *   file is not touched. A FLUSH, or a WRITE with the FUA flag (which acts as the write
 *   followed by a FLUSH: every held write becomes durable, a state a real disk may also
 *   reach), applies every held block to the backing file (pwrite, then fdatasync) and
 *   empties the overlay. So a read always sees the latest write, and the backing file
 *   holds exactly what was flushed.
 * - nbd_power_cut() discards every held write. Each request's disk work runs under the
 *   server's mutex, so a power cut falls wholly before or after any request.
 * - Hold limit: held writes are bounded (NBD_HOLD_LIMIT_DEFAULT, 256 MiB, or the
 *   opts' hold_limit). A WRITE that would go past it fails whole with NBD_ENOSPC and
 *   nothing of it is held: we never write through silently, because that would break
 *   the power-cut guarantee; the failure is loud in the guest and counted in the stats.
 * - Bounds: every request is checked (magic, flags, offset + length within the export,
 *   length at most NBD_MAX_REQUEST, 32 MiB, advertised with NBD_INFO_BLOCK_SIZE). A READ
 *   past the end gets EINVAL, a WRITE past it ENOSPC; a malformed client (bad magic, an
 *   oversized write or option, a stall of NBD_STALL_MS inside a message) has its
 *   connection closed, never anything worse. Waiting for a client's next request has no
 *   time limit.
 *
 * Fault policy (guest-visible; host-side access below ignores it)
 * - fail_reads: every READ replies NBD_EIO.
 * - fail_writes: every WRITE replies NBD_EIO and holds nothing. A FLUSH still applies
 *   the writes accepted before.
 * - fail_after(n): the next n data requests (READ and WRITE both count; FLUSH does not)
 *   succeed, every one after fails with NBD_EIO, FLUSH included (a dead disk); a failed
 *   FLUSH leaves the held writes held. The getter shows the remaining budget.
 * - fail_range(sector, count): a READ or WRITE touching 512-byte sectors
 *   [sector, sector+count) fails with NBD_EIO. One range; setting it again replaces it.
 * - delay(ms): every request waits ms before it is served (requests are served in
 *   turn, so they queue behind each other like on a slow disk). The wait polls the stop
 *   eventfd, so nbd_stop() never waits for it.
 * A request goes through: the delay, the bounds and read-only checks (which neither
 * count for fail_after nor fail by the policy), fail_after, fail_reads/fail_writes,
 * fail_range, then the hold limit. A request failed on the way changes nothing.
 *
 * Host access (d:read_sectors / d:write_sectors): nbd_read() sees the guest's view,
 * held writes included. nbd_write() is durable at once: it goes to the backing file
 * (pwrite + fdatasync) and patches any held block it overlaps, so the guest reads it
 * and a power cut keeps it. The policy does not apply to host access (the spec's
 * host-side fault_inject belongs to the Lua Disk object).
 *
 * Thread safety: every function below may be called from any thread while the server
 * runs; one mutex guards the overlay, the policy, the stats and the backing file.
 *
 * For the Lua Disk object (later):
 * - QEMU wiring, checked by hand with a busybox guest on q35 (virtio-blk-pci): the
 *   guest sees a volatile write cache ("write back"), `dd conv=fsync` reaches us as a
 *   FLUSH, an O_DIRECT write without fsync stays held and a power cut drops it; with
 *   fail_writes the guest's dd gets EIO. Keep QEMU's default cache mode: cache=unsafe
 *   (cache.no-flush) would swallow the guest's flushes, and writethrough
 *   (cache.writeback=off) sends every write with FUA, so nothing would be held. Give
 *   the device werror=report,rerror=report: QEMU's default werror=enospc pauses the VM
 *   on the hold limit's ENOSPC instead of passing it to the guest (seen: the guest's
 *   dd hung; with werror=report it got EIO, virtio-blk having no ENOSPC status).
 * - serve a raw file: the export's size is the backing file's size, fixed at start,
 *   and QEMU's qcow2 driver cannot grow a file behind NBD. A mediated writable disk
 *   should be a private raw copy (`qemu-img convert -O raw`, sparse) in the VM's
 *   scratch directory; a scratch disk a sparse raw file of the size.
 * - the held writes live in provium's memory, not in QEMU's migration stream: a
 *   snapshot must either refuse while nbd_stats().held_bytes > 0, or record them (say
 *   which in the spec row).
 * - nbd_stop() discards held writes (QEMU flushes on a clean quit; a killed QEMU loses
 *   them, as a real machine would).
 */
#ifndef PROVIUM_NBD_H
#define PROVIUM_NBD_H

#include <stddef.h>
#include <stdint.h>

#define NBD_BLOCK 4096u                                  /* overlay block size */
#define NBD_MAX_REQUEST (32u << 20)                      /* longest READ/WRITE */
#define NBD_HOLD_LIMIT_DEFAULT ((uint64_t)256 << 20)     /* held-write bound */
#define NBD_STALL_MS 10000                               /* a stall inside a message */

struct nbd_server;

struct nbd_opts {
    const char *backing;      /* the file served; its size is the export's size */
    const char *socket_path;  /* unix socket to create (sockpath_make for long ones) */
    int readonly;             /* advertise NBD_FLAG_READ_ONLY; writes get NBD_EPERM */
    uint64_t hold_limit;      /* bytes of held writes; 0 = NBD_HOLD_LIMIT_DEFAULT */
};

/* The guest-visible fault policy, as nbd_policy() reports it. */
struct nbd_policy {
    int fail_reads, fail_writes;
    int64_t fail_after;                  /* remaining budget; -1 when not set */
    uint64_t range_sector, range_count;  /* range_count 0: no range */
    int delay_ms;                        /* 0: none */
};

struct nbd_stats {
    uint64_t held_bytes;      /* memory held by unflushed blocks (a multiple of 4 KiB) */
    uint64_t reads, writes, flushes;     /* requests served successfully */
    uint64_t fua_writes;      /* WRITEs with FUA among writes */
    uint64_t failed;          /* requests answered with an error */
    uint64_t connections;     /* accepted so far */
    uint64_t dropped;         /* connections closed as malformed */
    char last_drop[96];       /* why the last one was dropped ("" when none) */
};

/* Opens the backing file, binds the socket and starts the server thread. NULL with
 * a message in err on failure. */
struct nbd_server *nbd_start(const struct nbd_opts *o, char *err, size_t errlen);

/* Stops the thread (promptly, even in a delay), closes every connection, unlinks the
 * socket and frees the server. Held writes are discarded. NULL is ignored. */
void nbd_stop(struct nbd_server *s);

const char *nbd_socket_path(const struct nbd_server *s);
uint64_t nbd_size(const struct nbd_server *s);

/* Discards every held write; returns the bytes of blocks discarded. */
uint64_t nbd_power_cut(struct nbd_server *s);

/* Applies held writes to the backing file now, as a guest FLUSH would. 0 or -errno. */
int nbd_flush(struct nbd_server *s);

/* Host access, in bytes (the Lua layer converts sectors). 0 or -errno: -EINVAL past
 * the end, -EIO when the backing file fails. */
int nbd_read(struct nbd_server *s, uint64_t off, void *buf, size_t len);
int nbd_write(struct nbd_server *s, uint64_t off, const void *buf, size_t len);

/* The fault policy (see above). Each setter changes only its own part. */
void nbd_fail_reads(struct nbd_server *s, int on);
void nbd_fail_writes(struct nbd_server *s, int on);
void nbd_fail_after(struct nbd_server *s, int64_t n);   /* n < 0 clears it */
void nbd_fail_range(struct nbd_server *s, uint64_t sector, uint64_t count);
void nbd_delay(struct nbd_server *s, int ms);
void nbd_clear_policy(struct nbd_server *s);
void nbd_policy(struct nbd_server *s, struct nbd_policy *out);

void nbd_stats(struct nbd_server *s, struct nbd_stats *out);

#endif
