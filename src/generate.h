/* Image generation as the reference tools do it: latents from seeds through
 * numpy's RandomState, mapping with truncation, synthesis, conversion to
 * bytes with (x * 127.5 + 128) clamped and truncated. */
#ifndef SG2_GENERATE_H
#define SG2_GENERATE_H
#include <stdint.h>

#include "src/network.h"

/* z[z_dim] = RandomState(seed).randn(z_dim), rounded to float32. */
void sg2_latent_from_seed(float *z, int z_dim, uint32_t seed);

typedef struct sg2_gen_args {
    float truncation_psi;      /* 1: off */
    int truncation_cutoff;     /* <= 0: all ws */
    sg2_noise_mode noise_mode;
    int fused_modconv;         /* SG2_MODCONV_* (src/network.h); AUTO for inference */
} sg2_gen_args;

/* ws[n, num_ws, w_dim] from z[n, z_dim] and c[n, c_dim] (NULL when the network
 * is unconditional); host arrays. */
sg2_status sg2_generate_ws(sg2_ctx *ctx, sg2_generator *g, const float *z, const float *c, int n,
                           const sg2_gen_args *a, float *ws);
/* Images from ws[n, num_ws, w_dim]: out[n, R, R, C] bytes. */
sg2_status sg2_generate_from_ws(sg2_ctx *ctx, sg2_generator *g, const float *ws, int n, const sg2_gen_args *a,
                                uint8_t *out);

#endif
