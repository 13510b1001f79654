/* upfirdn2d: FIR resampling of NCHW images (scipy.signal.upfirdn per plane),
 * and the normalized 2-D filters StyleGAN2 resamples with.
 *
 * Its backward is upfirdn2d again (up and down swapped, the filter read the
 * other way round, the padding mirrored), so gradients of any order stay in
 * this one op. The filter is a constant: it is kept on the node as a saved
 * tensor, never as an input, so no gradient is ever computed for it. */
#include <math.h>
#include <stdlib.h>

#include "src/op_util.h"

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

/* A work-group of up to 64 items that covers rows of the output plane
 * without much waste on small images: width first, then height. */
static void work_group(const sg2_kernel_entry *k, const size_t global[3], size_t local[3])
{
    size_t cap = k->max_work_group < 64 ? k->max_work_group : 64;
    size_t lx = 1, ly = 1;
    while (lx * 2 <= cap && lx < global[0])
        lx *= 2;
    while (lx * ly * 2 <= cap && ly < global[1])
        ly *= 2;
    local[0] = lx;
    local[1] = ly;
    local[2] = 1;
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

sg2_tensor *sg2_upfirdn2d(sg2_ctx *ctx,
                          sg2_tensor *x, /* [N, C, H, W] */
                          sg2_tensor *f, /* [fh, fw] */
                          const sg2_upfirdn2d_params *p)
{
    SG2_OP_GUARD(ctx, x, f, p);
    char sx[96], sf[96];
    if (x->ndim != 4)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "upfirdn2d: x must be 4-D [N, C, H, W], got %s",
                        sg2_shape_str(x, sx, sizeof sx));
    if (f->ndim != 2)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "upfirdn2d: filter must be 2-D [fh, fw], got %s",
                        sg2_shape_str(f, sf, sizeof sf));
    if (p->up_x < 1 || p->up_y < 1 || p->down_x < 1 || p->down_y < 1)
        return sg2_fail(ctx, SG2_ERR_ARG, "upfirdn2d: up (%d, %d) and down (%d, %d) factors must be >= 1", p->up_x,
                        p->up_y, p->down_x, p->down_y);
    if (!isfinite(p->gain))
        return sg2_fail(ctx, SG2_ERR_ARG, "upfirdn2d: gain %g is not finite", (double)p->gain);
    int64_t H = x->shape[2], W = x->shape[3], fh = f->shape[0], fw = f->shape[1];
    int64_t Ho = out_len(H, p->up_y, p->down_y, p->pad_y0, p->pad_y1, fh);
    int64_t Wo = out_len(W, p->up_x, p->down_x, p->pad_x0, p->pad_x1, fw);
    if (Ho < 1 || Wo < 1)
        return sg2_fail(ctx, SG2_ERR_SHAPE,
                        "upfirdn2d: %s input, up (%d, %d), pad x [%d, %d] y [%d, %d] is smaller than the %s filter",
                        sg2_shape_str(x, sx, sizeof sx), p->up_x, p->up_y, p->pad_x0, p->pad_x1, p->pad_y0, p->pad_y1,
                        sg2_shape_str(f, sf, sizeof sf));
    /* The kernel indexes padded coordinates in int: keep them well inside. */
    if (H * p->up_y + llabs((long long)p->pad_y0) + fh >= INT32_MAX / 2 ||
        W * p->up_x + llabs((long long)p->pad_x0) + fw >= INT32_MAX / 2 || Ho * p->down_y >= INT32_MAX / 2 ||
        Wo * p->down_x >= INT32_MAX / 2)
        return sg2_fail(ctx, SG2_ERR_ARG, "upfirdn2d: padded size out of the 32-bit index range");
    int64_t shape[4] = {x->shape[0], x->shape[1], Ho, Wo};
    sg2_tensor *y = sg2_tensor_empty(ctx, 4, shape);
    const sg2_kernel_entry *k = sg2_kernel(ctx, "upfirdn2d.cl", "upfirdn2d", NULL);
    if (!y || !k)
        return NULL;
    sg2_args a = sg2_args_begin(k);
    sg2_args_int(&a, (int)(x->shape[0] * x->shape[1]));
    sg2_args_int(&a, (int)H);
    sg2_args_int(&a, (int)W);
    sg2_args_int(&a, (int)Ho);
    sg2_args_int(&a, (int)Wo);
    sg2_args_mem(&a, x->buf->mem);
    sg2_args_int(&a, (int)x->offset);
    sg2_args_mem(&a, f->buf->mem);
    sg2_args_int(&a, (int)f->offset);
    sg2_args_int(&a, (int)fh);
    sg2_args_int(&a, (int)fw);
    sg2_args_int(&a, p->up_x);
    sg2_args_int(&a, p->up_y);
    sg2_args_int(&a, p->down_x);
    sg2_args_int(&a, p->down_y);
    sg2_args_int(&a, p->pad_x0);
    sg2_args_int(&a, p->pad_y0);
    sg2_args_int(&a, p->flip ? 1 : 0);
    sg2_args_float(&a, p->gain);
    sg2_args_mem(&a, y->buf->mem);
    sg2_args_int(&a, (int)y->offset);
    size_t global[3] = {(size_t)Wo, (size_t)Ho, (size_t)(x->shape[0] * x->shape[1])}, local[3];
    work_group(k, global, local);
    if (sg2_launch(ctx->rt, &a, 3, global, local, &ctx->err))
        return NULL;
    /* Only x is an input: the filter rides along as a saved constant. */
    sg2_autograd_record(ctx, y, &upfirdn2d_def, &x, 1, p, sizeof *p, &f, 1);
    return y;
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
