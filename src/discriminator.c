/* Discriminator: residual blocks from the image resolution down to 8x8
 * (DiscriminatorBlock), then the epilogue at 4x4 with minibatch standard
 * deviation, a 3x3 conv and two fully connected layers
 * (DiscriminatorEpilogue); optional projection onto a label embedding. */
#include <math.h>
#include <stdio.h>

#include "src/layers.h"

static const float res_gain = 0.70710678f; /* sqrt(0.5) on both residual branches */

static int chan(const sg2_d_config *c, int res)
{
    return sg2_channels_at(c->channel_base, c->channel_max, res);
}

static int cmap_dim(const sg2_d_config *c)
{
    if (c->c_dim == 0)
        return 0;
    return c->cmap_dim > 0 ? c->cmap_dim : chan(c, 4);
}

sg2_status sg2_discriminator_create(sg2_ctx *ctx, sg2_params *ps, const sg2_d_config *c);
sg2_status sg2_discriminator_create(sg2_ctx *ctx, sg2_params *ps, const sg2_d_config *c)
{
    char p[2 * SG2_PARAM_NAME_MAX];
    for (int res = c->img_resolution; res >= 8; res /= 2) {
        int tmp = chan(c, res), out = chan(c, res / 2);
        if (res == c->img_resolution || c->arch == SG2_ARCH_SKIP) {
            snprintf(p, sizeof p, "b%d.fromrgb", res);
            sg2_conv_layer_create(ctx, ps, p, c->img_channels, tmp, 1, 1);
        }
        snprintf(p, sizeof p, "b%d.conv0", res);
        sg2_conv_layer_create(ctx, ps, p, tmp, tmp, 3, 1);
        snprintf(p, sizeof p, "b%d.conv1", res);
        sg2_conv_layer_create(ctx, ps, p, tmp, out, 3, 1);
        if (c->arch == SG2_ARCH_RESNET) {
            snprintf(p, sizeof p, "b%d.skip", res);
            sg2_conv_layer_create(ctx, ps, p, tmp, out, 1, 0);
        }
    }
    int cm = cmap_dim(c), c4 = chan(c, 4);
    if (c->c_dim > 0)
        sg2_mapping_create(ctx, ps, "mapping", 0, c->c_dim, cm, c->map_layers, 0.01f, 0);
    if (c->arch == SG2_ARCH_SKIP)
        sg2_conv_layer_create(ctx, ps, "b4.fromrgb", c->img_channels, c4, 1, 1);
    sg2_conv_layer_create(ctx, ps, "b4.conv", c4 + (c->mbstd_group > 0 ? c->mbstd_nfeat : 0), c4, 3, 1);
    sg2_fc_create(ctx, ps, "b4.fc", c4 * 16, c4, 1, 0.0f, 1.0f);
    sg2_fc_create(ctx, ps, "b4.out", c4, cm > 0 ? cm : 1, 1, 0.0f, 1.0f);
    return ctx->err.status;
}

/* clamp: whether the layer takes conv_clamp (the reference gives it to
 * fromrgb, conv0, conv1 and the epilogue conv, not to the residual skip or
 * the epilogue's fromrgb). */
static sg2_tensor *conv_layer(sg2_ctx *ctx, sg2_discriminator *d, const char *name, sg2_tensor *x, int down,
                              sg2_act act, float gain, int clamp)
{
    sg2_conv_layer_args a = {.up = 1, .down = down, .act = act, .gain = gain,
                             .conv_clamp = clamp ? d->cfg.conv_clamp : -1.0f};
    return sg2_conv_layer_forward(ctx, &d->params, name, x, d->filter, &a);
}

static sg2_tensor *block_forward(sg2_ctx *ctx, sg2_discriminator *d, int res, sg2_tensor *x, sg2_tensor **img)
{
    const sg2_d_config *c = &d->cfg;
    char p[2 * SG2_PARAM_NAME_MAX];
    if (res == c->img_resolution || c->arch == SG2_ARCH_SKIP) {
        snprintf(p, sizeof p, "b%d.fromrgb", res);
        sg2_tensor *y = conv_layer(ctx, d, p, *img, 1, SG2_ACT_LRELU, 1.0f, 1);
        x = x ? sg2_add(ctx, x, y) : y;
        *img = c->arch == SG2_ARCH_SKIP ? sg2_downsample2d(ctx, *img, d->filter) : NULL;
    }
    sg2_tensor *skip = NULL;
    if (c->arch == SG2_ARCH_RESNET) {
        snprintf(p, sizeof p, "b%d.skip", res);
        skip = conv_layer(ctx, d, p, x, 2, SG2_ACT_LINEAR, res_gain, 0);
    }
    snprintf(p, sizeof p, "b%d.conv0", res);
    x = conv_layer(ctx, d, p, x, 1, SG2_ACT_LRELU, 1.0f, 1);
    snprintf(p, sizeof p, "b%d.conv1", res);
    x = conv_layer(ctx, d, p, x, 2, SG2_ACT_LRELU, c->arch == SG2_ARCH_RESNET ? res_gain : 1.0f, 1);
    return skip ? sg2_add(ctx, skip, x) : x;
}

static sg2_tensor *epilogue_forward(sg2_ctx *ctx, sg2_discriminator *d, sg2_tensor *x, sg2_tensor *img,
                                    sg2_tensor *cmap)
{
    const sg2_d_config *c = &d->cfg;
    if (c->arch == SG2_ARCH_SKIP)
        x = x ? sg2_add(ctx, x, conv_layer(ctx, d, "b4.fromrgb", img, 1, SG2_ACT_LRELU, 1.0f, 0))
              : conv_layer(ctx, d, "b4.fromrgb", img, 1, SG2_ACT_LRELU, 1.0f, 0);
    if (c->mbstd_group > 0)
        x = sg2_mbstd(ctx, x, c->mbstd_group, c->mbstd_nfeat);
    x = conv_layer(ctx, d, "b4.conv", x, 1, SG2_ACT_LRELU, 1.0f, 1);
    if (!x)
        return NULL;
    x = sg2_reshape(ctx, x, 2, (const int64_t[]){x->shape[0], -1});
    x = sg2_fc_forward(ctx, &d->params, "b4.fc", x, SG2_ACT_LRELU, 1.0f);
    x = sg2_fc_forward(ctx, &d->params, "b4.out", x, SG2_ACT_LINEAR, 1.0f);
    if (cmap) /* projection discriminator: <out, cmap> / sqrt(cmap_dim) */
        x = sg2_scale(ctx, sg2_sum(ctx, sg2_mul(ctx, x, cmap), 0x2, 1), 1.0f / sqrtf((float)cmap->shape[1]));
    return x;
}

sg2_tensor *sg2_discriminator_forward(sg2_ctx *ctx, sg2_discriminator *d, sg2_tensor *img, sg2_tensor *c)
{
    const sg2_d_config *cfg = &d->cfg;
    if (ctx->err.status)
        return NULL;
    if (!img || img->ndim != 4 || img->shape[1] != cfg->img_channels || img->shape[2] != cfg->img_resolution ||
        img->shape[3] != cfg->img_resolution)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "discriminator: images must be [N, %d, %d, %d]", cfg->img_channels,
                        cfg->img_resolution, cfg->img_resolution);
    if ((cfg->c_dim > 0) != (c != NULL))
        return sg2_fail(ctx, SG2_ERR_SHAPE, "discriminator: the network takes %d label values per sample", cfg->c_dim);
    sg2_tensor *x = NULL;
    for (int res = cfg->img_resolution; res >= 8; res /= 2)
        x = block_forward(ctx, d, res, x, &img);
    sg2_tensor *cmap = c ? sg2_mapping_layers(ctx, &d->params, "mapping", NULL, c, cfg->map_layers, 0.01f) : NULL;
    return epilogue_forward(ctx, d, x, cfg->img_resolution == 4 || cfg->arch == SG2_ARCH_SKIP ? img : NULL, cmap);
}
