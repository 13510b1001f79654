/* Mapping network: z (and an optional class label) to the intermediate latent
 * w through fully connected lrelu layers at lr multiplier 0.01, broadcast to
 * num_ws copies; tracks the moving average w_avg used by truncation. */
#include <stdio.h>

#include "src/layers.h"

sg2_status sg2_mapping_create(sg2_ctx *ctx, sg2_params *ps, const char *prefix, int z_dim, int c_dim, int w_dim,
                              int layers, float lr_mul, int has_w_avg)
{
    char name[2 * SG2_PARAM_NAME_MAX];
    int embed = c_dim > 0 ? w_dim : 0;
    /* state_dict order: own buffers (w_avg) before the sub-layers */
    if (has_w_avg)
        sg2_params_new(ctx, ps, 0, SG2_INIT_ZERO, 0, 1, (const int64_t[]){w_dim}, "%s.w_avg", prefix);
    if (c_dim > 0) {
        snprintf(name, sizeof name, "%s.embed", prefix);
        sg2_fc_create(ctx, ps, name, c_dim, embed, 1, 0.0f, 1.0f);
    }
    for (int i = 0; i < layers; i++) {
        int in = i == 0 ? z_dim + embed : w_dim;
        snprintf(name, sizeof name, "%s.fc%d", prefix, i);
        sg2_fc_create(ctx, ps, name, in, w_dim, 1, 0.0f, lr_mul);
    }
    return ctx->err.status;
}

/* The layers alone: [N, w_dim] before broadcasting. */
sg2_tensor *sg2_mapping_layers(sg2_ctx *ctx, sg2_params *ps, const char *prefix, sg2_tensor *z, sg2_tensor *c,
                               int layers, float lr_mul)
{
    char name[2 * SG2_PARAM_NAME_MAX];
    sg2_tensor *x = z ? sg2_normalize_2nd_moment(ctx, z) : NULL;
    if (c) {
        snprintf(name, sizeof name, "%s.embed", prefix);
        sg2_tensor *y = sg2_normalize_2nd_moment(ctx, sg2_fc_forward(ctx, ps, name, c, SG2_ACT_LINEAR, 1.0f));
        sg2_tensor *parts[2] = {x, y};
        x = x ? sg2_concat(ctx, 2, parts, 1) : y;
    }
    for (int i = 0; i < layers; i++) {
        snprintf(name, sizeof name, "%s.fc%d", prefix, i);
        x = sg2_fc_forward(ctx, ps, name, x, SG2_ACT_LRELU, lr_mul);
    }
    return x;
}

/* w_avg <- mean_batch(w) + beta (w_avg - mean_batch(w)), outside the tape. */
static void update_w_avg(sg2_ctx *ctx, sg2_generator *g, sg2_tensor *w)
{
    sg2_tensor *w_avg = sg2_param_at(ctx, &g->params, "mapping", "w_avg");
    int saved = ctx->grad_enabled;
    ctx->grad_enabled = 0;
    sg2_tensor *m = sg2_mean(ctx, sg2_detach(ctx, w), 0x1, 0);
    sg2_tensor *next = sg2_add(ctx, m, sg2_scale(ctx, sg2_sub(ctx, w_avg, m), g->cfg.w_avg_beta));
    ctx->grad_enabled = saved;
    if (next && w_avg)
        sg2_tensor_copy(ctx, w_avg, next, "mapping.w_avg");
}

sg2_tensor *sg2_mapping_forward(sg2_ctx *ctx, sg2_generator *g, sg2_tensor *z, sg2_tensor *c,
                                const sg2_mapping_args *args)
{
    const sg2_g_config *cfg = &g->cfg;
    if (ctx->err.status)
        return NULL;
    if (!z || z->ndim != 2 || z->shape[1] != cfg->z_dim)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "mapping: z must be [N, %d]", cfg->z_dim);
    if ((cfg->c_dim > 0) != (c != NULL) || (c && (c->ndim != 2 || c->shape[1] != cfg->c_dim || c->shape[0] != z->shape[0])))
        return sg2_fail(ctx, SG2_ERR_SHAPE, "mapping: the network takes %d label values per sample", cfg->c_dim);
    sg2_tensor *w = sg2_mapping_layers(ctx, &g->params, "mapping", z, c, cfg->map_layers, cfg->map_lr_mul);
    if (args && args->update_w_avg)
        update_w_avg(ctx, g, w);
    int64_t n = z->shape[0];
    sg2_tensor *ws = sg2_expand(ctx, sg2_reshape(ctx, w, 3, (const int64_t[]){n, 1, cfg->w_dim}), 3,
                                (const int64_t[]){n, g->num_ws, cfg->w_dim});
    if (args && args->truncation_psi != 1.0f) {
        /* w_avg + psi (w - w_avg) on the first `cutoff` ws */
        int cutoff = args->truncation_cutoff > 0 && args->truncation_cutoff < g->num_ws ? args->truncation_cutoff
                                                                                      : g->num_ws;
        sg2_tensor *w_avg = sg2_param_at(ctx, &g->params, "mapping", "w_avg");
        sg2_tensor *head = sg2_slice(ctx, ws, 1, 0, cutoff);
        head = sg2_add(ctx, w_avg, sg2_scale(ctx, sg2_sub(ctx, head, w_avg), args->truncation_psi));
        if (cutoff < g->num_ws) {
            sg2_tensor *parts[2] = {head, sg2_slice(ctx, ws, 1, cutoff, g->num_ws - cutoff)};
            ws = sg2_concat(ctx, 2, parts, 1);
        } else {
            ws = head;
        }
    }
    return ws;
}
