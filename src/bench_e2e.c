/* End-to-end workloads of the benchmark suite: the generator's forward pass
 * (mapping + synthesis, the modulated conv as generate runs it: non-fused
 * 3x3 layers, fused ToRGB; constant noise, psi 1,
 * freshly initialised weights) at the reference's presets.
 *
 * There is no reference output at these sizes (the network test vectors are
 * tiny), so validation checks what must hold for any weights: every output
 * is finite, and image 0 of the batch equals a batch-1 pass on the same
 * latent (the samples of a batch are independent; the z stream is counter
 * based, so z[0] is the same at any batch size). */
#include <math.h>
#include <stdlib.h>

#include "src/bench_suite.h"
#include "src/network.h"
#include "src/ops.h"

/* Batch composition may change summation order in the tiled kernels. */
#define E2E_TOLERANCE 1e-3

/* d = {resolution, channel_base, map_layers, batch} */
static sg2_g_config preset_config(const int *d)
{
    sg2_g_config cfg = sg2_g_config_default(d[0], 3);
    cfg.channel_base = d[1];
    cfg.map_layers = d[2];
    return cfg;
}

static sg2_status gen_setup(sg2_ctx *ctx, const int *d, void **state)
{
    sg2_generator *g = calloc(1, sizeof *g);
    if (!g)
        return SG2_ERR_NOMEM;
    sg2_g_config cfg = preset_config(d);
    /* frozen as `generate` freezes it: the weights stay as initialised */
    sg2_status st = sg2_generator_init(ctx, g, &cfg);
    if (!st && (st = sg2_generator_freeze(ctx, g)))
        sg2_generator_free(g);
    if (st) {
        free(g);
        return st;
    }
    *state = g;
    return SG2_OK;
}

/* img[n, C, R, R] of latents seeded 1234; NULL on error (in ctx). */
static sg2_tensor *gen_forward(sg2_ctx *ctx, sg2_generator *g, int n)
{
    sg2_random_seed(ctx, 1234);
    sg2_tensor *z = sg2_rand_normal(ctx, 2, (const int64_t[]){n, g->cfg.z_dim}); /* [n, z_dim] */
    sg2_mapping_args m = {.truncation_psi = 1.0f};
    sg2_synthesis_args s = {.noise_mode = SG2_NOISE_CONST, .fused_modconv = SG2_MODCONV_AUTO};
    sg2_tensor *ws = sg2_mapping_forward(ctx, g, z, NULL, &m); /* [n, num_ws, w_dim] */
    return sg2_synthesis_forward(ctx, g, ws, &s);
}

static sg2_status gen_run(sg2_ctx *ctx, const int *d, void *state)
{
    return gen_forward(ctx, state, d[3]) ? SG2_OK : ctx->err.status;
}

static sg2_status gen_validate(sg2_ctx *ctx, const int *d, void *state, sg2_bench_check *out)
{
    sg2_generator *g = state;
    long per = 3L * d[0] * d[0], n = d[3];
    float *batch = malloc(sizeof(float) * (size_t)(per * n));
    double *one = malloc(sizeof(double) * (size_t)per);
    float *tmp = malloc(sizeof(float) * (size_t)per);
    sg2_tensor *yb = batch && one && tmp ? gen_forward(ctx, g, (int)n) : NULL;
    if (yb)
        sg2_tensor_read(ctx, yb, batch);
    sg2_tensor *y1 = yb && !ctx->err.status ? gen_forward(ctx, g, 1) : NULL;
    if (y1 && !sg2_tensor_read(ctx, y1, tmp))
        for (long i = 0; i < per; i++)
            one[i] = tmp[i];
    int finite = 0, all_finite = 1;
    out->tolerance = E2E_TOLERANCE;
    out->rel_err = y1 && !ctx->err.status ? sg2_bench_rel_err(batch, one, per, &finite) : INFINITY;
    for (long i = 0; y1 && i < per * n; i++)
        all_finite &= isfinite(batch[i]) != 0;
    out->passed = finite && all_finite && out->rel_err <= out->tolerance;
    snprintf(out->method, sizeof out->method,
             "all %ld outputs finite; image 0 of batch %ld vs a batch-1 pass (same z)", per * n, n);
    free(batch);
    free(one);
    free(tmp);
    return ctx->err.status ? ctx->err.status : yb ? SG2_OK : SG2_ERR_NOMEM;
}

static void gen_free(void *state)
{
    if (state)
        sg2_generator_free(state);
    free(state);
}

static double gen_flop(const int *d)
{
    sg2_g_config c = preset_config(d);
    return 1e9 * d[3] *
           sg2_bench_generator_gflop(c.img_resolution, c.channel_base, c.channel_max, c.map_layers, c.z_dim, c.w_dim,
                                     c.img_channels);
}

#define GEN(name, shape, ...)                                                                          \
    {name, SG2_BENCH_E2E, shape, {__VA_ARGS__}, gen_flop, NULL, gen_setup, gen_validate, gen_run, gen_free}

/* The reference's train.py configs: auto below 512 has channel_base 16384
 * and 2 mapping layers, paper256 16384 and 8, config F 32768 and 8. At
 * 1024^2 the batch is 2: batch 4 activations pass PoCL's 1 GiB buffer limit. */
const sg2_bench_workload sg2_bench_e2e[] = {
    GEN("generator_32", "G forward 32^2 auto (cbase 16384, map 2), batch 4", 32, 16384, 2, 4),
    GEN("generator_64", "G forward 64^2 auto (cbase 16384, map 2), batch 4", 64, 16384, 2, 4),
    GEN("generator_256", "G forward 256^2 paper256 (cbase 16384, map 8), batch 4", 256, 16384, 8, 4),
    GEN("generator_1024", "G forward 1024^2 config F (cbase 32768, map 8), batch 2", 1024, 32768, 8, 2),
};
const int sg2_bench_n_e2e = (int)(sizeof sg2_bench_e2e / sizeof sg2_bench_e2e[0]);
