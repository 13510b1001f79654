/* Network configuration, defaults and construction. */
#include "src/network.h"

#include <string.h>

#include "src/layers.h"
#include "src/ops.h"

sg2_status sg2_synthesis_create(sg2_ctx *ctx, sg2_params *ps, const sg2_g_config *c);
sg2_status sg2_discriminator_create(sg2_ctx *ctx, sg2_params *ps, const sg2_d_config *c);
sg2_status sg2_mapping_create(sg2_ctx *ctx, sg2_params *ps, const char *prefix, int z_dim, int c_dim, int w_dim,
                              int layers, float lr_mul, int has_w_avg);

int sg2_log2_exact(int v)
{
    if (v <= 0 || (v & (v - 1)) != 0)
        return -1;
    int l = 0;
    while ((1 << l) < v)
        l++;
    return l;
}

int sg2_channels_at(int channel_base, int channel_max, int res)
{
    int c = channel_base / res;
    return c < channel_max ? c : channel_max;
}

int sg2_num_ws(int img_resolution)
{
    return 2 * sg2_log2_exact(img_resolution) - 2;
}

sg2_g_config sg2_g_config_default(int img_resolution, int img_channels)
{
    return (sg2_g_config){.z_dim = 512, .w_dim = 512, .c_dim = 0, .img_resolution = img_resolution,
                          .img_channels = img_channels, .map_layers = 8, .map_lr_mul = 0.01f,
                          .w_avg_beta = 0.995f, .channel_base = 32768, .channel_max = 512, .conv_clamp = -1.0f,
                          .arch = SG2_ARCH_SKIP};
}

sg2_d_config sg2_d_config_default(int img_resolution, int img_channels)
{
    return (sg2_d_config){.c_dim = 0, .img_resolution = img_resolution, .img_channels = img_channels,
                          .channel_base = 32768, .channel_max = 512, .conv_clamp = -1.0f, .arch = SG2_ARCH_RESNET,
                          .mbstd_group = 4, .mbstd_nfeat = 1, .cmap_dim = 0, .map_layers = 8};
}

static sg2_status check_common(const char *what, int res, int min_res, int ch, int base, int cmax, sg2_error *err)
{
    int l = sg2_log2_exact(res);
    if (l < 0 || res < min_res || res > (1 << SG2_MAX_RES_LOG2))
        return sg2_error_set(err, SG2_ERR_ARG, "%s: resolution %d is not a power of two in %d..%d", what, res,
                             min_res, 1 << SG2_MAX_RES_LOG2);
    if (ch != 1 && ch != 3)
        return sg2_error_set(err, SG2_ERR_ARG, "%s: %d image channels (1 or 3 supported)", what, ch);
    if (base < res || cmax < 1)
        return sg2_error_set(err, SG2_ERR_ARG, "%s: channel base %d / max %d leave no channels at %d", what, base,
                             cmax, res);
    return SG2_OK;
}

sg2_status sg2_g_config_check(const sg2_g_config *c, sg2_error *err)
{
    sg2_status st = check_common("generator", c->img_resolution, 4, c->img_channels, c->channel_base,
                                 c->channel_max, err);
    if (st)
        return st;
    if (c->z_dim < 1 || c->w_dim < 1 || c->c_dim < 0 || c->map_layers < 1)
        return sg2_error_set(err, SG2_ERR_ARG, "generator: z_dim %d, w_dim %d, c_dim %d, mapping layers %d",
                             c->z_dim, c->w_dim, c->c_dim, c->map_layers);
    return SG2_OK;
}

sg2_status sg2_d_config_check(const sg2_d_config *c, sg2_error *err)
{
    sg2_status st = check_common("discriminator", c->img_resolution, 8, c->img_channels, c->channel_base,
                                 c->channel_max, err);
    if (st)
        return st;
    if (c->c_dim < 0 || c->mbstd_group < 0 || c->mbstd_nfeat < 1 || (c->c_dim > 0 && c->map_layers < 1))
        return sg2_error_set(err, SG2_ERR_ARG, "discriminator: c_dim %d, mbstd group %d / features %d",
                             c->c_dim, c->mbstd_group, c->mbstd_nfeat);
    int c4 = sg2_channels_at(c->channel_base, c->channel_max, 4);
    if (c->mbstd_group > 0 && c4 % c->mbstd_nfeat != 0)
        return sg2_error_set(err, SG2_ERR_ARG, "discriminator: %d channels at 4x4 not divisible by %d mbstd features",
                             c4, c->mbstd_nfeat);
    return SG2_OK;
}

static sg2_tensor *make_filter(sg2_ctx *ctx)
{
    static const float taps[4] = {1, 3, 3, 1};
    sg2_tensor *f = sg2_fir_filter(ctx, taps, 4);
    if (f)
        sg2_tensor_retain(f);
    return f;
}

sg2_status sg2_generator_init(sg2_ctx *ctx, sg2_generator *g, const sg2_g_config *cfg)
{
    memset(g, 0, sizeof *g);
    if (sg2_g_config_check(cfg, &ctx->err))
        return ctx->err.status;
    g->cfg = *cfg;
    g->num_ws = sg2_num_ws(cfg->img_resolution);
    size_t mark = sg2_scope_begin(ctx);
    g->filter = make_filter(ctx);
    /* The reference builds synthesis before mapping; keep its state_dict order. */
    sg2_synthesis_create(ctx, &g->params, cfg);
    sg2_mapping_create(ctx, &g->params, "mapping", cfg->z_dim, cfg->c_dim, cfg->w_dim, cfg->map_layers,
                       cfg->map_lr_mul, 1);
    sg2_scope_end(ctx, mark, NULL, 0);
    if (ctx->err.status)
        sg2_generator_free(g);
    return ctx->err.status;
}

void sg2_generator_free(sg2_generator *g)
{
    sg2_generator_thaw(g);
    sg2_params_free(&g->params);
    sg2_tensor_release(g->filter);
    g->filter = NULL;
}

sg2_status sg2_generator_freeze(sg2_ctx *ctx, sg2_generator *g)
{
    if (!g->frozen && !(g->frozen = sg2_weight_memo_new()))
        return sg2_error_set(&ctx->err, SG2_ERR_NOMEM, "generator: out of host memory for its weight memo");
    return SG2_OK;
}

void sg2_generator_thaw(sg2_generator *g)
{
    sg2_weight_memo_free(g->frozen);
    g->frozen = NULL;
}

sg2_status sg2_discriminator_init(sg2_ctx *ctx, sg2_discriminator *d, const sg2_d_config *cfg)
{
    memset(d, 0, sizeof *d);
    if (sg2_d_config_check(cfg, &ctx->err))
        return ctx->err.status;
    d->cfg = *cfg;
    size_t mark = sg2_scope_begin(ctx);
    d->filter = make_filter(ctx);
    sg2_discriminator_create(ctx, &d->params, cfg);
    sg2_scope_end(ctx, mark, NULL, 0);
    if (ctx->err.status)
        sg2_discriminator_free(d);
    return ctx->err.status;
}

void sg2_discriminator_free(sg2_discriminator *d)
{
    sg2_params_free(&d->params);
    sg2_tensor_release(d->filter);
    d->filter = NULL;
}
