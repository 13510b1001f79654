/* Synthesis network: a learned 4x4 constant grown to the output resolution
 * by blocks of modulated 3x3 convolutions (SynthesisBlock, SynthesisLayer),
 * with per-pixel noise and ToRGB outputs summed through up-sampling in the
 * `skip` architecture (StyleGAN2 paper, Figure 7 and Table 2). */
#include <math.h>
#include <stdio.h>

#include "src/layers.h"

static int chan(const sg2_g_config *c, int res)
{
    return sg2_channels_at(c->channel_base, c->channel_max, res);
}

/* SynthesisLayer: affine, modulated conv (+ up 2), noise, bias + lrelu. */
static sg2_status layer_create(sg2_ctx *ctx, sg2_params *ps, const char *prefix, int in, int out, int w_dim, int res)
{
    char name[2 * SG2_PARAM_NAME_MAX];
    sg2_params_new(ctx, ps, 1, SG2_INIT_NORMAL, 1.0f, 4, (const int64_t[]){out, in, 3, 3}, "%s.weight", prefix);
    sg2_params_new(ctx, ps, 1, SG2_INIT_ZERO, 0.0f, 0, NULL, "%s.noise_strength", prefix);
    sg2_params_new(ctx, ps, 1, SG2_INIT_ZERO, 0.0f, 1, (const int64_t[]){out}, "%s.bias", prefix);
    sg2_params_new(ctx, ps, 0, SG2_INIT_NORMAL, 1.0f, 2, (const int64_t[]){res, res}, "%s.noise_const", prefix);
    if (snprintf(name, sizeof name, "%s.affine", prefix) >= (int)sizeof name)
        return sg2_error_set(&ctx->err, SG2_ERR_ARG, "parameter prefix too long: %s", prefix);
    return sg2_fc_create(ctx, ps, name, w_dim, in, 1, 1.0f, 1.0f);
}

static sg2_status torgb_create(sg2_ctx *ctx, sg2_params *ps, const char *prefix, int in, int out, int w_dim)
{
    char name[2 * SG2_PARAM_NAME_MAX];
    sg2_params_new(ctx, ps, 1, SG2_INIT_NORMAL, 1.0f, 4, (const int64_t[]){out, in, 1, 1}, "%s.weight", prefix);
    sg2_params_new(ctx, ps, 1, SG2_INIT_ZERO, 0.0f, 1, (const int64_t[]){out}, "%s.bias", prefix);
    if (snprintf(name, sizeof name, "%s.affine", prefix) >= (int)sizeof name)
        return sg2_error_set(&ctx->err, SG2_ERR_ARG, "parameter prefix too long: %s", prefix);
    return sg2_fc_create(ctx, ps, name, w_dim, in, 1, 1.0f, 1.0f);
}

sg2_status sg2_synthesis_create(sg2_ctx *ctx, sg2_params *ps, const sg2_g_config *c);
sg2_status sg2_synthesis_create(sg2_ctx *ctx, sg2_params *ps, const sg2_g_config *c)
{
    char p[2 * SG2_PARAM_NAME_MAX];
    for (int res = 4; res <= c->img_resolution; res *= 2) {
        int out = chan(c, res), in = res > 4 ? chan(c, res / 2) : 0;
        int last = res == c->img_resolution;
        if (res == 4)
            sg2_params_new(ctx, ps, 1, SG2_INIT_NORMAL, 1.0f, 3, (const int64_t[]){out, 4, 4}, "synthesis.b4.const");
        if (res > 4) {
            snprintf(p, sizeof p, "synthesis.b%d.conv0", res);
            layer_create(ctx, ps, p, in, out, c->w_dim, res);
        }
        snprintf(p, sizeof p, "synthesis.b%d.conv1", res);
        layer_create(ctx, ps, p, out, out, c->w_dim, res);
        if (last || c->arch == SG2_ARCH_SKIP) {
            snprintf(p, sizeof p, "synthesis.b%d.torgb", res);
            torgb_create(ctx, ps, p, out, c->img_channels, c->w_dim);
        }
        if (res > 4 && c->arch == SG2_ARCH_RESNET) {
            snprintf(p, sizeof p, "synthesis.b%d.skip", res);
            sg2_conv_layer_create(ctx, ps, p, in, out, 1, 0);
        }
    }
    return ctx->err.status;
}

/* ws[:, i, :] as [N, w_dim] */
static sg2_tensor *w_at(sg2_ctx *ctx, sg2_tensor *ws, int i)
{
    sg2_tensor *w = sg2_slice(ctx, ws, 1, i, 1);
    return w ? sg2_reshape(ctx, w, 2, (const int64_t[]){ws->shape[0], ws->shape[2]}) : NULL;
}

/* The modulated convolution's path (see SG2_MODCONV_AUTO). ToRGB's weights
 * are so few (3 output channels) that AUTO fuses them: the per-sample
 * weights cost nothing, and the shared-weight path would spend a pass over
 * x on applying the styles. */
static int fused_for(const sg2_synthesis_args *a, int torgb)
{
    if (a->fused_modconv == SG2_MODCONV_AUTO)
        return torgb;
    return a->fused_modconv != SG2_MODCONV_NONFUSED;
}

static sg2_tensor *layer_forward(sg2_ctx *ctx, sg2_generator *g, const char *prefix, sg2_tensor *x, sg2_tensor *w,
                                 int up, float gain, const sg2_synthesis_args *a)
{
    sg2_params *ps = &g->params;
    char name[2 * SG2_PARAM_NAME_MAX];
    if (snprintf(name, sizeof name, "%s.affine", prefix) >= (int)sizeof name)
        return sg2_fail(ctx, SG2_ERR_ARG, "parameter prefix too long: %s", prefix);
    sg2_tensor *styles = sg2_fc_forward(ctx, ps, name, w, SG2_ACT_LINEAR, 1.0f);
    sg2_tensor *weight = sg2_param_at(ctx, ps, prefix, "weight");
    sg2_tensor *strength = sg2_param_at(ctx, ps, prefix, "noise_strength");
    sg2_tensor *noise = NULL;
    if (!x || !styles || !weight)
        return NULL;
    int64_t res = x->shape[2] * up;
    if (a->noise_mode == SG2_NOISE_RANDOM)
        noise = sg2_mul(ctx, sg2_rand_normal(ctx, 4, (const int64_t[]){x->shape[0], 1, res, res}), strength);
    else if (a->noise_mode == SG2_NOISE_CONST)
        noise = sg2_mul(ctx, sg2_param_at(ctx, ps, prefix, "noise_const"), strength);
    sg2_modconv_args m = {.up = up, .padding = 1, .demodulate = 1, .fused = fused_for(a, 0), .memo = g->frozen};
    sg2_bias_act_params p = sg2_bias_act_defaults(SG2_ACT_LRELU);
    p.gain *= gain;
    p.clamp = g->cfg.conv_clamp >= 0 ? g->cfg.conv_clamp * gain : -1.0f;
    return sg2_modconv_layer(ctx, x, weight, styles, noise, sg2_param_at(ctx, ps, prefix, "bias"), g->filter, &m, &p);
}

/* ToRGB: 1x1 modulated conv without demodulation, styles scaled by 1/sqrt(C_in). */
static sg2_tensor *torgb_forward(sg2_ctx *ctx, sg2_generator *g, const char *prefix, sg2_tensor *x, sg2_tensor *w,
                                 const sg2_synthesis_args *a)
{
    sg2_params *ps = &g->params;
    char name[2 * SG2_PARAM_NAME_MAX];
    if (!x || snprintf(name, sizeof name, "%s.affine", prefix) >= (int)sizeof name)
        return NULL;
    sg2_tensor *styles = sg2_scale(ctx, sg2_fc_forward(ctx, ps, name, w, SG2_ACT_LINEAR, 1.0f),
                                   1.0f / sqrtf((float)x->shape[1]));
    sg2_modconv_args m = {.up = 1, .padding = 0, .demodulate = 0, .fused = fused_for(a, 1), .memo = g->frozen};
    sg2_bias_act_params p = sg2_bias_act_defaults(SG2_ACT_LINEAR);
    p.clamp = g->cfg.conv_clamp;
    return sg2_modconv_layer(ctx, x, sg2_param_at(ctx, ps, prefix, "weight"), styles, NULL,
                             sg2_param_at(ctx, ps, prefix, "bias"), g->filter, &m, &p);
}

sg2_tensor *sg2_synthesis_forward(sg2_ctx *ctx, sg2_generator *g, sg2_tensor *ws, const sg2_synthesis_args *a)
{
    const sg2_g_config *c = &g->cfg;
    if (ctx->err.status)
        return NULL;
    if (!ws || ws->ndim != 3 || ws->shape[1] != g->num_ws || ws->shape[2] != c->w_dim)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "synthesis: ws must be [N, %d, %d]", g->num_ws, c->w_dim);
    int64_t n = ws->shape[0];
    const float res_gain = 0.70710678f; /* sqrt(0.5): residual branches keep unit variance */
    sg2_tensor *x = NULL, *img = NULL;
    char p[2 * SG2_PARAM_NAME_MAX];
    int w_idx = 0;
    for (int res = 4; res <= c->img_resolution; res *= 2) {
        int last = res == c->img_resolution;
        int resnet = c->arch == SG2_ARCH_RESNET && res > 4;
        sg2_tensor *y = NULL;
        if (res == 4) {
            sg2_tensor *cst = sg2_param_at(ctx, &g->params, "synthesis.b4", "const");
            if (!cst)
                return NULL;
            x = sg2_expand(ctx, sg2_reshape(ctx, cst, 4, (const int64_t[]){1, cst->shape[0], 4, 4}), 4,
                           (const int64_t[]){n, cst->shape[0], 4, 4});
            snprintf(p, sizeof p, "synthesis.b%d.conv1", res);
            x = layer_forward(ctx, g, p, x, w_at(ctx, ws, w_idx), 1, 1.0f, a);
        } else {
            if (resnet) {
                snprintf(p, sizeof p, "synthesis.b%d.skip", res);
                sg2_conv_layer_args sk = {.up = 2, .down = 1, .act = SG2_ACT_LINEAR, .gain = res_gain, .conv_clamp = -1};
                y = sg2_conv_layer_forward(ctx, &g->params, p, x, g->filter, &sk);
            }
            snprintf(p, sizeof p, "synthesis.b%d.conv0", res);
            x = layer_forward(ctx, g, p, x, w_at(ctx, ws, w_idx), 2, 1.0f, a);
            snprintf(p, sizeof p, "synthesis.b%d.conv1", res);
            x = layer_forward(ctx, g, p, x, w_at(ctx, ws, w_idx + 1), 1, resnet ? res_gain : 1.0f, a);
            if (resnet)
                x = sg2_add(ctx, y, x);
        }
        int num_conv = res == 4 ? 1 : 2;
        if (img)
            img = sg2_upsample2d(ctx, img, g->filter);
        if (last || c->arch == SG2_ARCH_SKIP) {
            snprintf(p, sizeof p, "synthesis.b%d.torgb", res);
            sg2_tensor *rgb = torgb_forward(ctx, g, p, x, w_at(ctx, ws, w_idx + num_conv), a);
            img = img ? sg2_add(ctx, img, rgb) : rgb;
        }
        w_idx += num_conv;
    }
    return img;
}
