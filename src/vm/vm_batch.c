/* vm_batch.c - the host side of BATCH (vm:batch): calls packed into one frame, their
 * answers read back from one RESULT.
 *
 * Each vm_batch_put_* writes the call's request exactly as its one-call function in
 * vm_ops.c would (EXEC's fields come from vm_put_exec_fields), plus the bytes that
 * would follow as DATA frames, and refuses a call that would take the frame past
 * WIRE_MAX_PAYLOAD or WIRE_BATCH_MAX requests, so the caller can send what it has and
 * go on in another frame. The answers' decoders mirror vm_ops.c's. */
#include "vm_batch.h"

#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The frame starts with its header and a u32 count; vm_batch_send fills in both. */
static void frame_begin(struct vm_batch *b)
{
    wire_begin(&b->w, WIRE_BATCH, 0);
    wire_put_u32(&b->w, 0);
}

void vm_batch_init(struct vm_batch *b)
{
    memset(b, 0, sizeof *b);
    frame_begin(b);
}

static void free_answers(struct vm_batch *b)
{
    free(b->reply);
    free(b->ans);
    free(b->ans_len);
    b->reply = NULL;
    b->ans = NULL;
    b->ans_len = NULL;
    b->nans = 0;
}

void vm_batch_reset(struct vm_batch *b)
{
    free_answers(b);
    b->count = 0;
    frame_begin(b);
}

void vm_batch_free(struct vm_batch *b)
{
    free_answers(b);
    wire_writer_free(&b->w);
    wire_writer_free(&b->sub);
}

/* Starts the fields of the next request in b->sub. */
static struct wire_writer *sub_begin(struct vm_batch *b)
{
    b->sub.len = 0;
    b->sub.failed = 0;
    return &b->sub;
}

/* Appends (type, bytes request, bytes data) unless the frame would overflow. */
static int sub_end(struct vm_batch *b, uint16_t type, const void *data, size_t n)
{
    size_t need = 2 + 4 + b->sub.len + 4 + n;
    if (b->sub.failed || b->count >= WIRE_BATCH_MAX ||
        b->w.len - WIRE_HEADER_SIZE + need > WIRE_MAX_PAYLOAD)
        return -1;
    wire_put_u16(&b->w, type);
    wire_put_bytes(&b->w, b->sub.buf, b->sub.len);
    wire_put_bytes(&b->w, data, n);
    b->count++;
    return 0;
}

int vm_batch_put_exec(struct vm_batch *b, const struct exec_req *req)
{
    vm_put_exec_fields(sub_begin(b), req, 0);
    return sub_end(b, WIRE_EXEC, req->stdin_data, req->has_stdin ? req->stdin_len : 0);
}

static int put_path(struct vm_batch *b, uint16_t type, const char *path)
{
    wire_put_str(sub_begin(b), path);
    return sub_end(b, type, NULL, 0);
}

int vm_batch_put_read_file(struct vm_batch *b, const char *path)
{
    return put_path(b, WIRE_READ_FILE, path);
}

int vm_batch_put_write_file(struct vm_batch *b, const char *path, const void *data, size_t len,
                            unsigned mode, int keep_mode)
{
    struct wire_writer *w = sub_begin(b);
    wire_put_str(w, path);
    wire_put_u32(w, mode);
    wire_put_u32(w, keep_mode ? WIRE_WF_KEEP_MODE : 0);
    return sub_end(b, WIRE_WRITE_FILE, data, len);
}

int vm_batch_put_stat(struct vm_batch *b, const char *path)
{
    struct wire_writer *w = sub_begin(b);
    wire_put_str(w, path);
    wire_put_u8(w, 0);
    return sub_end(b, WIRE_STAT, NULL, 0);
}

int vm_batch_put_listdir(struct vm_batch *b, const char *path)
{
    return put_path(b, WIRE_LISTDIR, path);
}

int vm_batch_put_mkdir(struct vm_batch *b, const char *path, unsigned perm, int parents)
{
    struct wire_writer *w = sub_begin(b);
    wire_put_str(w, path);
    wire_put_u32(w, perm);
    wire_put_u8(w, (uint8_t)(parents != 0));
    return sub_end(b, WIRE_MKDIR, NULL, 0);
}

int vm_batch_put_unlink(struct vm_batch *b, const char *path)
{
    return put_path(b, WIRE_UNLINK, path);
}

int vm_batch_put_rename(struct vm_batch *b, const char *from, const char *to)
{
    struct wire_writer *w = sub_begin(b);
    wire_put_str(w, from);
    wire_put_str(w, to);
    return sub_end(b, WIRE_RENAME, NULL, 0);
}

/* Splits the RESULT's fields (u32 count, count*bytes) into b->ans; 0 or -1. */
static int split_answers(struct vm_batch *b)
{
    struct wire_reader r;
    wire_reader_init(&r, b->reply, b->reply_len);
    uint32_t n = wire_get_u32(&r);
    if (!wire_reader_ok(&r) || n != b->count)
        return -1;
    b->ans = xcalloc(n ? n : 1, sizeof *b->ans);
    b->ans_len = xcalloc(n ? n : 1, sizeof *b->ans_len);
    for (uint32_t i = 0; i < n; i++)
        b->ans[i] = wire_get_bytes(&r, &b->ans_len[i]);
    b->nans = n;
    return wire_reader_at_end(&r) ? 0 : -1;
}

int vm_batch_send(struct vm *vm, struct vm_batch *b, int *gerr)
{
    free_answers(b);
    uint32_t id = agent_next_id(&vm->agent);
    struct wire_header h = {0, WIRE_BATCH, 0, id};
    wire_encode_header(b->w.buf, &h);
    for (int i = 0; i < 4; i++)
        b->w.buf[WIRE_HEADER_SIZE + i] = (uint8_t)(b->count >> (8 * i));
    wire_finish(&b->w);
    int err_no = 0;
    int rc = vmop_from_agent(vm, agent_simple(&vm->agent, &b->w, id, vm->env->deadline_ns,
                                              &err_no, NULL, &b->reply, &b->reply_len));
    b->round_trips++;
    if (rc == VMOP_OK && err_no == EBUSY) { /* an earlier batch still runs (a timed-out test) */
        *gerr = EBUSY;
        return VMOP_GUEST;
    }
    if (rc == VMOP_OK && (err_no || split_answers(b) < 0)) {
        free_answers(b);
        vm->state = VM_DEAD; /* the agent refused a batch we built: out of step */
        snprintf(vm->dead_reason, sizeof vm->dead_reason, "malformed batch answer (errno %d)",
                 err_no);
        return VMOP_PROTO;
    }
    return rc;
}

int vm_batch_answer(const struct vm_batch *b, uint32_t i, struct wire_reader *r, int *gerr,
                    char *msg, size_t msglen)
{
    wire_reader_init(r, i < b->nans ? b->ans[i] : NULL, i < b->nans ? b->ans_len[i] : 0);
    int err = wire_get_i32(r);
    uint32_t n;
    const uint8_t *m = wire_get_bytes(r, &n);
    if (!wire_reader_ok(r)) {
        *gerr = EIO;
        snprintf(msg, msglen, "malformed answer");
        return VMOP_GUEST;
    }
    snprintf(msg, msglen, "%.*s", (int)n, (const char *)m);
    if (err) {
        *gerr = err;
        return VMOP_GUEST;
    }
    return VMOP_OK;
}

/* n bytes of p, NUL-terminated after them (p may be NULL when n is 0). */
static char *bytes_dup(const uint8_t *p, uint32_t n)
{
    char *d = xmalloc((size_t)n + 1);
    if (n)
        memcpy(d, p, n);
    d[n] = 0;
    return d;
}

int vm_batch_get_exec(struct wire_reader *r, struct exec_res *res)
{
    memset(res, 0, sizeof *res);
    res->status = wire_get_u8(r);
    res->code = wire_get_i32(r);
    res->signal = wire_get_i32(r);
    res->duration = (double)wire_get_u64(r) / 1e9;
    uint32_t no, ne;
    const uint8_t *o = wire_get_bytes(r, &no);
    const uint8_t *e = wire_get_bytes(r, &ne);
    if (!wire_reader_at_end(r))
        return VMOP_PROTO;
    res->out = bytes_dup(o, no); /* output may hold NUL bytes: not a string copy */
    res->err = bytes_dup(e, ne);
    res->out_len = no;
    res->err_len = ne;
    return VMOP_OK;
}

int vm_batch_get_data(struct wire_reader *r, char **data, size_t *len)
{
    uint32_t n;
    const uint8_t *p = wire_get_bytes(r, &n);
    if (!wire_reader_at_end(r))
        return VMOP_PROTO;
    *data = xmalloc((size_t)n + 1);
    if (n)
        memcpy(*data, p, n);
    (*data)[n] = 0;
    *len = n;
    return VMOP_OK;
}

int vm_batch_get_stat(struct wire_reader *r, struct vm_stat *st)
{
    st->type = wire_get_u8(r);
    st->size = wire_get_u64(r);
    st->mtime_s = wire_get_i64(r);
    st->mtime_ns = wire_get_u32(r);
    st->perm = wire_get_u32(r);
    return wire_reader_ok(r) ? VMOP_OK : VMOP_PROTO;
}

static int cmp_dirent(const void *a, const void *b)
{
    return strcmp(((const struct vm_dirent *)a)->name, ((const struct vm_dirent *)b)->name);
}

int vm_batch_get_listdir(struct wire_reader *r, struct vm_dirent **ents, size_t *count)
{
    uint32_t k = wire_get_u32(r);
    if (k > r->len) /* each entry needs at least 5 bytes */
        k = 0;
    struct vm_dirent *e = xcalloc(k ? k : 1, sizeof *e);
    uint32_t got = 0;
    for (; got < k && wire_reader_ok(r); got++) {
        e[got].name = wire_get_str(r);
        e[got].type = wire_get_u8(r);
        if (!e[got].name)
            break;
    }
    if (!wire_reader_ok(r)) {
        for (uint32_t i = 0; i < got; i++)
            free(e[i].name);
        free(e);
        return VMOP_PROTO;
    }
    qsort(e, got, sizeof *e, cmp_dirent);
    *ents = e;
    *count = got;
    return VMOP_OK;
}
