/* Register-tiled convolution kernels (cl/conv_tiled.cl), the fast path of
 * the ops in src/conv.c; the direct kernels of cl/conv.cl stay selectable
 * with SG2_CONV=direct so the two can be compared. */
#ifndef SG2_CONV_TILED_H
#define SG2_CONV_TILED_H
#include "src/op_util.h"

/* One convolution as conv2d sees it: x[N,Cin,H,W] -> y[N,Cout,Ho,Wo] with a
 * kh x kw kernel, stride, padding (may be negative: crops) and groups. */
typedef struct sg2_conv_shape {
    int N, Cin, H, W, Cout, Ho, Wo, kh, kw;
    int stride, pad_y, pad_x, groups;
} sg2_conv_shape;

/* A convolution call as an op class of the profile ($SG2_PROFILE=1):
 * "conv 3x3 s1", "conv_transpose 3x3 s2", "conv_wgrad 3x3 s1", ... of s's
 * kernel and stride, with the FLOPs of the direct convolution (2 per
 * multiply-add of weight and input, whatever algorithm runs it), so its
 * GFLOP/s compare across algorithms. The class's time is that of every
 * kernel the call launches: padding, weight packing, transforms and the
 * products. Returns what sg2_conv_profile_end takes (see
 * sg2_profile_op_begin: a call inside another is the outer one's). */
typedef enum { SG2_CONV_OP_FWD, SG2_CONV_OP_TRANSPOSE, SG2_CONV_OP_WGRAD } sg2_conv_op;
int sg2_conv_profile_begin(sg2_ctx *ctx, sg2_conv_op kind, const sg2_conv_shape *s);
void sg2_conv_profile_end(sg2_ctx *ctx, int opened);

/* 1 when the tiled kernels are enabled ($SG2_CONV unset or "tiled"), 0 for
 * "direct", -1 (error recorded) for anything else. Read per call so a
 * benchmark can switch within one process. */
int sg2_conv_tiled_enabled(sg2_ctx *ctx);

/* y = conv2d(x, w) with w[Cout, Cin/g, kh, kw] (flip = 0), or with
 * w[Cin, Cout/g, kh, kw] applied flipped (flip = 1: conv_transpose2d at
 * stride 1 written as a conv2d with padding k - 1 - pad). y is allocated by
 * the caller. */
sg2_status sg2_conv_tiled_fwd(sg2_ctx *ctx, const sg2_conv_shape *s, int flip, const sg2_tensor *x,
                              const sg2_tensor *w, sg2_tensor *y);

/* y = conv_transpose2d(x, w) at stride s->stride > 1 for x[N, Cin, H, W],
 * w[Cin, Cout/g, kh, kw], y[N, Cout, Ho, Wo] (allocated by the caller, its
 * sizes holding the output padding); s->pad_* are the transpose's own
 * padding. Reads x as it is (no zeros spread between its pixels, so no
 * products with them). */
sg2_status sg2_conv_tiled_transpose(sg2_ctx *ctx, const sg2_conv_shape *s, const sg2_tensor *x, const sg2_tensor *w,
                                    sg2_tensor *y);

/* The same two without the weight packing, for callers that write the
 * packed weights themselves (src/modconv.c). Packed layout: wt[groups][n_cb]
 * [cin_g * kh * kw][lanes], n_cb = ceil(cout_g / lanes), lanes from the
 * *_lanes query for the same shape; entry [g][cb][ci*taps + t][l] is
 * w[g*cout_g + cb*lanes + l][ci][t] (the transpose: tap taps-1-t, i.e.
 * flipped), zero for channels past cout_g. in_scale[N * Cin] or NULL: each
 * input plane is multiplied by it on the way into the padded copy (a
 * modulated convolution's modulation at no extra pass). Not differentiable
 * (inference). */
int sg2_conv_tiled_fwd_lanes(sg2_ctx *ctx, const sg2_conv_shape *s);
/* 1 when the forward kernel at s (channel vectors, conv2d_tiled_cv) applies
 * an epilogue as it stores; 0 when the caller must run it as a pass of its
 * own. */
int sg2_conv_tiled_fwd_takes_epilogue(sg2_ctx *ctx, const sg2_conv_shape *s);
/* ops NULL: the bare convolution; else an epilogue, its operands checked
 * against the output seen as [N * groups, Cout / groups, Ho, Wo] (sample
 * b = n * groups + g). */
sg2_status sg2_conv_tiled_fwd_packed(sg2_ctx *ctx, const sg2_conv_shape *s, const sg2_tensor *x,
                                     const sg2_tensor *in_scale, const sg2_tensor *wt, const sg2_epilogue_ops *ops,
                                     sg2_tensor *y);
int sg2_conv_tiled_transpose_lanes(sg2_ctx *ctx, const sg2_conv_shape *s);
sg2_status sg2_conv_tiled_transpose_packed(sg2_ctx *ctx, const sg2_conv_shape *s, const sg2_tensor *x,
                                           const sg2_tensor *in_scale, const sg2_tensor *wt, sg2_tensor *y);

/* dw[Cout, Cin/g, kh, kw] = gradient of sum(dy * conv2d(x, w)) in w. */
sg2_status sg2_conv_tiled_wgrad(sg2_ctx *ctx, const sg2_conv_shape *s, const sg2_tensor *dy, const sg2_tensor *x,
                                sg2_tensor *dw);

#endif
