#include "src/tensor.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/autograd.h"

void sg2_ctx_init(sg2_ctx *ctx, sg2_runtime *rt)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->rt = rt;
    ctx->grad_enabled = 1;
    ctx->rng_seed = 0;
}

void sg2_ctx_free(sg2_ctx *ctx)
{
    sg2_scope_end(ctx, 0, NULL, 0);
    free(ctx->scope);
    ctx->scope = NULL;
    ctx->scope_cap = 0;
    free(ctx->ag_order);
    free(ctx->ag_touched);
    ctx->ag_order = ctx->ag_touched = NULL;
    ctx->ag_order_cap = ctx->ag_touched_cap = 0;
}

void sg2_ctx_clear_error(sg2_ctx *ctx)
{
    sg2_error_clear(&ctx->err);
}

sg2_tensor *sg2_fail(sg2_ctx *ctx, sg2_status status, const char *fmt, ...)
{
    if (ctx->err.status == SG2_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->err.msg, sizeof ctx->err.msg, fmt, ap);
        va_end(ap);
        ctx->err.status = status;
    }
    return NULL;
}

size_t sg2_scope_begin(sg2_ctx *ctx)
{
    return ctx->scope_len;
}

void sg2_scope_end(sg2_ctx *ctx, size_t mark, sg2_tensor *const *keep, int n_keep)
{
    size_t kept = mark;
    for (size_t i = mark; i < ctx->scope_len; i++) {
        sg2_tensor *t = ctx->scope[i];
        int keep_it = 0;
        for (int k = 0; k < n_keep; k++)
            if (keep[k] == t)
                keep_it = 1;
        if (keep_it)
            ctx->scope[kept++] = t;
        else
            sg2_tensor_release(t);
    }
    ctx->scope_len = kept;
}

static int autorelease(sg2_ctx *ctx, sg2_tensor *t)
{
    if (ctx->scope_len == ctx->scope_cap) {
        size_t cap = ctx->scope_cap ? ctx->scope_cap * 2 : 1024;
        sg2_tensor **grown = realloc(ctx->scope, cap * sizeof *grown);
        if (!grown)
            return 0;
        ctx->scope = grown;
        ctx->scope_cap = cap;
    }
    ctx->scope[ctx->scope_len++] = t;
    return 1;
}

void sg2_tensor_retain(sg2_tensor *t)
{
    if (t)
        t->refs++;
}

struct sg2_derived {
    sg2_derived *next;
    int key[SG2_DERIVED_KEY];
    sg2_tensor *t;
};

void sg2_tensor_mark_immutable(sg2_tensor *t)
{
    if (t)
        t->immutable = 1;
}

sg2_tensor *sg2_derived_find(const sg2_tensor *t, const int key[SG2_DERIVED_KEY])
{
    for (sg2_derived *d = t && t->immutable ? t->derived : NULL; d; d = d->next)
        if (memcmp(d->key, key, sizeof d->key) == 0)
            return d->t;
    return NULL;
}

void sg2_derived_keep(const sg2_tensor *t, const int key[SG2_DERIVED_KEY], sg2_tensor *d)
{
    if (!t || !t->immutable || !d)
        return;
    sg2_derived *e = malloc(sizeof *e);
    if (!e)
        return; /* a cache: without the entry the value is derived again */
    memcpy(e->key, key, sizeof e->key);
    e->t = d;
    sg2_tensor_retain(d);
    sg2_tensor *owner = (sg2_tensor *)t; /* the cache is not part of the values */
    e->next = owner->derived;
    owner->derived = e;
}

void sg2_tensor_release(sg2_tensor *t)
{
    if (!t || --t->refs > 0)
        return;
    while (t->derived) {
        sg2_derived *e = t->derived;
        t->derived = e->next;
        sg2_tensor_release(e->t);
        free(e);
    }
    sg2_buffer_release(t->buf);
    if (t->grad_fn)
        sg2_node_release(t->grad_fn);
    free(t);
}

int64_t sg2_shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    return n;
}

/* A tensor record over existing storage (retained). */
static sg2_tensor *wrap(sg2_ctx *ctx, int ndim, const int64_t *shape, sg2_buffer *buf, size_t offset)
{
    sg2_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return sg2_fail(ctx, SG2_ERR_NOMEM, "out of host memory for a tensor");
    t->refs = 1;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->numel = sg2_shape_numel(ndim, shape);
    t->buf = buf;
    t->offset = offset;
    sg2_buffer_retain(buf);
    if (!autorelease(ctx, t)) {
        t->refs = 0;
        sg2_buffer_release(buf);
        free(t);
        return sg2_fail(ctx, SG2_ERR_NOMEM, "out of host memory for the scope stack");
    }
    return t;
}

sg2_tensor *sg2__tensor_view(sg2_ctx *ctx, sg2_tensor *src, int ndim, const int64_t *shape)
{
    return wrap(ctx, ndim, shape, src->buf, src->offset);
}

sg2_tensor *sg2_tensor_empty(sg2_ctx *ctx, int ndim, const int64_t *shape)
{
    if (ctx->err.status)
        return NULL;
    if (ndim < 0 || ndim > SG2_MAX_DIMS)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "tensor rank %d outside 0..%d", ndim, SG2_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] <= 0)
            return sg2_fail(ctx, SG2_ERR_SHAPE, "tensor dimension %d has size %lld; sizes must be positive", i,
                            (long long)shape[i]);
    int64_t n = sg2_shape_numel(ndim, shape);
    /* Kernels index with 32-bit ints: portable and fast on every vendor. */
    if (n >= ((int64_t)1 << 31))
        return sg2_fail(ctx, SG2_ERR_SHAPE, "tensor of %lld elements exceeds the 2^31 limit", (long long)n);
    sg2_buffer *buf = NULL;
    if (sg2_bufpool_get(&ctx->rt->pool, (size_t)n * sizeof(float), &buf, &ctx->err))
        return NULL;
    sg2_tensor *t = wrap(ctx, ndim, shape, buf, 0);
    sg2_buffer_release(buf); /* wrap took its own reference */
    return t;
}

sg2_status sg2_tensor_write(sg2_ctx *ctx, sg2_tensor *t, const float *host)
{
    if (ctx->err.status)
        return ctx->err.status;
    t->buf->writes++;
    cl_int rc = clEnqueueWriteBuffer(ctx->rt->queue, t->buf->mem, CL_TRUE, t->offset * sizeof(float),
                                     (size_t)t->numel * sizeof(float), host, 0, NULL, NULL);
    return sg2_cl_check(&ctx->err, rc, "clEnqueueWriteBuffer", "tensor upload");
}

sg2_status sg2_tensor_copy(sg2_ctx *ctx, sg2_tensor *dst, const sg2_tensor *src, const char *what)
{
    if (ctx->err.status)
        return ctx->err.status;
    dst->buf->writes++;
    cl_int rc = clEnqueueCopyBuffer(ctx->rt->queue, src->buf->mem, dst->buf->mem, src->offset * sizeof(float),
                                    dst->offset * sizeof(float), (size_t)src->numel * sizeof(float), 0, NULL, NULL);
    return sg2_cl_check(&ctx->err, rc, "clEnqueueCopyBuffer", what);
}

sg2_status sg2_tensor_read(sg2_ctx *ctx, const sg2_tensor *t, float *host)
{
    if (ctx->err.status)
        return ctx->err.status;
    if (!t)
        return sg2_error_set(&ctx->err, SG2_ERR_ARG, "sg2_tensor_read: NULL tensor");
    cl_int rc = clEnqueueReadBuffer(ctx->rt->queue, t->buf->mem, CL_TRUE, t->offset * sizeof(float),
                                    (size_t)t->numel * sizeof(float), host, 0, NULL, NULL);
    return sg2_cl_check(&ctx->err, rc, "clEnqueueReadBuffer", "tensor download");
}

sg2_tensor *sg2_tensor_from_host(sg2_ctx *ctx, int ndim, const int64_t *shape, const float *data)
{
    sg2_tensor *t = sg2_tensor_empty(ctx, ndim, shape);
    if (t && sg2_tensor_write(ctx, t, data))
        return NULL;
    return t;
}

sg2_tensor *sg2_tensor_full(sg2_ctx *ctx, int ndim, const int64_t *shape, float value)
{
    sg2_tensor *t = sg2_tensor_empty(ctx, ndim, shape);
    if (!t)
        return NULL;
    cl_int rc = clEnqueueFillBuffer(ctx->rt->queue, t->buf->mem, &value, sizeof value, t->offset * sizeof(float),
                                    (size_t)t->numel * sizeof(float), 0, NULL, NULL);
    if (sg2_cl_check(&ctx->err, rc, "clEnqueueFillBuffer", "tensor fill"))
        return NULL;
    return t;
}

sg2_tensor *sg2_tensor_zeros_like(sg2_ctx *ctx, const sg2_tensor *t)
{
    return t ? sg2_tensor_full(ctx, t->ndim, t->shape, 0.0f) : NULL;
}

sg2_tensor *sg2_tensor_ones_like(sg2_ctx *ctx, const sg2_tensor *t)
{
    return t ? sg2_tensor_full(ctx, t->ndim, t->shape, 1.0f) : NULL;
}

sg2_tensor *sg2_detach(sg2_ctx *ctx, sg2_tensor *t)
{
    if (!t || ctx->err.status)
        return NULL;
    return wrap(ctx, t->ndim, t->shape, t->buf, t->offset);
}

void sg2_tensor_set_requires_grad(sg2_tensor *t, int on)
{
    if (t)
        t->requires_grad = on;
}

int sg2_shape_equal(const sg2_tensor *a, const sg2_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

const char *sg2_shape_str(const sg2_tensor *t, char *buf, size_t cap)
{
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "[");
    for (int i = 0; i < t->ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
    return buf;
}
