/* Sums and means over axes. The backward of a sum is a broadcast (expand),
 * whose backward is a sum again: the pair is closed under differentiation. */
#include <stdio.h>
#include <stdlib.h>

#include "src/op_util.h"
#include "src/tune.h"


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

/* reduce_sum with its tuned options: work-group EW_WG (a power of two, 64
 * by default) and EW_OPG outputs per group. When the device allows less,
 * the largest power of two it accepts: EW_WG sizes a local array, so it is
 * rebuilt, not clamped. */
static const sg2_kernel_entry *reduce_kernel(sg2_ctx *ctx, int n_out, int n_red, int *wg, int *opg)
{
    char opts[SG2_TUNE_OPTS_LEN];
    sg2_tune_options(ctx, &sg2_tune_family_reduce_sum, (const int[SG2_TUNE_DIMS]){1, n_out, n_red}, opts,
                     sizeof opts);
    /* $SG2_REDUCE_SUB = N: N work-items per output, one output per group,
     * whatever the tuning chose (tests reach every path of the kernel) */
    const char *sub = getenv("SG2_REDUCE_SUB");
    int n_sub = sub ? atoi(sub) : 0;
    if (n_sub > 0 && n_sub <= 256 && !(n_sub & (n_sub - 1)))
        snprintf(opts, sizeof opts, "-DEW_WG=%d -DEW_RUN=1 -DEW_OPG=1", n_sub);
    *wg = sg2_tune_option_value(opts, "EW_WG", 64);
    *opg = sg2_tune_option_value(opts, "EW_OPG", 1);
    const sg2_kernel_entry *k = sg2_kernel(ctx, "elementwise.cl", "reduce_sum", opts[0] ? opts : NULL);
    if (!k || k->max_work_group >= (size_t)*wg)
        return k;
    int w = 1, run = sg2_tune_option_value(opts, "EW_RUN", 0);
    while ((size_t)(w * 2) <= k->max_work_group)
        w *= 2;
    *wg = w;
    *opg = *opg < w ? *opg : w;
    snprintf(opts, sizeof opts, "-DEW_WG=%d -DEW_RUN=%d -DEW_OPG=%d", w, run, *opg);
    return sg2_kernel(ctx, "elementwise.cl", "reduce_sum", opts);
}

/* Merges neighbouring axes of one index space (kept or summed) that walk
 * memory as one: the linear order, and so the order of the sums, stays
 * the same, but the kernel's runs (EW_RUN=1) get longer: bias gradients
 * sum H and W as one axis. */
static void merge_space(int v6[8], int st6[8])
{
    const int *st[1] = {st6};
    int shape[6], merged[1][6];
    int nd = sg2__merge_axes(v6, 1, st, shape, merged);
    for (int i = 0; i < 8; i++) {
        v6[i] = 1;
        st6[i] = 0;
    }
    for (int i = 0; i < nd; i++) {
        v6[6 - nd + i] = shape[i];
        st6[6 - nd + i] = merged[0][i];
    }
}

/* Parts a long sum is cut into when there are too few outputs to occupy
 * the device (see reduce_sum): a work-group per part and output, at least
 * REDUCE_PART_MIN summands per part. */
#define REDUCE_SPLIT_MAX 32
#define REDUCE_PART_MIN 8192

static int reduce_splits(int n_out, int n_red)
{
    if (n_out >= 8 || n_red < 2 * REDUCE_PART_MIN)
        return 1;
    int s = n_red / REDUCE_PART_MIN;
    return s < REDUCE_SPLIT_MAX ? s : REDUCE_SPLIT_MAX;
}

/* y[n_out] = scale * the sums of x over the reduced index space, y
 * contiguous. Few outputs of long sums: parts first, then their sums. */
static int reduce_launch(sg2_ctx *ctx, const sg2_tensor *x, int n_out, int count, const int *keep6,
                         const int *keep_st, const int *red6, const int *red_st, float scale, sg2_tensor *y)
{
    int n_split = reduce_splits(n_out, count);
    sg2_tensor *out = y;
    size_t mark = sg2_scope_begin(ctx);
    if (n_split > 1)
        out = sg2_tensor_empty(ctx, 2, (const int64_t[]){n_out, n_split});
    int wg = 64, opg = 1;
    const sg2_kernel_entry *k = out ? reduce_kernel(ctx, n_out, count, &wg, &opg) : NULL;
    if (k) {
        sg2_args a = sg2_args_begin(k);
        sg2_args_int(&a, n_out);
        sg2_args_int(&a, count);
        sg2_args_int(&a, n_split);
        sg2_args_int8(&a, keep6);
        sg2_args_int8(&a, keep_st);
        sg2_args_int8(&a, red6);
        sg2_args_int8(&a, red_st);
        sg2_args_mem(&a, x->buf->mem);
        sg2_args_int(&a, (int)x->offset);
        sg2_args_mem(&a, out->buf->mem);
        sg2_args_int(&a, (int)out->offset);
        sg2_args_float(&a, n_split > 1 ? 1.0f : scale);
        size_t groups = ((size_t)n_out + (size_t)opg - 1) / (size_t)opg * (size_t)n_split;
        size_t global = groups * (size_t)wg, local = (size_t)wg;
        sg2_launch(ctx->rt, &a, 1, &global, &local, &ctx->err);
    }
    if (n_split > 1 && !ctx->err.status) {
        /* the parts: [n_out, n_split] contiguous, summed along the last axis */
        int pk[8] = {1, 1, 1, 1, 1, n_out, 1, 1}, pk_st[8] = {0, 0, 0, 0, 0, n_split, 0, 0};
        int pr[8] = {1, 1, 1, 1, 1, n_split, 1, 1}, pr_st[8] = {0, 0, 0, 0, 0, 1, 0, 0};
        reduce_launch(ctx, out, n_out, n_split, pk, pk_st, pr, pr_st, scale, y);
    }
    sg2_scope_end(ctx, mark, NULL, 0);
    return ctx->err.status == SG2_OK;
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
    merge_space(keep6, keep_st);
    merge_space(red6, red_st);
    float scale = mean ? (float)(1.0 / (double)count) : 1.0f;
    sg2_tensor *y = sg2_tensor_empty(ctx, ondim, oshape);
    if (!y || !reduce_launch(ctx, x, (int)y->numel, (int)count, keep6, keep_st, red6, red_st, scale, y))
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

/* ---- tuning ------------------------------------------------------------- */
/* dims: {a, n_out, b}: x[a, n_out, b] summed over axes 0 and 2. */

static int reduce_valid(const int *v, const void *dev)
{
    return (size_t)v[0] <= ((const sg2_device_info *)dev)->max_work_group && v[2] <= v[0];
}

static const sg2_tune_space reduce_space = {
    3,
    {{"EW_WG", 6, {64, 8, 16, 32, 128, 256}}, {"EW_RUN", 2, {0, 1}}, {"EW_OPG", 4, {1, 4, 16, 64}}},
    reduce_valid,
};

/* Outputs and summed elements, each rounded up to a power of 16. */
static void reduce_class(const int *d, char *out, size_t cap)
{
    long long n_red = (long long)d[0] * d[2];
    int eo = 0, er = 0;
    while ((1ll << eo) < d[1] && eo < 28)
        eo += 4;
    while ((1ll << er) < n_red && er < 28)
        er += 4;
    snprintf(out, cap, "out2^%d-red2^%d", eo, er);
}

static sg2_status reduce_setup(sg2_ctx *ctx, const int *d, sg2_tensor **in)
{
    in[0] = sg2_tune_random_tensor(ctx, 3, (const int64_t[]){d[0], d[1], d[2]}, 6);
    return ctx->err.status;
}

static sg2_tensor *reduce_run(sg2_ctx *ctx, const int *d, sg2_tensor *const *in)
{
    (void)d;
    return sg2_sum(ctx, in[0], 5u, 0);
}

/* Batch 4: bias gradients of 512 channels at 8x8 and 32x32 and of 64
 * channels at 256x256 (sums over N, H, W), a loss mean over a batch, and
 * the modulated conv's demodulation (squared 3x3 weights summed per output
 * and input channel) at 512 and 64 channels. */
static const int reduce_presets[][SG2_TUNE_DIMS] = {
    {4, 512, 64}, {4, 512, 1024}, {4, 64, 65536}, {1, 1, 4096}, {1, 512 * 512, 9}, {1, 64 * 64, 9}};

const sg2_tune_family sg2_tune_family_reduce_sum = {
    .name = "reduce_sum",
    .kernel_file = "elementwise.cl",
    .space = &reduce_space,
    .shape_class = reduce_class,
    .setup = reduce_setup,
    .run = reduce_run,
    .presets = reduce_presets,
    .n_presets = (int)(sizeof reduce_presets / sizeof reduce_presets[0]),
};
