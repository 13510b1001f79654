/* Layout ops: reshape (a view), expand, permute, slice, concat, repeat.
 * Their backward rules pair up: expand <-> sum_to, slice <-> concat with
 * zeros, permute <-> the inverse permutation, so all stay differentiable. */
#include <string.h>

#include "src/op_util.h"

sg2_tensor *sg2__tensor_view(sg2_ctx *ctx, sg2_tensor *src, int ndim, const int64_t *shape);

typedef struct shape_params {
    int ndim;
    int64_t shape[SG2_MAX_DIMS];
    int perm[SG2_MAX_DIMS];
    int axis;
    int64_t start, len;
} shape_params;

/* ---- the copy under every op here ---- */

/* sg2_copy_strided, but when merging contiguous axes leaves at most three
 * it takes copy_rows: a division per run of elements instead of ten per
 * element. Weight transposes and the expands of sum backward are of this
 * kind. */
static sg2_status copy(sg2_ctx *ctx, int n, const int shape6[8], const sg2_tensor *x, int x_off, const int x_st[8],
                       sg2_tensor *y, int y_off, const int y_st[8])
{
    enum { RUN_LEN = 16 }; /* EW_RUN_LEN in elementwise.cl */
    const int *st6[2] = {x_st, y_st};
    int shape[6], st[2][6];
    int nd = sg2__merge_axes(shape6, 2, st6, shape, st);
    if (nd > 3)
        return sg2_copy_strided(ctx, n, shape6, x, x_off, x_st, y, y_off, y_st);
    int d[3] = {1, 1, 1}, xs[8] = {0}, ys[8] = {0};
    for (int i = 0; i < nd; i++) {
        d[3 - nd + i] = shape[i];
        xs[3 - nd + i] = st[0][i];
        ys[3 - nd + i] = st[1][i];
    }
    const sg2_kernel_entry *k = sg2_kernel(ctx, "elementwise.cl", "copy_rows", NULL);
    if (!k)
        return ctx->err.status;
    int rows = d[0] * d[1], runs = (d[2] + RUN_LEN - 1) / RUN_LEN;
    sg2_args a = sg2_args_begin(k);
    sg2_args_int(&a, rows);
    sg2_args_int(&a, d[1]);
    sg2_args_int(&a, d[2]);
    sg2_args_int(&a, runs);
    sg2_args_mem(&a, x->buf->mem);
    sg2_args_int(&a, x_off);
    sg2_args_int8(&a, xs);
    sg2_args_mem(&a, y->buf->mem);
    sg2_args_int(&a, y_off);
    sg2_args_int8(&a, ys);
    return sg2_launch1d(ctx, &a, (size_t)rows * (size_t)runs);
}

/* ---- reshape ---- */
static void reshape_backward(sg2_ctx *ctx, const sg2_node *node, sg2_tensor *gy, const int *needs, sg2_tensor **gin)
{
    if (needs[0])
        gin[0] = sg2_reshape(ctx, gy, node->in[0]->ndim, node->in[0]->shape);
}
static const sg2_op_def reshape_def = {"reshape", reshape_backward};

sg2_tensor *sg2_reshape(sg2_ctx *ctx, sg2_tensor *x, int ndim, const int64_t *shape)
{
    SG2_OP_GUARD(ctx, x);
    if (ndim < 0 || ndim > SG2_MAX_DIMS)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "reshape: rank %d outside 0..%d", ndim, SG2_MAX_DIMS);
    int64_t s[SG2_MAX_DIMS], known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        s[i] = shape[i];
        if (s[i] == -1 && infer < 0)
            infer = i;
        else if (s[i] <= 0)
            return sg2_fail(ctx, SG2_ERR_SHAPE, "reshape: bad size %lld at axis %d", (long long)s[i], i);
        else
            known *= s[i];
    }
    if (infer >= 0)
        s[infer] = known > 0 && x->numel % known == 0 ? x->numel / known : -1;
    char b[96];
    if ((infer >= 0 && s[infer] <= 0) || sg2_shape_numel(ndim, s) != x->numel)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "reshape: %s (%lld elements) does not fit the requested shape",
                        sg2_shape_str(x, b, sizeof b), (long long)x->numel);
    sg2_tensor *y = sg2__tensor_view(ctx, x, ndim, s);
    sg2_autograd_record(ctx, y, &reshape_def, &x, 1, NULL, 0, NULL, 0);
    return y;
}

/* ---- expand ---- */
static void expand_backward(sg2_ctx *ctx, const sg2_node *node, sg2_tensor *gy, const int *needs, sg2_tensor **gin)
{
    if (needs[0])
        gin[0] = sg2_sum_to(ctx, gy, node->in[0]->ndim, node->in[0]->shape);
}
static const sg2_op_def expand_def = {"expand", expand_backward};

sg2_tensor *sg2_expand(sg2_ctx *ctx, sg2_tensor *x, int ndim, const int64_t *shape)
{
    SG2_OP_GUARD(ctx, x);
    int out6[8], ost[8], xst[8];
    char b[96];
    if (ndim > SG2_MAX_DIMS || ndim < x->ndim)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "expand: cannot expand %s to rank %d", sg2_shape_str(x, b, sizeof b), ndim);
    sg2_layout6(ndim, shape, out6, ost);
    if (!sg2_broadcast_strides6(x->ndim, x->shape, out6, xst))
        return sg2_fail(ctx, SG2_ERR_SHAPE, "expand: %s does not broadcast to the target", sg2_shape_str(x, b, sizeof b));
    sg2_tensor *y = sg2_tensor_empty(ctx, ndim, shape);
    if (!y || copy(ctx, (int)y->numel, out6, x, (int)x->offset, xst, y, (int)y->offset, ost))
        return NULL;
    sg2_autograd_record(ctx, y, &expand_def, &x, 1, NULL, 0, NULL, 0);
    return y;
}

/* ---- permute ---- */
static void permute_backward(sg2_ctx *ctx, const sg2_node *node, sg2_tensor *gy, const int *needs, sg2_tensor **gin)
{
    const shape_params *p = (const shape_params *)node->params;
    int inv[SG2_MAX_DIMS];
    for (int i = 0; i < p->ndim; i++)
        inv[p->perm[i]] = i;
    if (needs[0])
        gin[0] = sg2_permute(ctx, gy, inv);
}
static const sg2_op_def permute_def = {"permute", permute_backward};

sg2_tensor *sg2_permute(sg2_ctx *ctx, sg2_tensor *x, const int *perm)
{
    SG2_OP_GUARD(ctx, x);
    shape_params p = {.ndim = x->ndim};
    int seen[SG2_MAX_DIMS] = {0};
    int64_t shape[SG2_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) {
        if (perm[i] < 0 || perm[i] >= x->ndim || seen[perm[i]]++)
            return sg2_fail(ctx, SG2_ERR_ARG, "permute: not a permutation of %d axes", x->ndim);
        p.perm[i] = perm[i];
        shape[i] = x->shape[perm[i]];
    }
    /* Walk the output in order; read x through its strides permuted. */
    int xs6[8], xst6[8], out6[8], ost[8], rst[8] = {0};
    sg2_layout6(x->ndim, x->shape, xs6, xst6);
    sg2_layout6(x->ndim, shape, out6, ost);
    int pad = 6 - x->ndim;
    for (int i = 0; i < x->ndim; i++)
        rst[pad + i] = xst6[pad + perm[i]];
    sg2_tensor *y = sg2_tensor_empty(ctx, x->ndim, shape);
    if (!y || copy(ctx, (int)y->numel, out6, x, (int)x->offset, rst, y, (int)y->offset, ost))
        return NULL;
    sg2_autograd_record(ctx, y, &permute_def, &x, 1, &p, sizeof p, NULL, 0);
    return y;
}

/* ---- slice ---- */
static void slice_backward(sg2_ctx *ctx, const sg2_node *node, sg2_tensor *gy, const int *needs, sg2_tensor **gin)
{
    const shape_params *p = (const shape_params *)node->params;
    sg2_tensor *x = node->in[0];
    if (!needs[0])
        return;
    sg2_tensor *parts[3];
    int n = 0;
    int64_t s[SG2_MAX_DIMS];
    memcpy(s, x->shape, sizeof s);
    if (p->start > 0) {
        s[p->axis] = p->start;
        parts[n++] = sg2_tensor_full(ctx, x->ndim, s, 0.0f);
    }
    parts[n++] = gy;
    int64_t rest = x->shape[p->axis] - p->start - p->len;
    if (rest > 0) {
        s[p->axis] = rest;
        parts[n++] = sg2_tensor_full(ctx, x->ndim, s, 0.0f);
    }
    gin[0] = n == 1 ? gy : sg2_concat(ctx, n, parts, p->axis);
}
static const sg2_op_def slice_def = {"slice", slice_backward};

/* Copy x into y at position `at` along axis (x and y differ only there). */
static sg2_status copy_along(sg2_ctx *ctx, const sg2_tensor *src, int64_t src_at, sg2_tensor *dst, int64_t dst_at,
                             int axis, int64_t len)
{
    int64_t shape[SG2_MAX_DIMS];
    memcpy(shape, src->shape, sizeof shape);
    shape[axis] = len;
    int s6[8], unused[8], sst[8], dst_st[8];
    int n = (int)sg2_shape_numel(src->ndim, shape);
    sg2_layout6(src->ndim, shape, s6, unused);
    sg2_layout6(src->ndim, src->shape, unused, sst);
    sg2_layout6(dst->ndim, dst->shape, unused, dst_st);
    /* layout6 zeroes strides of size-1 axes; the axis being cut needs its real stride. */
    int pad = 6 - src->ndim;
    int64_t inner_src = 1, inner_dst = 1;
    for (int i = axis + 1; i < src->ndim; i++) {
        inner_src *= src->shape[i];
        inner_dst *= dst->shape[i];
    }
    sst[pad + axis] = (int)inner_src;
    dst_st[pad + axis] = (int)inner_dst;
    return copy(ctx, n, s6, src, (int)(src->offset + (size_t)(src_at * inner_src)), sst, dst,
                            (int)(dst->offset + (size_t)(dst_at * inner_dst)), dst_st);
}

sg2_tensor *sg2_slice(sg2_ctx *ctx, sg2_tensor *x, int axis, int64_t start, int64_t len)
{
    SG2_OP_GUARD(ctx, x);
    if (axis < 0 || axis >= x->ndim || start < 0 || len <= 0 || start + len > x->shape[axis])
        return sg2_fail(ctx, SG2_ERR_ARG, "slice: [%lld, %lld) outside axis %d", (long long)start,
                        (long long)(start + len), axis);
    int64_t shape[SG2_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[axis] = len;
    sg2_tensor *y = sg2_tensor_empty(ctx, x->ndim, shape);
    if (!y || copy_along(ctx, x, start, y, 0, axis, len))
        return NULL;
    shape_params p = {.ndim = x->ndim, .axis = axis, .start = start, .len = len};
    sg2_autograd_record(ctx, y, &slice_def, &x, 1, &p, sizeof p, NULL, 0);
    return y;
}

/* ---- concat ---- */
static void concat_backward(sg2_ctx *ctx, const sg2_node *node, sg2_tensor *gy, const int *needs, sg2_tensor **gin)
{
    const shape_params *p = (const shape_params *)node->params;
    int64_t at = 0;
    for (int i = 0; i < node->n_in; i++) {
        int64_t len = node->in[i]->shape[p->axis];
        if (needs[i])
            gin[i] = sg2_slice(ctx, gy, p->axis, at, len);
        at += len;
    }
}
static const sg2_op_def concat_def = {"concat", concat_backward};

sg2_tensor *sg2_concat(sg2_ctx *ctx, int n, sg2_tensor *const *xs, int axis)
{
    if (ctx->err.status)
        return NULL;
    if (n < 1 || n > SG2_NODE_MAX_IN)
        return sg2_fail(ctx, SG2_ERR_ARG, "concat: %d inputs (1..%d)", n, SG2_NODE_MAX_IN);
    for (int i = 0; i < n; i++)
        if (!xs[i])
            return sg2_fail(ctx, SG2_ERR_ARG, "concat: input %d is NULL", i);
    const sg2_tensor *x0 = xs[0];
    if (axis < 0 || axis >= x0->ndim)
        return sg2_fail(ctx, SG2_ERR_ARG, "concat: axis %d outside rank %d", axis, x0->ndim);
    int64_t shape[SG2_MAX_DIMS];
    memcpy(shape, x0->shape, sizeof shape);
    shape[axis] = 0;
    for (int i = 0; i < n; i++) {
        int ok = xs[i]->ndim == x0->ndim;
        for (int d = 0; ok && d < x0->ndim; d++)
            ok = d == axis || xs[i]->shape[d] == x0->shape[d];
        if (!ok) {
            char a[96], b[96];
            return sg2_fail(ctx, SG2_ERR_SHAPE, "concat: input %d %s does not match input 0 %s off axis %d", i,
                            sg2_shape_str(xs[i], a, sizeof a), sg2_shape_str(x0, b, sizeof b), axis);
        }
        shape[axis] += xs[i]->shape[axis];
    }
    sg2_tensor *y = sg2_tensor_empty(ctx, x0->ndim, shape);
    int64_t at = 0;
    for (int i = 0; i < n && y; i++) {
        if (copy_along(ctx, xs[i], 0, y, at, axis, xs[i]->shape[axis]))
            return NULL;
        at += xs[i]->shape[axis];
    }
    shape_params p = {.ndim = x0->ndim, .axis = axis};
    sg2_autograd_record(ctx, y, &concat_def, xs, n, &p, sizeof p, NULL, 0);
    return y;
}

/* ---- repeat: one axis at a time, as [outer, 1, n, inner] expanded to
 * [outer, reps, n, inner]; made of reshape and expand, so differentiable. */
sg2_tensor *sg2_repeat(sg2_ctx *ctx, sg2_tensor *x, const int64_t *reps)
{
    SG2_OP_GUARD(ctx, x);
    sg2_tensor *y = x;
    for (int d = 0; d < x->ndim && y; d++) {
        if (reps[d] < 1)
            return sg2_fail(ctx, SG2_ERR_ARG, "repeat: %lld copies along axis %d", (long long)reps[d], d);
        if (reps[d] == 1)
            continue;
        int64_t outer = 1, inner = 1;
        for (int i = 0; i < d; i++)
            outer *= y->shape[i];
        for (int i = d + 1; i < y->ndim; i++)
            inner *= y->shape[i];
        int64_t shape[SG2_MAX_DIMS];
        memcpy(shape, y->shape, sizeof shape);
        shape[d] *= reps[d];
        sg2_tensor *t = sg2_reshape(ctx, y, 4, (const int64_t[]){outer, 1, y->shape[d], inner});
        t = sg2_expand(ctx, t, 4, (const int64_t[]){outer, reps[d], y->shape[d], inner});
        y = sg2_reshape(ctx, t, y->ndim, shape);
    }
    return y;
}
