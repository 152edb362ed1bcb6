/* vm_ops.c - guest operations carried over the agent connection: exec, files, stat,
 * file handles.
 *
 * Each function builds one request frame (layouts in proto/wire.h) with request_begin
 * and its own fields, sends it (request_call / request_reply for the plain
 * request -> RESULT operations, request_stream for those with frames of their own:
 * exec, read_file, write_file), and turns the reply into C values. A lost connection
 * marks the VM dead; the worker's test deadline cuts any wait short. */
#include "vm.h"
#include "vm_batch.h"

#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define OUTPUT_CAP (64u << 20)
#define READ_CAP (96u << 20)

const char *wire_entry_name(int type)
{
    static const char *names[] = {"file",   "directory",    "symlink",     "fifo",
                                  "socket", "block_device", "char_device", "other"};
    return type >= 0 && type <= WIRE_ENT_OTHER ? names[type] : "other";
}

static int64_t op_deadline(const struct vm *vm) { return vm->env->deadline_ns; }

/* Maps an agent_run result to VMOP_*, marking the VM dead (or shut down) when the
 * connection failed (also vm_batch.c's). */
int vmop_from_agent(struct vm *vm, int rc)
{
    if (rc == AGENT_OK)
        return VMOP_OK;
    if (rc == AGENT_DEADLINE)
        return VMOP_TIMEOUT;
    snprintf(vm->dead_reason, sizeof vm->dead_reason, "%s",
             vm->agent.dead ? vm->agent.dead_reason : "malformed reply from the agent");
    if (rc == AGENT_PROTO)
        vm->state = VM_DEAD;
    else
        vm_lost(vm); /* a guest power-off is `shutdown`, not `dead` */
    return rc == AGENT_PROTO ? VMOP_PROTO : VMOP_DEAD;
}

/* ---- one request and its reply ---- */

struct request {
    struct wire_writer w; /* the frame: request_begin, then the operation's fields */
    uint32_t id;
    uint8_t *reply;       /* request_reply: the RESULT's fields after errno+message */
    size_t reply_len;
    struct wire_reader r; /* reads reply */
};

/* Starts a request of the given type under a new id; its fields go into q->w. */
static void request_begin(struct vm *vm, struct request *q, uint16_t type)
{
    memset(q, 0, sizeof *q);
    q->id = agent_next_id(&vm->agent);
    wire_begin(&q->w, type, q->id);
}

/* Finishes the frame and queues it; nothing waits for the answer yet. */
static void request_queue(struct vm *vm, struct request *q)
{
    wire_finish(&q->w);
    agent_queue(&vm->agent, &q->w);
    wire_writer_free(&q->w);
}

/* Sends q for an operation whose frames op->on_frame takes, and runs op until done. */
static int request_stream(struct vm *vm, struct request *q, struct agent_op *op)
{
    op->id = q->id;
    request_queue(vm, q);
    return vmop_from_agent(vm, agent_run(&vm->agent, op, op_deadline(vm)));
}

/* Sends q and waits for its RESULT: VMOP_OK, VMOP_GUEST with the guest's errno in *gerr,
 * or the connection's failure. With keep, q->r then reads the reply's fields. */
static int request_send(struct vm *vm, struct request *q, int keep, int *gerr)
{
    wire_finish(&q->w);
    int err_no = 0;
    int rc = vmop_from_agent(vm, agent_simple(&vm->agent, &q->w, q->id, op_deadline(vm),
                                              &err_no, NULL, keep ? &q->reply : NULL,
                                              &q->reply_len));
    wire_writer_free(&q->w);
    if (rc == VMOP_OK && err_no) {
        *gerr = err_no;
        free(q->reply);
        q->reply = NULL;
        return VMOP_GUEST;
    }
    wire_reader_init(&q->r, q->reply, rc == VMOP_OK ? q->reply_len : 0);
    return rc;
}

/* A request whose RESULT carries nothing but the errno. */
static int request_call(struct vm *vm, struct request *q, int *gerr)
{
    return request_send(vm, q, 0, gerr);
}

/* A request whose RESULT carries fields: on VMOP_OK read them from q->r, then end with
 * request_done. */
static int request_reply(struct vm *vm, struct request *q, int *gerr)
{
    return request_send(vm, q, 1, gerr);
}

/* Frees the reply: VMOP_OK when it decoded well (ok), else VMOP_PROTO. */
static int request_done(struct request *q, int ok)
{
    free(q->reply);
    q->reply = NULL;
    return ok ? VMOP_OK : VMOP_PROTO;
}

/* ---- exec ---- */

struct exec_ctx {
    struct buf out, err;
    int truncated;
    int done_status, code, signal;
    int start_errno;
    int64_t pid; /* from the agent when asked (WIRE_EXEC_PID), else 0 */
};

static void capped_append(struct exec_ctx *x, struct buf *b, const uint8_t *p, uint32_t n)
{
    if (b->len >= OUTPUT_CAP) {
        x->truncated = 1;
        return;
    }
    if (b->len + n > OUTPUT_CAP) {
        n = (uint32_t)(OUTPUT_CAP - b->len);
        x->truncated = 1;
    }
    buf_append(b, p, n);
}

static int exec_frame(struct agent_op *op, const struct wire_header *h, const uint8_t *payload)
{
    struct exec_ctx *x = op->ctx;
    struct wire_reader r;
    wire_reader_init(&r, payload, h->len);
    if (h->type == WIRE_OUTPUT) {
        uint8_t stream = wire_get_u8(&r);
        uint32_t n;
        const uint8_t *p = wire_get_bytes(&r, &n);
        if (!wire_reader_ok(&r))
            return -1;
        if (stream == 0) { /* the PID, when asked for */
            uint32_t pid = 0;
            if (n == sizeof pid)
                memcpy(&pid, p, sizeof pid);
            x->pid = pid;
            return 0;
        }
        capped_append(x, stream == 2 ? &x->err : &x->out, p, n);
        return 0;
    }
    if (h->type == WIRE_EXIT) {
        x->done_status = wire_get_u8(&r);
        x->code = wire_get_i32(&r);
        x->signal = wire_get_i32(&r);
        return wire_reader_ok(&r) ? 1 : -1;
    }
    if (h->type == WIRE_RESULT) {
        x->start_errno = wire_get_i32(&r);
        if (!x->start_errno)
            x->start_errno = EIO;
        return 1;
    }
    return 0;
}

/* Builds the EXEC request for req into q; -1 (E2BIG) when too large. */
static int exec_request(struct vm *vm, const struct exec_req *req, uint32_t extra_flags,
                        struct request *q)
{
    struct wire_writer *w = &q->w;
    request_begin(vm, q, WIRE_EXEC);
    vm_put_exec_fields(w, req, extra_flags);
    if (wire_finish(w) < 0) {
        wire_writer_free(w);
        return -1;
    }
    return 0;
}

/* EXEC's fields for req (vm_batch.c's too). */
void vm_put_exec_fields(struct wire_writer *w, const struct exec_req *req, uint32_t extra_flags)
{
    wire_put_u32(w, (req->has_stdin ? WIRE_EXEC_STDIN : 0) |
                        (req->env_clear ? WIRE_EXEC_ENV_CLEAR : 0) | extra_flags);
    wire_put_str(w, req->cwd ? req->cwd : "");
    uint32_t argc = 0;
    while (req->argv[argc])
        argc++;
    wire_put_u32(w, argc);
    for (uint32_t i = 0; i < argc; i++)
        wire_put_str(w, req->argv[i]);
    uint32_t envc = 0;
    while (req->env && req->env[envc])
        envc++;
    wire_put_u32(w, envc);
    for (uint32_t i = 0; i < envc; i++)
        wire_put_str(w, req->env[i]);
    wire_put_u64(w, req->timeout > 0 ? (uint64_t)(req->timeout * 1000.0 + 0.5) : 0);
}

/* Moves a finished exec's outcome into res (frees x's buffers). */
static int exec_outcome(struct exec_ctx *x, struct exec_res *res, int *gerr)
{
    if (x->start_errno) {
        buf_free(&x->out);
        buf_free(&x->err);
        *gerr = x->start_errno;
        return VMOP_GUEST;
    }
    res->status = x->done_status;
    res->code = x->code;
    res->signal = x->signal;
    res->out_len = x->out.len;
    res->err_len = x->err.len;
    res->out = x->out.data ? buf_cstr(&x->out) : xstrdup("");
    res->err = x->err.data ? buf_cstr(&x->err) : xstrdup("");
    res->truncated = x->truncated;
    memset(&x->out, 0, sizeof x->out); /* res owns them now */
    memset(&x->err, 0, sizeof x->err);
    return VMOP_OK;
}

int vm_exec(struct vm *vm, const struct exec_req *req, struct exec_res *res, int *gerr)
{
    memset(res, 0, sizeof *res);
    struct request q;
    if (exec_request(vm, req, 0, &q) < 0) {
        *gerr = E2BIG;
        return VMOP_GUEST;
    }
    struct exec_ctx x = {0};
    struct agent_op op = {0};
    op.in_fd = -1;
    op.has_input = req->has_stdin;
    op.in_data = req->stdin_data;
    op.in_len = req->stdin_len;
    op.on_frame = exec_frame;
    op.ctx = &x;
    int64_t t0 = now_ns();
    int rc = request_stream(vm, &q, &op);
    res->duration = (double)(now_ns() - t0) / 1e9;
    if (rc != VMOP_OK) {
        buf_free(&x.out);
        buf_free(&x.err);
        return rc;
    }
    return exec_outcome(&x, res, gerr);
}

/* ---- exec in the background (vm:run_async) ---- */

struct vm_proc {
    struct agent_op op;
    struct exec_ctx x;
    uint64_t serial; /* the agent connection it belongs to */
    int64_t t0;
    int stdin_closed; /* the empty DATA went out */
};

/* The process's stdin stays open (WIRE_EXEC_STDIN) until vm_proc_close_stdin;
 * req->stdin_data is the caller's to write (vm_proc_stdin_write). */
int vm_exec_start(struct vm *vm, const struct exec_req *req, struct vm_proc **out, int *gerr)
{
    struct request q;
    if (exec_request(vm, req, WIRE_EXEC_PID | WIRE_EXEC_STDIN, &q) < 0) {
        *gerr = E2BIG;
        return VMOP_GUEST;
    }
    struct vm_proc *p = xcalloc(1, sizeof *p);
    p->op.id = q.id;
    p->op.in_fd = -1;
    p->op.on_frame = exec_frame;
    p->op.ctx = &p->x;
    p->serial = vm->agent.serial;
    p->t0 = now_ns();
    if (agent_bg_add(&vm->agent, &p->op) < 0) {
        wire_writer_free(&q.w);
        free(p);
        *gerr = EAGAIN;
        return VMOP_GUEST;
    }
    request_queue(vm, &q);
    /* wait for the PID (or a failure to start), so the caller can use it at once */
    int rc = VMOP_OK;
    while (!p->x.pid && !p->op.done && rc == VMOP_OK)
        rc = vmop_from_agent(vm, agent_wait_bg(&vm->agent, &p->op, op_deadline(vm), 1));
    if (rc != VMOP_OK) {
        agent_bg_remove(&vm->agent, &p->op);
        buf_free(&p->x.out);
        buf_free(&p->x.err);
        free(p);
        return rc;
    }
    if (p->op.done && p->x.start_errno) {
        *gerr = p->x.start_errno;
        agent_bg_remove(&vm->agent, &p->op);
        free(p);
        return VMOP_GUEST;
    }
    *out = p;
    return VMOP_OK;
}

int64_t vm_proc_pid(const struct vm_proc *p) { return p->x.pid; }
uint32_t vm_proc_id(const struct vm_proc *p) { return p->op.id; }

int vm_proc_alive(const struct vm *vm, const struct vm_proc *p)
{
    return p->serial == vm->agent.serial && !vm->agent.dead;
}

int vm_proc_running(struct vm *vm, struct vm_proc *p)
{
    if (!vm_proc_alive(vm, p))
        return 0;
    if (!p->op.done)
        agent_wait_bg(&vm->agent, &p->op, now_ns() + 1000000, 0); /* what comes in 1 ms */
    return !p->op.done;
}

int vm_proc_wait(struct vm *vm, struct vm_proc *p, double timeout, struct exec_res *res,
                 int *gerr)
{
    memset(res, 0, sizeof *res);
    if (!vm_proc_alive(vm, p))
        return VMOP_DEAD;
    int64_t deadline = timeout > 0 ? now_ns() + (int64_t)(timeout * 1e9) : 0;
    if (op_deadline(vm) && (!deadline || op_deadline(vm) < deadline))
        deadline = op_deadline(vm);
    int r = agent_wait_bg(&vm->agent, &p->op, deadline, 0);
    int timed_out = 0;
    if (r == AGENT_DEADLINE && timeout > 0 && (!op_deadline(vm) || now_ns() < op_deadline(vm))) {
        /* our own timeout: kill the whole group, then collect the exit */
        vm_proc_signal(vm, p, -9, gerr);
        timed_out = 1;
        r = agent_wait_bg(&vm->agent, &p->op, now_ns() + 10000000000LL, 0);
    }
    int rc = r == AGENT_OK ? VMOP_OK : vmop_from_agent(vm, r);
    res->duration = (double)(now_ns() - p->t0) / 1e9;
    if (rc != VMOP_OK)
        return rc;
    agent_bg_remove(&vm->agent, &p->op);
    rc = exec_outcome(&p->x, res, gerr);
    if (rc == VMOP_OK && timed_out)
        res->status = WIRE_STATUS_TIMED_OUT;
    return rc;
}

int vm_proc_signal(struct vm *vm, struct vm_proc *p, int sig, int *gerr)
{
    if (!vm_proc_alive(vm, p))
        return VMOP_DEAD;
    struct request q;
    request_begin(vm, &q, WIRE_KILL);
    wire_put_u32(&q.w, p->op.id);
    wire_put_i32(&q.w, sig);
    return request_call(vm, &q, gerr);
}

/* ---- a background process's stdin and output ---- */

#define STDIN_QUEUED_MAX (1u << 20) /* stdin_write waits while more is unsent */

/* Queues one DATA frame for id: raw bytes, or the empty one that ends a stream. */
static void queue_data(struct vm *vm, uint32_t id, const void *p, size_t n)
{
    struct wire_writer w = {0};
    w.len = WIRE_HEADER_SIZE + n;
    w.buf = xmalloc(w.len);
    struct wire_header h = {(uint32_t)n, WIRE_DATA, 0, id};
    wire_encode_header(w.buf, &h);
    if (n)
        memcpy(w.buf + WIRE_HEADER_SIZE, p, n);
    agent_queue(&vm->agent, &w);
    free(w.buf);
}

/* Moves queued bytes to the agent (reading its frames meanwhile) until at most limit
 * are left, the process has exited (the rest goes with later traffic) or the test
 * deadline passes. */
static int flush_queued(struct vm *vm, struct vm_proc *p, size_t limit)
{
    struct agent_conn *c = &vm->agent;
    while (c->out.len - c->out.off > limit && !p->op.done) {
        int64_t until = now_ns() + 20000000LL;
        if (op_deadline(vm) && op_deadline(vm) < until)
            until = op_deadline(vm);
        int r = agent_wait_bg(c, &p->op, until, 1);
        if (r == AGENT_DEADLINE && op_deadline(vm) && now_ns() >= op_deadline(vm))
            return VMOP_TIMEOUT;
        if (r != AGENT_OK && r != AGENT_DEADLINE)
            return vmop_from_agent(vm, r);
    }
    return VMOP_OK;
}

int vm_proc_stdin_write(struct vm *vm, struct vm_proc *p, const void *data, size_t len,
                        int *gerr)
{
    if (!vm_proc_alive(vm, p))
        return VMOP_DEAD;
    if (p->stdin_closed || !vm_proc_running(vm, p)) {
        *gerr = EPIPE;
        return VMOP_GUEST;
    }
    const char *d = data;
    for (size_t off = 0; off < len;) {
        size_t n = len - off < WIRE_CHUNK ? len - off : WIRE_CHUNK;
        queue_data(vm, p->op.id, d + off, n);
        off += n;
        int rc = flush_queued(vm, p, STDIN_QUEUED_MAX);
        if (rc != VMOP_OK)
            return rc;
    }
    return flush_queued(vm, p, 0);
}

int vm_proc_close_stdin(struct vm *vm, struct vm_proc *p)
{
    if (p->stdin_closed || !vm_proc_alive(vm, p))
        return VMOP_OK;
    p->stdin_closed = 1;
    if (p->op.done)
        return VMOP_OK;
    queue_data(vm, p->op.id, NULL, 0);
    return flush_queued(vm, p, 0);
}

void vm_proc_output(const struct vm_proc *p, int which, const char **data, size_t *len)
{
    const struct buf *b = which == 2 ? &p->x.err : &p->x.out;
    *data = b->data;
    *len = b->len;
}

void vm_proc_free(struct vm *vm, struct vm_proc *p)
{
    if (!p)
        return;
    if (vm && vm_proc_alive(vm, p))
        agent_bg_remove(&vm->agent, &p->op);
    buf_free(&p->x.out);
    buf_free(&p->x.err);
    free(p);
}

void exec_res_free(struct exec_res *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* ---- read_file ---- */

struct read_ctx {
    struct buf data;
    int err_no;
};

static int read_frame(struct agent_op *op, const struct wire_header *h, const uint8_t *payload)
{
    struct read_ctx *x = op->ctx;
    struct wire_reader r;
    wire_reader_init(&r, payload, h->len);
    if (h->type == WIRE_DATA) {
        uint32_t n = h->len;
        const uint8_t *p = payload;
        if (x->data.len + n > READ_CAP)
            x->err_no = EFBIG;
        else
            buf_append(&x->data, p, n);
        return 0;
    }
    if (h->type == WIRE_RESULT) {
        int e = wire_get_i32(&r);
        if (!x->err_no)
            x->err_no = e;
        return 1;
    }
    return 0;
}

int vm_read_file(struct vm *vm, const char *path, char **data, size_t *len, int *gerr)
{
    struct request q;
    request_begin(vm, &q, WIRE_READ_FILE);
    wire_put_str(&q.w, path);
    struct read_ctx x = {0};
    struct agent_op op = {0};
    op.in_fd = -1;
    op.on_frame = read_frame;
    op.ctx = &x;
    int rc = request_stream(vm, &q, &op);
    if (rc == VMOP_OK && x.err_no) {
        *gerr = x.err_no;
        rc = VMOP_GUEST;
    }
    if (rc != VMOP_OK) {
        buf_free(&x.data);
        return rc;
    }
    *len = x.data.len;
    *data = x.data.data ? buf_cstr(&x.data) : xstrdup("");
    return VMOP_OK;
}

/* ---- write_file ---- */

static int result_frame(struct agent_op *op, const struct wire_header *h, const uint8_t *payload)
{
    int *err_no = op->ctx;
    if (h->type != WIRE_RESULT)
        return 0;
    struct wire_reader r;
    wire_reader_init(&r, payload, h->len);
    *err_no = wire_get_i32(&r);
    return wire_reader_ok(&r) ? 1 : -1;
}

int vm_write_file(struct vm *vm, const char *path, const void *data, size_t len, int src_fd,
                  unsigned mode, int keep_mode, int *gerr)
{
    struct request q;
    request_begin(vm, &q, WIRE_WRITE_FILE);
    wire_put_str(&q.w, path);
    wire_put_u32(&q.w, mode);
    wire_put_u32(&q.w, keep_mode ? WIRE_WF_KEEP_MODE : 0);
    int err_no = 0;
    struct agent_op op = {0};
    op.has_input = 1;
    op.in_fd = src_fd;
    op.in_data = data;
    op.in_len = len;
    op.on_frame = result_frame;
    op.ctx = &err_no;
    int rc = request_stream(vm, &q, &op);
    if (rc != VMOP_OK)
        return rc;
    if (op.in_error)
        err_no = op.in_error; /* reading the host file failed */
    if (err_no) {
        *gerr = err_no;
        return VMOP_GUEST;
    }
    return VMOP_OK;
}

/* ---- paths ---- */

int vm_stat_path(struct vm *vm, const char *path, struct vm_stat *st, int *gerr)
{
    struct request q;
    request_begin(vm, &q, WIRE_STAT);
    wire_put_str(&q.w, path);
    wire_put_u8(&q.w, 0);
    int rc = request_reply(vm, &q, gerr);
    if (rc != VMOP_OK)
        return rc;
    return request_done(&q, vm_batch_get_stat(&q.r, st) == VMOP_OK);
}

int vm_listdir(struct vm *vm, const char *path, struct vm_dirent **ents, size_t *count, int *gerr)
{
    struct request q;
    request_begin(vm, &q, WIRE_LISTDIR);
    wire_put_str(&q.w, path);
    int rc = request_reply(vm, &q, gerr);
    if (rc != VMOP_OK)
        return rc;
    /* the same decoding as a batch's answer (vm_batch.c): entries sorted by name */
    return request_done(&q, vm_batch_get_listdir(&q.r, ents, count) == VMOP_OK);
}

int vm_mkdir(struct vm *vm, const char *path, unsigned perm, int parents, int *gerr)
{
    struct request q;
    request_begin(vm, &q, WIRE_MKDIR);
    wire_put_str(&q.w, path);
    wire_put_u32(&q.w, perm);
    wire_put_u8(&q.w, (uint8_t)(parents != 0));
    return request_call(vm, &q, gerr);
}

int vm_unlink(struct vm *vm, const char *path, int *gerr)
{
    struct request q;
    request_begin(vm, &q, WIRE_UNLINK);
    wire_put_str(&q.w, path);
    return request_call(vm, &q, gerr);
}

int vm_rename(struct vm *vm, const char *from, const char *to, int *gerr)
{
    struct request q;
    request_begin(vm, &q, WIRE_RENAME);
    wire_put_str(&q.w, from);
    wire_put_str(&q.w, to);
    return request_call(vm, &q, gerr);
}

/* ---- file handles ---- */

int vm_open_file(struct vm *vm, const char *path, unsigned flags, unsigned perm,
                 uint32_t *handle, int *gerr)
{
    struct request q;
    request_begin(vm, &q, WIRE_OPEN);
    wire_put_str(&q.w, path);
    wire_put_u32(&q.w, flags);
    wire_put_u32(&q.w, perm);
    int rc = request_reply(vm, &q, gerr);
    if (rc != VMOP_OK)
        return rc;
    *handle = wire_get_u32(&q.r);
    return request_done(&q, wire_reader_ok(&q.r) && *handle != 0);
}

/* One HREAD round: up to max (<= WIRE_CHUNK) bytes appended to out; *got = count. */
static int hread_once(struct vm *vm, uint32_t handle, uint32_t max, struct buf *out,
                      uint32_t *got, int *gerr)
{
    struct request q;
    request_begin(vm, &q, WIRE_HREAD);
    wire_put_u32(&q.w, handle);
    wire_put_u32(&q.w, max);
    int rc = request_reply(vm, &q, gerr);
    if (rc != VMOP_OK)
        return rc;
    const uint8_t *p = wire_get_bytes(&q.r, got);
    int ok = wire_reader_at_end(&q.r) && *got <= max;
    if (ok)
        buf_append(out, p, *got);
    return request_done(&q, ok);
}

int vm_hread(struct vm *vm, uint32_t handle, size_t max, char **data, size_t *len, int *gerr)
{
    struct buf b = {0};
    int rc = VMOP_OK;
    while (b.len < max) {
        size_t want = max - b.len < WIRE_CHUNK ? max - b.len : WIRE_CHUNK;
        uint32_t got = 0;
        rc = hread_once(vm, handle, (uint32_t)want, &b, &got, gerr);
        if (rc != VMOP_OK || got < want)
            break;
    }
    if (rc != VMOP_OK) {
        buf_free(&b);
        return rc;
    }
    *len = b.len;
    *data = b.data ? buf_cstr(&b) : xstrdup("");
    return VMOP_OK;
}

int vm_hwrite(struct vm *vm, uint32_t handle, const void *data, size_t len, size_t *written,
              int *gerr)
{
    const uint8_t *p = data;
    size_t done = 0;
    *written = 0;
    while (done < len) {
        size_t want = len - done < WIRE_CHUNK ? len - done : WIRE_CHUNK;
        struct request q;
        request_begin(vm, &q, WIRE_HWRITE);
        wire_put_u32(&q.w, handle);
        wire_put_bytes(&q.w, p + done, want);
        int rc = request_reply(vm, &q, gerr);
        if (rc == VMOP_GUEST && done > 0)
            break; /* report what went in; the error shows again on the next write */
        if (rc != VMOP_OK)
            return rc;
        uint32_t k = wire_get_u32(&q.r);
        if (request_done(&q, wire_reader_at_end(&q.r) && k <= want) != VMOP_OK)
            return VMOP_PROTO;
        done += k;
        if (k < want)
            break;
    }
    *written = done;
    return VMOP_OK;
}

int vm_hseek(struct vm *vm, uint32_t handle, int64_t offset, int whence, uint64_t *pos,
             int *gerr)
{
    struct request q;
    request_begin(vm, &q, WIRE_HSEEK);
    wire_put_u32(&q.w, handle);
    wire_put_i64(&q.w, offset);
    wire_put_u8(&q.w, (uint8_t)whence);
    int rc = request_reply(vm, &q, gerr);
    if (rc != VMOP_OK)
        return rc;
    *pos = wire_get_u64(&q.r);
    return request_done(&q, wire_reader_at_end(&q.r));
}

int vm_hclose(struct vm *vm, uint32_t handle, int *gerr)
{
    struct request q;
    request_begin(vm, &q, WIRE_HCLOSE);
    wire_put_u32(&q.w, handle);
    return request_call(vm, &q, gerr);
}

/* The answer arrives later under an id nobody waits for, and agent_run drops it. */
void vm_hclose_nowait(struct vm *vm, uint32_t handle)
{
    if (vm->agent.fd < 0 || vm->agent.dead)
        return;
    struct request q;
    request_begin(vm, &q, WIRE_HCLOSE);
    wire_put_u32(&q.w, handle);
    request_queue(vm, &q);
}

/* ---- the guest clock ---- */

int vm_get_time(struct vm *vm, int64_t *sec, uint32_t *nsec, int *gerr)
{
    struct request q;
    request_begin(vm, &q, WIRE_GET_TIME);
    int rc = request_reply(vm, &q, gerr);
    if (rc != VMOP_OK)
        return rc;
    *sec = wire_get_i64(&q.r);
    *nsec = wire_get_u32(&q.r);
    return request_done(&q, wire_reader_at_end(&q.r) && *nsec < 1000000000u);
}

int vm_set_time(struct vm *vm, int64_t sec, uint32_t nsec, int *gerr)
{
    struct request q;
    request_begin(vm, &q, WIRE_SET_TIME);
    wire_put_i64(&q.w, sec);
    wire_put_u32(&q.w, nsec);
    return request_call(vm, &q, gerr);
}
