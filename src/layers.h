/* The building blocks the networks share, named as in the reference:
 * FullyConnectedLayer (fc.c), Conv2dLayer with FIR up/down-sampling
 * (conv_layer.c), modulated convolution (modconv.c), and
 * normalize_2nd_moment. Parameters are looked up in an sg2_params by their
 * state_dict names. */
#ifndef SG2_LAYERS_H
#define SG2_LAYERS_H
#include "src/network.h"
#include "src/autograd.h"
#include "src/ops.h"

/* ---- fc.c: y = act(x W^T * lr_mul/sqrt(in) + b * lr_mul) ---- */
sg2_status sg2_fc_create(sg2_ctx *ctx, sg2_params *ps, const char *prefix, int in, int out, int has_bias,
                         float bias_init, float lr_mul);
/* x[N, in] -> [N, out] */
sg2_tensor *sg2_fc_forward(sg2_ctx *ctx, sg2_params *ps, const char *prefix, sg2_tensor *x, sg2_act act, float lr_mul);

/* ---- conv_layer.c: Conv2dLayer (equalized lr 1/sqrt(Cin k k), optional up/down by 2) ---- */
sg2_status sg2_conv_layer_create(sg2_ctx *ctx, sg2_params *ps, const char *prefix, int in, int out, int k,
                                 int has_bias);
typedef struct sg2_conv_layer_args {
    int up, down;        /* 1 or 2 */
    sg2_act act;
    float gain;          /* layer gain: multiplies the activation gain and the clamp */
    float conv_clamp;    /* < 0: none */
} sg2_conv_layer_args;
/* x[N, in, H, W] -> [N, out, H*up/down, W*up/down] */
sg2_tensor *sg2_conv_layer_forward(sg2_ctx *ctx, sg2_params *ps, const char *prefix, sg2_tensor *x, sg2_tensor *filter,
                                   const sg2_conv_layer_args *args);

/* conv2d_resample: a 3x3 (or kxk) conv with FIR up/down-sampling by 2 in the
 * reference's fast paths. w[Cout, Cin, k, k] (already scaled). flip_weight 0
 * means a true convolution (used by the up-sampling layers). */
sg2_tensor *sg2_conv2d_resample(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *w, sg2_tensor *filter, int up, int down,
                                int padding, int groups, int flip_weight);
/* The reference's upsample2d / downsample2d with the 4x4 filter. */
sg2_tensor *sg2_upsample2d(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *filter);
sg2_tensor *sg2_downsample2d(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *filter);

/* ---- modconv.c: modulated convolution with optional demodulation ---- */
typedef struct sg2_modconv_args {
    int up;              /* 1 or 2 */
    int padding;         /* k / 2 */
    int demodulate;
    int fused;           /* grouped conv with per-sample weights */
    sg2_weight_memo *memo; /* inference with fixed weights (sg2_generator_freeze), else NULL */
} sg2_modconv_args;
/* What the inference paths derive from a weight alone, kept per weight
 * tensor (which the memo holds a reference to) until the memo is freed. */
sg2_weight_memo *sg2_weight_memo_new(void);
void sg2_weight_memo_free(sg2_weight_memo *m);
/* x[N, Cin, H, W], weight[Cout, Cin, k, k], styles[N, Cin], noise broadcastable
 * to the output or NULL -> [N, Cout, H*up, W*up]. */
sg2_tensor *sg2_modconv(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *weight, sg2_tensor *styles, sg2_tensor *noise,
                        sg2_tensor *filter, const sg2_modconv_args *args);
/* A synthesis layer's modulated conv and epilogue:
 * bias_act(modconv(x) + noise, bias) with p, the demodulation (non-fused)
 * done in the epilogue's pass; noise and bias may be NULL. */
sg2_tensor *sg2_modconv_layer(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *weight, sg2_tensor *styles, sg2_tensor *noise,
                              sg2_tensor *bias, sg2_tensor *filter, const sg2_modconv_args *args,
                              const sg2_bias_act_params *p);

/* ---- mapping.c: the layers shared by G's mapping and D's label mapping ---- */
sg2_status sg2_mapping_create(sg2_ctx *ctx, sg2_params *ps, const char *prefix, int z_dim, int c_dim, int w_dim,
                              int layers, float lr_mul, int has_w_avg);
/* z[N, z_dim] or NULL, c[N, c_dim] or NULL -> [N, w_dim] (not broadcast) */
sg2_tensor *sg2_mapping_layers(sg2_ctx *ctx, sg2_params *ps, const char *prefix, sg2_tensor *z, sg2_tensor *c,
                               int layers, float lr_mul);

/* x * rsqrt(mean(x^2 over axis 1) + 1e-8) for x[N, F] */
sg2_tensor *sg2_normalize_2nd_moment(sg2_ctx *ctx, sg2_tensor *x);

/* Parameter lookup for layer code: the parameter named prefix.suffix (or
 * its tensor), or NULL with a clear error. */
sg2_param *sg2_param_entry(sg2_ctx *ctx, sg2_params *ps, const char *prefix, const char *suffix);
sg2_tensor *sg2_param_at(sg2_ctx *ctx, sg2_params *ps, const char *prefix, const char *suffix);

#endif
