/* The three convolution ops: conv2d, conv_transpose2d and conv2d_wgrad.
 *
 * They are one bilinear form S(x, w, y) differentiated with respect to each
 * argument (see cl/conv.cl), so each op's backward is made of the other two
 * and the set is closed under differentiation to any order:
 *   y  = conv2d(x, w):            dx = conv_transpose2d(dy, w),  dw = wgrad(dy, x)
 *   y  = conv_transpose2d(x, w):  dx = conv2d(dy, w),            dw = wgrad(x, dy)
 *   dW = conv2d_wgrad(dy, x):     d(dy) = conv2d(x, G),          dx = conv_transpose2d(dy, G)
 * (G the incoming gradient of dW; the transposed convolutions get the output
 * padding that gives back the input's exact size).
 *
 * Two sets of kernels compute them: the register-tiled ones of
 * src/conv_tiled.c (the default; 8-30x faster on PoCL) and the direct ones
 * of cl/conv.cl (SG2_CONV=direct), kept as the simple second implementation
 * that bench/bench_ops measures the tiled ones against. */
#include <stdio.h>

#include "src/conv_tiled.h"
#include "src/op_util.h"

/* Sizes as one kernel launch sees them: Cin, H, W of the kernel's input
 * side, Cout, Ho, Wo of its output side (for wgrad: x and dy). */
typedef struct conv_geom {
    int N, Cin, H, W, Cout, Ho, Wo, kh, kw;
} conv_geom;

/* What a node keeps besides its inputs: the params and, for
 * conv_transpose2d, the output padding; for wgrad, the kernel size. */
typedef struct conv_node_params {
    sg2_conv_params p;
    int a, b; /* outpad_y, outpad_x (transpose) or kh, kw (wgrad) */
} conv_node_params;

/* Output padding that makes conv_transpose2d map an `out`-sized axis back to
 * the `in`-sized axis conv2d read it from; in [0, stride). */
static int outpad_for(int in, int out, int k, int stride, int pad)
{
    return in - ((out - 1) * stride - 2 * pad + k);
}

static void conv2d_backward(sg2_ctx *ctx, const sg2_node *node, sg2_tensor *gy, const int *needs, sg2_tensor **gin)
{
    const conv_node_params *q = (const conv_node_params *)node->params;
    sg2_tensor *x = node->in[0], *w = node->in[1]; /* x[N,Cin,H,W], w[Cout,Cin/g,kh,kw] */
    int kh = (int)w->shape[2], kw = (int)w->shape[3];
    if (needs[0]) {
        int opy = outpad_for((int)x->shape[2], (int)gy->shape[2], kh, q->p.stride, q->p.pad_y);
        int opx = outpad_for((int)x->shape[3], (int)gy->shape[3], kw, q->p.stride, q->p.pad_x);
        gin[0] = sg2_conv_transpose2d(ctx, gy, w, &q->p, opy, opx);
    }
    if (needs[1])
        gin[1] = sg2_conv2d_wgrad(ctx, gy, x, &q->p, kh, kw);
}

static void conv_transpose2d_backward(sg2_ctx *ctx, const sg2_node *node, sg2_tensor *gy, const int *needs,
                                      sg2_tensor **gin)
{
    const conv_node_params *q = (const conv_node_params *)node->params;
    sg2_tensor *x = node->in[0], *w = node->in[1]; /* x[N,Cin,H,W], w[Cin,Cout/g,kh,kw] */
    /* gy[N,Cout,Ho,Wo] is the input of the conv2d this op is the adjoint of;
     * x plays that conv2d's output gradient. */
    if (needs[0])
        gin[0] = sg2_conv2d(ctx, gy, w, &q->p);
    if (needs[1])
        gin[1] = sg2_conv2d_wgrad(ctx, x, gy, &q->p, (int)w->shape[2], (int)w->shape[3]);
}

static void conv2d_wgrad_backward(sg2_ctx *ctx, const sg2_node *node, sg2_tensor *gy, const int *needs,
                                  sg2_tensor **gin)
{
    const conv_node_params *q = (const conv_node_params *)node->params;
    sg2_tensor *dy = node->in[0], *x = node->in[1]; /* dy[N,Cout,Ho,Wo], x[N,Cin,H,W] */
    /* gy[Cout,Cin/g,kh,kw] has a weight's shape: the op is linear in dy and in x. */
    if (needs[0])
        gin[0] = sg2_conv2d(ctx, x, gy, &q->p);
    if (needs[1]) {
        int opy = outpad_for((int)x->shape[2], (int)dy->shape[2], q->a, q->p.stride, q->p.pad_y);
        int opx = outpad_for((int)x->shape[3], (int)dy->shape[3], q->b, q->p.stride, q->p.pad_x);
        gin[1] = sg2_conv_transpose2d(ctx, dy, gy, &q->p, opy, opx);
    }
}

static const sg2_op_def conv2d_def = {"conv2d", conv2d_backward};
static const sg2_op_def conv_transpose2d_def = {"conv_transpose2d", conv_transpose2d_backward};
static const sg2_op_def conv2d_wgrad_def = {"conv2d_wgrad", conv2d_wgrad_backward};

/* ---- argument checks ---------------------------------------------------- */

/* Parameter values every op shares: SG2_ERR_ARG when out of range. */
static int check_params(sg2_ctx *ctx, const char *op, const sg2_conv_params *p)
{
    if (!p) {
        sg2_fail(ctx, SG2_ERR_ARG, "%s: params are NULL", op);
        return 0;
    }
    if (p->stride < 1 || p->pad_y < 0 || p->pad_x < 0 || p->groups < 1) {
        sg2_fail(ctx, SG2_ERR_ARG, "%s: stride %d, padding (%d, %d), groups %d (need stride >= 1, padding >= 0, "
                 "groups >= 1)", op, p->stride, p->pad_y, p->pad_x, p->groups);
        return 0;
    }
    return 1;
}

static int check_4d(sg2_ctx *ctx, const char *op, const char *what, const sg2_tensor *t)
{
    char s[96];
    if (t->ndim != 4) {
        sg2_fail(ctx, SG2_ERR_SHAPE, "%s: %s %s must be 4-D", op, what, sg2_shape_str(t, s, sizeof s));
        return 0;
    }
    return 1;
}

static int check_groups(sg2_ctx *ctx, const char *op, int cin, int cout, int groups)
{
    if (cin % groups || cout % groups) {
        sg2_fail(ctx, SG2_ERR_SHAPE, "%s: groups %d must divide both %d input and %d output channels", op, groups,
                 cin, cout);
        return 0;
    }
    return 1;
}

/* conv2d output length along one axis, or 0 when the padded input is
 * shorter than the kernel. */
static int conv_out_len(int in, int k, int stride, int pad)
{
    int span = in + 2 * pad - k;
    return span < 0 ? 0 : span / stride + 1;
}

/* ---- launches ----------------------------------------------------------- */

static void push_geom(sg2_args *a, const conv_geom *g, const sg2_conv_params *p)
{
    sg2_args_int(a, g->N);
    sg2_args_int(a, g->Cin);
    sg2_args_int(a, g->H);
    sg2_args_int(a, g->W);
    sg2_args_int(a, g->Cout);
    sg2_args_int(a, g->Ho);
    sg2_args_int(a, g->Wo);
    sg2_args_int(a, g->kh);
    sg2_args_int(a, g->kw);
    sg2_args_int(a, p->stride);
    sg2_args_int(a, p->pad_y);
    sg2_args_int(a, p->pad_x);
    sg2_args_int(a, p->groups);
}

static void push_tensor(sg2_args *a, const sg2_tensor *t)
{
    sg2_args_mem(a, t->buf->mem);
    sg2_args_int(a, (int)t->offset);
}

/* The defaults of cl/conv.cl, which the host needs to size the launches. It
 * passes no -D options yet (except the wgrad variants below); a tuner would
 * set both together. */
enum { CONV_CO = 4, CONV_PX = 4, WGR_WG = 64, WGR_CO = 4, WGR_TAPS = 9 };

/* One work-item per block of CONV_CO channels x CONV_PX pixels, `items` in
 * all. a is the input x[N,Cin,H,W], b the weight (OIHW for conv2d_fwd,
 * [Cin,Cout/g,kh,kw] for conv_transpose2d_fwd), y[N,Cout,Ho,Wo] the output. */
static sg2_status launch_blocked(sg2_ctx *ctx, const char *name, const conv_geom *g, const sg2_conv_params *p,
                                 const sg2_tensor *a, const sg2_tensor *b, sg2_tensor *y, size_t items)
{
    const sg2_kernel_entry *k = sg2_kernel(ctx, "conv.cl", name, NULL);
    if (!k)
        return ctx->err.status;
    sg2_args args = sg2_args_begin(k);
    push_geom(&args, g, p);
    push_tensor(&args, a);
    push_tensor(&args, b);
    push_tensor(&args, y);
    return sg2_launch1d(ctx, &args, items);
}

/* conv2d_wgrad: a 1x1 kernel gets a build with one tap per work-group, which
 * would otherwise compute WGR_TAPS - 1 discarded taps. The kernel needs a
 * power-of-two work-group of exactly WGR_WG items; a device that allows
 * fewer gets a build with a smaller WGR_WG. */
static const sg2_kernel_entry *wgrad_kernel(sg2_ctx *ctx, int taps, int *wg, int *tap_block)
{
    char opts[64];
    int n = 0;
    *tap_block = taps == 1 ? 1 : WGR_TAPS;
    *wg = WGR_WG;
    opts[0] = '\0';
    if (taps == 1)
        n = snprintf(opts, sizeof opts, "-DWGR_TAPS=1");
    const sg2_kernel_entry *k = sg2_kernel(ctx, "conv.cl", "conv2d_wgrad", n ? opts : NULL);
    if (!k || k->max_work_group >= (size_t)WGR_WG)
        return k;
    int w = 1;
    while ((size_t)(w * 2) <= k->max_work_group)
        w *= 2;
    snprintf(opts + n, sizeof opts - (size_t)n, "%s-DWGR_WG=%d", n ? " " : "", w);
    *wg = w;
    return sg2_kernel(ctx, "conv.cl", "conv2d_wgrad", opts);
}

/* The direct weight-gradient kernel (SG2_CONV=direct). */
static sg2_status wgrad_direct(sg2_ctx *ctx, const conv_geom *g, const sg2_conv_params *p, const sg2_tensor *dy,
                               const sg2_tensor *x, sg2_tensor *dw)
{
    int wg, tap_block;
    int cin_g = g->Cin / p->groups, cout_g = g->Cout / p->groups;
    const sg2_kernel_entry *k = wgrad_kernel(ctx, g->kh * g->kw, &wg, &tap_block);
    if (!k)
        return ctx->err.status;
    sg2_args args = sg2_args_begin(k);
    push_geom(&args, g, p);
    push_tensor(&args, dy);
    push_tensor(&args, x);
    push_tensor(&args, dw);
    size_t groups_n = (size_t)p->groups * (size_t)((cout_g + WGR_CO - 1) / WGR_CO) * (size_t)cin_g *
                      (size_t)((g->kh * g->kw + tap_block - 1) / tap_block);
    size_t global = groups_n * (size_t)wg, local = (size_t)wg;
    return sg2_launch(ctx->rt, &args, 1, &global, &local, &ctx->err);
}

/* The tiled kernels' view of a launch geometry. */
static sg2_conv_shape tiled_shape(const conv_geom *g, int stride, int pad_y, int pad_x, int groups)
{
    sg2_conv_shape s = {g->N, g->Cin, g->H, g->W, g->Cout, g->Ho, g->Wo, g->kh, g->kw, stride, pad_y, pad_x, groups};
    return s;
}

/* ---- the ops ------------------------------------------------------------ */

sg2_tensor *sg2_conv2d(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *w, const sg2_conv_params *p)
{
    SG2_OP_GUARD(ctx, x, w);
    const char *op = "conv2d";
    char sx[96], sw[96];
    if (!check_params(ctx, op, p) || !check_4d(ctx, op, "input", x) || !check_4d(ctx, op, "weight", w))
        return NULL;
    conv_geom g = {(int)x->shape[0], (int)x->shape[1], (int)x->shape[2], (int)x->shape[3], (int)w->shape[0], 0, 0,
                   (int)w->shape[2], (int)w->shape[3]};
    if (!check_groups(ctx, op, g.Cin, g.Cout, p->groups))
        return NULL;
    if (w->shape[1] * p->groups != g.Cin)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "%s: weight %s wants %lld input channels, input %s has %d", op,
                        sg2_shape_str(w, sw, sizeof sw), (long long)(w->shape[1] * p->groups),
                        sg2_shape_str(x, sx, sizeof sx), g.Cin);
    g.Ho = conv_out_len(g.H, g.kh, p->stride, p->pad_y);
    g.Wo = conv_out_len(g.W, g.kw, p->stride, p->pad_x);
    if (g.Ho < 1 || g.Wo < 1)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "%s: %dx%d kernel does not fit input %s padded by (%d, %d)", op, g.kh,
                        g.kw, sg2_shape_str(x, sx, sizeof sx), p->pad_y, p->pad_x);
    int64_t shape[4] = {g.N, g.Cout, g.Ho, g.Wo};
    sg2_tensor *y = sg2_tensor_empty(ctx, 4, shape);
    if (!y)
        return NULL;
    int tiled = sg2_conv_tiled_enabled(ctx);
    if (tiled < 0)
        return NULL;
    if (tiled) {
        sg2_conv_shape s = tiled_shape(&g, p->stride, p->pad_y, p->pad_x, p->groups);
        if (sg2_conv_tiled_fwd(ctx, &s, 0, x, w, y))
            return NULL;
    } else {
        int cout_g = g.Cout / p->groups;
        size_t items = (size_t)g.N * (size_t)p->groups * (size_t)((cout_g + CONV_CO - 1) / CONV_CO) *
                       (size_t)g.Ho * (size_t)((g.Wo + CONV_PX - 1) / CONV_PX);
        if (launch_blocked(ctx, "conv2d_fwd", &g, p, x, w, y, items))
            return NULL;
    }
    conv_node_params q = {*p, 0, 0};
    sg2_tensor *in[2] = {x, w};
    sg2_autograd_record(ctx, y, &conv2d_def, in, 2, &q, sizeof q, NULL, 0);
    return y;
}

sg2_tensor *sg2_conv_transpose2d(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *w, const sg2_conv_params *p,
                                 int outpad_y, int outpad_x)
{
    SG2_OP_GUARD(ctx, x, w);
    const char *op = "conv_transpose2d";
    char sx[96], sw[96];
    if (!check_params(ctx, op, p) || !check_4d(ctx, op, "input", x) || !check_4d(ctx, op, "weight", w))
        return NULL;
    /* Output padding below the stride keeps this op the exact adjoint of
     * conv2d: that conv2d maps the output size back to the input size. */
    if (outpad_y < 0 || outpad_x < 0 || outpad_y >= p->stride || outpad_x >= p->stride)
        return sg2_fail(ctx, SG2_ERR_ARG, "%s: output padding (%d, %d) must lie in [0, stride %d)", op, outpad_y,
                        outpad_x, p->stride);
    conv_geom g = {(int)x->shape[0], (int)x->shape[1], (int)x->shape[2], (int)x->shape[3],
                   (int)(w->shape[1] * p->groups), 0, 0, (int)w->shape[2], (int)w->shape[3]};
    if (w->shape[0] != g.Cin)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "%s: weight %s wants %lld input channels, input %s has %d", op,
                        sg2_shape_str(w, sw, sizeof sw), (long long)w->shape[0], sg2_shape_str(x, sx, sizeof sx),
                        g.Cin);
    if (!check_groups(ctx, op, g.Cin, g.Cout, p->groups))
        return NULL;
    g.Ho = (g.H - 1) * p->stride - 2 * p->pad_y + g.kh + outpad_y;
    g.Wo = (g.W - 1) * p->stride - 2 * p->pad_x + g.kw + outpad_x;
    if (g.Ho < 1 || g.Wo < 1)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "%s: padding (%d, %d) leaves an empty %dx%d output for input %s", op,
                        p->pad_y, p->pad_x, g.Ho, g.Wo, sg2_shape_str(x, sx, sizeof sx));
    int64_t shape[4] = {g.N, g.Cout, g.Ho, g.Wo};
    sg2_tensor *y = sg2_tensor_empty(ctx, 4, shape);
    if (!y)
        return NULL;
    int tiled = sg2_conv_tiled_enabled(ctx);
    if (tiled < 0)
        return NULL;
    if (tiled && p->stride > 1) {
        sg2_conv_shape s = tiled_shape(&g, p->stride, p->pad_y, p->pad_x, p->groups);
        if (sg2_conv_tiled_transpose(ctx, &s, x, w, y))
            return NULL;
    } else if (tiled) {
        /* At stride 1 the transpose is a conv2d with the kernel flipped and
         * the padding k - 1 - pad (negative pads crop). */
        sg2_conv_shape s = tiled_shape(&g, 1, g.kh - 1 - p->pad_y, g.kw - 1 - p->pad_x, p->groups);
        if (sg2_conv_tiled_fwd(ctx, &s, 1, x, w, y))
            return NULL;
    } else {
        int cout_g = g.Cout / p->groups;
        int m_lo = p->pad_x / p->stride;
        int n_m = (g.Wo - 1 + p->pad_x) / p->stride - m_lo + 1;
        size_t items = (size_t)g.N * (size_t)p->groups * (size_t)((cout_g + CONV_CO - 1) / CONV_CO) *
                       (size_t)g.Ho * (size_t)p->stride * (size_t)((n_m + CONV_PX - 1) / CONV_PX);
        if (launch_blocked(ctx, "conv_transpose2d_fwd", &g, p, x, w, y, items))
            return NULL;
    }
    conv_node_params q = {*p, outpad_y, outpad_x};
    sg2_tensor *in[2] = {x, w};
    sg2_autograd_record(ctx, y, &conv_transpose2d_def, in, 2, &q, sizeof q, NULL, 0);
    return y;
}

sg2_tensor *sg2_conv2d_wgrad(sg2_ctx *ctx, sg2_tensor *dy, sg2_tensor *x, const sg2_conv_params *p, int kh, int kw)
{
    SG2_OP_GUARD(ctx, dy, x);
    const char *op = "conv2d_wgrad";
    char sd[96], sx[96];
    if (!check_params(ctx, op, p) || !check_4d(ctx, op, "output gradient", dy) || !check_4d(ctx, op, "input", x))
        return NULL;
    if (kh < 1 || kw < 1)
        return sg2_fail(ctx, SG2_ERR_ARG, "%s: kernel size %dx%d must be positive", op, kh, kw);
    conv_geom g = {(int)x->shape[0], (int)x->shape[1], (int)x->shape[2], (int)x->shape[3], (int)dy->shape[1],
                   (int)dy->shape[2], (int)dy->shape[3], kh, kw};
    if (!check_groups(ctx, op, g.Cin, g.Cout, p->groups))
        return NULL;
    int ho = conv_out_len(g.H, kh, p->stride, p->pad_y), wo = conv_out_len(g.W, kw, p->stride, p->pad_x);
    if (ho < 1 || wo < 1)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "%s: %dx%d kernel does not fit input %s padded by (%d, %d)", op, kh, kw,
                        sg2_shape_str(x, sx, sizeof sx), p->pad_y, p->pad_x);
    if (dy->shape[0] != g.N || g.Ho != ho || g.Wo != wo)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "%s: output gradient %s does not match conv2d of input %s "
                        "(expected [%d, %d, %d, %d])", op, sg2_shape_str(dy, sd, sizeof sd),
                        sg2_shape_str(x, sx, sizeof sx), g.N, g.Cout, ho, wo);
    int64_t shape[4] = {g.Cout, g.Cin / p->groups, kh, kw};
    sg2_tensor *dw = sg2_tensor_empty(ctx, 4, shape);
    int tiled = sg2_conv_tiled_enabled(ctx);
    if (!dw || tiled < 0)
        return NULL;
    if (tiled) {
        sg2_conv_shape s = tiled_shape(&g, p->stride, p->pad_y, p->pad_x, p->groups);
        if (sg2_conv_tiled_wgrad(ctx, &s, dy, x, dw))
            return NULL;
    } else if (wgrad_direct(ctx, &g, p, dy, x, dw)) {
        return NULL;
    }
    conv_node_params q = {*p, kh, kw};
    sg2_tensor *in[2] = {dy, x};
    sg2_autograd_record(ctx, dw, &conv2d_wgrad_def, in, 2, &q, sizeof q, NULL, 0);
    return dw;
}
