/* Double-precision plain-C reference of every op, which the tests compare the
 * OpenCL kernels against. Written from the maths for clarity, not speed: each
 * output element is a direct sum, so the reference has no tiling or
 * reordering of its own that could hide a kernel bug.
 *
 * All tensors are contiguous row-major (NCHW for images); outputs come first.
 * Sizes are trusted: callers pass consistent shapes. */
#ifndef SG2_REF_H
#define SG2_REF_H

#include <stdint.h>

/* ---- convolution (ref_conv.c) ------------------------------------------- */

/* y[N,Cout,Ho,Wo] = cross-correlation (PyTorch conv2d semantics),
 * Ho = (H + 2*pad_y - kh) / stride + 1, Wo likewise.
 * x[N,Cin,H,W], w[Cout, Cin/groups, kh, kw]; Cin and Cout divisible by groups. */
void sg2_ref_conv2d(double *y, const double *x, const double *w,
                    int N, int Cin, int H, int W, int Cout, int kh, int kw,
                    int stride, int pad_y, int pad_x, int groups);

/* PyTorch conv_transpose2d: y[N,Cout,Ho,Wo], x[N,Cin,H,W], w[Cin, Cout/groups, kh, kw],
 * Ho = (H-1)*stride - 2*pad_y + kh + outpad_y, Wo likewise.
 * It is the exact adjoint of sg2_ref_conv2d (with that conv's Cin/Cout swapped):
 * <conv2d(a, w), v> == <a, conv_transpose2d(v, w)> when the sizes agree. */
void sg2_ref_conv_transpose2d(double *y, const double *x, const double *w,
                              int N, int Cin, int H, int W, int Cout, int kh, int kw,
                              int stride, int pad_y, int pad_x, int outpad_y, int outpad_x, int groups);

/* Gradient of sum(dy * conv2d(x, w)) with respect to w: dw[Cout, Cin/groups, kh, kw];
 * x[N,Cin,H,W], dy[N,Cout,Ho,Wo] with Ho, Wo as conv2d gives. */
void sg2_ref_conv2d_wgrad(double *dw, const double *dy, const double *x,
                          int N, int Cin, int H, int W, int Cout, int kh, int kw,
                          int stride, int pad_y, int pad_x, int groups);

/* ---- FIR resampling (ref_upfirdn2d.c) ------------------------------------ */

/* scipy.signal.upfirdn semantics in 2-D, per (n,c) plane, as stylegan2-ada's upfirdn2d:
 *  1) upsample: insert up-1 zeros after each sample (x: upx, y: upy);
 *  2) pad: padx0 left, padx1 right, pady0 top, pady1 bottom (negative = crop);
 *  3) filter with f[fh,fw] as a TRUE convolution when flip == 0 (correlation with
 *     the flipped filter) and as a correlation when flip == 1, values times gain;
 *  4) downsample: keep every downx-th column / downy-th row starting at 0.
 * y[N,C,Ho,Wo], x[N,C,H,W], f[fh,fw];
 * Wo = (W*upx + padx0 + padx1 - fw) / downx + 1, Ho likewise (the caller guarantees
 * a non-negative numerator).
 *
 * Backward (verified as an exact adjoint, including crops and sizes where the
 * forward downsampling drops a remainder): the gradient with respect to x of
 * sum(dy * upfirdn2d(x)) is
 *     upfirdn2d(dy, f, up = down, down = up, flip = !flip, same gain,
 *               x axis: pad0' = fw - padx0 - 1,
 *                       pad1' = W*upx - Wo*downx + padx0,
 *               y axis: pad0' = fh - pady0 - 1,
 *                       pad1' = H*upy - Ho*downy + pady0)
 * which has exactly W columns and H rows. (stylegan2-ada's pad1' = ... - up + 1 is
 * equivalent: it only drops up-1 trailing samples no kept output reads.) */
void sg2_ref_upfirdn2d(double *y, const double *x, const double *f,
                       int N, int C, int H, int W, int fh, int fw,
                       int upx, int upy, int downx, int downy,
                       int padx0, int padx1, int pady0, int pady1, int flip, double gain);

/* Output length of upfirdn2d along one axis: (in*up + pad0 + pad1 - ftaps) / down + 1,
 * or -1 if that would be < 1 (including a negative numerator or up, down < 1). */
int sg2_ref_upfirdn2d_out(int in, int up, int down, int pad0, int pad1, int ftaps);

/* ---- bias + activation (ref_bias_act.c) ---------------------------------- */

/* Prefixed SG2_REF_ so that a test can include this header and src/ops.h, whose
 * sg2_act enum has the same values under the names SG2_ACT_*. */
enum { SG2_REF_ACT_LINEAR = 0, SG2_REF_ACT_LRELU = 1, SG2_REF_ACT_RELU = 2 };

/* y = clamp(act(x + b[c]) * gain, -clamp, clamp); y, x[outer, C, inner], b[C] or NULL;
 * clamp < 0 means no clamp. lrelu: v > 0 ? v : alpha*v. relu: max(v, 0). */
void sg2_ref_bias_act(double *y, const double *x, const double *b,
                      int outer, int C, int inner, int act, double alpha, double gain, double clamp);

/* Gradient of bias_act with respect to x given its forward output y and the incoming
 * gradient dy (dx, dy, y[n_elems]): dx = dy * act'(.) * gain, and 0 where clamp >= 0
 * and |y| >= clamp. The slope is read from the sign of y: lrelu y > 0 -> 1, else
 * alpha; relu y > 0 -> 1, else 0; linear 1. (The gradient with respect to b is the
 * sum of dx over outer and inner.) */
void sg2_ref_bias_act_grad(double *dx, const double *dy, const double *y,
                           long n_elems, int act, double alpha, double gain, double clamp);

/* ---- matmul, mbstd, random (ref_misc.c) ---------------------------------- */

/* c[M,N] = op(a) op(b), op = transpose when ta / tb;
 * a is [M,K] (or [K,M] when ta), b is [K,N] (or [N,K] when tb). */
void sg2_ref_matmul(double *c, const double *a, const double *b, int M, int N, int K, int ta, int tb);

/* StyleGAN2 minibatch standard deviation, y[N,C+F,H,W] from x[N,C,H,W], F = nfeat:
 * G = min(group, N) (N divisible by G, C by F); view x as [G, N/G, F, C/F, H, W];
 * subtract the mean over the group axis; square; mean over the group axis; add 1e-8;
 * sqrt; mean over (C/F, H, W) -> s[N/G, F]. Channels 0..C-1 of y copy x; channel C+f
 * of sample n is s[n % (N/G), f], broadcast over H, W. */
void sg2_ref_mbstd(double *y, const double *x, int N, int C, int H, int W, int group, int nfeat);

/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11):
 * out[4] = philox(ctr[4], key[2]). Multipliers 0xD2511F53, 0xCD9E8D57; key Weyl
 * increments 0x9E3779B9, 0xBB67AE85. Matches Random123's known-answer vectors. */
void sg2_ref_philox4x32_10(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2]);

/* The project's uniform stream, out[n]: element i, with j = offset + i, uses counter
 * (ctr0, ctr1) = low, high 32 bits of j / 4, ctr2 = ctr3 = 0, key = low, high 32 bits
 * of seed, and takes word j % 4 as (word >> 8) * 2^-24, in [0, 1). */
void sg2_ref_rand_uniform(double *out, long n, uint64_t seed, uint64_t offset);

/* The project's normal stream, out[n]: element i, with j = offset + i, belongs to pair
 * p = j / 2, which uses the philox call at counter q = p / 2 (low, high 32 bits of q,
 * ctr2 = 1 to keep normal streams apart from uniform ones, ctr3 = 0; key as above) and
 * its words w0 = 2*(p%2), w1 = 2*(p%2)+1: u1 = ((w0 >> 8) + 1) * 2^-24 in (0, 1],
 * u2 = (w1 >> 8) * 2^-24; Box-Muller r = sqrt(-2 ln u1); j even -> r cos(2 pi u2),
 * j odd -> r sin(2 pi u2). */
void sg2_ref_rand_normal(double *out, long n, uint64_t seed, uint64_t offset);

/* ---- modulated convolution (ref_modconv.c) -------------------------------- */

/* y[N,Cout,Cin,taps] = w[o,i,k] s[n,i] d[n,o] gain, w[Cout,Cin,taps], s[N,Cin];
 * d[n,o] = 1 / sqrt(sum_{i,k} (w s)^2 + 1e-8) when demodulate, else 1. */
void sg2_ref_modconv_weight(double *y, const double *w, const double *s, int N, int Cout, int Cin, int taps,
                            int demodulate, double gain);
/* Per-(n, c) rows of `inner` elements (rows = N * C):
 * y[r, j] = x[r, j] * s[r];  d[r] = sum_j a[r, j] * b[r, j]. */
void sg2_ref_scale_channels(double *y, const double *x, const double *s, int rows, int inner);
void sg2_ref_channel_dot(double *d, const double *a, const double *b, int rows, int inner);

#endif
