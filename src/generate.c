#include "src/generate.h"

#include <stdlib.h>

#include "src/image_io.h"
#include "src/np_random.h"
#include "src/ops.h"

void sg2_latent_from_seed(float *z, int z_dim, uint32_t seed)
{
    sg2_np_random r;
    sg2_np_random_seed(&r, seed);
    for (int i = 0; i < z_dim; i++)
        z[i] = (float)sg2_np_random_gauss(&r);
}

sg2_status sg2_generate_ws(sg2_ctx *ctx, sg2_generator *g, const float *z, const float *c, int n,
                           const sg2_gen_args *a, float *ws)
{
    const sg2_g_config *cfg = &g->cfg;
    int saved = ctx->grad_enabled;
    ctx->grad_enabled = 0;
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *tz = sg2_tensor_from_host(ctx, 2, (const int64_t[]){n, cfg->z_dim}, z);
    sg2_tensor *tc = cfg->c_dim > 0 ? sg2_tensor_from_host(ctx, 2, (const int64_t[]){n, cfg->c_dim}, c) : NULL;
    sg2_mapping_args m = {.truncation_psi = a->truncation_psi, .truncation_cutoff = a->truncation_cutoff};
    sg2_tensor *tw = sg2_mapping_forward(ctx, g, tz, tc, &m);
    sg2_status st = tw ? sg2_tensor_read(ctx, tw, ws) : ctx->err.status;
    sg2_scope_end(ctx, mark, NULL, 0);
    ctx->grad_enabled = saved;
    return st;
}

sg2_status sg2_generate_from_ws(sg2_ctx *ctx, sg2_generator *g, const float *ws, int n, const sg2_gen_args *a,
                                uint8_t *out)
{
    const sg2_g_config *cfg = &g->cfg;
    int saved = ctx->grad_enabled;
    ctx->grad_enabled = 0;
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *tw = sg2_tensor_from_host(ctx, 3, (const int64_t[]){n, g->num_ws, cfg->w_dim}, ws);
    sg2_synthesis_args s = {.noise_mode = a->noise_mode, .fused_modconv = a->fused_modconv};
    sg2_tensor *img = sg2_synthesis_forward(ctx, g, tw, &s);
    sg2_status st = ctx->err.status;
    float *host = NULL;
    if (!st) {
        host = malloc((size_t)img->numel * sizeof *host);
        st = host ? sg2_tensor_read(ctx, img, host) : sg2_error_set(&ctx->err, SG2_ERR_NOMEM, "out of host memory");
    }
    if (!st)
        sg2_image_to_u8_hwc(out, host, n, cfg->img_channels, cfg->img_resolution, cfg->img_resolution);
    free(host);
    sg2_scope_end(ctx, mark, NULL, 0);
    ctx->grad_enabled = saved;
    return st;
}
