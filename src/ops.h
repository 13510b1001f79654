/* The op set. Every op works on float32 device tensors, returns a tensor
 * owned by the current scope (NULL on error, recorded in ctx->err), records
 * itself for autodiff when an input requires gradients, and has a backward
 * rule written with ops of this same set, so gradients of gradients are exact.
 *
 * Shapes: images are NCHW; weights OIHW as PyTorch. */
#ifndef SG2_OPS_H
#define SG2_OPS_H
#include "src/tensor.h"

/* ---- elementwise.c: arithmetic with NumPy broadcasting ------------------ */
sg2_tensor *sg2_add(sg2_ctx *ctx, sg2_tensor *a, sg2_tensor *b);
sg2_tensor *sg2_sub(sg2_ctx *ctx, sg2_tensor *a, sg2_tensor *b);
sg2_tensor *sg2_mul(sg2_ctx *ctx, sg2_tensor *a, sg2_tensor *b);
sg2_tensor *sg2_div(sg2_ctx *ctx, sg2_tensor *a, sg2_tensor *b);
/* x * scale + shift */
sg2_tensor *sg2_affine_scalar(sg2_ctx *ctx, sg2_tensor *x, float scale, float shift);
sg2_tensor *sg2_scale(sg2_ctx *ctx, sg2_tensor *x, float scale);
sg2_tensor *sg2_add_scalar(sg2_ctx *ctx, sg2_tensor *x, float shift);
sg2_tensor *sg2_neg(sg2_ctx *ctx, sg2_tensor *x);
sg2_tensor *sg2_square(sg2_ctx *ctx, sg2_tensor *x);
sg2_tensor *sg2_sqrt(sg2_ctx *ctx, sg2_tensor *x);
sg2_tensor *sg2_rsqrt(sg2_ctx *ctx, sg2_tensor *x);
sg2_tensor *sg2_exp(sg2_ctx *ctx, sg2_tensor *x);
sg2_tensor *sg2_log(sg2_ctx *ctx, sg2_tensor *x);
sg2_tensor *sg2_softplus(sg2_ctx *ctx, sg2_tensor *x);
sg2_tensor *sg2_sigmoid(sg2_ctx *ctx, sg2_tensor *x);

/* ---- reduce.c ----------------------------------------------------------- */
/* Sum (mean) over the axes whose bit is set in axes (bit i = axis i). */
sg2_tensor *sg2_sum(sg2_ctx *ctx, sg2_tensor *x, unsigned axes, int keepdim);
sg2_tensor *sg2_mean(sg2_ctx *ctx, sg2_tensor *x, unsigned axes, int keepdim);
/* Sum of all elements, a 0-d tensor. */
sg2_tensor *sg2_sum_all(sg2_ctx *ctx, sg2_tensor *x);
/* Sum x down to `shape` (the inverse of broadcasting `shape` up to x). */
sg2_tensor *sg2_sum_to(sg2_ctx *ctx, sg2_tensor *x, int ndim, const int64_t *shape);

/* ---- shape.c ------------------------------------------------------------ */
/* Same storage; one entry of shape may be -1 (inferred). */
sg2_tensor *sg2_reshape(sg2_ctx *ctx, sg2_tensor *x, int ndim, const int64_t *shape);
/* Broadcast (copy) x to shape, NumPy rules. */
sg2_tensor *sg2_expand(sg2_ctx *ctx, sg2_tensor *x, int ndim, const int64_t *shape);
/* out.shape[i] = x.shape[perm[i]] */
sg2_tensor *sg2_permute(sg2_ctx *ctx, sg2_tensor *x, const int *perm);
/* Elements start .. start+len-1 along axis. */
sg2_tensor *sg2_slice(sg2_ctx *ctx, sg2_tensor *x, int axis, int64_t start, int64_t len);
/* Join along axis (at most SG2_NODE_MAX_IN tensors). */
sg2_tensor *sg2_concat(sg2_ctx *ctx, int n, sg2_tensor *const *xs, int axis);
/* torch.Tensor.repeat: tile x reps[i] times along axis i (x.ndim entries). */
sg2_tensor *sg2_repeat(sg2_ctx *ctx, sg2_tensor *x, const int64_t *reps);

/* ---- matmul.c ----------------------------------------------------------- */
/* op(a) @ op(b), op = transpose of the last two axes when ta / tb.
 * 2-D: [M,K] @ [K,N]; 3-D: batched [B,M,K] @ [B,K,N]. */
sg2_tensor *sg2_matmul(sg2_ctx *ctx, sg2_tensor *a, sg2_tensor *b, int ta, int tb);

/* ---- conv.c: the three convolution ops, each the others' derivative ---- */
typedef struct sg2_conv_params {
    int stride;      /* 1 or 2 (any positive value works) */
    int pad_y, pad_x;/* zero padding on both sides */
    int groups;      /* C_in and C_out divisible by groups */
} sg2_conv_params;
/* x[N,Cin,H,W], w[Cout,Cin/g,kh,kw] -> [N,Cout,(H+2p-kh)/s+1,...] (PyTorch conv2d) */
sg2_tensor *sg2_conv2d(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *w, const sg2_conv_params *p);
/* x[N,Cin,H,W], w[Cin,Cout/g,kh,kw] -> [N,Cout,(H-1)s-2p+kh+outpad,...] (PyTorch conv_transpose2d) */
sg2_tensor *sg2_conv_transpose2d(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *w, const sg2_conv_params *p,
                                 int outpad_y, int outpad_x);
/* d/dw of sum(dy * conv2d(x, w)): dy[N,Cout,Ho,Wo], x[N,Cin,H,W] -> [Cout,Cin/g,kh,kw] */
sg2_tensor *sg2_conv2d_wgrad(sg2_ctx *ctx, sg2_tensor *dy, sg2_tensor *x, const sg2_conv_params *p, int kh, int kw);

typedef struct sg2_epilogue_ops sg2_epilogue_ops; /* bias_act.c, below */

/* ---- upfirdn2d.c -------------------------------------------------------- */
typedef struct sg2_upfirdn2d_params {
    int up_x, up_y, down_x, down_y;
    int pad_x0, pad_x1, pad_y0, pad_y1; /* negative crops */
    int flip;                           /* 0: true convolution, 1: correlation */
    float gain;                         /* scales the filter */
} sg2_upfirdn2d_params;
/* Upsample (zero insertion), pad, FIR filter f[fh,fw] (a constant: no
 * gradient flows into it), downsample; per (n, c) plane of x[N,C,H,W]. */
sg2_tensor *sg2_upfirdn2d(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *f, const sg2_upfirdn2d_params *p);
/* upfirdn2d with a synthesis layer's epilogue applied as it stores (x's
 * planes are the output's [N, C]; the operands are checked against that
 * output as sg2_bias_act_epilogue checks them), when the kernel chosen for
 * these operands can (*applied = 1); else plain upfirdn2d (*applied = 0),
 * the caller applying it. Inference only: fails when x wants a gradient. */
sg2_tensor *sg2_upfirdn2d_epilogue(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *f, const sg2_upfirdn2d_params *p,
                                   const sg2_epilogue_ops *ops, int *applied);
/* The 2-D filter outer(k, k) / sum(outer(k, k)) from 1-D taps, e.g. [1,3,3,1]. */
sg2_tensor *sg2_fir_filter(sg2_ctx *ctx, const float *taps, int n);

/* ---- bias_act.c --------------------------------------------------------- */
typedef enum { SG2_ACT_LINEAR = 0, SG2_ACT_LRELU = 1, SG2_ACT_RELU = 2 } sg2_act;
typedef struct sg2_bias_act_params {
    sg2_act act;
    float alpha;  /* lrelu slope (0.2) */
    float gain;   /* applied after the activation (sqrt(2) for lrelu) */
    float clamp;  /* |y| <= clamp; negative = no clamp */
} sg2_bias_act_params;
/* y = clamp(act(x + b[c]) * gain); x[N,C,...], b[C] or NULL. */
sg2_tensor *sg2_bias_act(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *b, const sg2_bias_act_params *p);
/* y = clamp(act(x * scale[n,c] + noise + b[c]) * gain): StyleGAN2's
 * synthesis layer epilogue (demodulation, noise, bias, activation) in one
 * pass. scale[N, C] or NULL; noise holds one plane of x's trailing axes,
 * shared by all samples, or one per sample ([N, 1, ...]), or NULL.
 * Differentiable in x, scale, noise and b. */
sg2_tensor *sg2_bias_act_epilogue(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *scale, sg2_tensor *noise, sg2_tensor *b,
                                  const sg2_bias_act_params *p);
/* That epilogue's operands, handed to the kernel that produces x to apply
 * as it stores (inference): scale, noise and bias each NULL when absent. */
struct sg2_epilogue_ops {
    sg2_tensor *scale, *noise, *bias;
    const sg2_bias_act_params *p;
};
/* The same, checked by the kernel's host code against the output it
 * writes, with the stride of the noise (the plane size when there is one
 * plane per sample, else 0). */
typedef struct sg2_epilogue {
    const sg2_tensor *scale, *noise, *bias;
    int noise_stride;
    sg2_bias_act_params p;
} sg2_epilogue;
/* Checks scale, noise, b and p against an output of x_ndim axes x_shape as
 * sg2_bias_act_epilogue does, and fills e; the failure recorded else. */
sg2_status sg2_epilogue_make(sg2_ctx *ctx, int x_ndim, const int64_t *x_shape, sg2_tensor *scale, sg2_tensor *noise,
                             sg2_tensor *b, const sg2_bias_act_params *p, sg2_epilogue *e);
/* Appends e as kernel arguments: scale (buffer, offset, present), bias
 * (the same), noise (buffer, offset, stride, present), act, alpha, gain,
 * clamp; stand_in fills the buffers that are absent. */
void sg2_epilogue_args(sg2_args *a, const sg2_epilogue *e, const sg2_tensor *stand_in);
/* dx = dy * act'(from the sign of y) * gain, zero where clamped. Linear in dy. */
sg2_tensor *sg2_bias_act_grad(sg2_ctx *ctx, sg2_tensor *dy, sg2_tensor *y, const sg2_bias_act_params *p);
/* Defaults of the reference: lrelu alpha 0.2 gain sqrt(2); relu gain sqrt(2); linear gain 1. */
sg2_bias_act_params sg2_bias_act_defaults(sg2_act act);

/* ---- random.c: counter-based Philox4x32-10, same numbers on every device */
void sg2_random_seed(sg2_ctx *ctx, uint64_t seed);
sg2_tensor *sg2_rand_uniform(sg2_ctx *ctx, int ndim, const int64_t *shape); /* [0, 1) */
sg2_tensor *sg2_rand_normal(sg2_ctx *ctx, int ndim, const int64_t *shape);  /* N(0, 1) */

/* ---- mbstd.c ------------------------------------------------------------ */
/* Minibatch standard deviation: x[N,C,H,W] -> [N,C+nfeat,H,W], group
 * min(group, N) (N must divide), composed of differentiable ops. */
sg2_tensor *sg2_mbstd(sg2_ctx *ctx, sg2_tensor *x, int group, int nfeat);

/* ---- modconv.c: the modulated convolution's own ops ---------------------
 * Fused weights in one pass: y[N,Cout,Cin,kh,kw] = w[o,i,k] s[n,i] d[n,o] gain, with
 * d = rsqrt(sum_{i,k} (w s)^2 + 1e-8) when demodulate, else 1; transposed:
 * y[N,Cin,Cout,kh,kw] (the weight layout of a grouped transposed conv). */
sg2_tensor *sg2_modconv_weight(sg2_ctx *ctx, sg2_tensor *weight, sg2_tensor *styles, int demodulate, float gain,
                               int transposed);
/* y = x * s[n, c] for x[N, C, ...], s[N, C] (modulation, demodulation). */
sg2_tensor *sg2_scale_channels(sg2_ctx *ctx, sg2_tensor *x, sg2_tensor *s);
/* d[n, c] = sum over the trailing axes of a * b (a, b [N, C, ...]). */
sg2_tensor *sg2_channel_dot(sg2_ctx *ctx, sg2_tensor *a, sg2_tensor *b);
/* q[n, c] = sum over the trailing axes of x^2 (x [N, C, ...]): the
 * demodulation's filter norms, channel_dot(x, x) with a one-pass backward. */
sg2_tensor *sg2_channel_sq(sg2_ctx *ctx, sg2_tensor *x);

#endif
