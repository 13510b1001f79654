/* Conv2dLayer and conv2d_resample: convolutions with FIR up/down-sampling by
 * two, in the order the reference's fast paths use so results match it:
 *   up 2, k > 1:  transposed conv (stride 2), then FIR pad [1,1] gain 4;
 *   down 2, k > 1: FIR pad [2,2] (for k = 3), then conv stride 2;
 *   k = 1:        conv then FIR up, or FIR down then conv;
 *   neither:      an ordinary conv with padding k/2. */
#include <math.h>
#include <stdio.h>

#include "src/layers.h"

static sg2_tensor *fir(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *f, int up, int down, int p0, int p1, float gain)
{
    sg2_upfirdn2d_params p = {.up_x = up, .up_y = up, .down_x = down, .down_y = down,
                              .pad_x0 = p0, .pad_x1 = p1, .pad_y0 = p0, .pad_y1 = p1, .flip = 0, .gain = gain};
    return sg2_upfirdn2d(ctx, x, f, &p);
}

sg2_tensor *sg2_upsample2d(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *f)
{
    int fw = f ? (int)f->shape[1] : 4;
    return fir(ctx, x, f, 2, 1, (fw + 1) / 2, (fw - 2) / 2, 4.0f);
}

sg2_tensor *sg2_downsample2d(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *f)
{
    int fw = f ? (int)f->shape[1] : 4;
    return fir(ctx, x, f, 1, 2, (fw - 1) / 2, (fw - 2) / 2, 1.0f);
}

/* [Cout, Cin/g, k, k] -> the [Cin, Cout/g, k, k] layout a transposed conv takes. */
static sg2_tensor *transpose_weight(sg2_ctx *ctx, sg2_tensor *w, int groups)
{
    if (!w)
        return NULL;
    int64_t co = w->shape[0], ci = w->shape[1], kh = w->shape[2], kw = w->shape[3];
    if (groups == 1)
        return sg2_permute(ctx, w, (const int[]){1, 0, 2, 3});
    sg2_tensor *t = sg2_reshape(ctx, w, 5, (const int64_t[]){groups, co / groups, ci, kh, kw});
    t = sg2_permute(ctx, t, (const int[]){0, 2, 1, 3, 4});
    return sg2_reshape(ctx, t, 4, (const int64_t[]){groups * ci, co / groups, kh, kw});
}

/* Spatially flipped kernel: turns the correlation conv2d computes into a true convolution. */
static sg2_tensor *flip_kernel(sg2_ctx *ctx, sg2_tensor *w)
{
    /* Flipping a k x k kernel is a permutation of its taps; with k <= 3 in
     * StyleGAN2 we express it with slices and concats so it stays differentiable. */
    if (!w)
        return NULL;
    sg2_tensor *rows[SG2_NODE_MAX_IN], *cols[SG2_NODE_MAX_IN];
    int kh = (int)w->shape[2], kw = (int)w->shape[3];
    if (kh > SG2_NODE_MAX_IN || kw > SG2_NODE_MAX_IN)
        return sg2_fail(ctx, SG2_ERR_UNSUPPORTED, "flip of a %dx%d kernel", kh, kw);
    for (int i = 0; i < kh; i++)
        rows[i] = sg2_slice(ctx, w, 2, kh - 1 - i, 1);
    sg2_tensor *t = kh > 1 ? sg2_concat(ctx, kh, rows, 2) : w;
    for (int j = 0; j < kw; j++)
        cols[j] = sg2_slice(ctx, t, 3, kw - 1 - j, 1);
    return kw > 1 ? sg2_concat(ctx, kw, cols, 3) : t;
}

static sg2_tensor *conv(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *w, int stride, int pad, int groups, int flip_weight)
{
    sg2_conv_params p = {.stride = stride, .pad_y = pad, .pad_x = pad, .groups = groups};
    return sg2_conv2d(ctx, x, flip_weight ? w : flip_kernel(ctx, w), &p);
}

sg2_tensor *sg2_conv2d_resample(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *w, sg2_tensor *f, int up, int down,
                                int padding, int groups, int flip_weight)
{
    if (!x || !w)
        return NULL;
    if (up > 1 && down > 1)
        return sg2_fail(ctx, SG2_ERR_UNSUPPORTED, "conv2d_resample: up and down at once");
    int k = (int)w->shape[2];
    int fw = (int)f->shape[1];
    /* Total padding around the FIR, per side, as the reference computes it. */
    int p0 = padding, p1 = padding;
    if (up > 1) {
        p0 += (fw + up - 1) / 2;
        p1 += (fw - up) / 2;
    }
    if (down > 1) {
        p0 += (fw - down + 1) / 2;
        p1 += (fw - down) / 2;
    }
    if (k == 1 && up > 1)
        return fir(ctx, conv(ctx, x, w, 1, 0, groups, flip_weight), f, up, 1, p0, p1, (float)(up * up));
    if (k == 1 && down > 1)
        return conv(ctx, fir(ctx, x, f, 1, down, p0, p1, 1.0f), w, 1, 0, groups, flip_weight);
    if (down > 1)
        return conv(ctx, fir(ctx, x, f, 1, 1, p0, p1, 1.0f), w, down, 0, groups, flip_weight);
    if (up > 1) {
        /* conv_transpose2d applies the kernel as a true convolution already
         * relative to conv2d, hence the inverted flip. */
        p0 -= k - 1;
        p1 -= k - up;
        int pt = -p0 < -p1 ? -p0 : -p1;
        if (pt < 0)
            pt = 0;
        sg2_tensor *wt = transpose_weight(ctx, flip_weight ? flip_kernel(ctx, w) : w, groups);
        sg2_conv_params cp = {.stride = up, .pad_y = pt, .pad_x = pt, .groups = groups};
        sg2_tensor *y = sg2_conv_transpose2d(ctx, x, wt, &cp, 0, 0);
        return fir(ctx, y, f, 1, 1, p0 + pt, p1 + pt, (float)(up * up));
    }
    return conv(ctx, x, w, 1, padding, groups, flip_weight);
}

sg2_status sg2_conv_layer_create(sg2_ctx *ctx, sg2_params *ps, const char *prefix, int in, int out, int k,
                                 int has_bias)
{
    sg2_params_new(ctx, ps, 1, SG2_INIT_NORMAL, 1.0f, 4, (const int64_t[]){out, in, k, k}, "%s.weight", prefix);
    if (has_bias)
        sg2_params_new(ctx, ps, 1, SG2_INIT_ZERO, 0.0f, 1, (const int64_t[]){out}, "%s.bias", prefix);
    return ctx->err.status;
}

sg2_tensor *sg2_conv_layer_forward(sg2_ctx *ctx, sg2_params *ps, const char *prefix, sg2_tensor *x, sg2_tensor *filter,
                                   const sg2_conv_layer_args *a)
{
    sg2_param *wp = sg2_param_entry(ctx, ps, prefix, "weight");
    if (!wp || !x)
        return NULL;
    sg2_tensor *w = wp->t;
    char name[2 * SG2_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s.bias", prefix);
    sg2_param *bp = sg2_params_find(ps, name);
    int k = (int)w->shape[2];
    float weight_gain = 1.0f / sqrtf((float)(w->shape[1] * k * k));
    sg2_tensor *ws = sg2_params_scaled(ctx, ps, wp, weight_gain);
    sg2_tensor *y = sg2_conv2d_resample(ctx, x, ws, filter, a->up, a->down, k / 2, 1, a->up == 1);
    sg2_bias_act_params p = sg2_bias_act_defaults(a->act);
    p.gain *= a->gain;
    p.clamp = a->conv_clamp >= 0 ? a->conv_clamp * a->gain : -1.0f;
    return sg2_bias_act(ctx, y, bp ? bp->t : NULL, &p);
}
