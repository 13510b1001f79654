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
#include "src/tune.h"
#include "src/winograd.h"

/* Tile sizes of one launch; each becomes a -D option of cl/conv_tiled.cl. */
typedef struct tiles {
    int cv;  /* forward and weight gradient: 1 = the _cv kernel (vectors along channels), 0 = along a row;
              * transposed: 1 = conv_transpose2d_tiled_cv (one phase per work-item), 3 =
              * conv_transpose2d_tiled_ph (all phases, nv x tco positions each) */
    int vw;  /* pixels per vector, or channels per vector (cv) */
    int nv;  /* vectors per work-item along a row (conv2d_tiled), or pixel rows (cv) */
    int tco; /* output channels per work-item, or pixel columns (cv) */
    int lws; /* work-items per work-group along dim 0 */
    int cvn; /* conv2d_tiled_cv and conv_transpose2d_tiled_ph: channel vectors per work-item */
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

int sg2_conv_profile_begin(sg2_ctx *ctx, sg2_conv_op kind, const sg2_conv_shape *s)
{
    sg2_profile *p = &ctx->rt->profile;
    if (!p->enabled)
        return 0;
    static const char *const kinds[] = {"conv", "conv_transpose", "conv_wgrad"};
    char name[48];
    snprintf(name, sizeof name, "%s %dx%d s%d", kinds[kind], s->kh, s->kw, s->stride);
    /* a transposed conv's taps meet each input pixel, the others' each output pixel */
    double pixels = kind == SG2_CONV_OP_TRANSPOSE ? (double)s->H * s->W : (double)s->Ho * s->Wo;
    double in_ch = kind == SG2_CONV_OP_TRANSPOSE ? s->Cout : s->Cin;
    double out_ch = kind == SG2_CONV_OP_TRANSPOSE ? s->Cin : s->Cout;
    double flop = 2.0 * s->N * out_ch * (in_ch / s->groups) * s->kh * s->kw * pixels;
    return sg2_profile_op_begin(p, name, flop);
}

void sg2_conv_profile_end(sg2_ctx *ctx, int opened) { sg2_profile_op_end(&ctx->rt->profile, opened); }

/* $SG2_CONV_FWD_TILES = "cv,vw,nv,tco,lws[,cvn]", $SG2_CONV_TRANSPOSE_TILES =
 * "1,cv,pr,pc,lws" (stride > 1, one phase per work-item) or "3,cv,pr,pc,lws[,cvn]"
 * (all phases, cvn channel panels per work-item) and $SG2_CONV_WGRAD_TILES =
 * "0,vw,1,tco,lws" (row vectors) or "1,cv,nv,tci,lws" (nv vectors of cv output
 * channels, tci input channels) replace the built-in choice (tuning by hand or by
 * script; see struct tiles for the fields). */
static void tiles_from_env(const char *var, tiles *t)
{
    const char *v = getenv(var);
    tiles e = {0};
    e.cvn = 1;
    int n = v ? sscanf(v, "%d,%d,%d,%d,%d,%d", &e.cv, &e.vw, &e.nv, &e.tco, &e.lws, &e.cvn) : 0;
    if (n >= 5 && e.nv > 0 && e.tco > 0 && e.lws > 0 && e.cvn > 0 && (e.vw == 4 || e.vw == 8 || e.vw == 16))
        *t = e;
}

/* A tuned tile choice is one integer whose decimal digits are the fields
 * of struct tiles, F VV N TT: form (1 = conv2d_tiled_cv, the one-phase
 * transpose or conv2d_wgrad_cv, 2 = conv2d_tiled or conv2d_wgrad_tiled, 3 =
 * the all-phases transpose), vw, nv, tco, and in front of them, when more
 * than 1, cvn. 116208 = 16-channel vectors times 2 rows of 8 pixels; 2116204
 * = 2 such vectors times 2 x 4 pixels; 2316103 = all phases of 1 x 3
 * positions times 2 such vectors; 216204 = 16-pixel row vectors, 2 per
 * row, times 4 channels. A cache entry thus
 * names its tiles itself, whatever the candidate tables below become; 0
 * keeps the heuristic's. */
static void tiles_from_code(int code, tiles *t)
{
    int cvn = code / 1000000, form = code / 100000 % 10, vw = code / 1000 % 100, nv = code / 100 % 10,
        tco = code % 100;
    if (form >= 1 && form <= 3 && (vw == 4 || vw == 8 || vw == 16) && nv > 0 && tco > 0) {
        t->cv = form == 3 ? 3 : form == 1;
        t->vw = vw;
        t->nv = nv;
        t->tco = tco;
        t->cvn = cvn > 0 ? cvn : 1;
    }
}

/* The dims of the tuning workloads: {N, Cin, Cout, H, W, k, stride, groups}
 * (square kernels; padding k/2 at stride 1, else 0, as StyleGAN2 uses). 0
 * when s has no such form (then the heuristic stands). */
static int conv_dims(const sg2_conv_shape *s, int *dims)
{
    if (s->kh != s->kw)
        return 0;
    const int d[SG2_TUNE_DIMS] = {s->N, s->Cin, s->Cout, s->H, s->W, s->kh, s->stride, s->groups};
    memcpy(dims, d, sizeof d);
    return 1;
}

/* The heuristic's tiles t replaced by the tuned ones of family f at s, when
 * the tuning cache has them (or first-use tuning finds better). An env
 * override (checked after this) wins over both. */
static void tuned_tiles(sg2_ctx *ctx, const sg2_tune_family *f, const sg2_conv_shape *s, const char *env, tiles *t)
{
    int dims[SG2_TUNE_DIMS];
    const char *v = getenv(env);
    if ((v && *v) || !conv_dims(s, dims))
        return;
    char opts[SG2_TUNE_OPTS_LEN];
    sg2_tune_options(ctx, f, dims, opts, sizeof opts);
    tiles_from_code(sg2_tune_option_value(opts, "CONV_TILE", 0), t);
    int lws = sg2_tune_option_value(opts, "CONV_LWS", 0);
    if (lws > 0)
        t->lws = lws;
}

/* The built-in tiles below were measured on PoCL (2 cores, AVX-512), where
 * 16 vectors of 16 floats fit the register file. A GPU work-item has far
 * fewer registers per lane, so other devices start from quarter-size
 * blocks (an untuned guess, for a tuner to replace). */
static int big_tiles(sg2_ctx *ctx) { return (ctx->rt->dev.type & CL_DEVICE_TYPE_CPU) != 0; }

/* Forward tiles: 16-channel vectors times 2x8 pixels (4x4 on rows of less
 * than 8), which beat 16-pixel row vectors times 16 channels by 1.1-1.6x on
 * PoCL at 32x32 and 16x16; with 32 channels or more, two such vectors times
 * 2x4 pixels (a weight load per 8 multiply-adds instead of per 16 pixels'
 * scalar loads: 1.0-1.6x from 4x4 to 32x32), and 4x2 pixels at 256
 * channels on rows of 64 or more (the 64x64 generator at batch 8: 1.05-1.07x
 * in alternated runs; no gain at 64 channels or in 32x32 training). A group of at most 4 output
 * channels (ToRGB) on rows of 16 and more takes row vectors times 4 channels
 * instead. */
static tiles fwd_tiles(sg2_ctx *ctx, const sg2_conv_shape *s)
{
    int cout_g = s->Cout / s->groups;
    tiles t = {1, 16, s->Wo >= 8 ? 2 : 4, s->Wo >= 8 ? 8 : 4, 16, 1};
    if (cout_g >= 32)
        t = (tiles){1, 16, 2, 4, 16, 2};
    if (cout_g >= 256 && s->Wo >= 64)
        t.nv = 4, t.tco = 2;
    if (cout_g <= 4)
        t = s->Wo >= 16 && s->stride == 1 ? (tiles){0, 16, s->Wo >= 32 ? 2 : 1, 4, 16, 1}
                                          : (tiles){1, 4, 4, 4, 16, 1};
    if (!big_tiles(ctx))
        t = t.cv ? (tiles){1, 4, 2, 4, 64, 1} : (tiles){0, 4, 1, 8, 64, 1};
    tuned_tiles(ctx, &sg2_tune_family_conv2d, s, "SG2_CONV_FWD_TILES", &t);
    tiles_from_env("SG2_CONV_FWD_TILES", &t);
    t.cv = t.cv != 0;
    return t;
}

/* Weight-gradient tiles. With 32 or more output channels: vectors of 16
 * output channels, 3 of them times one input channel's taps per work-item
 * (1.5-2.5x the row vectors on PoCL at 3x3, 8x8 to 33x33; 1.7x at 1x1,
 * 16x16). Else partial sums in vectors along ox; a 1x1 kernel has one tap,
 * so more output channels fit in registers. */
static tiles wgrad_tiles(sg2_ctx *ctx, const sg2_conv_shape *s)
{
    int cout_g = s->Cout / s->groups;
    tiles t = {0, 8, 1, s->kh * s->kw == 1 ? 8 : 2, 8, 1};
    if (s->Wo <= 4 || !big_tiles(ctx))
        t.vw = 4;
    if (big_tiles(ctx) && cout_g >= 32)
        t = (tiles){1, 16, 3, 1, 8, 1};
    tuned_tiles(ctx, &sg2_tune_family_conv2d_wgrad, s, "SG2_CONV_WGRAD_TILES", &t);
    tiles_from_env("SG2_CONV_WGRAD_TILES", &t);
    t.cv = t.cv != 0;
    if (!t.cv && t.tco > cout_g)
        t.tco = cout_g;
    return t;
}

/* The kernel `name` built for this geometry and these tiles. */
/* epi: conv2d_tiled_cv stores through a layer's epilogue (EPI). */
static const sg2_kernel_entry *tiled_kernel(sg2_ctx *ctx, const char *name, const sg2_conv_shape *s, const tiles *t,
                                            int epi)
{
    char opts[160];
    if (t->cv)
        snprintf(opts, sizeof opts,
                 "-DKH=%d -DKW=%d -DSTRIDE=%d -DCV=%d -DPR=%d -DPC=%d -DNV=%d -DWG_TCI=%d -DCVN=%d%s", s->kh, s->kw,
                 s->stride, t->vw, t->nv, t->tco, t->nv, t->tco, t->cvn > 0 ? t->cvn : 1, epi ? " -DEPI=1" : "");
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
 * around, each plane times scale[plane] when scale is not NULL; see
 * conv_pad. */
static sg2_tensor *pad_planes(sg2_ctx *ctx, const sg2_tensor *x, const sg2_tensor *scale, int planes, int h, int w,
                              int hp, int wp, int pad_y, int pad_x)
{
    if ((long long)planes * hp * wp >= INT_MAX)
        return sg2_fail(ctx, SG2_ERR_UNSUPPORTED, "conv: padded input of %d x %d x %d is too large", planes, hp, wp);
    int64_t shape[3] = {planes, hp, wp};
    sg2_tensor *xp = sg2_tensor_empty(ctx, 3, shape);
    const sg2_kernel_entry *k = sg2_kernel(ctx, "conv_tiled.cl", "conv_pad", NULL);
    if (!xp || !k)
        return NULL;
    const sg2_tensor *sc = scale ? scale : x; /* stands in when unused */
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
    sg2_args_mem(&a, sc->buf->mem);
    sg2_args_int(&a, (int)sc->offset);
    sg2_args_int(&a, scale != NULL);
    sg2_args_mem(&a, xp->buf->mem);
    size_t global[3] = {(size_t)hp, (size_t)planes, 1};
    if (sg2_launch(ctx->rt, &a, 2, global, NULL, &ctx->err))
        return NULL;
    return xp;
}

/* The conv's input as the kernels read it: x padded to hp x wp rows and
 * columns (pads as in s) and times scale per plane when given; x itself
 * when it already is that image (1x1 kernels, whole tiles) and needs no
 * scaling. NULL on error. */
static const sg2_tensor *padded_input(sg2_ctx *ctx, const sg2_conv_shape *s, const sg2_tensor *x,
                                      const sg2_tensor *scale, int hp, int wp)
{
    if (hp == s->H && wp == s->W && !s->pad_y && !s->pad_x && !scale)
        return x;
    return pad_planes(ctx, x, scale, s->N * s->Cin, s->H, s->W, hp, wp, s->pad_y, s->pad_x);
}

/* wt[groups][n_cb][cin_g * taps][lanes]; see conv_pack_weight. */
static sg2_tensor *pack_weight(sg2_ctx *ctx, const sg2_tensor *w, const sg2_conv_shape *s, int lanes, int flip)
{
    int cin_g = s->Cin / s->groups, cout_g = s->Cout / s->groups, n_cb = ceil_div(cout_g, lanes);
    int64_t shape[4] = {s->groups, n_cb, (int64_t)cin_g * s->kh * s->kw, lanes};
    sg2_tensor *wt = sg2_tensor_empty(ctx, 4, shape);
    char opts[48];
    snprintf(opts, sizeof opts, "-DPACK_LANES=%d -DPACK_TAPS=%d", lanes, s->kh * s->kw);
    const sg2_kernel_entry *k = sg2_kernel(ctx, "conv_tiled.cl", "conv_pack_weight", opts);
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
    size_t kk = (size_t)cin_g * (size_t)(s->kh * s->kw);
    size_t global[3] = {kk, (size_t)n_cb, (size_t)s->groups};
    if (sg2_launch(ctx->rt, &a, 3, global, NULL, &ctx->err))
        return NULL;
    return wt;
}

/* pack_weight's result, kept with an immutable w for its next use. */
static const sg2_tensor *packed_weight(sg2_ctx *ctx, const sg2_tensor *w, const sg2_conv_shape *s, int lanes,
                                       int flip)
{
    const int key[SG2_DERIVED_KEY] = {1, lanes, flip, s->groups};
    sg2_tensor *wt = sg2_derived_find(w, key);
    if (!wt) {
        wt = pack_weight(ctx, w, s, lanes, flip);
        sg2_derived_keep(w, key, wt);
    }
    return wt;
}

/* The batch's padded input above this many bytes (more than a CPU's cache
 * holds): the tiled kernels launch images outermost (see item_place in
 * cl/conv_tiled.cl). */
#define IMAGES_OUTER_BYTES (4 << 20)

static int images_outer(const sg2_conv_shape *s, int hp, int wp)
{
    /* $SG2_CONV_ORDER = images | blocks forces one (tests, A/B runs) */
    const char *v = getenv("SG2_CONV_ORDER");
    if (v && strcmp(v, "images") == 0)
        return 1;
    if (v && strcmp(v, "blocks") == 0)
        return 0;
    return 4.0 * s->N * s->Cin * hp * wp > IMAGES_OUTER_BYTES;
}

/* Output rows, columns and channels one forward work-item covers. */
static void fwd_block(const tiles *t, int *rows, int *cols, int *chans)
{
    *rows = t->cv ? t->nv : 1;
    *cols = t->cv ? t->tco : t->vw * t->nv;
    *chans = t->cv ? t->vw : t->tco;
}

static sg2_status launch_fwd(sg2_ctx *ctx, const sg2_conv_shape *s, const tiles *t, const sg2_tensor *xp, int hp,
                             int wp, const sg2_tensor *wt, const sg2_epilogue *epi, sg2_tensor *y)
{
    const sg2_kernel_entry *k = tiled_kernel(ctx, t->cv ? "conv2d_tiled_cv" : "conv2d_tiled", s, t, epi != NULL);
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
    int outer = images_outer(s, hp, wp);
    sg2_args_int(&a, n_tiles);
    sg2_args_int(&a, outer ? n_tiles : s->N * n_tiles);
    sg2_args_int(&a, outer);
    sg2_args_mem(&a, xp->buf->mem);
    sg2_args_int(&a, (int)xp->offset);
    sg2_args_mem(&a, wt->buf->mem);
    sg2_args_mem(&a, y->buf->mem);
    sg2_args_int(&a, (int)y->offset);
    if (epi)
        sg2_epilogue_args(&a, epi, y);
    size_t local[3] = {lws_for(k, t->lws), 1, 1};
    int n_cbw = t->cv && t->cvn > 1 ? ceil_div(n_cb, t->cvn) : n_cb; /* work-items along the channel panels */
    size_t global[3] = {(size_t)(outer ? 1 : s->N) * (size_t)n_tiles, (size_t)n_cbw,
                        (size_t)(outer ? s->N : 1) * (size_t)s->groups};
    return sg2_launch(ctx->rt, &a, 3, global, local, &ctx->err);
}

/* The forward with w packed here, or with weights the caller packed
 * (packed != NULL; see sg2_conv_tiled_fwd_packed). */
static sg2_status fwd_with(sg2_ctx *ctx, const sg2_conv_shape *s, int flip, const sg2_tensor *x, const sg2_tensor *w,
                           const sg2_tensor *packed, const sg2_tensor *in_scale, const sg2_epilogue_ops *ops,
                           sg2_tensor *y)
{
    tiles t = fwd_tiles(ctx, s);
    if (ops && !t.cv) {
        sg2_fail(ctx, SG2_ERR_ARG,
                 "conv: the row-vector kernel takes no epilogue (see sg2_conv_tiled_fwd_takes_epilogue)");
        return ctx->err.status;
    }
    /* the output per sample: [N * groups, Cout / groups, Ho, Wo] */
    const int64_t per_sample[4] = {(int64_t)s->N * s->groups, s->Cout / s->groups, s->Ho, s->Wo};
    sg2_epilogue e;
    if (ops && sg2_epilogue_make(ctx, 4, per_sample, ops->scale, ops->noise, ops->bias, ops->p, &e))
        return ctx->err.status;
    const sg2_epilogue *epi = ops ? &e : NULL;
    int rows, cols, chans;
    fwd_block(&t, &rows, &cols, &chans);
    /* Rows and columns the tiles read (a row vector at stride 2 loads one
     * column past its last pixel). */
    int hp = (ceil_div(s->Ho, rows) * rows - 1) * s->stride + s->kh;
    int wp = (ceil_div(s->Wo, cols) * cols - 1) * s->stride + s->kw + s->stride - 1;
    size_t mark = sg2_scope_begin(ctx);
    const sg2_tensor *xp = padded_input(ctx, s, x, in_scale, hp, wp);
    const sg2_tensor *wt = !xp ? NULL : packed ? packed : packed_weight(ctx, w, s, chans, flip);
    if (wt)
        launch_fwd(ctx, s, &t, xp, hp, wp, wt, epi, y);
    sg2_scope_end(ctx, mark, NULL, 0);
    return ctx->err.status;
}

sg2_status sg2_conv_tiled_fwd(sg2_ctx *ctx, const sg2_conv_shape *s, int flip, const sg2_tensor *x,
                              const sg2_tensor *w, sg2_tensor *y)
{
    int op = sg2_conv_profile_begin(ctx, SG2_CONV_OP_FWD, s);
    int wino = sg2_winograd_chosen(ctx, s);
    if (wino > 0)
        sg2_winograd_fwd(ctx, s, flip, x, w, y);
    else if (wino == 0)
        fwd_with(ctx, s, flip, x, w, NULL, NULL, NULL, y);
    sg2_conv_profile_end(ctx, op);
    return ctx->err.status;
}

int sg2_conv_tiled_fwd_lanes(sg2_ctx *ctx, const sg2_conv_shape *s)
{
    tiles t = fwd_tiles(ctx, s);
    int rows, cols, chans;
    fwd_block(&t, &rows, &cols, &chans);
    return chans;
}

int sg2_conv_tiled_fwd_takes_epilogue(sg2_ctx *ctx, const sg2_conv_shape *s) { return fwd_tiles(ctx, s).cv != 0; }

sg2_status sg2_conv_tiled_fwd_packed(sg2_ctx *ctx, const sg2_conv_shape *s, const sg2_tensor *x,
                                     const sg2_tensor *in_scale, const sg2_tensor *wt, const sg2_epilogue_ops *ops,
                                     sg2_tensor *y)
{
    int op = sg2_conv_profile_begin(ctx, SG2_CONV_OP_FWD, s);
    fwd_with(ctx, s, 0, x, NULL, wt, in_scale, ops, y);
    sg2_conv_profile_end(ctx, op);
    return ctx->err.status;
}

/* Tiles of the transposed convolution. At stride 2 on CPUs the all-phases
 * kernel: with 32 channels or more a group, 1 x 3 positions times 2
 * 16-channel panels (24 vectors; each broadcast pixel feeds two FMAs:
 * 1.1-1.17x over 3 x 2 positions of one panel at 256 channels of 8x8 and
 * 16x16, batch 8, before 7c96d9b's row pointers; 12 % less time in the
 * kernel over a training run after), else 3 x 2 positions (1.13x over 2 x
 * 2); otherwise one phase per work-item, as the forward's tiles for short
 * rows on that phase's output grid. */
static tiles transpose_tiles(sg2_ctx *ctx, const sg2_conv_shape *s)
{
    int cols = ceil_div(s->Wo, s->stride), cout_g = s->Cout / s->groups;
    tiles t = {1, cout_g <= 4 ? 4 : 16, cols >= 8 ? 2 : 4, cols >= 8 ? 8 : 4, 16, 1};
    if (s->stride == 2 && cout_g >= 32)
        t = (tiles){3, 16, 1, 3, 16, 2};
    else if (s->stride == 2 && cout_g > 4)
        t = (tiles){3, 16, 3, 2, 16, 1};
    if (!big_tiles(ctx))
        t = (tiles){1, 4, 2, 4, 64, 1};
    tuned_tiles(ctx, &sg2_tune_family_conv_transpose2d, s, "SG2_CONV_TRANSPOSE_TILES", &t);
    tiles_from_env("SG2_CONV_TRANSPOSE_TILES", &t);
    if (t.cv != 3)
        t.cv = 1;
    return t;
}

int sg2_conv_tiled_transpose_lanes(sg2_ctx *ctx, const sg2_conv_shape *s) { return transpose_tiles(ctx, s).vw; }

/* The transpose with w packed here, or with weights the caller packed. */
static sg2_status transpose_with(sg2_ctx *ctx, const sg2_conv_shape *s, const sg2_tensor *x, const sg2_tensor *w,
                                 const sg2_tensor *packed, const sg2_tensor *in_scale, sg2_tensor *y)
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
    int all_phases = t.cv == 3, per_image = all_phases ? n_tiles : S * S * n_tiles;
    if ((long long)s->N * per_image >= INT_MAX) {
        sg2_fail(ctx, SG2_ERR_UNSUPPORTED, "conv_transpose2d: %d images of %d pixel tiles", s->N, per_image);
        return ctx->err.status;
    }
    int outer = images_outer(s, hq, wq);
    const sg2_kernel_entry *k = NULL;
    if (all_phases) {
        char opts[192];
        snprintf(opts, sizeof opts,
                 "-DKH=%d -DKW=%d -DSTRIDE=%d -DCV=%d -DPR=%d -DPC=%d -DTP_Y=%d -DTP_X=%d -DTQ=%d -DCVN=%d", s->kh,
                 s->kw, S, t.vw, t.nv, t.tco, py, px, q, t.cvn);
        k = sg2_kernel(ctx, "conv_tiled.cl", "conv_transpose2d_tiled_ph", opts);
    } else {
        k = tiled_kernel(ctx, "conv_transpose2d_tiled_cv", s, &t, 0);
    }
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *xq = k ? pad_planes(ctx, x, in_scale, s->N * s->Cin, s->H, s->W, hq, wq, q, q) : NULL;
    const sg2_tensor *wt = !xq ? NULL : packed ? packed : packed_weight(ctx, w, s, t.vw, 1);
    if (wt) {
        sg2_args a = sg2_args_begin(k);
        /* the all-phases kernel has its paddings compiled in */
        int v[] = {s->Cin / s->groups, hq, wq, q, py, px, s->Cout, s->Cout / s->groups, n_cb, s->Ho, s->Wo,
                   s->groups, n_xt, n_tiles, outer ? per_image : s->N * per_image, outer};
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
            if (!all_phases || i < 3 || i > 5)
                sg2_args_int(&a, v[i]);
        sg2_args_mem(&a, xq->buf->mem);
        sg2_args_int(&a, (int)xq->offset);
        sg2_args_mem(&a, wt->buf->mem);
        sg2_args_mem(&a, y->buf->mem);
        sg2_args_int(&a, (int)y->offset);
        size_t local[3] = {lws_for(k, t.lws), 1, 1};
        int n_cbw = all_phases ? ceil_div(n_cb, t.cvn) : n_cb; /* work-items along the channel panels */
        size_t global[3] = {(size_t)v[14], (size_t)n_cbw, (size_t)(outer ? s->N : 1) * (size_t)s->groups};
        sg2_launch(ctx->rt, &a, 3, global, local, &ctx->err);
    }
    sg2_scope_end(ctx, mark, NULL, 0);
    return ctx->err.status;
}

sg2_status sg2_conv_tiled_transpose(sg2_ctx *ctx, const sg2_conv_shape *s, const sg2_tensor *x, const sg2_tensor *w,
                                    sg2_tensor *y)
{
    int op = sg2_conv_profile_begin(ctx, SG2_CONV_OP_TRANSPOSE, s);
    transpose_with(ctx, s, x, w, NULL, NULL, y);
    sg2_conv_profile_end(ctx, op);
    return ctx->err.status;
}

sg2_status sg2_conv_tiled_transpose_packed(sg2_ctx *ctx, const sg2_conv_shape *s, const sg2_tensor *x,
                                           const sg2_tensor *in_scale, const sg2_tensor *wt, sg2_tensor *y)
{
    int op = sg2_conv_profile_begin(ctx, SG2_CONV_OP_TRANSPOSE, s);
    transpose_with(ctx, s, x, NULL, wt, in_scale, y);
    sg2_conv_profile_end(ctx, op);
    return ctx->err.status;
}

static sg2_status launch_wgrad(sg2_ctx *ctx, const sg2_conv_shape *s, const tiles *t, const sg2_tensor *dyp,
                               int wd, const sg2_tensor *xp, int hp, int wp, sg2_tensor *dw)
{
    const sg2_kernel_entry *k = tiled_kernel(ctx, "conv2d_wgrad_tiled", s, t, 0);
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

/* dy[N, groups * cout_g, Ho, Wo] as dyt[N * groups, Ho * Wo, cp]: channels
 * last, zeros from cout_g to cp (see conv_channels_last). */
static sg2_tensor *channels_last(sg2_ctx *ctx, const sg2_conv_shape *s, const tiles *t, const sg2_tensor *dy, int cp)
{
    int plane = s->Ho * s->Wo, batches = s->N * s->groups;
    if ((long long)batches * plane * cp >= INT_MAX)
        return sg2_fail(ctx, SG2_ERR_UNSUPPORTED, "conv: channels-last dy of %d x %d x %d is too large", batches,
                        plane, cp);
    int64_t shape[3] = {batches, plane, cp};
    sg2_tensor *dyt = sg2_tensor_empty(ctx, 3, shape);
    const sg2_kernel_entry *k = tiled_kernel(ctx, "conv_channels_last", s, t, 0);
    if (!dyt || !k)
        return NULL;
    sg2_args a = sg2_args_begin(k);
    sg2_args_int(&a, plane);
    sg2_args_int(&a, s->Cout / s->groups);
    sg2_args_int(&a, cp);
    sg2_args_mem(&a, dy->buf->mem);
    sg2_args_int(&a, (int)dy->offset);
    sg2_args_mem(&a, dyt->buf->mem);
    size_t local[3] = {lws_for(k, 16), 1, 1};
    size_t global[3] = {(size_t)plane, (size_t)(cp / t->vw), (size_t)batches};
    return sg2_launch(ctx->rt, &a, 3, global, local, &ctx->err) == SG2_OK ? dyt : NULL;
}

/* Images per split of the channel-vector weight gradient: as many as keep
 * the dy a work-group reads (one channel block of them) within a typical
 * CPU's L2 cache; a GPU gains the extra work-groups. */
#define WGRAD_SPLIT_BYTES (256 * 1024)

static int wgrad_images_per_split(const sg2_conv_shape *s, const tiles *t)
{
    long long per_image = 4LL * t->vw * t->nv * s->Ho * s->Wo;
    long long n = WGRAD_SPLIT_BYTES / per_image;
    return n < 1 ? 1 : n > s->N ? s->N : (int)n;
}

/* dw = the sum of the splits' partial weight gradients part[n_split, dw]. */
static sg2_status sum_splits(sg2_ctx *ctx, const sg2_tensor *part, int n_split, sg2_tensor *dw)
{
    const sg2_kernel_entry *k = sg2_kernel(ctx, "conv_tiled.cl", "conv_sum_splits", NULL);
    if (!k)
        return ctx->err.status;
    int count = (int)sg2_shape_numel(dw->ndim, dw->shape);
    sg2_args a = sg2_args_begin(k);
    sg2_args_int(&a, count);
    sg2_args_int(&a, n_split);
    sg2_args_mem(&a, part->buf->mem);
    sg2_args_mem(&a, dw->buf->mem);
    sg2_args_int(&a, (int)dw->offset);
    return sg2_launch1d(ctx, &a, (size_t)count);
}

/* One launch of conv2d_wgrad_cv over the channel blocks of t from channel
 * co_base on, n_blocks of them, into out (n_split partial sums). */
static sg2_status launch_wgrad_blocks(sg2_ctx *ctx, const sg2_conv_shape *s, const tiles *t, const sg2_tensor *dyt,
                                      int cp, const sg2_tensor *xp, int hp, int wp, int per_split, int n_split,
                                      int co_base, int n_blocks, sg2_tensor *out)
{
    const sg2_kernel_entry *k = tiled_kernel(ctx, "conv2d_wgrad_cv", s, t, 0);
    if (!k)
        return ctx->err.status;
    int cin_g = s->Cin / s->groups, cout_g = s->Cout / s->groups;
    int n_cib = ceil_div(cin_g, t->tco);
    sg2_args a = sg2_args_begin(k);
    int v[] = {s->N, cin_g, hp, wp, cout_g, cp, s->Ho, s->Wo, s->groups, n_cib, per_split, co_base};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        sg2_args_int(&a, v[i]);
    sg2_args_mem(&a, dyt->buf->mem);
    sg2_args_mem(&a, xp->buf->mem);
    sg2_args_int(&a, (int)xp->offset);
    sg2_args_mem(&a, out->buf->mem);
    sg2_args_int(&a, (int)out->offset);
    size_t l0 = lws_for(k, t->lws);
    if (l0 > (size_t)n_cib)
        l0 = (size_t)n_cib;
    size_t local[3] = {l0, 1, 1};
    size_t global[3] = {(size_t)n_cib, (size_t)n_blocks, (size_t)(s->groups * n_split)};
    return sg2_launch(ctx->rt, &a, 3, global, local, &ctx->err);
}

/* The channel blocks of t (CV * NV channels) that fit whole, then, when
 * channels remain, one more launch with as many CV-channel vectors as they
 * fill: 256 channels are 5 blocks of 48 and one of 16, not 6 of 48 with
 * the last third padding. */
static sg2_status launch_wgrad_cv(sg2_ctx *ctx, const sg2_conv_shape *s, const tiles *t, const sg2_tensor *dyt,
                                  int cp, const sg2_tensor *xp, int hp, int wp, sg2_tensor *dw)
{
    int per_split = wgrad_images_per_split(s, t), n_split = ceil_div(s->N, per_split);
    sg2_tensor *out = dw;
    if (n_split > 1) {
        int64_t shape[2] = {n_split, sg2_shape_numel(dw->ndim, dw->shape)};
        out = sg2_tensor_empty(ctx, 2, shape);
        if (!out)
            return ctx->err.status;
    }
    int block = t->vw * t->nv, whole = cp / block, rest = cp - whole * block;
    if (whole > 0 &&
        launch_wgrad_blocks(ctx, s, t, dyt, cp, xp, hp, wp, per_split, n_split, 0, whole, out) != SG2_OK)
        return ctx->err.status;
    if (rest > 0) {
        tiles tail = *t;
        tail.nv = rest / t->vw;
        if (launch_wgrad_blocks(ctx, s, &tail, dyt, cp, xp, hp, wp, per_split, n_split, whole * block, 1, out))
            return ctx->err.status;
    }
    return n_split == 1 ? SG2_OK : sum_splits(ctx, out, n_split, dw);
}

/* Vectors along output channels: dy goes channels last (channels padded
 * to whole vectors) and x is padded only as far as the taps reach. */
static void wgrad_cv(sg2_ctx *ctx, const sg2_conv_shape *s, const tiles *t, const sg2_tensor *dy,
                     const sg2_tensor *x, sg2_tensor *dw)
{
    int cp = ceil_div(s->Cout / s->groups, t->vw) * t->vw;
    int hp = (s->Ho - 1) * s->stride + s->kh, wp = (s->Wo - 1) * s->stride + s->kw;
    const sg2_tensor *xp = padded_input(ctx, s, x, NULL, hp, wp);
    const sg2_tensor *dyt = xp ? channels_last(ctx, s, t, dy, cp) : NULL;
    if (dyt)
        launch_wgrad_cv(ctx, s, t, dyt, cp, xp, hp, wp, dw);
}

/* Vectors along output rows: x and dy padded to whole vectors. */
static void wgrad_rows(sg2_ctx *ctx, const sg2_conv_shape *s, const tiles *t, const sg2_tensor *dy,
                       const sg2_tensor *x, sg2_tensor *dw)
{
    int wd = ceil_div(s->Wo, t->vw) * t->vw;
    int hp = (s->Ho - 1) * s->stride + s->kh;
    int wp = (wd - 1) * s->stride + s->kw + s->stride - 1;
    const sg2_tensor *xp = padded_input(ctx, s, x, NULL, hp, wp);
    /* dy needs zero columns only when a row is not a whole number of vectors */
    const sg2_tensor *dyp = dy;
    if (xp && wd != s->Wo)
        dyp = pad_planes(ctx, dy, NULL, s->N * s->Cout, s->Ho, s->Wo, s->Ho, wd, 0, 0);
    if (xp && dyp)
        launch_wgrad(ctx, s, t, dyp, wd, xp, hp, wp, dw);
}

sg2_status sg2_conv_tiled_wgrad(sg2_ctx *ctx, const sg2_conv_shape *s, const sg2_tensor *dy, const sg2_tensor *x,
                                sg2_tensor *dw)
{
    int op = sg2_conv_profile_begin(ctx, SG2_CONV_OP_WGRAD, s);
    int wino = sg2_winograd_chosen(ctx, s);
    if (wino > 0) {
        sg2_winograd_wgrad(ctx, s, dy, x, dw);
    } else if (wino == 0) {
        tiles t = wgrad_tiles(ctx, s);
        size_t mark = sg2_scope_begin(ctx);
        if (t.cv)
            wgrad_cv(ctx, s, &t, dy, x, dw);
        else
            wgrad_rows(ctx, s, &t, dy, x, dw);
        sg2_scope_end(ctx, mark, NULL, 0);
    }
    sg2_conv_profile_end(ctx, op);
    return ctx->err.status;
}
