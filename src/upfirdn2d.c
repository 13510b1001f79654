/* upfirdn2d: FIR resampling of NCHW images (scipy.signal.upfirdn per plane),
 * and the normalized 2-D filters StyleGAN2 resamples with.
 *
 * Its backward is upfirdn2d again (up and down swapped, the filter read the
 * other way round, the padding mirrored), so gradients of any order stay in
 * this one op. The filter is a constant: it is kept on the node as a saved
 * tensor, never as an input, so no gradient is ever computed for it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/op_util.h"
#include "src/tune.h"

/* Output length along one axis, or 0 when the padded, upsampled signal is
 * shorter than the filter (C division would round a negative numerator
 * towards zero and pass it off as a valid length 1). int64 so wild paddings
 * cannot overflow before they are rejected. */
static int64_t out_len(int64_t in, int up, int down, int pad0, int pad1, int64_t taps)
{
    int64_t num = in * up + pad0 + pad1 - taps;
    return num < 0 ? 0 : num / down + 1;
}

/* Parameters of the op whose output is the gradient with respect to x of
 * sum(dy * upfirdn2d(x)), dy[.., Ho, Wo], x[.., H, W], f[fh, fw].
 *
 * Along one axis the forward computes y[o] = gain * sum_t g[t] u[o*down + t - pad0],
 * where u is x upsampled by zero insertion (u[i*up] = x[i]) and g the filter
 * as the window reads it (reversed when flip == 0). Hence
 *     dx[i] = gain * sum_o dy[o] g[i*up + pad0 - o*down].
 * upfirdn2d(dy) with up' = down, down' = up and the filter read the other way
 * (flip' = !flip, so g'[s] = g[fw-1-s]) computes, since its upsampled input
 * holds dy[o] at o*down,
 *     z[i] = gain * sum_o dy[o] g'[o*down + pad0' - i*up]
 *          = gain * sum_o dy[o] g[fw-1-pad0' + i*up - o*down],
 * which is dx when pad0' = fw - 1 - pad0. The values never depend on
 * pad1 (samples outside the signal read as zero); pad1' only sets the output
 * length, which must be exactly W: (Wo*down + pad0' + pad1' - fw) / up + 1 = W
 * holds for pad1' = W*up - Wo*down + pad0 (numerator W*up - 1). Any pad1' down
 * to that minus up - 1 works as well; stylegan2-ada uses the low end. */
static sg2_upfirdn2d_params adjoint_params(const sg2_upfirdn2d_params *p, int H, int W, int Ho, int Wo, int fh,
                                           int fw)
{
    sg2_upfirdn2d_params q = *p;
    q.up_x = p->down_x;
    q.up_y = p->down_y;
    q.down_x = p->up_x;
    q.down_y = p->up_y;
    q.pad_x0 = fw - 1 - p->pad_x0;
    q.pad_x1 = W * p->up_x - Wo * p->down_x + p->pad_x0;
    q.pad_y0 = fh - 1 - p->pad_y0;
    q.pad_y1 = H * p->up_y - Ho * p->down_y + p->pad_y0;
    q.flip = !p->flip;
    return q;
}

/* A work-group of up to `wg` items (the tuned UPF_WG) that covers rows of
 * the output plane without much waste on small images: width first, then
 * height; never more than the kernel allows on this device. */
static void work_group(const sg2_kernel_entry *k, int wg, const size_t global[3], size_t local[3])
{
    size_t cap = wg > 0 ? (size_t)wg : 64;
    size_t lx = 1, ly = 1;
    while (lx * 2 <= cap && lx < global[0])
        lx *= 2;
    while (lx * ly * 2 <= cap && ly < global[1])
        ly *= 2;
    local[0] = lx;
    local[1] = ly;
    local[2] = 1;
    sg2_tune_clamp_local(local, 3, k->max_work_group);
}

/* UPF_SPEC: the op's constants appended to the tuned options. */
static void specialize(char *opts, size_t cap, const sg2_upfirdn2d_params *p, int fh, int fw)
{
    size_t len = strlen(opts);
    snprintf(opts + len, cap - len,
             " -DUPF_FH=%d -DUPF_FW=%d -DUPF_UPX=%d -DUPF_UPY=%d -DUPF_DOWNX=%d -DUPF_DOWNY=%d -DUPF_FLIP=%d", fh, fw,
             p->up_x, p->up_y, p->down_x, p->down_y, p->flip ? 1 : 0);
}

static void upfirdn2d_backward(sg2_ctx *ctx, const sg2_node *node, sg2_tensor *gy, const int *needs, sg2_tensor **gin)
{
    if (!needs[0])
        return;
    const sg2_upfirdn2d_params *p = (const sg2_upfirdn2d_params *)node->params;
    const sg2_tensor *x = node->in[0];
    sg2_tensor *f = node->saved[0];
    sg2_upfirdn2d_params q = adjoint_params(p, (int)x->shape[2], (int)x->shape[3], (int)gy->shape[2],
                                            (int)gy->shape[3], (int)f->shape[0], (int)f->shape[1]);
    gin[0] = sg2_upfirdn2d(ctx, gy, f, &q);
}

static const sg2_op_def upfirdn2d_def = {"upfirdn2d", upfirdn2d_backward};

/* The tiled kernel's layout for one op: tiles of tx x ty outputs, the staged
 * input extent in_w x in_h (as upfirdn2d.cl needs it), and the work-group
 * over (column runs, rows, planes). */
typedef struct tile_plan {
    int tx, ty, in_w, in_h;
    size_t local[3];
} tile_plan;

/* Largest local scratch per work-group: tiles stay cache-sized on a CPU and
 * within a GPU's local memory next to the kernel's own tap arrays. */
#define TILE_LOCAL_BYTES 32768
/* Filters beyond this (per side) take the generic kernel. */
#define TILE_MAX_TAPS 16

/* n split into equal tiles of at most max: 33 -> 17 + 16, not 32 + 1. */
static int tile_len(int n, int max)
{
    int k = (n + max - 1) / max;
    return (n + k - 1) / k;
}

/* Input samples the windows of t consecutive outputs reach. */
static int staged_len(int t, int up, int down, int taps)
{
    return ((t - 1) * down + up - 1) / up + (taps + up - 1) / up;
}

static size_t plane_bytes(const tile_plan *t)
{
    return (size_t)t->in_h * (size_t)(t->in_w + t->tx) * sizeof(float);
}

/* Tiles of at most tile_max outputs a side, work-groups of at most wg items
 * with lx of them along a row; 0 when no tile fits in local memory (the
 * generic kernel then runs). */
static int plan_tiles(const sg2_upfirdn2d_params *p, int planes, int Ho, int Wo, int fh, int fw, int wg, int lx,
                      int tile_max, size_t local_mem, tile_plan *t)
{
    size_t budget = local_mem / 2 < TILE_LOCAL_BYTES ? local_mem / 2 : TILE_LOCAL_BYTES;
    if (fh > TILE_MAX_TAPS || fw > TILE_MAX_TAPS || tile_max < 1 || wg < 1 || lx < 1)
        return 0;
    t->tx = tile_len(Wo, tile_max);
    t->ty = tile_len(Ho, tile_max);
    for (;;) {
        t->in_w = staged_len(t->tx, p->up_x, p->down_x, fw);
        t->in_h = staged_len(t->ty, p->up_y, p->down_y, fh);
        if (plane_bytes(t) <= budget)
            break;
        if (t->ty > 1)
            t->ty = (t->ty + 1) / 2;
        else if (t->tx > 1)
            t->tx = (t->tx + 1) / 2;
        else
            return 0;
    }
    size_t ly = (size_t)(wg / lx > 0 ? wg / lx : 1), lz, fit = budget / plane_bytes(t);
    ly = ly < (size_t)t->ty ? ly : (size_t)t->ty;
    lz = (size_t)wg / ((size_t)lx * ly);
    lz = lz < fit ? lz : fit;
    lz = lz < (size_t)planes ? lz : (size_t)planes;
    t->local[0] = (size_t)lx;
    t->local[1] = ly;
    t->local[2] = lz > 0 ? lz : 1;
    return 1;
}

/* Which kernel runs an op. */
typedef enum upf_kernel { UPF_TUNED, UPF_K_ROWS, UPF_K_TILED, UPF_K_GENERIC, UPF_BAD } upf_kernel;

/* $SG2_UPFIRDN2D = "rows", "tiled" or "generic" forces that kernel (A/B
 * comparisons; an op it cannot run takes the next one down the list);
 * unset, the tuned choice. UPF_BAD on any other value (error in ctx). */
static upf_kernel forced_kernel(sg2_ctx *ctx)
{
    const char *v = getenv("SG2_UPFIRDN2D");
    if (!v || !*v)
        return UPF_TUNED;
    if (strcmp(v, "rows") == 0)
        return UPF_K_ROWS;
    if (strcmp(v, "tiled") == 0)
        return UPF_K_TILED;
    if (strcmp(v, "generic") == 0)
        return UPF_K_GENERIC;
    sg2_fail(ctx, SG2_ERR_ARG, "upfirdn2d: SG2_UPFIRDN2D=%s (expected \"rows\", \"tiled\" or \"generic\")", v);
    return UPF_BAD;
}

/* Filters, factors and leading pads the rows kernel takes: its tap arrays
 * and unrolled loops are sized by them at compile time, and its vectors
 * step one or two samples. */
#define ROWS_MAX_TAPS 8
#define ROWS_MAX_FACTOR 2
#define ROWS_MAX_PAD 16

static int rows_fit(const sg2_upfirdn2d_params *p, int fh, int fw)
{
    return fh <= ROWS_MAX_TAPS && fw <= ROWS_MAX_TAPS && p->up_x <= ROWS_MAX_FACTOR && p->up_y <= ROWS_MAX_FACTOR &&
           p->down_x <= ROWS_MAX_FACTOR && p->down_y <= ROWS_MAX_FACTOR && abs(p->pad_x0) <= ROWS_MAX_PAD &&
           abs(p->pad_y0) <= ROWS_MAX_PAD;
}

/* Arguments both kernels share, up to the filter offset. */
static void args_head(sg2_args *a, int planes, int H, int W, int Ho, int Wo, const sg2_tensor *x, const sg2_tensor *f)
{
    sg2_args_int(a, planes);
    sg2_args_int(a, H);
    sg2_args_int(a, W);
    sg2_args_int(a, Ho);
    sg2_args_int(a, Wo);
    sg2_args_mem(a, x->buf->mem);
    sg2_args_int(a, (int)x->offset);
    sg2_args_mem(a, f->buf->mem);
    sg2_args_int(a, (int)f->offset);
}

/* Arguments both kernels share after their own: the leading pads, flip,
 * gain and the output. */
static void args_pads_out(sg2_args *a, const sg2_upfirdn2d_params *p, const sg2_tensor *y)
{
    sg2_args_int(a, p->pad_x0);
    sg2_args_int(a, p->pad_y0);
    sg2_args_int(a, p->flip ? 1 : 0);
    sg2_args_float(a, p->gain);
    sg2_args_mem(a, y->buf->mem);
    sg2_args_int(a, (int)y->offset);
}

static sg2_status launch_tiled(sg2_ctx *ctx, const sg2_kernel_entry *k, const sg2_upfirdn2d_params *p, int planes,
                               int H, int W, int Ho, int Wo, const sg2_tensor *x, const sg2_tensor *f, sg2_tensor *y,
                               tile_plan *t)
{
    sg2_tune_clamp_local(t->local, 3, k->max_work_group);
    size_t global[3] = {(size_t)((Wo + t->tx - 1) / t->tx) * t->local[0],
                        (size_t)((Ho + t->ty - 1) / t->ty) * t->local[1],
                        ((size_t)planes + t->local[2] - 1) / t->local[2] * t->local[2]};
    sg2_args a = sg2_args_begin(k);
    args_head(&a, planes, H, W, Ho, Wo, x, f);
    args_pads_out(&a, p, y);
    sg2_args_int(&a, t->tx);
    sg2_args_int(&a, t->ty);
    sg2_args_int(&a, t->in_w);
    sg2_args_int(&a, t->in_h);
    sg2_args_local(&a, plane_bytes(t) * t->local[2]);
    return sg2_launch(ctx->rt, &a, 3, global, t->local, &ctx->err);
}

/* The rows kernel's taps (upfirdn2d_rows_taps of the same program, one
 * work-item), or NULL (error recorded). */
static sg2_tensor *rows_taps(sg2_ctx *ctx, const char *build, const sg2_upfirdn2d_params *p, int fh, int fw,
                             const sg2_tensor *f)
{
    int gx = (fw + p->up_x - 1) / p->up_x * p->up_x, gy = (fh + p->up_y - 1) / p->up_y * p->up_y;
    const sg2_kernel_entry *k = sg2_kernel(ctx, "upfirdn2d.cl", "upfirdn2d_rows_taps", build);
    sg2_tensor *taps = sg2_tensor_empty(ctx, 1, (const int64_t[]){1 + gx + gy + gx * gy});
    if (!k || !taps)
        return NULL;
    sg2_args a = sg2_args_begin(k);
    sg2_args_mem(&a, f->buf->mem);
    sg2_args_int(&a, (int)f->offset);
    sg2_args_int(&a, p->flip ? 1 : 0);
    sg2_args_float(&a, p->gain);
    sg2_args_mem(&a, taps->buf->mem);
    return sg2_launch1d(ctx, &a, 1) ? NULL : taps;
}

/* Work-groups of up to wg items along a row of strips, filled up with
 * planes when a row is short. */
static sg2_status launch_rows(sg2_ctx *ctx, const sg2_kernel_entry *k, const char *build,
                              const sg2_upfirdn2d_params *p, int planes, int H, int W, int Ho, int Wo,
                              const sg2_tensor *x, const sg2_tensor *f, const sg2_epilogue *epi, sg2_tensor *y,
                              int rows, int wg)
{
    size_t groups_x = (size_t)((Wo + 8 * p->up_x - 1) / (8 * p->up_x)), lx = 1, lz = 1;
    size_t cap = wg > 0 ? (size_t)wg : 64;
    while (lx * 2 <= cap && lx < groups_x)
        lx *= 2;
    while (lx * lz * 2 <= cap && lz < (size_t)planes)
        lz *= 2;
    size_t local[3] = {lx, 1, lz};
    sg2_tune_clamp_local(local, 3, k->max_work_group);
    size_t global[3] = {(groups_x + local[0] - 1) / local[0] * local[0], (size_t)((Ho + rows - 1) / rows),
                        ((size_t)planes + local[2] - 1) / local[2] * local[2]};
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *taps = rows_taps(ctx, build, p, (int)f->shape[0], (int)f->shape[1], f);
    if (taps) {
        sg2_args a = sg2_args_begin(k);
        int v[] = {planes, H, W, Ho, Wo};
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
            sg2_args_int(&a, v[i]);
        sg2_args_mem(&a, x->buf->mem);
        sg2_args_int(&a, (int)x->offset);
        sg2_args_mem(&a, taps->buf->mem);
        sg2_args_mem(&a, y->buf->mem);
        sg2_args_int(&a, (int)y->offset);
        if (epi) {
            sg2_args_int(&a, (int)x->shape[1]);
            sg2_epilogue_args(&a, epi, y);
        }
        sg2_launch(ctx->rt, &a, 3, global, local, &ctx->err);
    }
    sg2_scope_end(ctx, mark, NULL, 0);
    return ctx->err.status;
}

static sg2_status launch_generic(sg2_ctx *ctx, const sg2_kernel_entry *k, const sg2_upfirdn2d_params *p, int planes,
                                 int H, int W, int Ho, int Wo, int fh, int fw, const sg2_tensor *x,
                                 const sg2_tensor *f, sg2_tensor *y, int px, int wg)
{
    sg2_args a = sg2_args_begin(k);
    args_head(&a, planes, H, W, Ho, Wo, x, f);
    sg2_args_int(&a, fh);
    sg2_args_int(&a, fw);
    sg2_args_int(&a, p->up_x);
    sg2_args_int(&a, p->up_y);
    sg2_args_int(&a, p->down_x);
    sg2_args_int(&a, p->down_y);
    args_pads_out(&a, p, y);
    size_t global[3] = {((size_t)Wo + (size_t)px - 1) / (size_t)px, (size_t)Ho, (size_t)planes};
    size_t local[3];
    work_group(k, wg, global, local);
    return sg2_launch(ctx->rt, &a, 3, global, local, &ctx->err);
}

/* 1 when x, f and p make a valid op, with its output size in Ho, Wo; else 0
 * and the error in ctx (sg2_fail returns NULL). */
static int args_ok(sg2_ctx *ctx, const sg2_tensor *x, const sg2_tensor *f, const sg2_upfirdn2d_params *p,
                   int64_t *Ho, int64_t *Wo)
{
    char sx[96], sf[96];
    if (x->ndim != 4)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "upfirdn2d: x must be 4-D [N, C, H, W], got %s",
                        sg2_shape_str(x, sx, sizeof sx)) != NULL;
    if (f->ndim != 2)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "upfirdn2d: filter must be 2-D [fh, fw], got %s",
                        sg2_shape_str(f, sf, sizeof sf)) != NULL;
    if (p->up_x < 1 || p->up_y < 1 || p->down_x < 1 || p->down_y < 1)
        return sg2_fail(ctx, SG2_ERR_ARG, "upfirdn2d: up (%d, %d) and down (%d, %d) factors must be >= 1", p->up_x,
                        p->up_y, p->down_x, p->down_y) != NULL;
    if (!isfinite(p->gain))
        return sg2_fail(ctx, SG2_ERR_ARG, "upfirdn2d: gain %g is not finite", (double)p->gain) != NULL;
    int64_t H = x->shape[2], W = x->shape[3], fh = f->shape[0], fw = f->shape[1];
    *Ho = out_len(H, p->up_y, p->down_y, p->pad_y0, p->pad_y1, fh);
    *Wo = out_len(W, p->up_x, p->down_x, p->pad_x0, p->pad_x1, fw);
    if (*Ho < 1 || *Wo < 1)
        return sg2_fail(ctx, SG2_ERR_SHAPE,
                        "upfirdn2d: %s input, up (%d, %d), pad x [%d, %d] y [%d, %d] is smaller than the %s filter",
                        sg2_shape_str(x, sx, sizeof sx), p->up_x, p->up_y, p->pad_x0, p->pad_x1, p->pad_y0, p->pad_y1,
                        sg2_shape_str(f, sf, sizeof sf)) != NULL;
    /* The kernel indexes padded coordinates in int: keep them well inside. */
    if (H * p->up_y + llabs((long long)p->pad_y0) + fh >= INT32_MAX / 2 ||
        W * p->up_x + llabs((long long)p->pad_x0) + fw >= INT32_MAX / 2 || *Ho * p->down_y >= INT32_MAX / 2 ||
        *Wo * p->down_x >= INT32_MAX / 2)
        return sg2_fail(ctx, SG2_ERR_ARG, "upfirdn2d: padded size out of the 32-bit index range") != NULL;
    return 1;
}

/* y = upfirdn2d(x) through the tuned (or forced) kernel; with ops, the
 * rows kernel stores through the epilogue and *applied = 1, the others
 * leave it to the caller (*applied = 0). NULL on error (recorded). */
static sg2_tensor *upfirdn2d_launch(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *f, const sg2_upfirdn2d_params *p,
                                    const sg2_epilogue_ops *ops, int *applied)
{
    int64_t Ho = 0, Wo = 0;
    if (!args_ok(ctx, x, f, p, &Ho, &Wo))
        return NULL;
    int planes = (int)(x->shape[0] * x->shape[1]), H = (int)x->shape[2], W = (int)x->shape[3];
    int fh = (int)f->shape[0], fw = (int)f->shape[1];
    int64_t shape[4] = {x->shape[0], x->shape[1], Ho, Wo};
    sg2_tensor *y = sg2_tensor_empty(ctx, 4, shape);
    const int dims[SG2_TUNE_DIMS] = {planes, H, W, p->up_x, p->down_x, p->pad_x0, p->pad_x1, fw};
    char opts[SG2_TUNE_OPTS_LEN];
    sg2_tune_options(ctx, &sg2_tune_family_upfirdn2d, dims, opts, sizeof opts);
    upf_kernel forced = forced_kernel(ctx);
    upf_kernel use = forced != UPF_TUNED ? forced
                     : sg2_tune_option_value(opts, "UPF_ROWS", 8) > 0 ? UPF_K_ROWS
                     : sg2_tune_option_value(opts, "UPF_TILED", 1) ? UPF_K_TILED
                                                                  : UPF_K_GENERIC;
    if (use == UPF_K_ROWS && !rows_fit(p, fh, fw))
        use = UPF_K_TILED;
    tile_plan t;
    int twg = sg2_tune_option_value(opts, "UPF_TWG", 16), tlx = sg2_tune_option_value(opts, "UPF_TLX", 1);
    if (use == UPF_K_TILED &&
        !plan_tiles(p, planes, (int)Ho, (int)Wo, fh, fw, twg, tlx, sg2_tune_option_value(opts, "UPF_TILE", 64),
                    (size_t)ctx->rt->dev.local_mem, &t))
        use = UPF_K_GENERIC;
    /* Rows a work-item walks: whole rounds of up_y, so every work-item's
     * rows start on the same phase. */
    int rows = sg2_tune_option_value(opts, "UPF_ROWS", 8);
    rows = rows > 0 ? rows : 8;
    rows = (rows + p->up_y - 1) / p->up_y * p->up_y;
    /* Only what changes the kernel's code goes into its build options: the
     * work-group macros are the host's, so candidates differing only in
     * them share one program. */
    int px = sg2_tune_option_value(opts, "UPF_PX", 1), spec = sg2_tune_option_value(opts, "UPF_SPEC", 0);
    char build[200];
    if (use == UPF_K_ROWS) /* flip and gain stay run-time arguments */
        snprintf(build, sizeof build, "-DUPF_ROWS=%d -DUPF_FH=%d -DUPF_FW=%d -DUPF_UPX=%d -DUPF_UPY=%d -DUPF_DOWNX=%d"
                 " -DUPF_DOWNY=%d -DUPF_PADX0=%d -DUPF_PADY0=%d%s", rows, fh, fw, p->up_x, p->up_y, p->down_x,
                 p->down_y, p->pad_x0, p->pad_y0, ops ? " -DEPI=1" : "");
    else if (use == UPF_K_TILED) /* flip stays a run-time argument there */
        snprintf(build, sizeof build, "-DUPF_TILED=1 -DUPF_FH=%d -DUPF_FW=%d -DUPF_UPX=%d -DUPF_UPY=%d -DUPF_DOWNX=%d"
                 " -DUPF_DOWNY=%d", fh, fw, p->up_x, p->up_y, p->down_x, p->down_y);
    else
        snprintf(build, sizeof build, "-DUPF_PX=%d -DUPF_SPEC=%d", px, spec ? 1 : 0);
    if (use == UPF_K_GENERIC && spec)
        specialize(build, sizeof build, p, fh, fw);
    static const char *const names[] = {"", "upfirdn2d_rows", "upfirdn2d_tiled", "upfirdn2d", ""};
    const sg2_kernel_entry *k = forced == UPF_BAD ? NULL : sg2_kernel(ctx, "upfirdn2d.cl", names[use], build);
    if (!y || !k)
        return NULL;
    int wg = sg2_tune_option_value(opts, "UPF_WG", 64);
    int rows_epi = use == UPF_K_ROWS && ops;
    sg2_epilogue epi;
    if (rows_epi && sg2_epilogue_make(ctx, 4, shape, ops->scale, ops->noise, ops->bias, ops->p, &epi))
        return NULL;
    if (applied)
        *applied = rows_epi;
    sg2_status st = use == UPF_K_ROWS ? launch_rows(ctx, k, build, p, planes, H, W, (int)Ho, (int)Wo, x, f,
                                                    rows_epi ? &epi : NULL, y, rows, wg)
                    : use == UPF_K_TILED ? launch_tiled(ctx, k, p, planes, H, W, (int)Ho, (int)Wo, x, f, y, &t)
                                         : launch_generic(ctx, k, p, planes, H, W, (int)Ho, (int)Wo, fh, fw, x, f, y,
                                                          px, wg);
    return st ? NULL : y;
}

sg2_tensor *sg2_upfirdn2d(sg2_ctx *ctx,
                          sg2_tensor *x, /* [N, C, H, W] */
                          sg2_tensor *f, /* [fh, fw] */
                          const sg2_upfirdn2d_params *p)
{
    SG2_OP_GUARD(ctx, x, f, p);
    sg2_tensor *y = upfirdn2d_launch(ctx, x, f, p, NULL, NULL);
    /* Only x is an input: the filter rides along as a saved constant. */
    if (y)
        sg2_autograd_record(ctx, y, &upfirdn2d_def, &x, 1, p, sizeof *p, &f, 1);
    return y;
}

sg2_tensor *sg2_upfirdn2d_epilogue(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *f, const sg2_upfirdn2d_params *p,
                                   const sg2_epilogue_ops *ops, int *applied)
{
    *applied = 0;
    SG2_OP_GUARD(ctx, x, f, p, ops);
    if (sg2_autograd_wants(ctx, &x, 1))
        return sg2_fail(ctx, SG2_ERR_ARG, "upfirdn2d_epilogue: not differentiable; x wants a gradient");
    return upfirdn2d_launch(ctx, x, f, p, ops, applied);
}

sg2_tensor *sg2_fir_filter(sg2_ctx *ctx, const float *taps, /* [n] */ int n)
{
    if (ctx->err.status)
        return NULL;
    if (!taps || n < 1 || n > 256)
        return sg2_fail(ctx, SG2_ERR_ARG, "fir_filter: need 1..256 taps, got %d%s", n, taps ? "" : " (NULL)");
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += taps[i];
    /* sum(outer(k, k)) = sum(k)^2 */
    double total = sum * sum;
    if (!(total > 0) || !isfinite(total))
        return sg2_fail(ctx, SG2_ERR_ARG, "fir_filter: taps sum to %g; cannot normalize", sum);
    float *h = malloc((size_t)n * (size_t)n * sizeof *h);
    if (!h)
        return sg2_fail(ctx, SG2_ERR_NOMEM, "fir_filter: out of host memory");
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            h[i * n + j] = (float)((double)taps[i] * taps[j] / total);
    sg2_tensor *f = sg2_tensor_from_host(ctx, 2, (const int64_t[]){n, n}, h);
    free(h);
    return f;
}

/* ---- tuning ------------------------------------------------------------- */
/* dims: {planes, H, W, up, down, pad0, pad1, taps}, the same along x and y.
 * Rows kernel (UPF_ROWS > 0 output rows a work-item, the default where
 * rows_fit): UPF_WG items a work-group. Generic kernel: UPF_WG items a
 * work-group, UPF_PX outputs an item, UPF_SPEC constant trip counts. Tiled
 * kernel (UPF_ROWS 0 and UPF_TILED 1, the default where a tile fits and the
 * rows kernel does not): UPF_TWG items a work-group, UPF_TLX of them along a
 * row (1: each walks whole rows, what a CPU vectorizes), tiles of at most
 * UPF_TILE outputs a side. */

/* v: the space's values in order. The rows kernel (UPF_ROWS > 0, the
 * default) reads only UPF_WG and UPF_ROWS, so the others stay at their
 * defaults with it. The generic kernel ignores the tiled
 * one's macros, so those stay at their defaults when UPF_TILED is 0 (the
 * search then spends no time on copies). Not the other way round: a tiled
 * op falls back to the generic kernel where no tile fits, with UPF_WG,
 * UPF_PX and UPF_SPEC. */
static int upfirdn2d_valid(const int *v, const void *dev)
{
    if (v[7] && (v[1] != 1 || v[2] != 0 || v[3] != 1 || v[4] != 16 || v[5] != 1 || v[6] != 64))
        return 0;
    if (!v[3] && (v[4] != 16 || v[5] != 1 || v[6] != 64))
        return 0;
    return (size_t)v[0] <= ((const sg2_device_info *)dev)->max_work_group;
}

static const sg2_tune_space upfirdn2d_space = {
    8,
    {{"UPF_WG", 5, {64, 16, 32, 128, 256}},
     {"UPF_PX", 4, {1, 2, 4, 8}},
     {"UPF_SPEC", 2, {0, 1}},
     {"UPF_TILED", 2, {1, 0}},
     {"UPF_TWG", 3, {16, 4, 64}},
     {"UPF_TLX", 2, {1, 16}},
     {"UPF_TILE", 2, {64, 32}},
     {"UPF_ROWS", 4, {8, 4, 16, 0}}},
    upfirdn2d_valid,
};

static int64_t dims_out_width(const int *d)
{
    return out_len(d[2], d[3], d[4], d[5], d[6], d[7]);
}

/* Resampling mode, taps and output width rounded up to a power of two. */
static void upfirdn2d_class(const int *d, char *out, size_t cap)
{
    int64_t wo = dims_out_width(d), w = 8;
    while (w < wo && w < 1024)
        w *= 2;
    snprintf(out, cap, "up%d-down%d-k%d-w%lld", d[3], d[4], d[7], (long long)w);
}

static sg2_status upfirdn2d_setup(sg2_ctx *ctx, const int *d, sg2_tensor **in)
{
    static const float taps[8] = {1, 3, 3, 1, 1, 3, 3, 1};
    in[0] = sg2_tune_random_tensor(ctx, 4, (const int64_t[]){1, d[0], d[1], d[2]}, 1);
    in[1] = sg2_fir_filter(ctx, taps, d[7] < 1 || d[7] > 8 ? 4 : d[7]);
    return ctx->err.status;
}

static sg2_tensor *upfirdn2d_run(sg2_ctx *ctx, const int *d, sg2_tensor *const *in)
{
    sg2_upfirdn2d_params p = {.up_x = d[3], .up_y = d[3], .down_x = d[4], .down_y = d[4], .pad_x0 = d[5],
                              .pad_x1 = d[6], .pad_y0 = d[5], .pad_y1 = d[6], .flip = 0, .gain = 1.0f};
    return sg2_upfirdn2d(ctx, in[0], in[1], &p);
}

/* The 32x32 preset (512 channels) and paper256 (64 channels at 256x256),
 * batch 1: the blur after the up-conv, ToRGB's upsampling, the blur before
 * the down-conv and the skip path's downsampling. The class ignores the
 * number of planes, so one image keeps each timing short and the search
 * budget goes to more candidates. */
static const int upfirdn2d_presets[][SG2_TUNE_DIMS] = {
    {512, 33, 33, 1, 1, 1, 1, 4},  {3, 16, 16, 2, 1, 2, 1, 4},    {512, 32, 32, 1, 1, 2, 2, 4},
    {512, 32, 32, 1, 2, 1, 1, 4},  {64, 257, 257, 1, 1, 1, 1, 4}, {3, 128, 128, 2, 1, 2, 1, 4},
    {64, 256, 256, 1, 1, 2, 2, 4}, {64, 256, 256, 1, 2, 1, 1, 4},
};

const sg2_tune_family sg2_tune_family_upfirdn2d = {
    .name = "upfirdn2d",
    .kernel_file = "upfirdn2d.cl",
    .space = &upfirdn2d_space,
    .shape_class = upfirdn2d_class,
    .setup = upfirdn2d_setup,
    .run = upfirdn2d_run,
    .presets = upfirdn2d_presets,
    .n_presets = (int)(sizeof upfirdn2d_presets / sizeof upfirdn2d_presets[0]),
};
