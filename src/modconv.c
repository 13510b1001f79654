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
 *    convolution with groups = N. */
#include "src/layers.h"

/* d[N, Cout] = rsqrt(s^2 @ (sum_k w^2)^T + 1e-8): the norm of each sample's
 * modulated filter without materialising it. */
static sg2_tensor *demod_coefs(sg2_ctx *ctx, sg2_tensor *weight, sg2_tensor *styles)
{
    sg2_tensor *wsq = sg2_sum(ctx, sg2_square(ctx, weight), 0xC, 0); /* [Cout, Cin] */
    return sg2_rsqrt(ctx, sg2_add_scalar(ctx, sg2_matmul(ctx, sg2_square(ctx, styles), wsq, 0, 1), 1e-8f));
}

static sg2_tensor *as_nc11(sg2_ctx *ctx, sg2_tensor *t)
{
    return t ? sg2_reshape(ctx, t, 4, (const int64_t[]){t->shape[0], t->shape[1], 1, 1}) : NULL;
}

static sg2_tensor *modconv_nonfused(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *weight, sg2_tensor *styles,
                                    sg2_tensor *noise, sg2_tensor *filter, const sg2_modconv_args *a)
{
    sg2_tensor *y = sg2_mul(ctx, x, as_nc11(ctx, styles));
    y = sg2_conv2d_resample(ctx, y, weight, filter, a->up, 1, a->padding, 1, a->up == 1);
    if (a->demodulate)
        y = sg2_mul(ctx, y, as_nc11(ctx, demod_coefs(ctx, weight, styles)));
    return noise ? sg2_add(ctx, y, noise) : y;
}

static sg2_tensor *modconv_fused(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *weight, sg2_tensor *styles,
                                 sg2_tensor *noise, sg2_tensor *filter, const sg2_modconv_args *a)
{
    int64_t n = x->shape[0], ci = x->shape[1], h = x->shape[2], wd = x->shape[3];
    int64_t co = weight->shape[0], kh = weight->shape[2], kw = weight->shape[3];
    sg2_tensor *w = sg2_mul(ctx, sg2_reshape(ctx, weight, 5, (const int64_t[]){1, co, ci, kh, kw}),
                            sg2_reshape(ctx, styles, 5, (const int64_t[]){n, 1, ci, 1, 1}));
    if (a->demodulate) {
        sg2_tensor *d = demod_coefs(ctx, weight, styles);
        w = sg2_mul(ctx, w, sg2_reshape(ctx, d, 5, (const int64_t[]){n, co, 1, 1, 1}));
    }
    w = sg2_reshape(ctx, w, 4, (const int64_t[]){n * co, ci, kh, kw});
    sg2_tensor *xg = sg2_reshape(ctx, x, 4, (const int64_t[]){1, n * ci, h, wd});
    sg2_tensor *y = sg2_conv2d_resample(ctx, xg, w, filter, a->up, 1, a->padding, (int)n, a->up == 1);
    if (!y)
        return NULL;
    y = sg2_reshape(ctx, y, 4, (const int64_t[]){n, co, y->shape[2], y->shape[3]});
    return noise ? sg2_add(ctx, y, noise) : y;
}

sg2_tensor *sg2_modconv(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *weight, sg2_tensor *styles, sg2_tensor *noise,
                        sg2_tensor *filter, const sg2_modconv_args *a)
{
    if (ctx->err.status || !x || !weight || !styles)
        return ctx->err.status ? NULL : sg2_fail(ctx, SG2_ERR_ARG, "modconv: NULL input");
    if (x->ndim != 4 || weight->ndim != 4 || styles->ndim != 2 || styles->shape[0] != x->shape[0] ||
        styles->shape[1] != x->shape[1] || weight->shape[1] != x->shape[1]) {
        char sx[96], sw[96], ss[96];
        return sg2_fail(ctx, SG2_ERR_SHAPE, "modconv: input %s, weight %s and styles %s do not fit",
                        sg2_shape_str(x, sx, sizeof sx), sg2_shape_str(weight, sw, sizeof sw),
                        sg2_shape_str(styles, ss, sizeof ss));
    }
    return a->fused ? modconv_fused(ctx, x, weight, styles, noise, filter, a)
                    : modconv_nonfused(ctx, x, weight, styles, noise, filter, a);
}
