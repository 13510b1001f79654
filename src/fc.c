/* FullyConnectedLayer with the equalized learning rate: weights are stored
 * N(0,1)/lr_mul and scaled by lr_mul/sqrt(in) at run time, so every layer
 * learns at the same speed whatever its fan-in. */
#include <math.h>
#include <stdio.h>

#include "src/layers.h"

sg2_param *sg2_param_entry(sg2_ctx *ctx, sg2_params *ps, const char *prefix, const char *suffix)
{
    if (ctx->err.status)
        return NULL;
    char name[2 * SG2_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", suffix);
    sg2_param *p = sg2_params_find(ps, name);
    if (!p)
        sg2_fail(ctx, SG2_ERR_STATE, "network has no parameter %s", name);
    return p;
}

sg2_tensor *sg2_param_at(sg2_ctx *ctx, sg2_params *ps, const char *prefix, const char *suffix)
{
    sg2_param *p = sg2_param_entry(ctx, ps, prefix, suffix);
    return p ? p->t : NULL;
}

sg2_status sg2_fc_create(sg2_ctx *ctx, sg2_params *ps, const char *prefix, int in, int out, int has_bias,
                         float bias_init, float lr_mul)
{
    sg2_params_new(ctx, ps, 1, SG2_INIT_NORMAL, 1.0f / lr_mul, 2, (const int64_t[]){out, in}, "%s.weight", prefix);
    if (has_bias)
        sg2_params_new(ctx, ps, 1, SG2_INIT_CONST, bias_init, 1, (const int64_t[]){out}, "%s.bias", prefix);
    return ctx->err.status;
}

sg2_tensor *sg2_fc_forward(sg2_ctx *ctx, sg2_params *ps, const char *prefix, sg2_tensor *x, sg2_act act, float lr_mul)
{
    sg2_tensor *w = sg2_param_at(ctx, ps, prefix, "weight");
    if (!w || !x)
        return NULL;
    char name[2 * SG2_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s.bias", prefix);
    sg2_param *bp = sg2_params_find(ps, name);
    float weight_gain = lr_mul / sqrtf((float)w->shape[1]);
    sg2_tensor *y = sg2_scale(ctx, sg2_matmul(ctx, x, w, 0, 1), weight_gain);
    sg2_tensor *b = bp ? (lr_mul == 1.0f ? bp->t : sg2_scale(ctx, bp->t, lr_mul)) : NULL;
    sg2_bias_act_params p = sg2_bias_act_defaults(act);
    return sg2_bias_act(ctx, y, b, &p);
}

sg2_tensor *sg2_normalize_2nd_moment(sg2_ctx *ctx, sg2_tensor *x)
{
    return sg2_mul(ctx, x, sg2_rsqrt(ctx, sg2_add_scalar(ctx, sg2_mean(ctx, sg2_square(ctx, x), 0x2, 1), 1e-8f)));
}
