/* Device tensors, the op context and its autorelease scopes.
 *
 * Ownership, in one rule: every function that returns a tensor returns it
 * owned by the context's current scope. sg2_scope_end() releases what was
 * made since sg2_scope_begin() except the tensors it is told to keep, which
 * move to the enclosing scope. Anything that must outlive scopes (parameters,
 * optimizer state) is retained with sg2_tensor_retain and released by its
 * owner.
 *
 * Errors are sticky: an op that fails records the error in ctx->err and
 * returns NULL; every later op given a NULL input, or called while the
 * context holds an error, returns NULL at once. Code therefore chains ops and
 * checks once (sg2_ctx_status) at the end. */
#ifndef SG2_TENSOR_H
#define SG2_TENSOR_H
#include <stddef.h>
#include <stdint.h>

#include "host/runtime.h"

#define SG2_MAX_DIMS 6

typedef struct sg2_node sg2_node;
typedef struct sg2_derived sg2_derived;

typedef struct sg2_tensor {
    int refs;
    int ndim;                       /* 0 (a scalar) .. SG2_MAX_DIMS */
    int64_t shape[SG2_MAX_DIMS];
    int64_t numel;
    sg2_buffer *buf;                /* float32 storage, contiguous row-major; views share it */
    size_t offset;                  /* in elements */
    int requires_grad;              /* a leaf that wants gradients, or made from one */
    sg2_node *grad_fn;              /* the recorded op that made it (NULL for leaves) */
    int immutable;                  /* its values never change: it may keep values derived from them */
    sg2_derived *derived;           /* those values (sg2_derived_find), freed with it */
    /* scratch for one autograd pass */
    struct sg2_tensor *grad_acc;
    unsigned pass;
    int relevant;
} sg2_tensor;

typedef struct sg2_ctx {
    sg2_runtime *rt;
    sg2_error err;
    int grad_enabled;               /* record ops on the tape (default 1) */
    sg2_tensor **scope;             /* autorelease stack */
    size_t scope_len, scope_cap;
    unsigned pass_counter;          /* autograd pass ids */
    /* autograd's work lists, kept from pass to pass: growing them anew each
     * time made large allocations, which consolidate malloc's free chunks */
    struct sg2_tensor **ag_order, **ag_touched;
    int ag_order_cap, ag_touched_cap;
    int ag_busy; /* a pass holds the lists (a nested one allocates its own) */
    uint64_t rng_seed;              /* counter-based random stream: seed ... */
    uint64_t rng_offset;            /* ... and how many numbers were drawn */
} sg2_ctx;

/* rt must outlive the context. */
void sg2_ctx_init(sg2_ctx *ctx, sg2_runtime *rt);
/* Releases every tensor still in a scope. */
void sg2_ctx_free(sg2_ctx *ctx);
static inline sg2_status sg2_ctx_status(const sg2_ctx *ctx) { return ctx->err.status; }
/* Forget a recorded error (after reporting it) so the context is usable again. */
void sg2_ctx_clear_error(sg2_ctx *ctx);
/* Record an error from op code; returns NULL for `return sg2_fail(...)`. */
sg2_tensor *sg2_fail(sg2_ctx *ctx, sg2_status status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

size_t sg2_scope_begin(sg2_ctx *ctx);
void sg2_scope_end(sg2_ctx *ctx, size_t mark, sg2_tensor *const *keep, int n_keep);

void sg2_tensor_retain(sg2_tensor *t);
void sg2_tensor_release(sg2_tensor *t);

/* New tensors (contents undefined for _empty). shape has ndim entries. */
sg2_tensor *sg2_tensor_empty(sg2_ctx *ctx, int ndim, const int64_t *shape);
sg2_tensor *sg2_tensor_from_host(sg2_ctx *ctx, int ndim, const int64_t *shape, const float *data);
sg2_tensor *sg2_tensor_full(sg2_ctx *ctx, int ndim, const int64_t *shape, float value);
sg2_tensor *sg2_tensor_zeros_like(sg2_ctx *ctx, const sg2_tensor *t);
sg2_tensor *sg2_tensor_ones_like(sg2_ctx *ctx, const sg2_tensor *t);
/* Same storage, no grad_fn, requires_grad 0 (torch's detach). */
sg2_tensor *sg2_detach(sg2_ctx *ctx, sg2_tensor *t);
/* Blocking read of all elements into host memory (t->numel floats). */
sg2_status sg2_tensor_read(sg2_ctx *ctx, const sg2_tensor *t, float *host);
/* Blocking overwrite of all elements from host memory. */
sg2_status sg2_tensor_write(sg2_ctx *ctx, sg2_tensor *t, const float *host);
/* dst's values <- src's (as many elements as src has), in place on the
 * device; `what` names dst in an error. Like sg2_tensor_write, it counts a
 * write of dst's buffer, so values derived from dst go stale. */
sg2_status sg2_tensor_copy(sg2_ctx *ctx, sg2_tensor *dst, const sg2_tensor *src, const char *what);
/* Mark a leaf as wanting gradients. */
void sg2_tensor_set_requires_grad(sg2_tensor *t, int on);

/* Values derived from a tensor's (packed or Winograd-transformed weights)
 * kept with it, so a weight used by several convolutions is transformed
 * once. Only a tensor marked immutable keeps them: one whose values no op
 * writes after it is made (a memoized scaled weight, see sg2_params_scaled). */
#define SG2_DERIVED_KEY 4
void sg2_tensor_mark_immutable(sg2_tensor *t);
/* The tensor kept under key for t, or NULL. */
sg2_tensor *sg2_derived_find(const sg2_tensor *t, const int key[SG2_DERIVED_KEY]);
/* Keep d (retained) under key for t when t is immutable; else nothing. */
void sg2_derived_keep(const sg2_tensor *t, const int key[SG2_DERIVED_KEY], sg2_tensor *d);

int sg2_shape_equal(const sg2_tensor *a, const sg2_tensor *b);
/* "[2, 3, 5, 7]" into buf. */
const char *sg2_shape_str(const sg2_tensor *t, char *buf, size_t cap);
int64_t sg2_shape_numel(int ndim, const int64_t *shape);

#endif
