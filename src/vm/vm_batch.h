/* vm_batch.h - several guest calls in one BATCH frame, answered in one RESULT
 * (vm_batch.c; the layout is proto/wire.h's).
 *
 * Build: vm_batch_init, then one vm_batch_put_* per call; each returns -1 and adds
 * nothing when the call does not fit this frame any more (WIRE_MAX_PAYLOAD or
 * WIRE_BATCH_MAX): send what is there, vm_batch_reset, and add it again (a call that
 * does not fit even alone must go on its own). vm_batch_send does the round trip;
 * vm_batch_answer then reads answer i in call order, and the vm_batch_get_* turn its
 * fields into the same values as the one-call functions of vm.h. */
#ifndef PROVIUM_VM_BATCH_H
#define PROVIUM_VM_BATCH_H

#include "vm/vm.h"

struct vm_batch {
    struct wire_writer w; /* the BATCH payload so far (no header: u32 count + requests) */
    struct wire_writer sub; /* the request being added */
    uint32_t count;
    uint8_t *reply;         /* after vm_batch_send: the RESULT's fields */
    size_t reply_len;
    const uint8_t **ans;    /* answer i: ans[i], ans_len[i] bytes, inside reply */
    uint32_t *ans_len;
    uint32_t nans;
    unsigned round_trips;   /* BATCH frames sent since vm_batch_init */
};

void vm_batch_init(struct vm_batch *b);
void vm_batch_reset(struct vm_batch *b); /* empty again, for the next frame */
void vm_batch_free(struct vm_batch *b);

int vm_batch_put_exec(struct vm_batch *b, const struct exec_req *req);
int vm_batch_put_read_file(struct vm_batch *b, const char *path);
int vm_batch_put_write_file(struct vm_batch *b, const char *path, const void *data, size_t len,
                            unsigned mode, int keep_mode);
int vm_batch_put_stat(struct vm_batch *b, const char *path);
int vm_batch_put_listdir(struct vm_batch *b, const char *path);
int vm_batch_put_mkdir(struct vm_batch *b, const char *path, unsigned perm, int parents);
int vm_batch_put_unlink(struct vm_batch *b, const char *path);
int vm_batch_put_rename(struct vm_batch *b, const char *from, const char *to);

/* One round trip: VMOP_OK with b->nans == b->count answers, VMOP_GUEST with EBUSY
 * while an earlier batch still runs in the agent (its test timed out), or the
 * connection's failure (VMOP_DEAD, VMOP_TIMEOUT, VMOP_PROTO = a malformed answer). */
int vm_batch_send(struct vm *vm, struct vm_batch *b, int *gerr);

/* Answer i: VMOP_OK with r at its fields, or VMOP_GUEST with the guest's errno in *gerr
 * and its message in msg (EMSGSIZE: "output too large for a batch ..."). */
int vm_batch_answer(const struct vm_batch *b, uint32_t i, struct wire_reader *r, int *gerr,
                    char *msg, size_t msglen);
int vm_batch_get_exec(struct wire_reader *r, struct exec_res *res);
int vm_batch_get_data(struct wire_reader *r, char **data, size_t *len);
int vm_batch_get_stat(struct wire_reader *r, struct vm_stat *st);
int vm_batch_get_listdir(struct wire_reader *r, struct vm_dirent **ents, size_t *n);

/* vm_ops.c's, shared with vm_batch.c */
int vmop_from_agent(struct vm *vm, int rc);
void vm_put_exec_fields(struct wire_writer *w, const struct exec_req *req, uint32_t extra_flags);

#endif
