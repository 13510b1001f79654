/* Sums and means over axes. The backward of a sum is a broadcast (expand),
 * whose backward is a sum again: the pair is closed under differentiation. */
#include <stdio.h>

#include "src/op_util.h"

typedef struct sum_params {
    unsigned axes;
    int keepdim;
    float scale;
} sum_params;

static void keepdim_shape(const sg2_tensor *x, unsigned axes, int64_t *shape)
{
    for (int i = 0; i < x->ndim; i++)
        shape[i] = (axes >> i & 1u) ? 1 : x->shape[i];
}

static void sum_backward(sg2_ctx *ctx, const sg2_node *node, sg2_tensor *gy, const int *needs, sg2_tensor **gin)
{
    const sum_params *p = (const sum_params *)node->params;
    sg2_tensor *x = node->in[0];
    if (!needs[0])
        return;
    int64_t kshape[SG2_MAX_DIMS];
    keepdim_shape(x, p->axes, kshape);
    sg2_tensor *g = sg2_expand(ctx, sg2_reshape(ctx, gy, x->ndim, kshape), x->ndim, x->shape);
    gin[0] = p->scale == 1.0f ? g : sg2_scale(ctx, g, p->scale);
}

static const sg2_op_def sum_def = {"sum", sum_backward};

/* Power-of-two work-group for reduce_sum that the kernel accepts. */
static const sg2_kernel_entry *reduce_kernel(sg2_ctx *ctx, int *wg)
{
    const sg2_kernel_entry *k = sg2_kernel(ctx, "elementwise.cl", "reduce_sum", NULL);
    if (!k || k->max_work_group >= 64) {
        *wg = 64;
        return k;
    }
    int w = 1;
    while ((size_t)(w * 2) <= k->max_work_group)
        w *= 2;
    char opts[32];
    snprintf(opts, sizeof opts, "-DEW_WG=%d", w);
    *wg = w;
    return sg2_kernel(ctx, "elementwise.cl", "reduce_sum", opts);
}

static sg2_tensor *sum_scaled(sg2_ctx *ctx, sg2_tensor *x, unsigned axes, int keepdim, int mean)
{
    SG2_OP_GUARD(ctx, x);
    axes &= (1u << x->ndim) - 1u;
    int64_t oshape[SG2_MAX_DIMS];
    int ondim = 0;
    int64_t count = 1;
    int keep6[8] = {1, 1, 1, 1, 1, 1, 1, 1}, keep_st[8] = {0}, red6[8] = {1, 1, 1, 1, 1, 1, 1, 1}, red_st[8] = {0};
    int nk = 0, nr = 0;
    int xs6[8], xst6[8];
    sg2_layout6(x->ndim, x->shape, xs6, xst6);
    int pad = 6 - x->ndim;
    /* Kept axes, then reduced axes, each right-aligned in its 6-axis vector. */
    for (int i = 0; i < x->ndim; i++)
        if (!(axes >> i & 1u))
            nk++;
        else
            nr++;
    int ik = 6 - nk, ir = 6 - nr;
    for (int i = 0; i < x->ndim; i++) {
        if (axes >> i & 1u) {
            red6[ir] = xs6[pad + i];
            red_st[ir++] = xst6[pad + i];
            count *= x->shape[i];
            if (keepdim)
                oshape[ondim++] = 1;
        } else {
            keep6[ik] = xs6[pad + i];
            keep_st[ik++] = xst6[pad + i];
            oshape[ondim++] = x->shape[i];
        }
    }
    float scale = mean ? (float)(1.0 / (double)count) : 1.0f;
    sg2_tensor *y = sg2_tensor_empty(ctx, ondim, oshape);
    int wg = 64;
    const sg2_kernel_entry *k = reduce_kernel(ctx, &wg);
    if (!y || !k)
        return NULL;
    sg2_args a = sg2_args_begin(k);
    sg2_args_int(&a, (int)y->numel);
    sg2_args_int(&a, (int)count);
    sg2_args_int8(&a, keep6);
    sg2_args_int8(&a, keep_st);
    sg2_args_int8(&a, red6);
    sg2_args_int8(&a, red_st);
    sg2_args_mem(&a, x->buf->mem);
    sg2_args_int(&a, (int)x->offset);
    sg2_args_mem(&a, y->buf->mem);
    sg2_args_int(&a, (int)y->offset);
    sg2_args_float(&a, scale);
    size_t global = (size_t)y->numel * (size_t)wg, local = (size_t)wg;
    if (sg2_launch(ctx->rt, &a, 1, &global, &local, &ctx->err))
        return NULL;
    sum_params p = {axes, keepdim, scale};
    sg2_autograd_record(ctx, y, &sum_def, &x, 1, &p, sizeof p, NULL, 0);
    return y;
}

sg2_tensor *sg2_sum(sg2_ctx *ctx, sg2_tensor *x, unsigned axes, int keepdim)
{
    return sum_scaled(ctx, x, axes, keepdim, 0);
}

sg2_tensor *sg2_mean(sg2_ctx *ctx, sg2_tensor *x, unsigned axes, int keepdim)
{
    return sum_scaled(ctx, x, axes, keepdim, 1);
}

sg2_tensor *sg2_sum_all(sg2_ctx *ctx, sg2_tensor *x)
{
    SG2_OP_GUARD(ctx, x);
    return sum_scaled(ctx, x, (1u << x->ndim) - 1u, 0, 0);
}

sg2_tensor *sg2_sum_to(sg2_ctx *ctx, sg2_tensor *x, int ndim, const int64_t *shape)
{
    SG2_OP_GUARD(ctx, x);
    if (ndim > x->ndim)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "sum_to: target rank %d above the input's %d", ndim, x->ndim);
    int lead = x->ndim - ndim;
    unsigned axes = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (i < lead)
            axes |= 1u << i;
        else if (shape[i - lead] == 1 && x->shape[i] != 1)
            axes |= 1u << i;
        else if (shape[i - lead] != x->shape[i])
            return sg2_fail(ctx, SG2_ERR_SHAPE, "sum_to: axis %d has size %lld, target %lld", i,
                            (long long)x->shape[i], (long long)shape[i - lead]);
    }
    if (axes == 0 && lead == 0)
        return x;
    return sg2_reshape(ctx, sg2_sum(ctx, x, axes, 1), ndim, shape);
}
