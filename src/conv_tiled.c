/* Host side of cl/conv_tiled.cl: the padded input and packed weight copies,
 * the tile sizes per problem, and the launches.
 *
 * The copies cost one pass over x (and over the weights, and over dy for the
 * weight gradient) against Cin*kh*kw (or Cout*kh*kw) multiply-adds per
 * element in the convolution itself, and they buy inner loops without bounds
 * checks that load whole vectors. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/conv_tiled.h"

/* Tile sizes of one launch; each becomes a -D option of cl/conv_tiled.cl. */
typedef struct tiles {
    int cv;  /* forward: 1 = conv2d_tiled_cv (vectors along channels), 0 = conv2d_tiled (along a row) */
    int vw;  /* pixels per vector, or channels per vector (cv) */
    int nv;  /* vectors per work-item along a row (conv2d_tiled), or pixel rows (cv) */
    int tco; /* output channels per work-item, or pixel columns (cv) */
    int lws; /* work-items per work-group along dim 0 */
} tiles;

int sg2_conv_tiled_enabled(sg2_ctx *ctx)
{
    const char *v = getenv("SG2_CONV");
    if (!v || !*v || strcmp(v, "tiled") == 0)
        return 1;
    if (strcmp(v, "direct") == 0)
        return 0;
    sg2_fail(ctx, SG2_ERR_ARG, "conv: SG2_CONV=%s (expected \"tiled\" or \"direct\")", v);
    return -1;
}

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

/* $SG2_CONV_FWD_TILES = "cv,vw,nv,tco,lws", $SG2_CONV_TRANSPOSE_TILES =
 * "1,cv,pr,pc,lws" (stride > 1) and $SG2_CONV_WGRAD_TILES = "0,vw,1,tco,lws"
 * replace the built-in choice (tuning by hand or by script; see struct
 * tiles for the fields). */
static void tiles_from_env(const char *var, tiles *t)
{
    const char *v = getenv(var);
    tiles e;
    if (v && sscanf(v, "%d,%d,%d,%d,%d", &e.cv, &e.vw, &e.nv, &e.tco, &e.lws) == 5 && e.nv > 0 && e.tco > 0 &&
        e.lws > 0 && (e.vw == 4 || e.vw == 8 || e.vw == 16))
        *t = e;
}

/* The built-in tiles below were measured on PoCL (2 cores, AVX-512), where
 * 16 vectors of 16 floats fit the register file. A GPU work-item has far
 * fewer registers per lane, so other devices start from quarter-size
 * blocks (an untuned guess, for a tuner to replace). */
static int big_tiles(sg2_ctx *ctx) { return (ctx->rt->dev.type & CL_DEVICE_TYPE_CPU) != 0; }

/* Forward tiles: 16-channel vectors times 2x8 pixels (4x4 on rows of less
 * than 8), which beat 16-pixel row vectors times 16 channels by 1.1-1.6x on
 * PoCL at 32x32 and 16x16. A group of at most 4 output channels (ToRGB) on
 * rows of 16 and more takes row vectors times 4 channels instead. */
static tiles fwd_tiles(sg2_ctx *ctx, const sg2_conv_shape *s)
{
    tiles t = {1, 16, s->Wo >= 8 ? 2 : 4, s->Wo >= 8 ? 8 : 4, 16};
    if (s->Cout / s->groups <= 4)
        t = s->Wo >= 16 && s->stride == 1 ? (tiles){0, 16, s->Wo >= 32 ? 2 : 1, 4, 16} : (tiles){1, 4, 4, 4, 16};
    if (!big_tiles(ctx))
        t = t.cv ? (tiles){1, 4, 2, 4, 64} : (tiles){0, 4, 1, 8, 64};
    tiles_from_env("SG2_CONV_FWD_TILES", &t);
    return t;
}

/* Weight-gradient tiles: partial sums are vectors along ox; a 1x1 kernel has
 * one tap, so more output channels fit in registers. */
static tiles wgrad_tiles(sg2_ctx *ctx, const sg2_conv_shape *s)
{
    int cout_g = s->Cout / s->groups;
    tiles t = {0, 8, 1, s->kh * s->kw == 1 ? 8 : 2, 8};
    if (s->Wo <= 4 || !big_tiles(ctx))
        t.vw = 4;
    if (t.tco > cout_g)
        t.tco = cout_g;
    tiles_from_env("SG2_CONV_WGRAD_TILES", &t);
    return t;
}

/* The kernel `name` built for this geometry and these tiles. */
static const sg2_kernel_entry *tiled_kernel(sg2_ctx *ctx, const char *name, const sg2_conv_shape *s, const tiles *t)
{
    char opts[160];
    if (t->cv)
        snprintf(opts, sizeof opts, "-DKH=%d -DKW=%d -DSTRIDE=%d -DCV=%d -DPR=%d -DPC=%d", s->kh, s->kw, s->stride,
                 t->vw, t->nv, t->tco);
    else
        snprintf(opts, sizeof opts, "-DKH=%d -DKW=%d -DSTRIDE=%d -DVW=%d -DNV=%d -DTCO=%d -DWG_TCO=%d", s->kh,
                 s->kw, s->stride, t->vw, t->nv, t->tco, t->tco);
    return sg2_kernel(ctx, "conv_tiled.cl", name, opts);
}

static size_t lws_for(const sg2_kernel_entry *k, int want)
{
    size_t l = (size_t)want;
    return l > k->max_work_group ? k->max_work_group : l;
}

/* xp[planes, hp, wp] = x[planes, h, w] moved by (pad_y, pad_x), zeros
 * around; see conv_pad. */
static sg2_tensor *pad_planes(sg2_ctx *ctx, const sg2_tensor *x, int planes, int h, int w, int hp, int wp,
                              int pad_y, int pad_x)
{
    if ((long long)planes * hp * wp >= INT_MAX)
        return sg2_fail(ctx, SG2_ERR_UNSUPPORTED, "conv: padded input of %d x %d x %d is too large", planes, hp, wp);
    int64_t shape[3] = {planes, hp, wp};
    sg2_tensor *xp = sg2_tensor_empty(ctx, 3, shape);
    const sg2_kernel_entry *k = sg2_kernel(ctx, "conv_tiled.cl", "conv_pad", NULL);
    if (!xp || !k)
        return NULL;
    sg2_args a = sg2_args_begin(k);
    sg2_args_int(&a, planes);
    sg2_args_int(&a, h);
    sg2_args_int(&a, w);
    sg2_args_int(&a, hp);
    sg2_args_int(&a, wp);
    sg2_args_int(&a, pad_y);
    sg2_args_int(&a, pad_x);
    sg2_args_mem(&a, x->buf->mem);
    sg2_args_int(&a, (int)x->offset);
    sg2_args_mem(&a, xp->buf->mem);
    size_t global[3] = {(size_t)wp, (size_t)hp, (size_t)planes}, local[3] = {lws_for(k, 64), 1, 1};
    if (sg2_launch(ctx->rt, &a, 3, global, local, &ctx->err))
        return NULL;
    return xp;
}

/* wt[groups][n_cb][cin_g * taps][lanes]; see conv_pack_weight. */
static sg2_tensor *pack_weight(sg2_ctx *ctx, const sg2_tensor *w, const sg2_conv_shape *s, int lanes, int flip)
{
    int cin_g = s->Cin / s->groups, cout_g = s->Cout / s->groups, n_cb = ceil_div(cout_g, lanes);
    int64_t shape[4] = {s->groups, n_cb, (int64_t)cin_g * s->kh * s->kw, lanes};
    sg2_tensor *wt = sg2_tensor_empty(ctx, 4, shape);
    const sg2_kernel_entry *k = sg2_kernel(ctx, "conv_tiled.cl", "conv_pack_weight", NULL);
    if (!wt || !k)
        return NULL;
    sg2_args a = sg2_args_begin(k);
    sg2_args_int(&a, s->groups);
    sg2_args_int(&a, cin_g);
    sg2_args_int(&a, cout_g);
    sg2_args_int(&a, n_cb);
    sg2_args_int(&a, lanes);
    sg2_args_int(&a, s->kh);
    sg2_args_int(&a, s->kw);
    sg2_args_int(&a, flip);
    sg2_args_mem(&a, w->buf->mem);
    sg2_args_int(&a, (int)w->offset);
    sg2_args_mem(&a, wt->buf->mem);
    size_t kk = (size_t)cin_g * (size_t)(s->kh * s->kw), co = (size_t)n_cb * (size_t)lanes;
    size_t global[3] = {flip ? co : kk, flip ? kk : co, (size_t)s->groups}, local[3] = {lws_for(k, 64), 1, 1};
    if (sg2_launch(ctx->rt, &a, 3, global, local, &ctx->err))
        return NULL;
    return wt;
}

/* Output rows, columns and channels one forward work-item covers. */
static void fwd_block(const tiles *t, int *rows, int *cols, int *chans)
{
    *rows = t->cv ? t->nv : 1;
    *cols = t->cv ? t->tco : t->vw * t->nv;
    *chans = t->cv ? t->vw : t->tco;
}

static sg2_status launch_fwd(sg2_ctx *ctx, const sg2_conv_shape *s, const tiles *t, const sg2_tensor *xp, int hp,
                             int wp, const sg2_tensor *wt, sg2_tensor *y)
{
    const sg2_kernel_entry *k = tiled_kernel(ctx, t->cv ? "conv2d_tiled_cv" : "conv2d_tiled", s, t);
    if (!k)
        return ctx->err.status;
    int rows, cols, chans;
    fwd_block(t, &rows, &cols, &chans);
    int n_xt = ceil_div(s->Wo, cols), n_tiles = n_xt * ceil_div(s->Ho, rows);
    int n_cb = ceil_div(s->Cout / s->groups, chans);
    if ((long long)s->N * n_tiles >= INT_MAX) {
        sg2_fail(ctx, SG2_ERR_UNSUPPORTED, "conv: %d images of %d pixel tiles", s->N, n_tiles);
        return ctx->err.status;
    }
    sg2_args a = sg2_args_begin(k);
    sg2_args_int(&a, s->Cin / s->groups);
    sg2_args_int(&a, hp);
    sg2_args_int(&a, wp);
    sg2_args_int(&a, s->Cout);
    sg2_args_int(&a, s->Cout / s->groups);
    sg2_args_int(&a, n_cb);
    sg2_args_int(&a, s->Ho);
    sg2_args_int(&a, s->Wo);
    sg2_args_int(&a, s->groups);
    sg2_args_int(&a, n_xt);
    sg2_args_int(&a, n_tiles);
    sg2_args_int(&a, s->N * n_tiles);
    sg2_args_mem(&a, xp->buf->mem);
    sg2_args_int(&a, (int)xp->offset);
    sg2_args_mem(&a, wt->buf->mem);
    sg2_args_mem(&a, y->buf->mem);
    sg2_args_int(&a, (int)y->offset);
    size_t local[3] = {lws_for(k, t->lws), 1, 1};
    size_t global[3] = {(size_t)s->N * (size_t)n_tiles, (size_t)n_cb, (size_t)s->groups};
    return sg2_launch(ctx->rt, &a, 3, global, local, &ctx->err);
}

sg2_status sg2_conv_tiled_fwd(sg2_ctx *ctx, const sg2_conv_shape *s, int flip, const sg2_tensor *x,
                              const sg2_tensor *w, sg2_tensor *y)
{
    tiles t = fwd_tiles(ctx, s);
    int rows, cols, chans;
    fwd_block(&t, &rows, &cols, &chans);
    /* Rows and columns the tiles read (a row vector at stride 2 loads one
     * column past its last pixel). */
    int hp = (ceil_div(s->Ho, rows) * rows - 1) * s->stride + s->kh;
    int wp = (ceil_div(s->Wo, cols) * cols - 1) * s->stride + s->kw + s->stride - 1;
    size_t mark = sg2_scope_begin(ctx);
    /* x itself when it already is that padded image (1x1 kernels, whole tiles) */
    const sg2_tensor *xp = x;
    if (hp != s->H || wp != s->W || s->pad_y || s->pad_x)
        xp = pad_planes(ctx, x, s->N * s->Cin, s->H, s->W, hp, wp, s->pad_y, s->pad_x);
    sg2_tensor *wt = xp ? pack_weight(ctx, w, s, chans, flip) : NULL;
    if (wt)
        launch_fwd(ctx, s, &t, xp, hp, wp, wt, y);
    sg2_scope_end(ctx, mark, NULL, 0);
    return ctx->err.status;
}

/* Tiles of conv_transpose2d_tiled_cv: as the forward's for short rows, on
 * the output grid of one phase. */
static tiles transpose_tiles(sg2_ctx *ctx, const sg2_conv_shape *s)
{
    int cols = ceil_div(s->Wo, s->stride);
    tiles t = {1, s->Cout / s->groups <= 4 ? 4 : 16, cols >= 8 ? 2 : 4, cols >= 8 ? 8 : 4, 16};
    if (!big_tiles(ctx))
        t = (tiles){1, 4, 2, 4, 64};
    tiles_from_env("SG2_CONV_TRANSPOSE_TILES", &t);
    t.cv = 1;
    return t;
}

sg2_status sg2_conv_tiled_transpose(sg2_ctx *ctx, const sg2_conv_shape *s, const sg2_tensor *x, const sg2_tensor *w,
                                    sg2_tensor *y)
{
    tiles t = transpose_tiles(ctx, s);
    int S = s->stride, py = s->kh - 1 - s->pad_y, px = s->kw - 1 - s->pad_x;
    int pmax = py > px ? py : px;
    int q = pmax > 0 ? ceil_div(pmax, S) : 0;
    int n_yt = ceil_div(ceil_div(s->Ho, S), t.nv), n_xt = ceil_div(ceil_div(s->Wo, S), t.tco);
    /* rows and columns of xq the last tile reads, plus one */
    int hq = n_yt * t.nv + (S - 1 + s->kh - 1 - py + q * S) / S;
    int wq = n_xt * t.tco + (S - 1 + s->kw - 1 - px + q * S) / S;
    int n_tiles = n_yt * n_xt, n_cb = ceil_div(s->Cout / s->groups, t.vw);
    if ((long long)s->N * S * S * n_tiles >= INT_MAX) {
        sg2_fail(ctx, SG2_ERR_UNSUPPORTED, "conv_transpose2d: %d images of %d pixel tiles", s->N, S * S * n_tiles);
        return ctx->err.status;
    }
    const sg2_kernel_entry *k = tiled_kernel(ctx, "conv_transpose2d_tiled_cv", s, &t);
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *xq = k ? pad_planes(ctx, x, s->N * s->Cin, s->H, s->W, hq, wq, q, q) : NULL;
    sg2_tensor *wt = xq ? pack_weight(ctx, w, s, t.vw, 1) : NULL;
    if (wt) {
        sg2_args a = sg2_args_begin(k);
        int v[] = {s->Cin / s->groups, hq, wq, q, py, px, s->Cout, s->Cout / s->groups, n_cb, s->Ho, s->Wo,
                   s->groups, n_xt, n_tiles, s->N * S * S * n_tiles};
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
            sg2_args_int(&a, v[i]);
        sg2_args_mem(&a, xq->buf->mem);
        sg2_args_int(&a, (int)xq->offset);
        sg2_args_mem(&a, wt->buf->mem);
        sg2_args_mem(&a, y->buf->mem);
        sg2_args_int(&a, (int)y->offset);
        size_t local[3] = {lws_for(k, t.lws), 1, 1};
        size_t global[3] = {(size_t)v[14], (size_t)n_cb, (size_t)s->groups};
        sg2_launch(ctx->rt, &a, 3, global, local, &ctx->err);
    }
    sg2_scope_end(ctx, mark, NULL, 0);
    return ctx->err.status;
}

static sg2_status launch_wgrad(sg2_ctx *ctx, const sg2_conv_shape *s, const tiles *t, const sg2_tensor *dyp,
                               int wd, const sg2_tensor *xp, int hp, int wp, sg2_tensor *dw)
{
    const sg2_kernel_entry *k = tiled_kernel(ctx, "conv2d_wgrad_tiled", s, t);
    if (!k)
        return ctx->err.status;
    int cin_g = s->Cin / s->groups, cout_g = s->Cout / s->groups;
    int n_cb = ceil_div(cout_g, t->tco);
    sg2_args a = sg2_args_begin(k);
    sg2_args_int(&a, s->N);
    sg2_args_int(&a, cin_g);
    sg2_args_int(&a, hp);
    sg2_args_int(&a, wp);
    sg2_args_int(&a, s->Cout);
    sg2_args_int(&a, cout_g);
    sg2_args_int(&a, s->Ho);
    sg2_args_int(&a, wd);
    sg2_args_int(&a, s->groups);
    sg2_args_int(&a, n_cb);
    sg2_args_mem(&a, dyp->buf->mem);
    sg2_args_int(&a, (int)dyp->offset);
    sg2_args_mem(&a, xp->buf->mem);
    sg2_args_int(&a, (int)xp->offset);
    sg2_args_mem(&a, dw->buf->mem);
    sg2_args_int(&a, (int)dw->offset);
    size_t l0 = lws_for(k, t->lws);
    if (l0 > (size_t)n_cb)
        l0 = (size_t)n_cb;
    size_t local[3] = {l0, 1, 1};
    size_t global[3] = {(size_t)n_cb, (size_t)cin_g, (size_t)s->groups};
    return sg2_launch(ctx->rt, &a, 3, global, local, &ctx->err);
}

sg2_status sg2_conv_tiled_wgrad(sg2_ctx *ctx, const sg2_conv_shape *s, const sg2_tensor *dy, const sg2_tensor *x,
                                sg2_tensor *dw)
{
    tiles t = wgrad_tiles(ctx, s);
    int wd = ceil_div(s->Wo, t.vw) * t.vw;
    int hp = (s->Ho - 1) * s->stride + s->kh;
    int wp = (wd - 1) * s->stride + s->kw + s->stride - 1;
    size_t mark = sg2_scope_begin(ctx);
    const sg2_tensor *xp = x;
    if (hp != s->H || wp != s->W || s->pad_y || s->pad_x)
        xp = pad_planes(ctx, x, s->N * s->Cin, s->H, s->W, hp, wp, s->pad_y, s->pad_x);
    /* dy needs zero columns only when a row is not a whole number of vectors */
    const sg2_tensor *dyp = dy;
    if (xp && wd != s->Wo)
        dyp = pad_planes(ctx, dy, s->N * s->Cout, s->Ho, s->Wo, s->Ho, wd, 0, 0);
    if (xp && dyp)
        launch_wgrad(ctx, s, &t, dyp, wd, xp, hp, wp, dw);
    sg2_scope_end(ctx, mark, NULL, 0);
    return ctx->err.status;
}
