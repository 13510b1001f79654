/* Host side of cl/winograd.cl: the input and filter transforms written as
 * the GEMM's panels, the 36 products, the output transform.
 *
 * Per 4x4 outputs and input channel, the direct kernels do 144
 * multiply-adds and the GEMM 36; the transforms add a pass that writes 2.25x
 * the input (V) and one that reads 2.25x the output (M). That trade pays
 * where the GEMM's rows (tiles) and its K and N (channels) are large enough
 * to keep the GEMM near its peak: measured on PoCL (2 cores, AVX-512), 3x3
 * convs of 256 channels at batch 8 ran 1.6-1.8x faster than the tiled
 * kernels at 16x16 and 32x32 and 1.1x at 8x8, their weight gradients
 * 1.3-1.9x (bench_ops, the wino- rows). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "src/matmul.h"
#include "src/op_util.h"
#include "src/winograd.h"

enum { ALPHA2 = 36 }; /* 6 x 6 positions per transformed tile */

/* gemm_vec's tiles for the 36 products: 12 rows by two vectors of 16
 * columns per work-item. Fixed rather than taken from the GEMM's tuning,
 * whose shape classes are tuned against CLBlast within a first-use budget
 * of a few runs of these large products: at 64x64 it kept 4 x 16 tiles,
 * 2.5x slower. Measured here (PoCL, AVX-512; bench_ops' wino- rows at 8x8
 * to 32x32): 12 x (2 x 16) 1.1-1.6x over 8 x 16, which beat 16 x 16 and
 * 12 x 16 by up to 10 % and the 8-wide vectors by 1.4x. GMR stays a
 * multiple of 4: the transforms store 4 lanes at a time. */
enum { WINO_GV = 16, WINO_GVN = 2, WINO_GMR = 12 };

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

static int geometry_fits(const sg2_conv_shape *s)
{
    return s->kh == 3 && s->kw == 3 && s->stride == 1 && s->groups == 1 && s->Ho >= 1 && s->Wo >= 1;
}

/* Below 128 channels the transforms, passes over memory, weigh against
 * a GEMM with a short K: measured with 64 channels, forward, against the
 * tiled kernels, 2.4x faster at 1024 tiles (an operand, 36 x tiles x
 * channels floats, the wider of in and out, of 9 MiB), 1.25x at 4096 (36
 * MiB), even at 16384 (144 MiB); 256 channels at 4096 tiles, also 144 MiB,
 * ran 2.1x. The 1024x1024 generator at batch 4, with such a 576 MiB
 * operand at 512x512, took 8.3-12.4 s for 4 images against 5.3-5.4
 * without (and 7.8-9.2 GB against 5.2). */
#define WINO_NARROW_MAX_OPERAND (64.0 * 1048576)

/* Tiles (GEMM rows) at least 32 with 128 channels or more; with 64 or
 * more, at least 64 tiles and the operand within WINO_NARROW_MAX_OPERAND.
 * Measured on PoCL, one process per path, against the tiled kernels: 256
 * channels of 8x8 at batch 8 (32 tiles) 1.1-1.5x faster (bench_ops, the
 * wino- rows); 64 channels: forward 1.25-1.6x at 64 and 128 tiles, 1.15x
 * slower at 32; the weight gradient even at 128 tiles, 1.35x at 2048. 32
 * channels: forward 1.1-1.4x from 256 tiles, but the weight gradient
 * 1.2-1.5x slower, so they stay direct. A GPU keeps the direct kernels
 * until a GEMM written for it backs this path. */
static int pays(sg2_ctx *ctx, const sg2_conv_shape *s)
{
    long tiles = (long)s->N * ceil_div(s->Ho, 4) * ceil_div(s->Wo, 4);
    int channels = s->Cin < s->Cout ? s->Cin : s->Cout, widest = s->Cin > s->Cout ? s->Cin : s->Cout;
    /* V, M or the weight gradient's transformed dy; int indexes */
    double operand = (double)ALPHA2 * tiles * widest * sizeof(float);
    if (!(ctx->rt->dev.type & CL_DEVICE_TYPE_CPU) || channels < 64 || operand / sizeof(float) >= INT_MAX)
        return 0;
    return channels >= 128 ? tiles >= 32 : tiles >= 64 && operand <= WINO_NARROW_MAX_OPERAND;
}

int sg2_winograd_chosen(sg2_ctx *ctx, const sg2_conv_shape *s)
{
    const char *v = getenv("SG2_WINOGRAD");
    if (v && *v && strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
        sg2_fail(ctx, SG2_ERR_ARG, "conv: SG2_WINOGRAD=%s (expected 0 or 1)", v);
        return -1;
    }
    if (!geometry_fits(s) || (v && strcmp(v, "0") == 0))
        return 0;
    return (v && strcmp(v, "1") == 0) || pays(ctx, s);
}

/* The sizes of one call: tiles TY x TX per image, P in all; the 36
 * products [M, K] x [K, N] (the forward's [P, Cin] x [Cin, Cout], the
 * weight gradient's [Cout, P] x [P, Cin]), whose operands' matrices lie
 * a_sb, b_sb and c_sb floats apart. */
typedef struct wino_dims {
    int TY, TX, P;
    int M, N, K, a_sb, b_sb, c_sb;
} wino_dims;

/* The distance between successive matrices of n floats: whole 64-byte
 * lines, an odd number of them, so the 36 lines one work-item reads or
 * writes fall in different cache sets (at a power of two they all share
 * one: the filter transform ran 1.5x slower, the input transform 1.1x). */
static long matrix_stride(long n)
{
    long lines = (n + 15) / 16;
    return 16 * (lines % 2 ? lines : lines + 1);
}

/* 36 matrices `stride` floats apart. */
static sg2_tensor *positions(sg2_ctx *ctx, long stride)
{
    if (ALPHA2 * stride >= INT_MAX)
        return sg2_fail(ctx, SG2_ERR_UNSUPPORTED, "conv: Winograd operand of 36 x %ld floats is too large", stride);
    int64_t shape[2] = {ALPHA2, stride};
    return sg2_tensor_empty(ctx, 2, shape);
}

/* The products' sizes and their operands' strides in d. */
static void products(wino_dims *d, int M, int N, int K)
{
    d->M = M;
    d->N = N;
    d->K = K;
    d->a_sb = (int)matrix_stride((long)ceil_div(M, WINO_GMR) * WINO_GMR * K);
    d->b_sb = (int)matrix_stride((long)ceil_div(N, WINO_GV) * WINO_GV * K);
    d->c_sb = (int)matrix_stride((long)M * N);
}

/* c = the 36 products of the panels ap and bp. */
static sg2_status run_products(sg2_ctx *ctx, const wino_dims *d, const sg2_tensor *ap, const sg2_tensor *bp,
                               sg2_tensor *c)
{
    return sg2_gemm_vec_packed(ctx, ALPHA2, d->M, d->N, d->K, WINO_GV, WINO_GMR, WINO_GVN, ap, d->a_sb, bp, d->b_sb,
                               c, d->c_sb);
}

static const sg2_kernel_entry *wino_kernel(sg2_ctx *ctx, const char *name)
{
    char opts[48];
    snprintf(opts, sizeof opts, "-DGMR=%d -DGV=%d", WINO_GMR, WINO_GV);
    return sg2_kernel(ctx, "winograd.cl", name, opts);
}

/* A transform over groups of 4 channels (gid 0) and `along` tiles or
 * channels (gid 1), work-groups running along gid 1: 64 work-items, or the
 * largest power of two below that divides `along` (and the device allows).
 * 64 consecutive tiles of one channel group store into a few planes
 * together; the driver's choice ran the output and filter transforms
 * 1.3-1.7x slower. */
static sg2_status launch_along(sg2_ctx *ctx, sg2_args *a, const sg2_kernel_entry *k, int channels, int along)
{
    size_t global[2] = {(size_t)ceil_div(channels, 4), (size_t)along};
    size_t local[2] = {1, 64};
    while (local[1] > 1 && (global[1] % local[1] || local[1] > k->max_work_group))
        local[1] /= 2;
    return sg2_launch(ctx->rt, a, 2, global, local, &ctx->err);
}

/* The arguments the input transforms share: x's size and padding, the
 * tile grid. */
static void push_input_grid(sg2_args *a, const sg2_conv_shape *s, const wino_dims *d)
{
    const int v[] = {s->Cin, s->H, s->W, s->pad_y, s->pad_x, d->TY, d->TX};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        sg2_args_int(a, v[i]);
}

/* The arguments the output-side transforms share: y's size, the tile grid. */
static void push_output_grid(sg2_args *a, const sg2_conv_shape *s, const wino_dims *d)
{
    const int v[] = {s->Cout, s->Ho, s->Wo, d->TY, d->TX, d->P};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        sg2_args_int(a, v[i]);
}

/* An input transform over quads of tiles (gid 0), tile rows (gid 1) and
 * planes (gid 2): a work-group per image plane (5.3 -> 3.9 ms at 256
 * channels of 32x32 against the driver's choice; more planes per group
 * made no difference), where the device allows that many work-items. */
static sg2_status launch_planes(sg2_ctx *ctx, sg2_args *a, const sg2_kernel_entry *k, const wino_dims *d,
                                int planes)
{
    size_t global[3] = {(size_t)ceil_div(d->TX, 4), (size_t)d->TY, (size_t)planes};
    size_t local[3] = {global[0], global[1], 1};
    int fits = local[0] * local[1] <= k->max_work_group;
    return sg2_launch(ctx->rt, a, 3, global, fits ? local : NULL, &ctx->err);
}

/* ap[36][ceil(P / gmr)][Cin][gmr] = B^T d B of each tile of x, times
 * in_scale[plane] when it is not NULL. */
static sg2_tensor *input_transform(sg2_ctx *ctx, const sg2_conv_shape *s, const wino_dims *d, const sg2_tensor *x,
                                   const sg2_tensor *in_scale)
{
    const sg2_tensor *sc = in_scale ? in_scale : x; /* stands in when unused */
    sg2_tensor *ap = positions(ctx, d->a_sb);
    const sg2_kernel_entry *k = ap ? wino_kernel(ctx, "winograd_input") : NULL;
    if (!k)
        return NULL;
    sg2_args a = sg2_args_begin(k);
    push_input_grid(&a, s, d);
    sg2_args_int(&a, d->a_sb);
    sg2_args_mem(&a, x->buf->mem);
    sg2_args_int(&a, (int)x->offset);
    sg2_args_mem(&a, sc->buf->mem);
    sg2_args_int(&a, (int)sc->offset);
    sg2_args_int(&a, in_scale != NULL);
    sg2_args_mem(&a, ap->buf->mem);
    return launch_planes(ctx, &a, k, d, s->N * s->Cin) ? NULL : ap;
}

/* bp[36][ceil(Cout / gv)][Cin][gv] = G g G^T of each filter of w. */
static sg2_tensor *filter_transform(sg2_ctx *ctx, const sg2_conv_shape *s, const wino_dims *d, int flip,
                                    const sg2_tensor *w)
{
    sg2_tensor *bp = positions(ctx, d->b_sb);
    const sg2_kernel_entry *k = bp ? wino_kernel(ctx, "winograd_weight") : NULL;
    if (!k)
        return NULL;
    sg2_args a = sg2_args_begin(k);
    sg2_args_int(&a, s->Cin);
    sg2_args_int(&a, s->Cout);
    sg2_args_int(&a, flip);
    sg2_args_int(&a, d->b_sb);
    sg2_args_mem(&a, w->buf->mem);
    sg2_args_int(&a, (int)w->offset);
    sg2_args_mem(&a, bp->buf->mem);
    return launch_along(ctx, &a, k, s->Cout, s->Cin) ? NULL : bp;
}

/* y = A^T M A of each tile and output channel of m[36][P][Cout]. */
static sg2_status output_transform(sg2_ctx *ctx, const sg2_conv_shape *s, const wino_dims *d, const sg2_tensor *m,
                                   sg2_tensor *y)
{
    const sg2_kernel_entry *k = wino_kernel(ctx, "winograd_output");
    if (!k)
        return ctx->err.status;
    sg2_args a = sg2_args_begin(k);
    push_output_grid(&a, s, d);
    sg2_args_int(&a, d->c_sb);
    sg2_args_mem(&a, m->buf->mem);
    sg2_args_mem(&a, y->buf->mem);
    sg2_args_int(&a, (int)y->offset);
    return launch_along(ctx, &a, k, s->Cout, d->P);
}

/* d's tiles of s's output; an error when s is not Winograd's. */
static sg2_status tile_grid(sg2_ctx *ctx, const sg2_conv_shape *s, wino_dims *d)
{
    if (!geometry_fits(s)) {
        sg2_fail(ctx, SG2_ERR_ARG, "conv: Winograd takes 3x3 stride-1 ungrouped convolutions only");
        return ctx->err.status;
    }
    *d = (wino_dims){.TY = ceil_div(s->Ho, 4), .TX = ceil_div(s->Wo, 4)};
    if ((long)s->N * d->TY * d->TX >= INT_MAX / ALPHA2) {
        sg2_fail(ctx, SG2_ERR_UNSUPPORTED, "conv: %d images of %dx%d are too many for Winograd's tiles", s->N,
                 s->Ho, s->Wo);
        return ctx->err.status;
    }
    d->P = s->N * d->TY * d->TX;
    return SG2_OK;
}

/* d for the forward at s: [P, Cin] x [Cin, Cout] at each position. */
static sg2_status fwd_dims(sg2_ctx *ctx, const sg2_conv_shape *s, wino_dims *d)
{
    if (tile_grid(ctx, s, d))
        return ctx->err.status;
    products(d, d->P, s->Cout, s->Cin);
    return SG2_OK;
}

int sg2_winograd_filter_lanes(sg2_ctx *ctx, const sg2_conv_shape *s)
{
    wino_dims d;
    return fwd_dims(ctx, s, &d) ? 0 : WINO_GV;
}

sg2_tensor *sg2_winograd_filters(sg2_ctx *ctx, const sg2_conv_shape *s, int flip, const sg2_tensor *w)
{
    wino_dims d;
    const int key[SG2_DERIVED_KEY] = {2, flip, WINO_GV, 0};
    sg2_tensor *u = sg2_derived_find(w, key);
    if (!u && !fwd_dims(ctx, s, &d)) {
        u = filter_transform(ctx, s, &d, flip, w);
        sg2_derived_keep(w, key, u);
    }
    return u;
}

sg2_status sg2_winograd_fwd_filtered(sg2_ctx *ctx, const sg2_conv_shape *s, const sg2_tensor *x,
                                     const sg2_tensor *in_scale, const sg2_tensor *u, sg2_tensor *y)
{
    wino_dims d;
    if (fwd_dims(ctx, s, &d))
        return ctx->err.status;
    if (u->numel != (int64_t)ALPHA2 * d.b_sb) {
        sg2_fail(ctx, SG2_ERR_SHAPE, "conv: Winograd filters of %lld floats, %lld expected for this shape",
                 (long long)u->numel, (long long)ALPHA2 * d.b_sb);
        return ctx->err.status;
    }
    int op = sg2_conv_profile_begin(ctx, SG2_CONV_OP_FWD, s); /* when modconv calls it directly */
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *ap = input_transform(ctx, s, &d, x, in_scale);
    sg2_tensor *m = ap ? positions(ctx, d.c_sb) : NULL;
    if (m && !run_products(ctx, &d, ap, u, m))
        output_transform(ctx, s, &d, m, y);
    sg2_scope_end(ctx, mark, NULL, 0);
    sg2_conv_profile_end(ctx, op);
    return ctx->err.status;
}

sg2_status sg2_winograd_fwd(sg2_ctx *ctx, const sg2_conv_shape *s, int flip, const sg2_tensor *x,
                            const sg2_tensor *w, sg2_tensor *y)
{
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *u = sg2_winograd_filters(ctx, s, flip, w);
    if (u)
        sg2_winograd_fwd_filtered(ctx, s, x, NULL, u, y);
    sg2_scope_end(ctx, mark, NULL, 0);
    return ctx->err.status;
}

/* bp[36][ceil(Cin / gv)][P][gv] = B^T d B of each tile of x, the weight
 * gradient's B. */
static sg2_tensor *input_transform_k(sg2_ctx *ctx, const sg2_conv_shape *s, const wino_dims *d,
                                     const sg2_tensor *x)
{
    sg2_tensor *bp = positions(ctx, d->b_sb);
    const sg2_kernel_entry *k = bp ? wino_kernel(ctx, "winograd_input_k") : NULL;
    if (!k)
        return NULL;
    sg2_args a = sg2_args_begin(k);
    push_input_grid(&a, s, d);
    sg2_args_int(&a, d->P);
    sg2_args_int(&a, d->b_sb);
    sg2_args_mem(&a, x->buf->mem);
    sg2_args_int(&a, (int)x->offset);
    sg2_args_mem(&a, bp->buf->mem);
    return launch_planes(ctx, &a, k, d, s->N * s->Cin) ? NULL : bp;
}

/* ap[36][ceil(Cout / gmr)][P][gmr] = A dy A^T of each tile of dy, the
 * weight gradient's A. */
static sg2_tensor *grad_output_transform(sg2_ctx *ctx, const sg2_conv_shape *s, const wino_dims *d,
                                         const sg2_tensor *dy)
{
    sg2_tensor *ap = positions(ctx, d->a_sb);
    const sg2_kernel_entry *k = ap ? wino_kernel(ctx, "winograd_grad_output") : NULL;
    if (!k)
        return NULL;
    sg2_args a = sg2_args_begin(k);
    push_output_grid(&a, s, d);
    sg2_args_int(&a, d->a_sb);
    sg2_args_mem(&a, dy->buf->mem);
    sg2_args_int(&a, (int)dy->offset);
    sg2_args_mem(&a, ap->buf->mem);
    return launch_along(ctx, &a, k, s->Cout, d->P) ? NULL : ap;
}

/* dw = G^T dU G of each filter, from du[36][Cout][Cin]. */
static sg2_status grad_filter_transform(sg2_ctx *ctx, const sg2_conv_shape *s, const wino_dims *d,
                                        const sg2_tensor *du, sg2_tensor *dw)
{
    const sg2_kernel_entry *k = wino_kernel(ctx, "winograd_grad_filter");
    if (!k)
        return ctx->err.status;
    sg2_args a = sg2_args_begin(k);
    sg2_args_int(&a, s->Cin);
    sg2_args_int(&a, s->Cout);
    sg2_args_int(&a, d->c_sb);
    sg2_args_mem(&a, du->buf->mem);
    sg2_args_mem(&a, dw->buf->mem);
    sg2_args_int(&a, (int)dw->offset);
    return launch_along(ctx, &a, k, s->Cin, s->Cout);
}

sg2_status sg2_winograd_wgrad(sg2_ctx *ctx, const sg2_conv_shape *s, const sg2_tensor *dy, const sg2_tensor *x,
                              sg2_tensor *dw)
{
    wino_dims d;
    if (tile_grid(ctx, s, &d))
        return ctx->err.status;
    products(&d, s->Cout, s->Cin, d.P); /* dU = Z^T V at each position */
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *ap = grad_output_transform(ctx, s, &d, dy);
    sg2_tensor *bp = ap ? input_transform_k(ctx, s, &d, x) : NULL;
    sg2_tensor *du = bp ? positions(ctx, d.c_sb) : NULL;
    if (du && !run_products(ctx, &d, ap, bp, du))
        grad_filter_transform(ctx, s, &d, du, dw);
    sg2_scope_end(ctx, mark, NULL, 0);
    return ctx->err.status;
}
