/* Fused bias + activation + gain + clamp (StyleGAN2's bias_act).
 *
 * The gradient reads the activation's slope from the sign of the forward
 * output, so the node keeps only a detached copy of y (the output itself
 * would hold its own grad_fn: a reference cycle). That gradient,
 * bias_act_grad, is linear in dy with y a constant, so its own backward is
 * bias_act_grad again and the pair is closed under differentiation. For the
 * piecewise-linear activations this is exact: their second derivative is
 * zero away from the kinks. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "src/op_util.h"
#include "src/tune.h"

sg2_bias_act_params sg2_bias_act_defaults(sg2_act act)
{
    sg2_bias_act_params p = {act, 0.0f, 1.0f, -1.0f};
    if (act == SG2_ACT_LRELU)
        p.alpha = 0.2f;
    if (act == SG2_ACT_LRELU || act == SG2_ACT_RELU)
        p.gain = (float)sqrt(2.0);
    return p;
}

/* 1 (failure recorded) when the parameters are unusable, else 0. */
static int bad_params(sg2_ctx *ctx, const char *op, const sg2_bias_act_params *p)
{
    if (p->act != SG2_ACT_LINEAR && p->act != SG2_ACT_LRELU && p->act != SG2_ACT_RELU) {
        sg2_fail(ctx, SG2_ERR_ARG, "%s: unknown activation %d", op, (int)p->act);
        return 1;
    }
    if (!isfinite(p->alpha) || !isfinite(p->gain) || isnan(p->clamp)) {
        sg2_fail(ctx, SG2_ERR_ARG, "%s: alpha %g, gain %g, clamp %g must be numbers", op, (double)p->alpha,
                 (double)p->gain, (double)p->clamp);
        return 1;
    }
    /* The backward reads the slope from the sign of y, which is the sign of
     * the pre-activation only for a non-negative gain. */
    if (p->act != SG2_ACT_LINEAR && p->gain < 0) {
        sg2_fail(ctx, SG2_ERR_ARG, "%s: gain %g must be >= 0 for lrelu/relu", op, (double)p->gain);
        return 1;
    }
    return 0;
}

/* The kernel with its tuned options, launched over n units: BA_ITEMS
 * per work-item, BA_WG per work-group (clamped to the kernel's limit). */
static sg2_status launch_tuned(sg2_ctx *ctx, sg2_args *a, size_t n, const char *opts)
{
    size_t items = (size_t)sg2_tune_option_value(opts, "BA_ITEMS", 1);
    size_t global = (n + items - 1) / items, local = (size_t)sg2_tune_option_value(opts, "BA_WG", 64);
    sg2_tune_clamp_local(&local, 1, a->k->max_work_group);
    return sg2_launch(ctx->rt, a, 1, &global, &local, &ctx->err);
}

/* Elements per vector (BA_VW of cl/bias_act.cl) when the planes (bias_act)
 * or the whole tensor (bias_act_grad) are whole vectors; else 1. */
#define VEC_WIDTH 8

/* Kernel `name` built with the tuned options plus the vector width vw. */
static const sg2_kernel_entry *ba_kernel(sg2_ctx *ctx, const char *name, int vw, char *opts, size_t cap)
{
    size_t len = strlen(opts);
    snprintf(opts + len, cap - len, "%s-DBA_VW=%d", len ? " " : "", vw);
    return sg2_kernel(ctx, "bias_act.cl", name, opts);
}

/* 1 when noise holds one plane per sample of x ([N, 1, ...]), 0 when one
 * plane serves all samples. */
static int noise_per_sample(const sg2_tensor *x, const sg2_tensor *noise)
{
    return noise->numel == x->numel / x->shape[1] && x->shape[0] > 1;
}

/* Inputs x, b, noise, scale (the last three optional): the pre-activation
 * is v = x * scale + noise + b, so b and noise receive dv = gz summed over
 * the axes each was broadcast along, x receives gz * scale and scale the
 * per-(sample, channel) sums of gz * x: ops of the set, so second-order
 * gradients stay exact. */
static void bias_act_backward(sg2_ctx *ctx, const sg2_node *node, sg2_tensor *gy, const int *needs, sg2_tensor **gin)
{
    const sg2_bias_act_params *p = (const sg2_bias_act_params *)node->params;
    sg2_tensor *x = node->in[0], *noise = node->n_in > 2 ? node->in[2] : NULL;
    sg2_tensor *scale = node->n_in > 3 ? node->in[3] : NULL;
    sg2_tensor *gz = sg2_bias_act_grad(ctx, gy, node->saved[0], p);
    if (needs[0])
        gin[0] = scale ? sg2_scale_channels(ctx, gz, scale) : gz;
    if (needs[1]) {
        unsigned all_but_channels = ((1u << x->ndim) - 1u) & ~2u;
        gin[1] = sg2_sum(ctx, gz, all_but_channels, 0);
    }
    if (noise && needs[2]) {
        /* shared by the samples: summed over them too */
        unsigned axes = noise_per_sample(x, noise) ? 2u : 3u;
        gin[2] = sg2_reshape(ctx, sg2_sum(ctx, gz, axes, 0), noise->ndim, noise->shape);
    }
    if (scale && needs[3])
        gin[3] = sg2_channel_dot(ctx, gz, x);
}

static const sg2_op_def bias_act_def = {"bias_act", bias_act_backward};

sg2_tensor *sg2_bias_act(sg2_ctx *ctx,
                         sg2_tensor *x, /* [N, C, ...] (2-D [N, C] for dense layers) */
                         sg2_tensor *b, /* [C] or NULL */
                         const sg2_bias_act_params *p)
{
    return sg2_bias_act_epilogue(ctx, x, NULL, NULL, b, p);
}

sg2_status sg2_epilogue_make(sg2_ctx *ctx, int x_ndim, const int64_t *x_shape, sg2_tensor *scale, sg2_tensor *noise,
                             sg2_tensor *b, const sg2_bias_act_params *p, sg2_epilogue *e)
{
    char sx[96], sb[96];
    sg2_tensor like = {.ndim = x_ndim}; /* x's shape alone, for the checks and messages */
    for (int i = 0; i < x_ndim && i < SG2_MAX_DIMS; i++)
        like.shape[i] = x_shape[i];
    like.numel = sg2_shape_numel(x_ndim, x_shape);
    if (x_ndim < 2) {
        sg2_fail(ctx, SG2_ERR_SHAPE, "bias_act: x must have a channel axis [N, C, ...], got %s",
                 sg2_shape_str(&like, sx, sizeof sx));
        return ctx->err.status;
    }
    if (b && (b->ndim != 1 || b->shape[0] != x_shape[1])) {
        sg2_fail(ctx, SG2_ERR_SHAPE, "bias_act: bias %s does not match the %lld channels of x %s",
                 sg2_shape_str(b, sb, sizeof sb), (long long)x_shape[1], sg2_shape_str(&like, sx, sizeof sx));
        return ctx->err.status;
    }
    if (bad_params(ctx, "bias_act", p))
        return ctx->err.status;
    int64_t inner = like.numel / (x_shape[0] * x_shape[1]);
    /* noise: one plane per sample ([N, 1, ...]) or one for all ([1, 1, ...]
     * or just the plane's own axes), laid out as a sample's channel */
    int per_sample = noise && noise_per_sample(&like, noise);
    if (noise && !per_sample && noise->numel != inner) {
        sg2_fail(ctx, SG2_ERR_SHAPE, "bias_act: noise %s is neither one plane nor one per sample of x %s",
                 sg2_shape_str(noise, sb, sizeof sb), sg2_shape_str(&like, sx, sizeof sx));
        return ctx->err.status;
    }
    if (scale && (scale->ndim != 2 || scale->shape[0] != x_shape[0] || scale->shape[1] != x_shape[1])) {
        sg2_fail(ctx, SG2_ERR_SHAPE, "bias_act: scale %s is not [N, C] of x %s", sg2_shape_str(scale, sb, sizeof sb),
                 sg2_shape_str(&like, sx, sizeof sx));
        return ctx->err.status;
    }
    *e = (sg2_epilogue){scale, noise, b, per_sample ? (int)inner : 0, *p};
    return SG2_OK;
}

void sg2_epilogue_args(sg2_args *a, const sg2_epilogue *e, const sg2_tensor *stand_in)
{
    /* An absent operand's argument is stand_in's buffer: a NULL cl_mem
     * argument is legal but not every driver handles it well. */
    const sg2_tensor *ops[3] = {e->scale, e->bias, e->noise};
    for (int i = 0; i < 3; i++) {
        const sg2_tensor *t = ops[i] ? ops[i] : stand_in;
        sg2_args_mem(a, t->buf->mem);
        sg2_args_int(a, (int)t->offset);
        if (i == 2)
            sg2_args_int(a, e->noise_stride);
        sg2_args_int(a, ops[i] ? 1 : 0);
    }
    sg2_args_int(a, (int)e->p.act);
    sg2_args_float(a, e->p.alpha);
    sg2_args_float(a, e->p.gain);
    sg2_args_float(a, e->p.clamp);
}

sg2_tensor *sg2_bias_act_epilogue(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *scale, sg2_tensor *noise, sg2_tensor *b,
                                  const sg2_bias_act_params *p)
{
    SG2_OP_GUARD(ctx, x, p);
    sg2_epilogue e;
    if (sg2_epilogue_make(ctx, x->ndim, x->shape, scale, noise, b, p, &e))
        return NULL;
    int C = (int)x->shape[1];
    int inner = (int)(x->numel / (x->shape[0] * x->shape[1]));
    sg2_tensor *y = sg2_tensor_empty(ctx, x->ndim, x->shape);
    char opts[SG2_TUNE_OPTS_LEN + 16];
    sg2_tune_options(ctx, &sg2_tune_family_bias_act,
                     (const int[SG2_TUNE_DIMS]){(int)x->shape[0], C, inner, b != NULL, (int)p->act}, opts,
                     SG2_TUNE_OPTS_LEN);
    int vw = inner % VEC_WIDTH == 0 ? VEC_WIDTH : 1;
    const sg2_kernel_entry *k = ba_kernel(ctx, "bias_act", vw, opts, sizeof opts);
    if (!y || !k)
        return NULL;
    size_t units = (size_t)x->numel / (size_t)vw;
    sg2_args a = sg2_args_begin(k);
    sg2_args_int(&a, (int)units);
    sg2_args_int(&a, C);
    sg2_args_int(&a, inner);
    sg2_args_mem(&a, x->buf->mem);
    sg2_args_int(&a, (int)x->offset);
    sg2_epilogue_args(&a, &e, x);
    sg2_args_mem(&a, y->buf->mem);
    sg2_args_int(&a, (int)y->offset);
    if (launch_tuned(ctx, &a, units, opts))
        return NULL;
    sg2_tensor *in[4] = {x, b, noise, scale};
    int n_in = scale ? 4 : noise ? 3 : 2;
    if (sg2_autograd_wants(ctx, in, n_in)) {
        sg2_tensor *y_const = sg2_detach(ctx, y);
        sg2_autograd_record(ctx, y, &bias_act_def, in, n_in, p, sizeof *p, &y_const, 1);
    }
    return y;
}

static void bias_act_grad_backward(sg2_ctx *ctx, const sg2_node *node, sg2_tensor *gy, const int *needs,
                                   sg2_tensor **gin)
{
    const sg2_bias_act_params *p = (const sg2_bias_act_params *)node->params;
    if (needs[0])
        gin[0] = sg2_bias_act_grad(ctx, gy, node->saved[0], p);
}

static const sg2_op_def bias_act_grad_def = {"bias_act_grad", bias_act_grad_backward};

sg2_tensor *sg2_bias_act_grad(sg2_ctx *ctx,
                              sg2_tensor *dy, /* any shape */
                              sg2_tensor *y,  /* dy's shape: the forward output (treated as a constant) */
                              const sg2_bias_act_params *p)
{
    SG2_OP_GUARD(ctx, dy, y, p);
    char sd[96], sy[96];
    if (!sg2_shape_equal(dy, y))
        return sg2_fail(ctx, SG2_ERR_SHAPE, "bias_act_grad: dy %s and y %s differ in shape",
                        sg2_shape_str(dy, sd, sizeof sd), sg2_shape_str(y, sy, sizeof sy));
    if (bad_params(ctx, "bias_act_grad", p))
        return NULL;
    sg2_tensor *dx = sg2_tensor_empty(ctx, dy->ndim, dy->shape);
    char opts[SG2_TUNE_OPTS_LEN + 16];
    sg2_tune_options(ctx, &sg2_tune_family_bias_act_grad, (const int[SG2_TUNE_DIMS]){(int)dy->numel}, opts,
                     SG2_TUNE_OPTS_LEN);
    int vw = dy->numel % VEC_WIDTH == 0 ? VEC_WIDTH : 1;
    const sg2_kernel_entry *k = ba_kernel(ctx, "bias_act_grad", vw, opts, sizeof opts);
    if (!dx || !k)
        return NULL;
    size_t units = (size_t)dy->numel / (size_t)vw;
    sg2_args a = sg2_args_begin(k);
    sg2_args_int(&a, (int)units);
    sg2_args_mem(&a, dy->buf->mem);
    sg2_args_int(&a, (int)dy->offset);
    sg2_args_mem(&a, y->buf->mem);
    sg2_args_int(&a, (int)y->offset);
    sg2_args_int(&a, (int)p->act);
    sg2_args_float(&a, p->alpha);
    sg2_args_float(&a, p->gain);
    sg2_args_float(&a, p->clamp);
    sg2_args_mem(&a, dx->buf->mem);
    sg2_args_int(&a, (int)dx->offset);
    if (launch_tuned(ctx, &a, units, opts))
        return NULL;
    /* y is no input: no gradient flows into it. Keep a detached copy so a
     * caller's y with a graph does not keep that graph alive. */
    if (sg2_autograd_wants(ctx, &dy, 1)) {
        sg2_tensor *y_const = y->grad_fn ? sg2_detach(ctx, y) : y;
        sg2_autograd_record(ctx, dx, &bias_act_grad_def, &dy, 1, p, sizeof *p, &y_const, 1);
    }
    return dx;
}

/* ---- tuning ------------------------------------------------------------- */
/* bias_act dims: {outer, C, inner, has_bias, act}; bias_act_grad dims: {n}. */

static int bias_act_valid(const int *v, const void *dev)
{
    /* With one item per work-item both layouts are the same kernel. */
    return (size_t)v[0] <= ((const sg2_device_info *)dev)->max_work_group && (v[1] > 1 || v[2] == 1);
}

static const sg2_tune_space bias_act_space = {
    3,
    {{"BA_WG", 5, {64, 16, 32, 128, 256}}, {"BA_ITEMS", 4, {1, 2, 4, 8}}, {"BA_CONTIG", 2, {1, 0}}},
    bias_act_valid,
};

/* Element count rounded up to a power of 16 (from 2^12). */
static void numel_class(long long n, char *out, size_t cap)
{
    int e = 12;
    while ((1ll << e) < n && e < 28)
        e += 4;
    snprintf(out, cap, "n2^%d", e);
}

static void bias_act_class(const int *d, char *out, size_t cap)
{
    numel_class((long long)d[0] * d[1] * d[2], out, cap);
}

static void bias_act_grad_class(const int *d, char *out, size_t cap)
{
    numel_class(d[0], out, cap);
}

static sg2_status bias_act_setup(sg2_ctx *ctx, const int *d, sg2_tensor **in)
{
    in[0] = sg2_tune_random_tensor(ctx, 3, (const int64_t[]){d[0], d[1], d[2]}, 2);
    in[1] = sg2_tune_random_tensor(ctx, 1, (const int64_t[]){d[1]}, 3);
    return ctx->err.status;
}

static sg2_tensor *bias_act_run(sg2_ctx *ctx, const int *d, sg2_tensor *const *in)
{
    sg2_bias_act_params p = sg2_bias_act_defaults(d[4] == 0 ? SG2_ACT_LINEAR : d[4] == 2 ? SG2_ACT_RELU : SG2_ACT_LRELU);
    return sg2_bias_act(ctx, in[0], d[3] ? in[1] : NULL, &p);
}

static sg2_status bias_act_grad_setup(sg2_ctx *ctx, const int *d, sg2_tensor **in)
{
    in[0] = sg2_tune_random_tensor(ctx, 1, (const int64_t[]){d[0]}, 4);
    in[1] = sg2_tune_random_tensor(ctx, 1, (const int64_t[]){d[0]}, 5);
    return ctx->err.status;
}

static sg2_tensor *bias_act_grad_run(sg2_ctx *ctx, const int *d, sg2_tensor *const *in)
{
    (void)d;
    sg2_bias_act_params p = sg2_bias_act_defaults(SG2_ACT_LRELU);
    return sg2_bias_act_grad(ctx, in[0], in[1], &p);
}

/* Batch 4: a dense layer of 512, and 512-channel maps at 8x8 and 32x32
 * (the 32x32 preset), 64 channels at 256x256 (paper256). */
static const int bias_act_presets[][SG2_TUNE_DIMS] = {
    {4, 512, 1, 1, 1}, {4, 512, 64, 1, 1}, {4, 512, 1024, 1, 1}, {4, 64, 65536, 1, 1}};
static const int bias_act_grad_presets[][SG2_TUNE_DIMS] = {{2048}, {131072}, {2097152}, {16777216}};

const sg2_tune_family sg2_tune_family_bias_act = {
    .name = "bias_act",
    .kernel_file = "bias_act.cl",
    .space = &bias_act_space,
    .shape_class = bias_act_class,
    .setup = bias_act_setup,
    .run = bias_act_run,
    .presets = bias_act_presets,
    .n_presets = (int)(sizeof bias_act_presets / sizeof bias_act_presets[0]),
};

const sg2_tune_family sg2_tune_family_bias_act_grad = {
    .name = "bias_act_grad",
    .kernel_file = "bias_act.cl",
    .space = &bias_act_space,
    .shape_class = bias_act_grad_class,
    .setup = bias_act_grad_setup,
    .run = bias_act_grad_run,
    .presets = bias_act_grad_presets,
    .n_presets = (int)(sizeof bias_act_grad_presets / sizeof bias_act_grad_presets[0]),
};
