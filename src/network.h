/* StyleGAN2's networks: configuration, parameters and the forward passes
 * (mapping.c, synthesis.c, discriminator.c), with names that map one to one
 * onto stylegan2-ada-pytorch's modules and state_dict keys. */
#ifndef SG2_NETWORK_H
#define SG2_NETWORK_H
#include "src/params.h"

typedef enum { SG2_ARCH_ORIG = 0, SG2_ARCH_SKIP = 1, SG2_ARCH_RESNET = 2 } sg2_arch;
typedef enum { SG2_NOISE_CONST = 0, SG2_NOISE_RANDOM = 1, SG2_NOISE_NONE = 2 } sg2_noise_mode;

#define SG2_MAX_RES_LOG2 10 /* 1024 x 1024 */

typedef struct sg2_g_config {
    int z_dim, w_dim, c_dim;     /* latent, intermediate latent, label sizes (512, 512, 0) */
    int img_resolution;          /* power of two, 4..1024 */
    int img_channels;            /* 1 or 3 */
    int map_layers;              /* mapping depth (8, or 2 for auto/cifar) */
    float map_lr_mul;            /* 0.01 */
    float w_avg_beta;            /* 0.995 */
    int channel_base, channel_max;
    float conv_clamp;            /* < 0: none (reference default 256 when mixed precision) */
    sg2_arch arch;               /* skip (default), orig, resnet */
} sg2_g_config;

typedef struct sg2_d_config {
    int c_dim;
    int img_resolution, img_channels;
    int channel_base, channel_max;
    float conv_clamp;
    sg2_arch arch;               /* resnet (default), orig (cifar), skip */
    int mbstd_group, mbstd_nfeat;/* 4 and 1 by default */
    int cmap_dim;                /* conditioning projection size (0: C(4) when c_dim > 0) */
    int map_layers;              /* depth of D's label mapping (8) */
} sg2_d_config;

/* Channels at a resolution: min(channel_base / res, channel_max). */
int sg2_channels_at(int channel_base, int channel_max, int res);
/* 2*log2(R) - 2 for the synthesis network. */
int sg2_num_ws(int img_resolution);
int sg2_log2_exact(int v); /* -1 unless v is a power of two */

/* Defaults of the reference (stylegan2-ada-pytorch module defaults). */
sg2_g_config sg2_g_config_default(int img_resolution, int img_channels);
sg2_d_config sg2_d_config_default(int img_resolution, int img_channels);
/* Checks a configuration; a clear one-line error for a bad value. */
sg2_status sg2_g_config_check(const sg2_g_config *c, sg2_error *err);
sg2_status sg2_d_config_check(const sg2_d_config *c, sg2_error *err);

typedef struct sg2_weight_memo sg2_weight_memo; /* src/modconv.c */

typedef struct sg2_generator {
    sg2_g_config cfg;
    int num_ws;
    sg2_params params;           /* "mapping.*" and "synthesis.*" */
    sg2_tensor *filter;          /* the [1,3,3,1] resampling filter, 4x4 */
    sg2_weight_memo *frozen;     /* set by sg2_generator_freeze, else NULL */
} sg2_generator;

typedef struct sg2_discriminator {
    sg2_d_config cfg;
    sg2_params params;
    sg2_tensor *filter;
} sg2_discriminator;

/* Build with freshly initialised parameters (the reference's init). */
sg2_status sg2_generator_init(sg2_ctx *ctx, sg2_generator *g, const sg2_g_config *cfg);
void sg2_generator_free(sg2_generator *g);
/* Inference from here on: the parameters stay as they are until
 * sg2_generator_thaw (or _free), so the modulated convolutions keep what
 * they derive from the weights alone (packed panels, sums of squares)
 * instead of recomputing it every call. Anything that writes the
 * parameters (training, loading) must thaw first. */
sg2_status sg2_generator_freeze(sg2_ctx *ctx, sg2_generator *g);
void sg2_generator_thaw(sg2_generator *g);
sg2_status sg2_discriminator_init(sg2_ctx *ctx, sg2_discriminator *d, const sg2_d_config *cfg);
void sg2_discriminator_free(sg2_discriminator *d);

/* ---- mapping.c ---- */
typedef struct sg2_mapping_args {
    float truncation_psi;        /* 1: off */
    int truncation_cutoff;       /* <= 0: all ws */
    int update_w_avg;            /* training: track the moving average of w */
} sg2_mapping_args;
/* z[N, z_dim], c[N, c_dim] or NULL -> ws[N, num_ws, w_dim]. */
sg2_tensor *sg2_mapping_forward(sg2_ctx *ctx, sg2_generator *g, sg2_tensor *z, sg2_tensor *c,
                                const sg2_mapping_args *args);

/* ---- synthesis.c ---- */
/* How the synthesis layers run the modulated convolution: per-sample
 * weights and a grouped conv (the reference's inference path), or styles,
 * shared-weight conv, demodulation (its training path); the same function.
 * AUTO takes the one measured faster: non-fused for the 3x3 layers at any
 * batch (its packed weights and Winograd filters are kept for a frozen
 * generator, where the fused path writes per-sample weights every call;
 * bench_generate on PoCL, one image: 1.9-2.0x at 32^2, 1.3-1.8x at 64^2,
 * 1.2-1.3x at 256^2, 1.06-1.12x at 1024^2; batch 8 at 32^2: 1.08-1.18x),
 * fused for ToRGB. */
enum { SG2_MODCONV_NONFUSED = 0, SG2_MODCONV_FUSED = 1, SG2_MODCONV_AUTO = -1 };

typedef struct sg2_synthesis_args {
    sg2_noise_mode noise_mode;
    int fused_modconv;           /* SG2_MODCONV_* */
} sg2_synthesis_args;
/* ws[N, num_ws, w_dim] -> img[N, img_channels, R, R] */
sg2_tensor *sg2_synthesis_forward(sg2_ctx *ctx, sg2_generator *g, sg2_tensor *ws, const sg2_synthesis_args *args);

/* ---- discriminator.c ---- */
/* img[N, C, R, R], c[N, c_dim] or NULL -> logits[N, 1] */
sg2_tensor *sg2_discriminator_forward(sg2_ctx *ctx, sg2_discriminator *d, sg2_tensor *img, sg2_tensor *c);

#endif
