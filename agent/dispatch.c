/* dispatch.c - turning one request frame into one operation.
 *
 * Decodes the frame type, routes EXEC/KILL to exec.c, the file operations and
 * handles to files.c, BATCH to batch.c, and answers the small system requests (PING,
 * SET_TIME, HOSTNAME, POWEROFF) itself. Every decode goes through the bounds-checked
 * wire_get_* helpers and ends with wire_reader_at_end(), so a malformed frame gets
 * RESULT EINVAL instead of a crash. */
#include "agent.h"
#include "exec.h"
#include "files.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <unistd.h>

static void do_ping(uint32_t id, struct wire_reader *r)
{
    if (!wire_reader_at_end(r)) {
        reply_malformed(id, WIRE_PING);
        return;
    }
    reply_ok(id);
}

static void do_set_time(uint32_t id, struct wire_reader *r)
{
    struct timespec ts;
    ts.tv_sec = (time_t)wire_get_i64(r);
    ts.tv_nsec = (long)wire_get_u32(r);
    if (!wire_reader_at_end(r) || ts.tv_nsec >= 1000000000L) {
        reply_malformed(id, WIRE_SET_TIME);
        return;
    }
    if (clock_settime(CLOCK_REALTIME, &ts) < 0) {
        reply_error(id, errno, "clock_settime: %s", strerror(errno));
        return;
    }
    reply_ok(id);
}

/* GET_TIME: the guest's wall clock, answered as i64 seconds + u32 nanoseconds. */
static void do_get_time(uint32_t id, struct wire_reader *r)
{
    struct timespec ts;
    if (!wire_reader_at_end(r)) {
        reply_malformed(id, WIRE_GET_TIME);
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    struct wire_writer *w = conn_begin_result(id, 0, "");
    wire_put_i64(w, ts.tv_sec);
    wire_put_u32(w, (uint32_t)ts.tv_nsec);
    conn_send(w);
}

static void do_hostname(uint32_t id, struct wire_reader *r)
{
    char *name = wire_get_str(r);
    if (!wire_reader_at_end(r)) {
        free(name);
        reply_malformed(id, WIRE_HOSTNAME);
        return;
    }
    if (sethostname(name, strlen(name)) < 0)
        reply_error(id, errno, "sethostname: %s", strerror(errno));
    else
        reply_ok(id);
    free(name);
}

/* Answers first: once reboot() runs there is nobody left to answer. */
static void do_poweroff(uint32_t id, struct wire_reader *r)
{
    if (!wire_reader_at_end(r)) {
        reply_malformed(id, WIRE_POWEROFF);
        return;
    }
    reply_ok(id);
    batch_abort();
    exec_abort_all();
    files_abort_all();
    if (!agent.guest_mode) {
        agent.quit = 1;
        return;
    }
    sync();
    if (reboot(RB_POWER_OFF) < 0)
        agent_log("poweroff: %s", strerror(errno));
}

/* DATA feeds a running exec's stdin or an open WRITE_FILE. DATA for an id that has
 * already finished is not an error: the process may exit while the host still sends
 * its stdin, so those frames are simply dropped. */
static void do_data(uint32_t id, const uint8_t *payload, size_t n)
{
    if (exec_stdin_data(id, payload, n))
        return;
    files_write_data(id, payload, n);
}

/* Requests that open a stream must not reuse the id of one still running, or their
 * frames could not be told apart. */
static int id_busy(uint32_t id)
{
    return exec_has_id(id) || files_has_id(id) || batch_has_id(id);
}

void dispatch_frame(const struct wire_header *h, const uint8_t *payload)
{
    struct wire_reader r;
    wire_reader_init(&r, payload, h->len);
    uint16_t t = h->type;
    if (agent.guest_mode)
        boot_follow_pid1_root();
    if ((t == WIRE_EXEC || t == WIRE_READ_FILE || t == WIRE_WRITE_FILE || t == WIRE_BATCH) &&
        id_busy(h->id)) {
        reply_error(h->id, EINVAL, "request id %u is already in use", h->id);
        return;
    }
    switch (t) {
    case WIRE_PING: do_ping(h->id, &r); break;
    case WIRE_EXEC: exec_start(h->id, &r); break;
    case WIRE_DATA: do_data(h->id, payload, h->len); break;
    case WIRE_KILL: exec_kill(h->id, &r); break;
    case WIRE_READ_FILE: files_read_start(h->id, &r); break;
    case WIRE_WRITE_FILE: files_write_start(h->id, &r); break;
    case WIRE_STAT: files_stat(h->id, &r); break;
    case WIRE_LISTDIR: files_listdir(h->id, &r); break;
    case WIRE_MKDIR: files_mkdir(h->id, &r); break;
    case WIRE_UNLINK: files_unlink(h->id, &r); break;
    case WIRE_RENAME: files_rename(h->id, &r); break;
    case WIRE_OPEN: files_open(h->id, &r); break;
    case WIRE_HREAD: files_hread(h->id, &r); break;
    case WIRE_HWRITE: files_hwrite(h->id, &r); break;
    case WIRE_HSEEK: files_hseek(h->id, &r); break;
    case WIRE_HCLOSE: files_hclose(h->id, &r); break;
    case WIRE_SET_TIME: do_set_time(h->id, &r); break;
    case WIRE_GET_TIME: do_get_time(h->id, &r); break;
    case WIRE_HOSTNAME: do_hostname(h->id, &r); break;
    case WIRE_POWEROFF: do_poweroff(h->id, &r); break;
    case WIRE_BATCH: batch_start(h->id, &r); break;
    default:
        reply_error(h->id, EINVAL, "unexpected %s frame from the host", wire_type_name(t));
        break;
    }
}

void dispatch_unknown_type(uint32_t id, uint16_t type)
{
    reply_error(id, EINVAL, "unknown frame type %u", (unsigned)type);
}
