/* conv2d, conv_transpose2d and conv2d_wgrad: forward against the double
 * reference on odd sizes, strides, kernels, padding and groups (including the
 * per-sample grouped layout modulated convolution uses); first gradients of
 * every input against central differences of the reference; second-order
 * gradients (a gradient taken with create_graph, then differentiated again)
 * against central differences of the double first gradient; the direct
 * kernels and other tile sizes of the tiled ones; bad input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/ref/ref.h"
#include "tests/test_util.h"

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})

/* One problem. For conv2d and conv2d_wgrad: x[N,Cin,H,W], w[Cout,Cin/g,kh,kw],
 * y[N,Cout,Ho,Wo]. For conv_transpose2d: x[N,Cin,H,W], w[Cin,Cout/g,kh,kw] and
 * the output padding below. */
typedef struct conv_cfg {
    const char *name;
    int N, Cin, H, W, Cout, kh, kw, stride, pad_y, pad_x, groups;
    int outpad_y, outpad_x; /* conv_transpose2d only */
    int flags;              /* FD: small enough for finite differences; SO: also second order; VAR */
} conv_cfg;

enum { FD = 1, SO = 2, VAR = 4 }; /* VAR: also run with the other kernel variants */

static const conv_cfg configs[] = {
    {"3x3 s1 p1, N2 C3 5x7 -> 5", 2, 3, 5, 7, 5, 3, 3, 1, 1, 1, 1, 0, 0, FD | SO},
    {"3x3 s2 p1, odd 7x9", 2, 3, 7, 9, 4, 3, 3, 2, 1, 1, 1, 1, 0, FD | SO | VAR},
    /* even sizes: conv2d's input gradient needs output padding 1 */
    {"3x3 s2 p1, even 8x6", 1, 3, 8, 6, 5, 3, 3, 2, 1, 1, 1, 0, 1, FD | SO},
    {"1x1", 1, 5, 4, 6, 3, 1, 1, 1, 0, 0, 1, 0, 0, FD},
    {"4x4 s2 p1", 1, 4, 8, 6, 3, 4, 4, 2, 1, 1, 1, 0, 1, FD},
    {"groups 2", 2, 4, 5, 5, 6, 3, 3, 1, 1, 1, 2, 0, 0, FD | SO},
    /* modulated convolution: x[1, 3*4, H, W], w[3*5, 4, 3, 3], one group per sample */
    {"per-sample groups (N 3, Cin 4, Cout 5)", 1, 12, 6, 5, 15, 3, 3, 1, 1, 1, 3, 0, 0, FD | SO},
    /* the transposed upsampling path: stride 2, groups = samples, no padding */
    {"per-sample groups s2 p0", 1, 8, 4, 3, 6, 3, 3, 2, 0, 0, 2, 1, 1, FD | SO | VAR},
    {"2x5 s3 pads (0, 2)", 2, 3, 6, 11, 2, 2, 5, 3, 0, 2, 1, 2, 1, FD | SO},
    {"5x5 s2 p0 (two tap blocks)", 1, 3, 9, 10, 5, 5, 5, 2, 0, 0, 1, 1, 0, FD},
    {"3x1 pads (1, 0)", 2, 5, 4, 3, 3, 3, 1, 1, 1, 0, 1, 0, 0, FD},
    /* shapes for the tiled kernels' paths: rows of 16+ pixels with partial
     * tiles and channel blocks; 1x1 read in place (no padding); ToRGB-like
     * 3 output channels; stride-2 transposes by phase on wide rows */
    {"wide 34 -> 40, 9x40", 1, 34, 9, 40, 40, 3, 3, 1, 1, 1, 1, 0, 0, VAR},
    {"1x1 p0 32 -> 3, 4x32", 2, 32, 4, 32, 3, 1, 1, 1, 0, 0, 1, 0, 0, VAR},
    {"wide s2 p1 10 -> 18, 19x35", 1, 10, 19, 35, 18, 3, 3, 2, 1, 1, 1, 0, 0, VAR},
    {"4x4, 20 -> 36", 3, 20, 4, 4, 36, 3, 3, 1, 1, 1, 1, 0, 0, VAR},
    {"wide 16 -> 19, 17x23", 2, 16, 17, 23, 19, 3, 3, 1, 1, 1, 1, 0, 0, 0},
    {"wide s2 groups 4, 32 -> 20", 2, 32, 15, 12, 20, 3, 3, 2, 1, 1, 4, 1, 0, 0},
    /* the all-phases transpose at 34 channels a group: two 16-channel
     * panels per work-item, the second block's last panel past the end */
    {"s2 p0 groups 2, 12 -> 68, 5x6", 2, 12, 5, 6, 68, 3, 3, 2, 0, 0, 2, 1, 0, VAR},
    /* the channel-vector weight gradient splits the images once a
     * channel block's dy per image passes 128 KiB: 28x28 at 48 channels */
    {"28x28 5 -> 33 (image splits)", 3, 5, 28, 28, 33, 3, 3, 1, 1, 1, 1, 0, 0, VAR},
    /* Winograd's tiles: padding 2 on rows and none on columns (the transpose
     * at stride 1 swaps them), 13x10 leaving partial tiles both ways */
    {"3x3 pads (2, 0), 13x10 6 -> 7", 2, 6, 13, 10, 7, 3, 3, 1, 2, 0, 1, 0, 0, VAR},
};
#define N_CONFIGS ((int)(sizeof configs / sizeof configs[0]))

enum { OP_CONV = 0, OP_CONVT = 1, OP_WGRAD = 2 };
static const char *const op_names[] = {"conv2d", "conv_transpose2d", "conv2d_wgrad"};
/* names of each op's two inputs, in argument order */
static const char *const in_names[3][2] = {{"x", "w"}, {"x", "w"}, {"dy", "x"}};

static int conv_ho(const conv_cfg *c) { return (c->H + 2 * c->pad_y - c->kh) / c->stride + 1; }
static int conv_wo(const conv_cfg *c) { return (c->W + 2 * c->pad_x - c->kw) / c->stride + 1; }
static int convt_ho(const conv_cfg *c) { return (c->H - 1) * c->stride - 2 * c->pad_y + c->kh + c->outpad_y; }
static int convt_wo(const conv_cfg *c) { return (c->W - 1) * c->stride - 2 * c->pad_x + c->kw + c->outpad_x; }

static long numel4(const int64_t *s) { return (long)(s[0] * s[1] * s[2] * s[3]); }

static void set4(int64_t *s, int a, int b, int c, int d)
{
    s[0] = a;
    s[1] = b;
    s[2] = c;
    s[3] = d;
}

/* Shapes of an op's inputs (in[0], in[1]) and output under a config. */
static void op_shapes(int op, const conv_cfg *c, int64_t in[2][4], int64_t *out)
{
    int g = c->groups;
    switch (op) {
    case OP_CONV:
        set4(in[0], c->N, c->Cin, c->H, c->W);
        set4(in[1], c->Cout, c->Cin / g, c->kh, c->kw);
        set4(out, c->N, c->Cout, conv_ho(c), conv_wo(c));
        break;
    case OP_CONVT:
        set4(in[0], c->N, c->Cin, c->H, c->W);
        set4(in[1], c->Cin, c->Cout / g, c->kh, c->kw);
        set4(out, c->N, c->Cout, convt_ho(c), convt_wo(c));
        break;
    default:
        set4(in[0], c->N, c->Cout, conv_ho(c), conv_wo(c));
        set4(in[1], c->N, c->Cin, c->H, c->W);
        set4(out, c->Cout, c->Cin / g, c->kh, c->kw);
        break;
    }
}

static sg2_conv_params params_of(const conv_cfg *c)
{
    sg2_conv_params p = {.stride = c->stride, .pad_y = c->pad_y, .pad_x = c->pad_x, .groups = c->groups};
    return p;
}

/* ---- the double reference, and its first gradients written as formulas ---- */

static void ref_op(int op, const conv_cfg *c, double *y, const double *a, const double *b)
{
    int s = c->stride, py = c->pad_y, px = c->pad_x, g = c->groups;
    if (op == OP_CONV)
        sg2_ref_conv2d(y, a, b, c->N, c->Cin, c->H, c->W, c->Cout, c->kh, c->kw, s, py, px, g);
    else if (op == OP_CONVT)
        sg2_ref_conv_transpose2d(y, a, b, c->N, c->Cin, c->H, c->W, c->Cout, c->kh, c->kw, s, py, px, c->outpad_y,
                                 c->outpad_x, g);
    else
        sg2_ref_conv2d_wgrad(y, a, b, c->N, c->Cin, c->H, c->W, c->Cout, c->kh, c->kw, s, py, px, g);
}

/* dx[N,Cin,H,W] of sum(dy * conv2d(x, w)): conv_transpose2d of dy[N,Cout,Ho,Wo]
 * with w[Cout,Cin/g,kh,kw], the output padding restoring H and W. */
static void ref_conv2d_dx(const conv_cfg *c, double *dx, const double *dy, const double *w)
{
    int ho = conv_ho(c), wo = conv_wo(c);
    int opy = c->H - ((ho - 1) * c->stride - 2 * c->pad_y + c->kh);
    int opx = c->W - ((wo - 1) * c->stride - 2 * c->pad_x + c->kw);
    sg2_ref_conv_transpose2d(dx, dy, w, c->N, c->Cout, ho, wo, c->Cin, c->kh, c->kw, c->stride, c->pad_y, c->pad_x,
                             opy, opx, c->groups);
}

/* g = d/d in[first] of sum(v * op(in[0], in[1])), where `other` is the
 * remaining input: each op's backward rule, spelled with the reference. */
static void ref_first_grad(int op, int first, const conv_cfg *c, double *g, const double *v, const double *other)
{
    int s = c->stride, py = c->pad_y, px = c->pad_x, gr = c->groups;
    int ht = convt_ho(c), wt = convt_wo(c);
    switch (op * 2 + first) {
    case OP_CONV * 2 + 0: /* dx = conv_transpose2d(v, w) */
        ref_conv2d_dx(c, g, v, other);
        break;
    case OP_CONV * 2 + 1: /* dw = wgrad(v, x) */
        sg2_ref_conv2d_wgrad(g, v, other, c->N, c->Cin, c->H, c->W, c->Cout, c->kh, c->kw, s, py, px, gr);
        break;
    case OP_CONVT * 2 + 0: /* dx = conv2d(v, w): v[N,Cout,Ht,Wt], w[Cin,Cout/g] */
        sg2_ref_conv2d(g, v, other, c->N, c->Cout, ht, wt, c->Cin, c->kh, c->kw, s, py, px, gr);
        break;
    case OP_CONVT * 2 + 1: /* dw = wgrad(x, v): x plays dy, v plays the conv2d input */
        sg2_ref_conv2d_wgrad(g, other, v, c->N, c->Cout, ht, wt, c->Cin, c->kh, c->kw, s, py, px, gr);
        break;
    case OP_WGRAD * 2 + 0: /* d(dy) = conv2d(x, G) */
        sg2_ref_conv2d(g, other, v, c->N, c->Cin, c->H, c->W, c->Cout, c->kh, c->kw, s, py, px, gr);
        break;
    default: /* dx = conv_transpose2d(dy, G) */
        ref_conv2d_dx(c, g, other, v);
        break;
    }
}

/* ---- device side ---- */

static sg2_tensor *dev_op(sg2_ctx *ctx, int op, const conv_cfg *c, sg2_tensor *a, sg2_tensor *b)
{
    sg2_conv_params p = params_of(c);
    if (op == OP_CONV)
        return sg2_conv2d(ctx, a, b, &p);
    if (op == OP_CONVT)
        return sg2_conv_transpose2d(ctx, a, b, &p, c->outpad_y, c->outpad_x);
    return sg2_conv2d_wgrad(ctx, a, b, &p, c->kh, c->kw);
}

static double *random_array(long n, uint64_t seed)
{
    double *d = malloc(sizeof(double) * (size_t)n);
    ck_assert_ptr_nonnull(d);
    sg2_test_uniform(d, n, -1, 1, seed);
    return d;
}

/* ---- forward ---- */

/* The op on config i against the reference; `variant` names the kernel
 * choice in failure messages. */
static void check_forward_one(sg2_ctx *ctx, int op, int i, const char *variant)
{
    const conv_cfg *c = &configs[i];
    int64_t in[2][4], out[4];
    op_shapes(op, c, in, out);
    long na = numel4(in[0]), nb = numel4(in[1]), ny = numel4(out);
    double *a = random_array(na, 1000 + (uint64_t)i), *b = random_array(nb, 2000 + (uint64_t)i);
    double *y = malloc(sizeof(double) * (size_t)ny);
    ref_op(op, c, y, a, b);
    char what[200];
    snprintf(what, sizeof what, "%s %s%s", op_names[op], c->name, variant);
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *ty = dev_op(ctx, op, c, sg2_test_tensor(ctx, 4, in[0], a), sg2_test_tensor(ctx, 4, in[1], b));
    ck_assert_msg(ty != NULL, "%s: %s", what, ctx->err.msg);
    ck_assert_int_eq(ty->ndim, 4);
    for (int d = 0; d < 4; d++)
        ck_assert_msg(ty->shape[d] == out[d], "%s: axis %d has %lld, want %lld", what, d, (long long)ty->shape[d],
                      (long long)out[d]);
    sg2_test_assert_close(ctx, ty, y, ny, what);
    sg2_scope_end(ctx, mark, NULL, 0);
    free(a);
    free(b);
    free(y);
}

static void check_forward(int op)
{
    sg2_ctx *ctx = sg2_test_ctx();
    for (int i = 0; i < N_CONFIGS; i++)
        check_forward_one(ctx, op, i, "");
}

START_TEST(test_conv2d_forward) { check_forward(OP_CONV); }
END_TEST

START_TEST(test_conv_transpose2d_forward) { check_forward(OP_CONVT); }
END_TEST

START_TEST(test_conv2d_wgrad_forward) { check_forward(OP_WGRAD); }
END_TEST

/* The direct kernels (SG2_CONV=direct), and tile sizes other than the
 * built-in choice as a tuner would set them (odd blocks, narrow vectors,
 * other kernel variants), on the VAR configs and every op. */
START_TEST(test_conv_kernel_variants)
{
    static const char *const variants[][2] = {
        {"SG2_CONV", "direct"},
        {"SG2_CONV_FWD_TILES", "0,8,2,8,4"},  /* row vectors of 8, two per work-item */
        {"SG2_CONV_FWD_TILES", "0,4,3,3,1"},  /* odd blocks, one work-item per group */
        {"SG2_CONV_FWD_TILES", "1,8,3,5,16"}, /* channel vectors, 3x5 pixels */
        {"SG2_CONV_FWD_TILES", "1,8,3,2,4,3"}, /* 3 channel vectors per work-item, partial last block */
        {"SG2_CONV_FWD_TILES", "1,16,4,2,16,2"}, /* the default at 256 channels on rows of 64 */
        {"SG2_CONV_FWD_TILES", "1,4,2,4,64"}, /* the blocks for devices other than CPUs */
        {"SG2_CONV_WGRAD_TILES", "0,16,1,3,4"},
        {"SG2_CONV_WGRAD_TILES", "0,4,1,1,1"},
        {"SG2_CONV_WGRAD_TILES", "1,16,3,1,8"}, /* channel vectors, also where Cout < 48 */
        {"SG2_CONV_WGRAD_TILES", "1,4,2,3,2"},  /* 3 input channels per work-item */
        {"SG2_CONV_WGRAD_TILES", "1,16,2,1,8"}, /* blocks of 32 channels and a tail launch of 16 (33 -> 48:
                                                   32 + 16), with image splits on 28x28 */
        {"SG2_CONV_TRANSPOSE_TILES", "1,8,3,2,2"},
        {"SG2_CONV_TRANSPOSE_TILES", "3,16,3,2,16,1"}, /* all phases, 3x2 positions of one panel */
        {"SG2_CONV_TRANSPOSE_TILES", "3,4,1,3,8,3"},   /* all phases, 3 panels of 4, partial last block */
        {"SG2_CONV_ORDER", "images"}, /* images outermost in the launch, as for big batches */
        {"SG2_WINOGRAD", "1"}, /* F(4x4, 3x3) for every 3x3 stride-1 conv, however small */
    };
    sg2_ctx *ctx = sg2_test_ctx();
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        char name[80];
        snprintf(name, sizeof name, " (%s=%s)", variants[v][0], variants[v][1]);
        setenv(variants[v][0], variants[v][1], 1);
        for (int op = OP_CONV; op <= OP_WGRAD; op++)
            for (int i = 0; i < N_CONFIGS; i++)
                if (configs[i].flags & VAR)
                    check_forward_one(ctx, op, i, name);
        unsetenv(variants[v][0]);
    }
}
END_TEST

/* Modulated convolution runs per-sample weights as one grouped call. Build
 * that layout by hand from separate samples and weights, and compare every
 * sample with its own ungrouped reference convolution (conv2d, and the
 * transposed form with w[N*Cin, Cout, k, k] the upsampling path uses). */
START_TEST(test_conv_per_sample_weights)
{
    enum { NS = 3, CI = 4, CO = 5, H = 6, W = 7, K = 3 };
    sg2_ctx *ctx = sg2_test_ctx();
    double *x = random_array(NS * CI * H * W, 71);
    double *w = random_array(NS * CO * CI * K * K, 72); /* sample n's weights w[n][CO][CI][K][K] */
    double *y = malloc(sizeof(double) * NS * CO * H * W);
    double *yt = malloc(sizeof(double) * NS * CI * (2 * H + 1) * (2 * W + 1));
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *tx = sg2_test_tensor(ctx, 4, SHAPE(1, NS * CI, H, W), x);
    sg2_tensor *tw = sg2_test_tensor(ctx, 4, SHAPE(NS * CO, CI, K, K), w);
    sg2_conv_params p = {.stride = 1, .pad_y = 1, .pad_x = 1, .groups = NS};
    sg2_tensor *ty = sg2_conv2d(ctx, tx, tw, &p);
    ck_assert_msg(ty != NULL, "%s", ctx->err.msg);
    for (int n = 0; n < NS; n++)
        sg2_ref_conv2d(y + n * CO * H * W, x + n * CI * H * W, w + n * CO * CI * K * K, 1, CI, H, W, CO, K, K, 1, 1,
                       1, 1);
    sg2_test_assert_close(ctx, ty, y, NS * CO * H * W, "grouped conv2d vs per-sample conv2d");
    /* transposed: input y[1, NS*CO, H, W], weight w read as [NS*CO, CI, K, K] = [Cin, Cout/g, ...] */
    sg2_conv_params pt = {.stride = 2, .pad_y = 1, .pad_x = 1, .groups = NS};
    sg2_tensor *tyt = sg2_conv_transpose2d(ctx, sg2_test_tensor(ctx, 4, SHAPE(1, NS * CO, H, W), y), tw, &pt, 0, 0);
    ck_assert_msg(tyt != NULL, "%s", ctx->err.msg);
    int ho = (H - 1) * 2 - 2 + K, wo = (W - 1) * 2 - 2 + K;
    ck_assert_int_eq(tyt->shape[1], NS * CI);
    ck_assert_int_eq(tyt->shape[2], ho);
    ck_assert_int_eq(tyt->shape[3], wo);
    for (int n = 0; n < NS; n++)
        sg2_ref_conv_transpose2d(yt + n * CI * ho * wo, y + n * CO * H * W, w + n * CO * CI * K * K, 1, CO, H, W, CI,
                                 K, K, 2, 1, 1, 0, 0, 1);
    sg2_test_assert_close(ctx, tyt, yt, NS * CI * ho * wo, "grouped conv_transpose2d vs per-sample");
    sg2_scope_end(ctx, mark, NULL, 0);
    free(x);
    free(w);
    free(y);
    free(yt);
}
END_TEST

/* Same inputs, same bits: the weight gradient reduces without atomics
 * (image splits included). */
START_TEST(test_conv2d_wgrad_deterministic)
{
    const conv_cfg *c = &configs[N_CONFIGS - 1];
    sg2_ctx *ctx = sg2_test_ctx();
    int64_t in[2][4], out[4];
    op_shapes(OP_WGRAD, c, in, out);
    double *a = random_array(numel4(in[0]), 81), *b = random_array(numel4(in[1]), 82);
    long n = numel4(out);
    float *r0 = malloc(sizeof(float) * (size_t)n), *r1 = malloc(sizeof(float) * (size_t)n);
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *ta = sg2_test_tensor(ctx, 4, in[0], a), *tb = sg2_test_tensor(ctx, 4, in[1], b);
    sg2_tensor *t0 = dev_op(ctx, OP_WGRAD, c, ta, tb), *t1 = dev_op(ctx, OP_WGRAD, c, ta, tb);
    ck_assert_msg(t0 && t1, "%s", ctx->err.msg);
    ck_assert_int_eq(sg2_tensor_read(ctx, t0, r0), SG2_OK);
    ck_assert_int_eq(sg2_tensor_read(ctx, t1, r1), SG2_OK);
    ck_assert_msg(memcmp(r0, r1, sizeof(float) * (size_t)n) == 0, "two runs differ");
    sg2_scope_end(ctx, mark, NULL, 0);
    free(a);
    free(b);
    free(r0);
    free(r1);
}
END_TEST

/* ---- first-order gradients ---- */

typedef struct fd_user {
    int op, wrt;
    const conv_cfg *c;
    const double *other; /* the input held fixed */
} fd_user;

static void fd_fn(double *y, const double *z, void *user)
{
    const fd_user *u = user;
    if (u->wrt == 0)
        ref_op(u->op, u->c, y, z, u->other);
    else
        ref_op(u->op, u->c, y, u->other, z);
}

static void check_grad(int op)
{
    sg2_ctx *ctx = sg2_test_ctx();
    for (int i = 0; i < N_CONFIGS; i++) {
        const conv_cfg *c = &configs[i];
        if (!(c->flags & FD))
            continue;
        int64_t in[2][4], out[4];
        op_shapes(op, c, in, out);
        long n[2] = {numel4(in[0]), numel4(in[1])}, ny = numel4(out);
        double *x[2] = {random_array(n[0], 3000 + (uint64_t)i), random_array(n[1], 4000 + (uint64_t)i)};
        double *v = random_array(ny, 5000 + (uint64_t)i);
        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *t[2] = {sg2_test_tensor(ctx, 4, in[0], x[0]), sg2_test_tensor(ctx, 4, in[1], x[1])};
        sg2_tensor_set_requires_grad(t[0], 1);
        sg2_tensor_set_requires_grad(t[1], 1);
        sg2_tensor *ty = dev_op(ctx, op, c, t[0], t[1]);
        sg2_tensor *tv = sg2_test_tensor(ctx, 4, out, v);
        sg2_tensor *g[2] = {NULL, NULL};
        ck_assert_msg(sg2_autograd_grad(ctx, 1, &ty, &tv, 2, t, 0, g) == SG2_OK, "%s %s: %s", op_names[op], c->name,
                      ctx->err.msg);
        for (int k = 0; k < 2; k++) {
            char what[160];
            snprintf(what, sizeof what, "d/d%s %s %s", in_names[op][k], op_names[op], c->name);
            ck_assert_msg(sg2_shape_equal(g[k], t[k]), "%s: gradient shape differs from the input's", what);
            double *ref = malloc(sizeof(double) * (size_t)n[k]);
            fd_user u = {op, k, c, x[1 - k]};
            sg2_test_fd_vjp(fd_fn, &u, x[k], n[k], v, ny, ref, 1e-6);
            sg2_test_assert_close(ctx, g[k], ref, n[k], what);
            free(ref);
        }
        sg2_scope_end(ctx, mark, NULL, 0);
        free(x[0]);
        free(x[1]);
        free(v);
    }
}

START_TEST(test_conv2d_grad) { check_grad(OP_CONV); }
END_TEST

START_TEST(test_conv_transpose2d_grad) { check_grad(OP_CONVT); }
END_TEST

START_TEST(test_conv2d_wgrad_grad) { check_grad(OP_WGRAD); }
END_TEST

/* ---- second order ----
 * f = sum(v * op(a, b)). g = df/d in[first] is taken with create_graph; it is
 * compared with the reference formula, then h = sum(g^2) is differentiated
 * with respect to the other input and compared with central differences of
 * the double function z -> sum(first_grad(z)^2). For conv2d and d/dx this is
 * w -> sum(conv_transpose2d(v, w)^2); for conv2d_wgrad's inputs it is
 * x -> sum(conv2d(x, G)^2) and dy -> sum(conv_transpose2d(dy, G)^2). */

typedef struct so_user {
    int op, first;
    const conv_cfg *c;
    const double *v;
    long ng;             /* elements of the first gradient */
} so_user;

static void so_fn(double *h, const double *z, void *user)
{
    const so_user *u = user;
    double *g = malloc(sizeof(double) * (size_t)u->ng);
    ref_first_grad(u->op, u->first, u->c, g, u->v, z);
    double s = 0;
    for (long i = 0; i < u->ng; i++)
        s += g[i] * g[i];
    h[0] = s;
    free(g);
}

static void check_second_order(int op)
{
    sg2_ctx *ctx = sg2_test_ctx();
    double one = 1.0;
    for (int ci = 0; ci < N_CONFIGS; ci++) {
        const conv_cfg *c = &configs[ci];
        if (!(c->flags & SO))
            continue;
        int64_t in[2][4], out[4];
        op_shapes(op, c, in, out);
        long n[2] = {numel4(in[0]), numel4(in[1])}, ny = numel4(out);
        for (int first = 0; first < 2; first++) {
            int second = 1 - first;
            uint64_t seed = 6000 + 10 * (uint64_t)ci + (uint64_t)first;
            double *x[2] = {random_array(n[0], seed), random_array(n[1], seed + 100)};
            double *v = random_array(ny, seed + 200);
            double *g_ref = malloc(sizeof(double) * (size_t)n[first]);
            double *h_ref = malloc(sizeof(double) * (size_t)n[second]);
            char what[200];
            size_t mark = sg2_scope_begin(ctx);
            sg2_tensor *t[2] = {sg2_test_tensor(ctx, 4, in[0], x[0]), sg2_test_tensor(ctx, 4, in[1], x[1])};
            sg2_tensor_set_requires_grad(t[0], 1);
            sg2_tensor_set_requires_grad(t[1], 1);
            sg2_tensor *tv = sg2_test_tensor(ctx, 4, out, v);
            sg2_tensor *f = sg2_sum_all(ctx, sg2_mul(ctx, dev_op(ctx, op, c, t[0], t[1]), tv));
            sg2_tensor *g = NULL, *gh = NULL;
            ck_assert_msg(sg2_autograd_grad(ctx, 1, &f, NULL, 1, &t[first], 1, &g) == SG2_OK, "%s", ctx->err.msg);
            ref_first_grad(op, first, c, g_ref, v, x[second]);
            snprintf(what, sizeof what, "%s %s: df/d%s", op_names[op], c->name, in_names[op][first]);
            sg2_test_assert_close(ctx, g, g_ref, n[first], what);
            sg2_tensor *h = sg2_sum_all(ctx, sg2_square(ctx, g));
            ck_assert_msg(sg2_autograd_grad(ctx, 1, &h, NULL, 1, &t[second], 0, &gh) == SG2_OK, "%s", ctx->err.msg);
            so_user u = {op, first, c, v, n[first]};
            sg2_test_fd_vjp(so_fn, &u, x[second], n[second], &one, 1, h_ref, 1e-6);
            snprintf(what, sizeof what, "%s %s: d/d%s sum((df/d%s)^2)", op_names[op], c->name, in_names[op][second],
                     in_names[op][first]);
            sg2_test_assert_close(ctx, gh, h_ref, n[second], what);
            sg2_scope_end(ctx, mark, NULL, 0);
            free(x[0]);
            free(x[1]);
            free(v);
            free(g_ref);
            free(h_ref);
        }
    }
}

START_TEST(test_conv2d_second_order) { check_second_order(OP_CONV); }
END_TEST

START_TEST(test_conv_transpose2d_second_order) { check_second_order(OP_CONVT); }
END_TEST

START_TEST(test_conv2d_wgrad_second_order) { check_second_order(OP_WGRAD); }
END_TEST

/* Gradients and gradients of gradients with every 3x3 stride-1 conv (the
 * forward, the input gradient as a stride-1 transpose, and the weight
 * gradient) run as Winograd. */
START_TEST(test_conv_winograd_grads)
{
    setenv("SG2_WINOGRAD", "1", 1);
    check_grad(OP_CONV);
    check_second_order(OP_CONV);
    check_second_order(OP_CONVT);
    check_second_order(OP_WGRAD);
    unsetenv("SG2_WINOGRAD");
}
END_TEST

/* ---- bad input ---- */

static void expect_fail(sg2_ctx *ctx, sg2_tensor *r, sg2_status want, const char *op, const char *what)
{
    ck_assert_msg(r == NULL, "%s: expected failure", what);
    ck_assert_msg(sg2_ctx_status(ctx) == want, "%s: status %d, want %d (%s)", what, (int)sg2_ctx_status(ctx),
                  (int)want, ctx->err.msg);
    ck_assert_msg(strstr(ctx->err.msg, op) != NULL, "%s: message names the op: %s", what, ctx->err.msg);
    sg2_ctx_clear_error(ctx);
}

START_TEST(test_conv_bad_input)
{
    sg2_ctx *ctx = sg2_test_ctx();
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *x3 = sg2_tensor_full(ctx, 4, SHAPE(2, 3, 5, 5), 1.0f);  /* 3 channels */
    sg2_tensor *x4 = sg2_tensor_full(ctx, 4, SHAPE(2, 4, 5, 5), 1.0f);  /* 4 channels */
    sg2_tensor *x2x2 = sg2_tensor_full(ctx, 4, SHAPE(1, 3, 2, 2), 1.0f);
    sg2_tensor *w43 = sg2_tensor_full(ctx, 4, SHAPE(4, 3, 3, 3), 1.0f); /* conv: 3 -> 4 */
    sg2_tensor *w42 = sg2_tensor_full(ctx, 4, SHAPE(4, 2, 3, 3), 1.0f);
    sg2_tensor *w55 = sg2_tensor_full(ctx, 4, SHAPE(4, 3, 5, 5), 1.0f);
    sg2_tensor *w3d = sg2_tensor_full(ctx, 3, SHAPE(4, 3, 9), 1.0f);
    sg2_tensor *wt32 = sg2_tensor_full(ctx, 4, SHAPE(3, 2, 3, 3), 1.0f); /* transposed: 3 -> 2*groups */
    sg2_tensor *dy = sg2_tensor_full(ctx, 4, SHAPE(2, 4, 5, 5), 1.0f);  /* conv2d(x3, w43) with pad 1 */
    sg2_tensor *dy1 = sg2_tensor_full(ctx, 4, SHAPE(1, 4, 5, 5), 1.0f);
    sg2_conv_params same = {.stride = 1, .pad_y = 1, .pad_x = 1, .groups = 1};
    sg2_conv_params valid = {.stride = 1, .pad_y = 0, .pad_x = 0, .groups = 1};
    sg2_conv_params g2 = {.stride = 1, .pad_y = 1, .pad_x = 1, .groups = 2};
    sg2_conv_params s0 = {.stride = 0, .pad_y = 1, .pad_x = 1, .groups = 1};
    sg2_conv_params neg = {.stride = 1, .pad_y = -1, .pad_x = 1, .groups = 1};
    sg2_conv_params gz = {.stride = 1, .pad_y = 1, .pad_x = 1, .groups = 0};
    sg2_conv_params pad3 = {.stride = 1, .pad_y = 3, .pad_x = 3, .groups = 1};
    sg2_conv_params s2 = {.stride = 2, .pad_y = 1, .pad_x = 1, .groups = 1};

    /* the valid cases these are variations of */
    ck_assert_msg(sg2_conv2d(ctx, x3, w43, &same) != NULL, "%s", ctx->err.msg);
    ck_assert_msg(sg2_conv_transpose2d(ctx, x4, w43, &same, 0, 0) != NULL, "%s", ctx->err.msg);
    ck_assert_msg(sg2_conv2d_wgrad(ctx, dy, x3, &same, 3, 3) != NULL, "%s", ctx->err.msg);

    expect_fail(ctx, sg2_conv2d(ctx, x4, w43, &same), SG2_ERR_SHAPE, "conv2d", "conv2d channel mismatch");
    expect_fail(ctx, sg2_conv2d(ctx, x3, w42, &g2), SG2_ERR_SHAPE, "conv2d", "conv2d groups 2 with 3 channels");
    expect_fail(ctx, sg2_conv2d(ctx, x2x2, w55, &valid), SG2_ERR_SHAPE, "conv2d", "conv2d 5x5 kernel on 2x2");
    expect_fail(ctx, sg2_conv2d(ctx, x3, w3d, &same), SG2_ERR_SHAPE, "conv2d", "conv2d 3-D weight");
    expect_fail(ctx, sg2_conv2d(ctx, x3, w43, &s0), SG2_ERR_ARG, "conv2d", "conv2d stride 0");
    expect_fail(ctx, sg2_conv2d(ctx, x3, w43, &neg), SG2_ERR_ARG, "conv2d", "conv2d negative padding");
    expect_fail(ctx, sg2_conv2d(ctx, x3, w43, &gz), SG2_ERR_ARG, "conv2d", "conv2d groups 0");
    expect_fail(ctx, sg2_conv2d(ctx, x3, w43, NULL), SG2_ERR_ARG, "conv2d", "conv2d NULL params");
    expect_fail(ctx, sg2_conv2d(ctx, NULL, w43, &same), SG2_ERR_ARG, "conv2d", "conv2d NULL input");

    expect_fail(ctx, sg2_conv_transpose2d(ctx, x3, w43, &same, 0, 0), SG2_ERR_SHAPE, "conv_transpose2d",
                "conv_transpose2d channel mismatch");
    expect_fail(ctx, sg2_conv_transpose2d(ctx, x3, wt32, &g2, 0, 0), SG2_ERR_SHAPE, "conv_transpose2d",
                "conv_transpose2d groups 2 with 3 input channels");
    expect_fail(ctx, sg2_conv_transpose2d(ctx, x2x2, wt32, &pad3, 0, 0), SG2_ERR_SHAPE,
                "conv_transpose2d", "conv_transpose2d output size < 1");
    expect_fail(ctx, sg2_conv_transpose2d(ctx, x4, w43, &same, 1, 0), SG2_ERR_ARG, "conv_transpose2d",
                "conv_transpose2d output padding = stride");
    expect_fail(ctx, sg2_conv_transpose2d(ctx, x4, w43, &s2, 0, -1), SG2_ERR_ARG, "conv_transpose2d",
                "conv_transpose2d negative output padding");

    expect_fail(ctx, sg2_conv2d_wgrad(ctx, dy, x3, &valid, 3, 3), SG2_ERR_SHAPE, "conv2d_wgrad",
                "conv2d_wgrad dy size mismatch");
    expect_fail(ctx, sg2_conv2d_wgrad(ctx, dy, x3, &g2, 3, 3), SG2_ERR_SHAPE, "conv2d_wgrad",
                "conv2d_wgrad groups 2 with 3 channels");
    expect_fail(ctx, sg2_conv2d_wgrad(ctx, dy, x2x2, &valid, 5, 5), SG2_ERR_SHAPE, "conv2d_wgrad",
                "conv2d_wgrad output size < 1");
    expect_fail(ctx, sg2_conv2d_wgrad(ctx, dy, x3, &same, 0, 3), SG2_ERR_ARG, "conv2d_wgrad",
                "conv2d_wgrad kernel 0x3");
    expect_fail(ctx, sg2_conv2d_wgrad(ctx, dy1, x3, &same, 3, 3), SG2_ERR_SHAPE, "conv2d_wgrad",
                "conv2d_wgrad batch 1 vs 2");
    expect_fail(ctx, sg2_conv2d_wgrad(ctx, dy, w3d, &same, 3, 3), SG2_ERR_SHAPE, "conv2d_wgrad",
                "conv2d_wgrad 3-D input");
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

/* ---- the profile's op classes (sg2_conv_profile_begin) ---- */

static double rows_ns(const sg2_profile *p)
{
    double t = 0;
    for (int i = 0; i < p->n_rows; i++)
        t += p->rows[i].total_ns;
    return t;
}

static double ops_ns(const sg2_profile *p)
{
    double t = 0;
    for (int i = 0; i < p->n_ops; i++)
        t += p->ops[i].total_ns;
    return t;
}

static void check_class(const sg2_profile *p, const char *name, long calls, double flop)
{
    for (int i = 0; i < p->n_ops; i++)
        if (strcmp(p->ops[i].name, name) == 0) {
            ck_assert_msg(p->ops[i].calls == calls, "%s: %ld calls, %ld expected", name, p->ops[i].calls, calls);
            ck_assert_msg(p->ops[i].flop == flop, "%s: %.0f FLOP, %.0f expected", name, p->ops[i].flop, flop);
            ck_assert_msg(p->ops[i].total_ns > 0, "%s: no device time", name);
            return;
        }
    ck_abort_msg("the profile has no op class \"%s\"", name);
}

static sg2_tensor *filled(sg2_ctx *ctx, int64_t a, int64_t b, int64_t c, int64_t d, uint64_t seed)
{
    long n = (long)(a * b * c * d);
    double *v = malloc(sizeof(double) * (size_t)n);
    sg2_test_uniform(v, n, -1, 1, seed);
    sg2_tensor *t = sg2_test_tensor(ctx, 4, (const int64_t[]){a, b, c, d}, v);
    free(v);
    return t;
}

/* With $SG2_PROFILE=1 each conv call counts once in its class (kind,
 * kernel, stride) with the FLOPs of the direct convolution: also a
 * Winograd one, whose filtered product opens a class of its own when
 * called alone. Every kernel a conv launches counts towards its class, and
 * a kernel outside any conv towards none. */
START_TEST(test_conv_profile_classes)
{
    setenv("SG2_PROFILE", "1", 1);
    setenv("SG2_WINOGRAD", "1", 1); /* the stride-1 conv and its weight gradient as Winograd */
    sg2_error err = {0};
    sg2_runtime rt;
    ck_assert_msg(!sg2_runtime_init(&rt, NULL, &err), "%s", err.msg);
    unsetenv("SG2_PROFILE");
    sg2_ctx c;
    sg2_ctx_init(&c, &rt);
    c.grad_enabled = 0;
    sg2_profile *p = &rt.profile;
    sg2_tensor *x = filled(&c, 2, 5, 7, 9, 1), *w = filled(&c, 6, 5, 3, 3, 2);
    sg2_tensor *xt = filled(&c, 2, 6, 4, 5, 3), *wt = filled(&c, 6, 5, 3, 3, 4);
    sg2_profile_collect(p);
    double rows0 = rows_ns(p);
    ck_assert(p->n_ops == 0);

    sg2_conv_params same = {1, 1, 1, 1}, up = {2, 0, 0, 1};
    sg2_tensor *y = sg2_conv2d(&c, x, w, &same);                 /* [2, 6, 7, 9] */
    sg2_tensor *yt = sg2_conv_transpose2d(&c, xt, wt, &up, 0, 0); /* [2, 5, 9, 11] */
    sg2_tensor *dw = y ? sg2_conv2d_wgrad(&c, y, x, &same, 3, 3) : NULL;
    ck_assert_msg(y && yt && dw && !sg2_runtime_finish(&rt, &c.err), "%s", c.err.msg);
    sg2_profile_collect(p);
    check_class(p, "conv 3x3 s1", 1, 2.0 * 2 * 6 * 5 * 9 * 7 * 9);
    check_class(p, "conv_transpose 3x3 s2", 1, 2.0 * 2 * 6 * 5 * 9 * 4 * 5); /* taps per input pixel */
    check_class(p, "conv_wgrad 3x3 s1", 1, 2.0 * 2 * 6 * 5 * 9 * 7 * 9);
    ck_assert_msg(p->n_ops == 3, "%d op classes, 3 expected", p->n_ops);
    ck_assert_msg(rows_ns(p) - rows0 == ops_ns(p), "kernels %.0f ns, their classes %.0f ns", rows_ns(p) - rows0,
                  ops_ns(p));

    double ops1 = ops_ns(p), rows1 = rows_ns(p);
    ck_assert_msg(sg2_add(&c, y, y) && !sg2_runtime_finish(&rt, &c.err), "%s", c.err.msg);
    sg2_profile_collect(p);
    ck_assert_msg(rows_ns(p) > rows1 && ops_ns(p) == ops1, "an add counted towards a conv class");

    unsetenv("SG2_WINOGRAD");
    sg2_ctx_free(&c);
    sg2_profile_free(p); /* without the runtime's dump at exit */
    sg2_runtime_free(&rt);
}
END_TEST

static Suite *conv_suite(void)
{
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("conv");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_conv2d_forward);
    tcase_add_test(tc, test_conv_transpose2d_forward);
    tcase_add_test(tc, test_conv2d_wgrad_forward);
    tcase_add_test(tc, test_conv_kernel_variants);
    tcase_add_test(tc, test_conv_per_sample_weights);
    tcase_add_test(tc, test_conv2d_wgrad_deterministic);
    tcase_add_test(tc, test_conv2d_grad);
    tcase_add_test(tc, test_conv_transpose2d_grad);
    tcase_add_test(tc, test_conv2d_wgrad_grad);
    tcase_add_test(tc, test_conv2d_second_order);
    tcase_add_test(tc, test_conv_transpose2d_second_order);
    tcase_add_test(tc, test_conv2d_wgrad_second_order);
    tcase_add_test(tc, test_conv_winograd_grads);
    tcase_add_test(tc, test_conv_bad_input);
    tcase_add_test(tc, test_conv_profile_classes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return sg2_test_run(conv_suite()) != 0;
}
