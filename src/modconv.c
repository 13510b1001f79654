/* Modulated convolution (StyleGAN2 paper, Section 2.2): the weights are
 * scaled per input channel by the styles, w'_{n,o,i,k} = w_{o,i,k} s_{n,i},
 * and demodulated per output channel by d_{n,o} = rsqrt(sum_{i,k} w'^2 + 1e-8)
 * so that activations keep unit variance without instance normalisation.
 *
 * Two ways to compute it, giving the same result:
 *  - non-fused (training): scale the input by s, convolve with the shared
 *    weight, scale the output by d. Uses the ordinary conv ops, whose
 *    gradients are cheap.
 *  - fused (inference): build the per-sample weights and run one grouped
 *    convolution with groups = N. The weights come from one kernel
 *    (cl/modconv.cl): the modconv_weight op below when gradients are wanted,
 *    else written directly in the tiled convolution's packed panels. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "src/conv_tiled.h"
#include "src/layers.h"
#include "src/op_util.h"
#include "src/winograd.h"

/* d[N, Cout] = rsqrt(s^2 @ (sum_k w^2)^T + 1e-8): the norm of each sample's
 * modulated filter without materialising it. */
static sg2_tensor *demod_coefs(sg2_ctx *ctx, sg2_tensor *weight, sg2_tensor *styles)
{
    sg2_tensor *wsq = sg2_channel_sq(ctx, weight); /* [Cout, Cin] */
    return sg2_rsqrt(ctx, sg2_add_scalar(ctx, sg2_matmul(ctx, sg2_square(ctx, styles), wsq, 0, 1), 1e-8f));
}

/* ---- the weight memo (inference with fixed weights) ----------------------
 * Keyed by the weight tensor and what was derived from it: its squared sums
 * over the taps (WSQ), its panels for the tiled convolution (PACKED, by
 * lane count and flip), or its Winograd filter transform (WINO, by panel
 * width). Both tensors are held, so a key's pointer cannot be reused by
 * another tensor while the entry lives. */
enum { MEMO_WSQ, MEMO_PACKED, MEMO_WINO };

typedef struct memo_entry {
    sg2_tensor *weight, *derived;
    int kind, lanes, flip;
} memo_entry;

struct sg2_weight_memo {
    memo_entry *e;
    int n, cap;
};

sg2_weight_memo *sg2_weight_memo_new(void) { return calloc(1, sizeof(sg2_weight_memo)); }

void sg2_weight_memo_free(sg2_weight_memo *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n; i++) {
        sg2_tensor_release(m->e[i].weight);
        sg2_tensor_release(m->e[i].derived);
    }
    free(m->e);
    free(m);
}

static sg2_tensor *memo_find(const sg2_weight_memo *m, const sg2_tensor *weight, int kind, int lanes, int flip)
{
    for (int i = 0; m && i < m->n; i++) {
        const memo_entry *e = &m->e[i];
        if (e->weight == weight && e->kind == kind && e->lanes == lanes && e->flip == flip)
            return e->derived;
    }
    return NULL;
}

/* Keeps derived (when there is a memo and room); returns it either way. */
static sg2_tensor *memo_keep(sg2_weight_memo *m, sg2_tensor *weight, int kind, int lanes, int flip,
                             sg2_tensor *derived)
{
    if (!m || !derived)
        return derived;
    if (m->n == m->cap) {
        int cap = m->cap ? 2 * m->cap : 32;
        memo_entry *e = realloc(m->e, (size_t)cap * sizeof *e);
        if (!e)
            return derived; /* not kept: recomputed next time */
        m->e = e;
        m->cap = cap;
    }
    sg2_tensor_retain(weight);
    sg2_tensor_retain(derived);
    m->e[m->n++] = (memo_entry){weight, derived, kind, lanes, flip};
    return derived;
}

/* ---- the modconv_weight op ------------------------------------------------
 * Forward: the filter norms by channel_sq, then one pass over the output
 * (modconv_weight in cl/modconv.cl).
 * Backward, with a = w s (broadcast), d = rsqrt(q),
 * q[n,o] = sum_{i,k} a^2 + 1e-8 = (s^2 @ wsq^T)[n,o] + 1e-8:
 *   through a:  gw += g sum_n gy d s,           gs += g sum_{o,k} gy d w
 *   through d:  gq  = -g/2 d^3 sum_{i,k} gy a,  gs += 2 s (gq @ wsq),
 *               gw += 2 w (gq^T @ s^2)[o,i]
 * all with ops of the set (d recomputed from w and s by ops, not saved), so
 * the rule is itself differentiable and second-order gradients stay exact. */
typedef struct modconv_weight_params {
    int demodulate, transposed;
    float gain;
} modconv_weight_params;

static sg2_tensor *reshape5(sg2_ctx *ctx, sg2_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d, int64_t e)
{
    return sg2_reshape(ctx, t, 5, (const int64_t[]){a, b, c, d, e});
}

static void modconv_weight_backward(sg2_ctx *ctx, const sg2_node *node, sg2_tensor *gy, const int *needs,
                                    sg2_tensor **gin)
{
    const modconv_weight_params *p = (const modconv_weight_params *)node->params;
    sg2_tensor *w = node->in[0], *s = node->in[1];
    int64_t n = s->shape[0], co = w->shape[0], ci = w->shape[1], kh = w->shape[2], kw = w->shape[3];
    sg2_tensor *w5 = reshape5(ctx, w, 1, co, ci, kh, kw), *s5 = reshape5(ctx, s, n, 1, ci, 1, 1);
    if (p->transposed)
        gy = sg2_permute(ctx, gy, (const int[]){0, 2, 1, 3, 4});
    sg2_tensor *d = NULL, *ga = sg2_scale(ctx, gy, p->gain); /* gradient reaching a through y = a d gain */
    if (p->demodulate) {
        d = demod_coefs(ctx, w, s);
        ga = sg2_mul(ctx, ga, reshape5(ctx, d, n, co, 1, 1, 1));
    }
    /* sum_k ga w: [N, Cout, Cin], shared by gs and the demodulation term */
    sg2_tensor *gaw = needs[1] || p->demodulate ? sg2_sum(ctx, sg2_mul(ctx, ga, w5), 0x18, 0) : NULL;
    sg2_tensor *gw = needs[0] ? sg2_sum(ctx, sg2_mul(ctx, ga, s5), 0x1, 0) : NULL;
    sg2_tensor *gs = needs[1] ? sg2_sum(ctx, gaw, 0x2, 0) : NULL;
    if (p->demodulate) {
        /* sum_{i,k} gy a gain d = sum_i gaw s; gq = that * (-1/2) d^2 */
        sg2_tensor *gd = sg2_sum(ctx, sg2_mul(ctx, gaw, sg2_reshape(ctx, s, 3, (const int64_t[]){n, 1, ci})), 0x4, 0);
        sg2_tensor *gq = sg2_scale(ctx, sg2_mul(ctx, gd, sg2_square(ctx, d)), -0.5f);
        if (needs[0]) {
            sg2_tensor *gwsq = sg2_matmul(ctx, gq, sg2_square(ctx, s), 1, 0); /* [Cout, Cin] */
            gw = sg2_add(ctx, gw, sg2_scale_channels(ctx, w, sg2_scale(ctx, gwsq, 2.0f)));
        }
        if (needs[1]) {
            sg2_tensor *wsq = sg2_channel_sq(ctx, w);
            gs = sg2_add(ctx, gs, sg2_mul(ctx, sg2_scale(ctx, s, 2.0f), sg2_matmul(ctx, gq, wsq, 0, 0)));
        }
    }
    gin[0] = gw;
    gin[1] = gs;
}

static const sg2_op_def modconv_weight_def = {"modconv_weight", modconv_weight_backward};

/* Work-items per (n, o) row or per panel: MC_WG of cl/modconv.cl, a power
 * of two; $SG2_MODCONV_WG overrides (tuning by hand). */
static int modconv_wg(sg2_ctx *ctx)
{
    const char *v = getenv("SG2_MODCONV_WG");
    int wg = v ? atoi(v) : 64;
    if (wg < 1 || (wg & (wg - 1)))
        wg = 64;
    while ((size_t)wg > ctx->rt->dev.max_work_group && wg > 1)
        wg /= 2;
    return wg;
}

/* The kernel `name` of cl/modconv.cl for taps taps, wg work-items and
 * lanes (0: unused). */
static const sg2_kernel_entry *modconv_kernel(sg2_ctx *ctx, const char *name, int taps, int wg, int lanes)
{
    char opts[64];
    snprintf(opts, sizeof opts, "-DMC_TAPS=%d -DMC_WG=%d -DMC_LANES=%d", taps, wg, lanes > 0 ? lanes : 1);
    return sg2_kernel(ctx, "modconv.cl", name, opts);
}

/* wsq[Cout, Cin] = sum over taps of weight^2 (channel_sq, off the tape:
 * the callers differentiate d themselves), or NULL (error recorded). */
static sg2_tensor *weight_sq(sg2_ctx *ctx, sg2_tensor *weight, sg2_weight_memo *memo)
{
    sg2_tensor *kept = memo_find(memo, weight, MEMO_WSQ, 0, 0);
    if (kept)
        return kept;
    int saved = ctx->grad_enabled;
    ctx->grad_enabled = 0;
    sg2_tensor *wsq = sg2_channel_sq(ctx, weight);
    ctx->grad_enabled = saved;
    return wsq ? memo_keep(memo, weight, MEMO_WSQ, 0, 0, wsq) : NULL;
}

/* d[N, Cout] = rsqrt(s^2 @ wsq^T + 1e-8) by modconv_demod, for the weight
 * kernels and inference (demod_coefs gives the same through differentiable
 * ops), or NULL (error recorded). */
static sg2_tensor *demod_infer(sg2_ctx *ctx, sg2_tensor *weight, sg2_tensor *styles, sg2_weight_memo *memo)
{
    int ci = (int)weight->shape[1], co = (int)weight->shape[0], n = (int)styles->shape[0];
    const sg2_kernel_entry *k = modconv_kernel(ctx, "modconv_demod", (int)(weight->shape[2] * weight->shape[3]), 1, 0);
    sg2_tensor *wsq = weight_sq(ctx, weight, memo), *d = sg2_tensor_empty(ctx, 2, (const int64_t[]){n, co});
    if (!k || !wsq || !d)
        return NULL;
    sg2_args a = sg2_args_begin(k);
    sg2_args_int(&a, ci);
    sg2_args_int(&a, co);
    sg2_args_mem(&a, wsq->buf->mem);
    sg2_args_mem(&a, styles->buf->mem);
    sg2_args_int(&a, (int)styles->offset);
    sg2_args_mem(&a, d->buf->mem);
    size_t global[3] = {(size_t)co, (size_t)n, 1};
    return sg2_launch(ctx->rt, &a, 2, global, NULL, &ctx->err) ? NULL : d;
}

sg2_tensor *sg2_modconv_weight(sg2_ctx *ctx,
                               sg2_tensor *weight, /* [Cout, Cin, kh, kw] */
                               sg2_tensor *styles, /* [N, Cin] */
                               int demodulate, float gain, int transposed)
{
    SG2_OP_GUARD(ctx, weight, styles);
    char sw[96], ss[96];
    if (weight->ndim != 4 || styles->ndim != 2 || styles->shape[1] != weight->shape[1])
        return sg2_fail(ctx, SG2_ERR_SHAPE, "modconv_weight: weight %s and styles %s do not fit",
                        sg2_shape_str(weight, sw, sizeof sw), sg2_shape_str(styles, ss, sizeof ss));
    int64_t n = styles->shape[0], co = weight->shape[0], ci = weight->shape[1];
    int64_t kh = weight->shape[2], kw = weight->shape[3];
    if (n * weight->numel >= INT_MAX)
        return sg2_fail(ctx, SG2_ERR_UNSUPPORTED, "modconv_weight: %lld x %lld weights are too many", (long long)n,
                        (long long)weight->numel);
    sg2_tensor *y = sg2_tensor_empty(ctx, 5, transposed ? (const int64_t[]){n, ci, co, kh, kw}
                                                        : (const int64_t[]){n, co, ci, kh, kw});
    int wg = modconv_wg(ctx);
    const sg2_kernel_entry *k = modconv_kernel(ctx, "modconv_weight", (int)(kh * kw), wg, 0);
    /* without demodulation the kernel does not read d: weight stands in */
    const sg2_tensor *d = demodulate ? demod_infer(ctx, weight, styles, NULL) : weight;
    if (!y || !k || !d)
        return NULL;
    sg2_args a = sg2_args_begin(k);
    sg2_args_int(&a, (int)ci);
    sg2_args_int(&a, (int)co);
    sg2_args_int(&a, demodulate != 0);
    sg2_args_int(&a, transposed != 0);
    sg2_args_float(&a, gain);
    sg2_args_mem(&a, weight->buf->mem);
    sg2_args_int(&a, (int)weight->offset);
    sg2_args_mem(&a, d->buf->mem);
    sg2_args_mem(&a, styles->buf->mem);
    sg2_args_int(&a, (int)styles->offset);
    sg2_args_mem(&a, y->buf->mem);
    sg2_args_int(&a, (int)y->offset);
    size_t local[3] = {(size_t)wg, 1, 1}, global[3] = {(size_t)wg, (size_t)co, (size_t)n};
    if (sg2_launch(ctx->rt, &a, 3, global, local, &ctx->err))
        return NULL;
    sg2_tensor *in[2] = {weight, styles};
    modconv_weight_params p = {demodulate != 0, transposed != 0, gain};
    if (sg2_autograd_wants(ctx, in, 2))
        sg2_autograd_record(ctx, y, &modconv_weight_def, in, 2, &p, sizeof p, NULL, 0);
    return y;
}

/* ---- scale_channels and channel_dot -----------------------------------
 * Each is the other's derivative, so the pair is closed under
 * differentiation:
 *   y = scale_channels(x, s):  gx = scale_channels(gy, s), gs = channel_dot(gy, x)
 *   d = channel_dot(a, b):     ga = scale_channels(b, gd), gb = scale_channels(a, gd) */
static void scale_channels_backward(sg2_ctx *ctx, const sg2_node *node, sg2_tensor *gy, const int *needs,
                                    sg2_tensor **gin)
{
    if (needs[0])
        gin[0] = sg2_scale_channels(ctx, gy, node->in[1]);
    if (needs[1])
        gin[1] = sg2_channel_dot(ctx, gy, node->in[0]);
}

static void channel_dot_backward(sg2_ctx *ctx, const sg2_node *node, sg2_tensor *gd, const int *needs,
                                 sg2_tensor **gin)
{
    if (needs[0])
        gin[0] = sg2_scale_channels(ctx, node->in[1], gd);
    if (needs[1])
        gin[1] = sg2_scale_channels(ctx, node->in[0], gd);
}

static const sg2_op_def scale_channels_def = {"scale_channels", scale_channels_backward};
static const sg2_op_def channel_dot_def = {"channel_dot", channel_dot_backward};

/* Rows of at most SHORT_ROW elements (a filter's taps) take a work-item
 * each: scale_channels_rows, channel_dot_rows. */
#define SHORT_ROW 32

/* Elements per (n, c) row of x[N, C, ...], or 0 (error recorded) when x is
 * not at least 2-D or too large for the kernels' int indices. */
static int row_len(sg2_ctx *ctx, const char *op, const sg2_tensor *x)
{
    char sx[96];
    if (x->ndim < 2 || x->numel < 1 || x->numel >= INT_MAX) {
        sg2_fail(ctx, SG2_ERR_SHAPE, "%s: x %s must be [N, C, ...] with fewer than 2^31 elements", op,
                 sg2_shape_str(x, sx, sizeof sx));
        return 0;
    }
    return (int)(x->numel / (x->shape[0] * x->shape[1]));
}

sg2_tensor *sg2_scale_channels(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *s)
{
    SG2_OP_GUARD(ctx, x, s);
    char sx[96], ss[96];
    int inner = row_len(ctx, "scale_channels", x);
    if (!inner)
        return NULL;
    if (s->ndim != 2 || s->shape[0] != x->shape[0] || s->shape[1] != x->shape[1])
        return sg2_fail(ctx, SG2_ERR_SHAPE, "scale_channels: scales %s do not match x %s",
                        sg2_shape_str(s, ss, sizeof ss), sg2_shape_str(x, sx, sizeof sx));
    sg2_tensor *y = sg2_tensor_empty(ctx, x->ndim, x->shape);
    /* rows of whole vectors of 8, short rows (a work-item each), else an
     * element per work-item */
    int vec = inner % 8 == 0, rows = !vec && inner <= SHORT_ROW;
    const sg2_kernel_entry *k = sg2_kernel(
        ctx, "modconv.cl", vec ? "scale_channels_vec" : rows ? "scale_channels_rows" : "scale_channels", NULL);
    if (!y || !k)
        return NULL;
    size_t units = (size_t)x->numel / (vec ? 8 : rows ? (size_t)inner : 1);
    sg2_args a = sg2_args_begin(k);
    sg2_args_int(&a, (int)units);
    sg2_args_int(&a, inner);
    sg2_args_mem(&a, x->buf->mem);
    sg2_args_int(&a, (int)x->offset);
    sg2_args_mem(&a, s->buf->mem);
    sg2_args_int(&a, (int)s->offset);
    sg2_args_mem(&a, y->buf->mem);
    sg2_args_int(&a, (int)y->offset);
    if (sg2_launch1d(ctx, &a, units))
        return NULL;
    sg2_tensor *in[2] = {x, s};
    if (sg2_autograd_wants(ctx, in, 2))
        sg2_autograd_record(ctx, y, &scale_channels_def, in, 2, NULL, 0, NULL, 0);
    return y;
}

/* d[N, C] = sum over each row of a * b, or NULL (error recorded): a
 * work-group per row, or a work-item per short row. */
static sg2_tensor *channel_dot_launch(sg2_ctx *ctx, sg2_tensor *a, sg2_tensor *b, int inner)
{
    int rows = (int)(a->shape[0] * a->shape[1]), short_rows = inner <= SHORT_ROW, wg = modconv_wg(ctx);
    sg2_tensor *d = sg2_tensor_empty(ctx, 2, a->shape);
    const sg2_kernel_entry *k = short_rows ? sg2_kernel(ctx, "modconv.cl", "channel_dot_rows", NULL)
                                           : modconv_kernel(ctx, "channel_dot", 1, wg, 0);
    if (!d || !k)
        return NULL;
    sg2_args g = sg2_args_begin(k);
    if (short_rows)
        sg2_args_int(&g, rows);
    sg2_args_int(&g, inner);
    sg2_args_mem(&g, a->buf->mem);
    sg2_args_int(&g, (int)a->offset);
    sg2_args_mem(&g, b->buf->mem);
    sg2_args_int(&g, (int)b->offset);
    sg2_args_mem(&g, d->buf->mem);
    sg2_args_int(&g, (int)d->offset);
    if (short_rows)
        return sg2_launch1d(ctx, &g, (size_t)rows) ? NULL : d;
    size_t local[3] = {(size_t)wg, 1, 1}, global[3] = {(size_t)wg, (size_t)rows, 1};
    return sg2_launch(ctx->rt, &g, 3, global, local, &ctx->err) ? NULL : d;
}

sg2_tensor *sg2_channel_dot(sg2_ctx *ctx, sg2_tensor *a, sg2_tensor *b)
{
    SG2_OP_GUARD(ctx, a, b);
    char sa[96], sb[96];
    int inner = row_len(ctx, "channel_dot", a);
    if (!inner)
        return NULL;
    if (!sg2_shape_equal(a, b))
        return sg2_fail(ctx, SG2_ERR_SHAPE, "channel_dot: %s and %s differ in shape", sg2_shape_str(a, sa, sizeof sa),
                        sg2_shape_str(b, sb, sizeof sb));
    sg2_tensor *d = channel_dot_launch(ctx, a, b, inner);
    sg2_tensor *in[2] = {a, b};
    if (d && sg2_autograd_wants(ctx, in, 2))
        sg2_autograd_record(ctx, d, &channel_dot_def, in, 2, NULL, 0, NULL, 0);
    return d;
}

/* ---- channel_sq: each row's sum of squares -------------------------------
 * The demodulation's filter norms sum_k w[o, i, k]^2 in one pass, and
 * backward gx = scale_channels(x, 2 gq) in one more: the composed
 * sum(square(w)) took a square and a sum forward and an expand, a scale and
 * a multiply over the whole weight backward. Differentiable again through
 * scale_channels. */
static void channel_sq_backward(sg2_ctx *ctx, const sg2_node *node, sg2_tensor *gq, const int *needs,
                                sg2_tensor **gin)
{
    if (needs[0])
        gin[0] = sg2_scale_channels(ctx, node->in[0], sg2_scale(ctx, gq, 2.0f));
}

static const sg2_op_def channel_sq_def = {"channel_sq", channel_sq_backward};

sg2_tensor *sg2_channel_sq(sg2_ctx *ctx, sg2_tensor *x)
{
    SG2_OP_GUARD(ctx, x);
    int inner = row_len(ctx, "channel_sq", x);
    sg2_tensor *q = inner ? channel_dot_launch(ctx, x, x, inner) : NULL;
    if (q && sg2_autograd_wants(ctx, &x, 1))
        sg2_autograd_record(ctx, q, &channel_sq_def, &x, 1, NULL, 0, NULL, 0);
    return q;
}

/* ---- modulated convolution --------------------------------------------- */

/* conv2d_resample's up-sampling path (src/conv_layer.c): a transposed conv
 * with stride `up` and padding pt, then the FIR padded by (p0, p1) with gain
 * up^2; the same padding arithmetic, for the paths below that hand the
 * transposed conv weights in its own layout. */
typedef struct up_pads {
    int p0, p1, pt;
} up_pads;

static up_pads up_pads_of(int k, int fw, int up, int padding)
{
    up_pads u = {padding + (fw + up - 1) / 2 - (k - 1), padding + (fw - up) / 2 - (k - up), 0};
    u.pt = -u.p0 < -u.p1 ? -u.p0 : -u.p1;
    if (u.pt < 0)
        u.pt = 0;
    return u;
}

/* The FIR's parameters after the transposed conv (see up_pads). */
static sg2_upfirdn2d_params up_fir_params(int up, up_pads u)
{
    return (sg2_upfirdn2d_params){.up_x = 1, .up_y = 1, .down_x = 1, .down_y = 1, .pad_x0 = u.p0 + u.pt,
                                  .pad_x1 = u.p1 + u.pt, .pad_y0 = u.p0 + u.pt, .pad_y1 = u.p1 + u.pt, .flip = 0,
                                  .gain = (float)(up * up)};
}

static sg2_tensor *up_fir(sg2_ctx *ctx, sg2_tensor *y, sg2_tensor *filter, int up, up_pads u)
{
    sg2_upfirdn2d_params fp = up_fir_params(up, u);
    return sg2_upfirdn2d(ctx, y, filter, &fp);
}

/* The tiled convolution's panels for n samples' weights (modconv_weight_packed):
 * w * styles[n] demodulated when asked, or the shared weights alone when
 * styles is NULL (n = 1; kept in memo when there is one).
 * wt[n][n_cb][ci * taps][lanes], flipped for the transposed convolution. */
static sg2_tensor *packed_weights(sg2_ctx *ctx, sg2_tensor *weight, sg2_tensor *styles, int lanes, int flip,
                                  int demodulate, sg2_weight_memo *memo)
{
    sg2_tensor *kept = styles ? NULL : memo_find(memo, weight, MEMO_PACKED, lanes, flip);
    if (kept)
        return kept;
    int ci = (int)weight->shape[1], co = (int)weight->shape[0], taps = (int)(weight->shape[2] * weight->shape[3]);
    int n = styles ? (int)styles->shape[0] : 1, n_cb = (co + lanes - 1) / lanes, row = ci * taps;
    if ((long long)n * n_cb * lanes * row >= INT_MAX)
        return sg2_fail(ctx, SG2_ERR_UNSUPPORTED, "modconv: %d x %d x %d x %d weights", n, co, ci, taps);
    int wg = modconv_wg(ctx);
    const sg2_kernel_entry *k = modconv_kernel(ctx, "modconv_weight_packed", taps, wg, lanes);
    sg2_tensor *wt = sg2_tensor_empty(ctx, 4, (const int64_t[]){n, n_cb, row, lanes});
    sg2_tensor *s = styles ? styles : sg2_tensor_full(ctx, 2, (const int64_t[]){1, ci}, 1.0f);
    /* without demodulation the kernel does not read d: weight stands in */
    const sg2_tensor *d = demodulate ? demod_infer(ctx, weight, s, memo) : weight;
    if (!k || !wt || !s || !d)
        return NULL;
    sg2_args g = sg2_args_begin(k);
    int v[] = {ci, co, flip, demodulate != 0};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        sg2_args_int(&g, v[i]);
    sg2_args_float(&g, 1.0f);
    sg2_args_mem(&g, weight->buf->mem);
    sg2_args_int(&g, (int)weight->offset);
    sg2_args_mem(&g, d->buf->mem);
    sg2_args_mem(&g, s->buf->mem);
    sg2_args_int(&g, (int)s->offset);
    sg2_args_mem(&g, wt->buf->mem);
    sg2_args_int(&g, (int)wt->offset);
    size_t local[3] = {(size_t)wg, 1, 1}, global[3] = {(size_t)wg, (size_t)n_cb, (size_t)n};
    if (sg2_launch(ctx->rt, &g, 3, global, local, &ctx->err))
        return NULL;
    return styles ? wt : memo_keep(memo, weight, MEMO_PACKED, lanes, flip, wt);
}

/* The epilogue (demodulation scale [N, Cout] or NULL, noise, bias, the
 * activation) as a pass of its own over y viewed as [samples, C, H, W]. */
static sg2_tensor *epilogue_pass(sg2_ctx *ctx, sg2_tensor *y, int64_t samples, const sg2_epilogue_ops *le)
{
    int64_t plane = y->shape[2] * y->shape[3];
    y = sg2_reshape(ctx, y, 4, (const int64_t[]){samples, y->numel / samples / plane, y->shape[2], y->shape[3]});
    return sg2_bias_act_epilogue(ctx, y, le->scale, le->noise, le->bias, le->p);
}

/* The stride-1 conv of s (one group: shared weights) as Winograd, x times
 * in_scale per plane; the filter transform kept in memo when there is one;
 * the epilogue le, when given, as a pass of its own. */
static sg2_tensor *winograd_modconv(sg2_ctx *ctx, const sg2_conv_shape *s, sg2_tensor *x, sg2_tensor *weight,
                                    sg2_tensor *in_scale, sg2_weight_memo *memo, const sg2_epilogue_ops *le)
{
    int lanes = sg2_winograd_filter_lanes(ctx, s);
    sg2_tensor *u = lanes ? memo_find(memo, weight, MEMO_WINO, lanes, 0) : NULL;
    if (lanes && !u)
        u = memo_keep(memo, weight, MEMO_WINO, lanes, 0, sg2_winograd_filters(ctx, s, 0, weight));
    sg2_tensor *y = sg2_tensor_empty(ctx, 4, (const int64_t[]){s->N, s->Cout, s->Ho, s->Wo});
    if (!u || !y || sg2_winograd_fwd_filtered(ctx, s, x, in_scale, u, y))
        return NULL;
    return le ? epilogue_pass(ctx, y, s->N, le) : y;
}

/* The tiled convolution of x[N', Cin', H, W] (groups: samples when the
 * weights are per sample) as modconv needs it: stride 1 with padding, or
 * the transposed conv at stride `up` followed by the FIR. in_scale[N' * Cin']
 * or NULL multiplies the input planes. le NULL: the bare convolution,
 * [N', Cout', Ho, Wo]; else the layer's output, [samples, Cout, Ho, Wo],
 * with the epilogue applied in the convolution's or the FIR's store where
 * their kernels can, else as a pass of its own. Not differentiable
 * (inference). */
static sg2_tensor *tiled_modconv(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *weight, sg2_tensor *styles,
                                 sg2_tensor *in_scale, int groups, sg2_tensor *filter, const sg2_modconv_args *a,
                                 const sg2_epilogue_ops *le)
{
    int n = (int)x->shape[0], ci = (int)x->shape[1], co = (int)weight->shape[0] * groups;
    int kh = (int)weight->shape[2], kw = (int)weight->shape[3], h = (int)x->shape[2], wd = (int)x->shape[3];
    int up = a->up > 1, p = a->padding;
    up_pads u = up_pads_of(kh, filter ? (int)filter->shape[1] : 4, a->up, p);
    sg2_conv_shape s = {n, ci, h, wd, co, h + 2 * p - kh + 1, wd + 2 * p - kw + 1, kh, kw, 1, p, p, groups};
    if (up)
        s = (sg2_conv_shape){n, ci, h, wd, co, (h - 1) * a->up - 2 * u.pt + kh, (wd - 1) * a->up - 2 * u.pt + kw,
                             kh, kw, a->up, u.pt, u.pt, groups};
    if (s.Ho < 1 || s.Wo < 1)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "modconv: %dx%d input too small for a %dx%d kernel", h, wd, kh, kw);
    /* Winograd for shared weights only: per-sample ones are modulated in
     * their panels (packed_weights) */
    int wino = up || styles ? 0 : sg2_winograd_chosen(ctx, &s);
    if (wino)
        return wino < 0 ? NULL : winograd_modconv(ctx, &s, x, weight, in_scale, a->memo, le);
    int lanes = up ? sg2_conv_tiled_transpose_lanes(ctx, &s) : sg2_conv_tiled_fwd_lanes(ctx, &s);
    sg2_tensor *wt = packed_weights(ctx, weight, styles, lanes, up, a->demodulate && styles, a->memo);
    sg2_tensor *y = sg2_tensor_empty(ctx, 4, (const int64_t[]){n, co, s.Ho, s.Wo});
    if (!wt || !y)
        return NULL;
    /* per sample: the images, or the groups of a fused modulation */
    int64_t samples = groups > 1 ? groups : n, cout_s = co / groups;
    if (!up) {
        int take = le && sg2_conv_tiled_fwd_takes_epilogue(ctx, &s);
        if (sg2_conv_tiled_fwd_packed(ctx, &s, x, in_scale, wt, take ? le : NULL, y))
            return NULL;
        if (!le)
            return y;
        return take ? sg2_reshape(ctx, y, 4, (const int64_t[]){samples, cout_s, s.Ho, s.Wo})
                    : epilogue_pass(ctx, y, samples, le);
    }
    if (sg2_conv_tiled_transpose_packed(ctx, &s, x, in_scale, wt, y))
        return NULL;
    if (!le)
        return up_fir(ctx, y, filter, a->up, u);
    /* the FIR over [samples, Cout] planes, so its epilogue finds each
     * plane's sample and channel */
    y = sg2_reshape(ctx, y, 4, (const int64_t[]){samples, cout_s, s.Ho, s.Wo});
    sg2_upfirdn2d_params fp = up_fir_params(a->up, u);
    int applied = 0;
    y = sg2_upfirdn2d_epilogue(ctx, y, filter, &fp, le, &applied);
    return !y || applied ? y : epilogue_pass(ctx, y, samples, le);
}

/* Inference (nothing wants gradients), fused: the modulated weights written
 * straight into the register-tiled convolution's panels, skipping its
 * packing pass. x as one image of N * Cin channels; -> [1, N * Cout, Ho, Wo],
 * or with le the layer's output [N, Cout, Ho, Wo]. */
static sg2_tensor *fused_prepacked(sg2_ctx *ctx, sg2_tensor *xg, sg2_tensor *weight, sg2_tensor *styles,
                                   sg2_tensor *filter, const sg2_modconv_args *a, const sg2_epilogue_ops *le)
{
    return tiled_modconv(ctx, xg, weight, styles, NULL, (int)styles->shape[0], filter, a, le);
}

/* The demodulation coefficients: one kernel when nothing wants their
 * gradient, else differentiable ops. */
static sg2_tensor *demodulation(sg2_ctx *ctx, sg2_tensor *weight, sg2_tensor *styles, sg2_weight_memo *memo)
{
    sg2_tensor *in[2] = {weight, styles};
    return sg2_autograd_wants(ctx, in, 2) ? demod_coefs(ctx, weight, styles) : demod_infer(ctx, weight, styles, memo);
}

/* 1 when the tiled inference path applies: the tiled convolutions are on,
 * nothing in in[n_in] wants a gradient, and the layer is not a 1x1
 * up-sampling one (which that path does not take); 0 when not; -1 with the
 * error recorded when $SG2_CONV is bad. */
static int tiled_inference(sg2_ctx *ctx, sg2_tensor *const *in, int n_in, const sg2_tensor *weight,
                           const sg2_modconv_args *a)
{
    int tiled = sg2_conv_tiled_enabled(ctx);
    if (tiled <= 0)
        return tiled;
    return !sg2_autograd_wants(ctx, in, n_in) && (a->up == 1 || weight->shape[2] > 1);
}

/* x * styles convolved with the shared weights, not demodulated: for
 * inference the tiled convolution with the styles applied in its padding
 * copy (no per-sample weights, no extra pass), else ops of the set. */
static sg2_tensor *nonfused_conv(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *weight, sg2_tensor *styles,
                                 sg2_tensor *filter, const sg2_modconv_args *a)
{
    sg2_tensor *in[3] = {x, weight, styles};
    int tiled = tiled_inference(ctx, in, 3, weight, a);
    if (tiled < 0)
        return NULL;
    if (tiled)
        return tiled_modconv(ctx, x, weight, NULL, styles, 1, filter, a, NULL);
    sg2_tensor *y = sg2_scale_channels(ctx, x, styles);
    return sg2_conv2d_resample(ctx, y, weight, filter, a->up, 1, a->padding, 1, a->up == 1);
}

static sg2_tensor *modconv_nonfused(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *weight, sg2_tensor *styles,
                                    sg2_tensor *noise, sg2_tensor *filter, const sg2_modconv_args *a)
{
    sg2_tensor *y = nonfused_conv(ctx, x, weight, styles, filter, a);
    if (a->demodulate)
        y = sg2_scale_channels(ctx, y, demodulation(ctx, weight, styles, a->memo));
    return noise ? sg2_add(ctx, y, noise) : y;
}

static sg2_tensor *modconv_fused(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *weight, sg2_tensor *styles,
                                 sg2_tensor *noise, sg2_tensor *filter, const sg2_modconv_args *a)
{
    int64_t n = x->shape[0], ci = x->shape[1], h = x->shape[2], wd = x->shape[3];
    int64_t co = weight->shape[0], kh = weight->shape[2], kw = weight->shape[3];
    sg2_tensor *xg = sg2_reshape(ctx, x, 4, (const int64_t[]){1, n * ci, h, wd}), *y;
    sg2_tensor *in[3] = {x, weight, styles};
    int tiled = tiled_inference(ctx, in, 3, weight, a);
    if (tiled < 0)
        return NULL;
    if (tiled) {
        y = fused_prepacked(ctx, xg, weight, styles, filter, a, NULL);
    } else if (a->up > 1 && kh > 1) {
        /* the weights in the transposed conv's layout: no permuting copy */
        up_pads u = up_pads_of((int)kh, (int)filter->shape[1], a->up, a->padding);
        sg2_tensor *wt = sg2_modconv_weight(ctx, weight, styles, a->demodulate, 1.0f, 1);
        wt = sg2_reshape(ctx, wt, 4, (const int64_t[]){n * ci, co, kh, kw});
        sg2_conv_params cp = {.stride = a->up, .pad_y = u.pt, .pad_x = u.pt, .groups = (int)n};
        y = up_fir(ctx, sg2_conv_transpose2d(ctx, xg, wt, &cp, 0, 0), filter, a->up, u);
    } else {
        sg2_tensor *w = sg2_modconv_weight(ctx, weight, styles, a->demodulate, 1.0f, 0);
        w = sg2_reshape(ctx, w, 4, (const int64_t[]){n * co, ci, kh, kw});
        y = sg2_conv2d_resample(ctx, xg, w, filter, a->up, 1, a->padding, (int)n, a->up == 1);
    }
    if (!y)
        return NULL;
    y = sg2_reshape(ctx, y, 4, (const int64_t[]){n, co, y->shape[2], y->shape[3]});
    return noise ? sg2_add(ctx, y, noise) : y;
}

/* 0, or 1 with the failure recorded when the operands do not fit. */
static int bad_operands(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *weight, sg2_tensor *styles)
{
    if (ctx->err.status || !x || !weight || !styles) {
        if (!ctx->err.status)
            sg2_fail(ctx, SG2_ERR_ARG, "modconv: NULL input");
        return 1;
    }
    if (x->ndim != 4 || weight->ndim != 4 || styles->ndim != 2 || styles->shape[0] != x->shape[0] ||
        styles->shape[1] != x->shape[1] || weight->shape[1] != x->shape[1]) {
        char sx[96], sw[96], ss[96];
        sg2_fail(ctx, SG2_ERR_SHAPE, "modconv: input %s, weight %s and styles %s do not fit",
                 sg2_shape_str(x, sx, sizeof sx), sg2_shape_str(weight, sw, sizeof sw),
                 sg2_shape_str(styles, ss, sizeof ss));
        return 1;
    }
    return 0;
}

sg2_tensor *sg2_modconv(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *weight, sg2_tensor *styles, sg2_tensor *noise,
                        sg2_tensor *filter, const sg2_modconv_args *a)
{
    if (bad_operands(ctx, x, weight, styles))
        return NULL;
    return a->fused ? modconv_fused(ctx, x, weight, styles, noise, filter, a)
                    : modconv_nonfused(ctx, x, weight, styles, noise, filter, a);
}

/* The non-fused path hands the demodulation to the epilogue, which scales,
 * adds the noise and bias and activates in one pass (bias_act_epilogue). */
sg2_tensor *sg2_modconv_layer(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *weight, sg2_tensor *styles, sg2_tensor *noise,
                              sg2_tensor *bias, sg2_tensor *filter, const sg2_modconv_args *a,
                              const sg2_bias_act_params *p)
{
    if (bad_operands(ctx, x, weight, styles))
        return NULL;
    sg2_tensor *in[5] = {x, weight, styles, noise, bias};
    int tiled = tiled_inference(ctx, in, 5, weight, a);
    if (tiled < 0)
        return NULL;
    if (tiled) {
        /* inference: the epilogue in the convolution's or the FIR's store */
        sg2_epilogue_ops le = {NULL, noise, bias, p};
        if (a->fused) {
            int64_t n = x->shape[0], ci = x->shape[1];
            sg2_tensor *xg = sg2_reshape(ctx, x, 4, (const int64_t[]){1, n * ci, x->shape[2], x->shape[3]});
            return fused_prepacked(ctx, xg, weight, styles, filter, a, &le);
        }
        le.scale = a->demodulate ? demod_infer(ctx, weight, styles, a->memo) : NULL;
        return a->demodulate && !le.scale ? NULL : tiled_modconv(ctx, x, weight, NULL, styles, 1, filter, a, &le);
    }
    if (a->fused)
        return sg2_bias_act_epilogue(ctx, modconv_fused(ctx, x, weight, styles, NULL, filter, a), NULL, noise, bias,
                                     p);
    sg2_tensor *y = nonfused_conv(ctx, x, weight, styles, filter, a);
    sg2_tensor *d = a->demodulate ? demodulation(ctx, weight, styles, a->memo) : NULL;
    return sg2_bias_act_epilogue(ctx, y, d, noise, bias, p);
}
