/* Host side of cl/winograd.cl: the input and filter transforms written as
 * the GEMM's panels, the 36 products, the output transform.
 *
 * Per 4x4 outputs and input channel, the direct kernels do 144
 * multiply-adds and the GEMM 36; the transforms add a pass that writes 2.25x
 * the input (V) and one that reads 2.25x the output (M). That trade pays
 * where the GEMM's rows (tiles) and its K and N (channels) are large enough
 * to keep the GEMM near its peak: measured on PoCL (2 cores, AVX-512), 3x3
 * convs of 256 channels at batch 8 ran 2.2x faster at 32x32 and 1.4x at
 * 16x16, and slower at 8x8 (bench_ops, the conv2d rows). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "src/matmul.h"
#include "src/op_util.h"
#include "src/winograd.h"

enum { ALPHA2 = 36 }; /* 6 x 6 positions per transformed tile */

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

static int geometry_fits(const sg2_conv_shape *s)
{
    return s->kh == 3 && s->kw == 3 && s->stride == 1 && s->groups == 1 && s->Ho >= 1 && s->Wo >= 1;
}

/* Tiles (GEMM rows) at least 128 and channels at least 128: below either the
 * GEMM's panels run short and the direct kernels win (see the header). A
 * GPU keeps the direct kernels until a GEMM written for it backs this path. */
static int pays(sg2_ctx *ctx, const sg2_conv_shape *s)
{
    long tiles = (long)s->N * ceil_div(s->Ho, 4) * ceil_div(s->Wo, 4);
    return (ctx->rt->dev.type & CL_DEVICE_TYPE_CPU) && tiles >= 128 && s->Cin >= 128 && s->Cout >= 128;
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

/* The sizes of one call: tiles TY x TX per image, P in all; the GEMM is
 * [P, Cin] x [Cin, Cout] at each of the 36 positions. */
typedef struct wino_dims {
    int TY, TX, P, gv, gmr, m_panels, n_panels;
} wino_dims;

static sg2_tensor *empty3(sg2_ctx *ctx, long a, long b, long c)
{
    if (a * b * c >= INT_MAX)
        return sg2_fail(ctx, SG2_ERR_UNSUPPORTED, "conv: Winograd operand of %ld x %ld x %ld is too large", a, b, c);
    int64_t shape[3] = {a, b, c};
    return sg2_tensor_empty(ctx, 3, shape);
}

static const sg2_kernel_entry *wino_kernel(sg2_ctx *ctx, const wino_dims *d, const char *name)
{
    char opts[48];
    snprintf(opts, sizeof opts, "-DGMR=%d -DGV=%d", d->gmr, d->gv);
    return sg2_kernel(ctx, "winograd.cl", name, opts);
}

/* ap[36][m_panels][Cin][gmr] = B^T d B of each tile of x. */
static sg2_tensor *input_transform(sg2_ctx *ctx, const sg2_conv_shape *s, const wino_dims *d, const sg2_tensor *x)
{
    sg2_tensor *ap = empty3(ctx, ALPHA2, (long)d->m_panels * d->gmr, s->Cin);
    const sg2_kernel_entry *k = ap ? wino_kernel(ctx, d, "winograd_input") : NULL;
    if (!k)
        return NULL;
    sg2_args a = sg2_args_begin(k);
    sg2_args_int(&a, s->Cin);
    sg2_args_int(&a, s->H);
    sg2_args_int(&a, s->W);
    sg2_args_int(&a, s->pad_y);
    sg2_args_int(&a, s->pad_x);
    sg2_args_int(&a, d->TY);
    sg2_args_int(&a, d->TX);
    sg2_args_int(&a, d->P);
    sg2_args_int(&a, d->m_panels);
    sg2_args_mem(&a, x->buf->mem);
    sg2_args_int(&a, (int)x->offset);
    sg2_args_mem(&a, ap->buf->mem);
    size_t global[3] = {(size_t)ceil_div(d->TX, 4), (size_t)d->TY, (size_t)s->N * (size_t)s->Cin};
    return sg2_launch(ctx->rt, &a, 3, global, NULL, &ctx->err) ? NULL : ap;
}

/* bp[36][n_panels][Cin][gv] = G g G^T of each filter of w. */
static sg2_tensor *filter_transform(sg2_ctx *ctx, const sg2_conv_shape *s, const wino_dims *d, int flip,
                                    const sg2_tensor *w)
{
    sg2_tensor *bp = empty3(ctx, ALPHA2, (long)d->n_panels * d->gv, s->Cin);
    const sg2_kernel_entry *k = bp ? wino_kernel(ctx, d, "winograd_weight") : NULL;
    if (!k)
        return NULL;
    sg2_args a = sg2_args_begin(k);
    sg2_args_int(&a, s->Cin);
    sg2_args_int(&a, s->Cout);
    sg2_args_int(&a, flip);
    sg2_args_int(&a, d->n_panels);
    sg2_args_mem(&a, w->buf->mem);
    sg2_args_int(&a, (int)w->offset);
    sg2_args_mem(&a, bp->buf->mem);
    size_t global[2] = {(size_t)d->n_panels * (size_t)d->gv, (size_t)s->Cin};
    size_t local[2] = {(size_t)d->gv <= k->max_work_group ? (size_t)d->gv : 1, 1};
    return sg2_launch(ctx->rt, &a, 2, global, local, &ctx->err) ? NULL : bp;
}

/* y = A^T M A of each tile and output channel of m[36][P][Cout]. */
static sg2_status output_transform(sg2_ctx *ctx, const sg2_conv_shape *s, const wino_dims *d, const sg2_tensor *m,
                                   sg2_tensor *y)
{
    const sg2_kernel_entry *k = wino_kernel(ctx, d, "winograd_output");
    if (!k)
        return ctx->err.status;
    sg2_args a = sg2_args_begin(k);
    sg2_args_int(&a, s->Cout);
    sg2_args_int(&a, s->Ho);
    sg2_args_int(&a, s->Wo);
    sg2_args_int(&a, d->TY);
    sg2_args_int(&a, d->TX);
    sg2_args_int(&a, d->P);
    sg2_args_mem(&a, m->buf->mem);
    sg2_args_mem(&a, y->buf->mem);
    sg2_args_int(&a, (int)y->offset);
    size_t global[2] = {(size_t)s->Cout, (size_t)d->P};
    return sg2_launch(ctx->rt, &a, 2, global, NULL, &ctx->err);
}

sg2_status sg2_winograd_fwd(sg2_ctx *ctx, const sg2_conv_shape *s, int flip, const sg2_tensor *x,
                            const sg2_tensor *w, sg2_tensor *y)
{
    if (!geometry_fits(s)) {
        sg2_fail(ctx, SG2_ERR_ARG, "conv: Winograd takes 3x3 stride-1 ungrouped convolutions only");
        return ctx->err.status;
    }
    wino_dims d = {.TY = ceil_div(s->Ho, 4), .TX = ceil_div(s->Wo, 4)};
    if ((long)s->N * d.TY * d.TX >= INT_MAX / ALPHA2) {
        sg2_fail(ctx, SG2_ERR_UNSUPPORTED, "conv: %d images of %dx%d are too many for Winograd's tiles", s->N,
                 s->Ho, s->Wo);
        return ctx->err.status;
    }
    d.P = s->N * d.TY * d.TX;
    sg2_gemm_vec_tiles(ctx, ALPHA2, d.P, s->Cout, s->Cin, &d.gv, &d.gmr);
    d.m_panels = ceil_div(d.P, d.gmr);
    d.n_panels = ceil_div(s->Cout, d.gv);
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *ap = input_transform(ctx, s, &d, x);
    sg2_tensor *bp = ap ? filter_transform(ctx, s, &d, flip, w) : NULL;
    sg2_tensor *m = bp ? empty3(ctx, ALPHA2, d.P, s->Cout) : NULL;
    if (m && !sg2_gemm_vec_packed(ctx, ALPHA2, d.P, s->Cout, s->Cin, d.gv, d.gmr, ap, bp, m))
        output_transform(ctx, s, &d, m, y);
    sg2_scope_end(ctx, mark, NULL, 0);
    return ctx->err.status;
}
