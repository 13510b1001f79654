/* Winograd F(4x4, 3x3) for stride-1 3x3 convolutions (cl/winograd.cl): the
 * forward conv2d, with the kernel flipped conv_transpose2d at stride 1 (the
 * input gradient), and the weight gradient, each in 2.25x fewer
 * multiply-adds than the direct kernels, at about 1e-6 of the output's
 * scale in float rounding. */
#ifndef SG2_WINOGRAD_H
#define SG2_WINOGRAD_H
#include "src/conv_tiled.h"

/* 1 when the convolution s (flip as in sg2_conv_tiled_fwd) should run as
 * Winograd: $SG2_WINOGRAD=0 never, =1 whenever s is a 3x3 stride-1
 * ungrouped conv, unset when it is also large enough to pay on a CPU
 * device (see the definition); -1 (error recorded) for another value. */
int sg2_winograd_chosen(sg2_ctx *ctx, const sg2_conv_shape *s);

/* y = conv2d(x, w) as sg2_conv_tiled_fwd computes it, for s accepted by
 * sg2_winograd_chosen. */
sg2_status sg2_winograd_fwd(sg2_ctx *ctx, const sg2_conv_shape *s, int flip, const sg2_tensor *x,
                            const sg2_tensor *w, sg2_tensor *y);

/* The same in two steps, so fixed weights can keep their transform (a
 * frozen generator): U = the filter transform of w for s, whose panel
 * width (its memo key besides w) is sg2_winograd_filter_lanes (0 with the
 * error recorded on failure), kept with w when w is immutable (see
 * sg2_derived_find); then y from x times in_scale[N * Cin] per plane (NULL:
 * none) and U. */
int sg2_winograd_filter_lanes(sg2_ctx *ctx, const sg2_conv_shape *s);
sg2_tensor *sg2_winograd_filters(sg2_ctx *ctx, const sg2_conv_shape *s, int flip, const sg2_tensor *w);
sg2_status sg2_winograd_fwd_filtered(sg2_ctx *ctx, const sg2_conv_shape *s, const sg2_tensor *x,
                                     const sg2_tensor *in_scale, const sg2_tensor *u, sg2_tensor *y);

/* dw = conv2d_wgrad(dy, x) as sg2_conv_tiled_wgrad computes it, for s
 * accepted by sg2_winograd_chosen. */
sg2_status sg2_winograd_wgrad(sg2_ctx *ctx, const sg2_conv_shape *s, const sg2_tensor *dy, const sg2_tensor *x,
                              sg2_tensor *dw);

#endif
