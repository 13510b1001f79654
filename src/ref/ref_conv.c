/* Reference 2-D convolution, its transpose and its weight gradient.
 *
 * All three are the same bilinear form
 *     S(x, w, y) = sum x[n, ci, oy*s - py + ky, ox*s - px + kx] * w[co, ci', ky, kx] * y[n, co, oy, ox]
 * (ci in the group of co, ci' its index inside the group, out-of-range x read as 0),
 * differentiated with respect to y (conv2d), x (conv_transpose2d) or w (wgrad). Each
 * is written as a direct sum over that form so the three stay adjoint by construction. */
#include "src/ref/ref.h"

#include <string.h>

/* Offset of element [a, b, c, d] in a contiguous [*, B, C, D] tensor. */
static long idx4(int a, int b, int c, int d, int B, int C, int D)
{
    return (((long)a * B + b) * C + c) * D + d;
}

/* Input coordinate read by output coordinate o at tap k, or -1 when it falls in
 * the zero padding (the caller then skips the term). */
static int in_coord(int o, int k, int stride, int pad, int size)
{
    int i = o * stride - pad + k;
    return (i >= 0 && i < size) ? i : -1;
}

static void zero(double *p, long n)
{
    memset(p, 0, sizeof(double) * (size_t)n);
}

/* One output element of conv2d: the dot product of a (Cin/groups, kh, kw) window
 * of x with one filter. */
static double conv_point(const double *x, const double *w, int n, int co, int oy, int ox,
                         int Cin, int H, int W, int Cout, int kh, int kw,
                         int stride, int pad_y, int pad_x, int groups)
{
    int cin_g = Cin / groups, cout_g = Cout / groups;
    int c0 = (co / cout_g) * cin_g; /* first input channel of co's group */
    double acc = 0;
    for (int ci = 0; ci < cin_g; ci++)
        for (int ky = 0; ky < kh; ky++) {
            int iy = in_coord(oy, ky, stride, pad_y, H);
            if (iy < 0)
                continue;
            for (int kx = 0; kx < kw; kx++) {
                int ix = in_coord(ox, kx, stride, pad_x, W);
                if (ix < 0)
                    continue;
                acc += x[idx4(n, c0 + ci, iy, ix, Cin, H, W)] * w[idx4(co, ci, ky, kx, cin_g, kh, kw)];
            }
        }
    return acc;
}

void sg2_ref_conv2d(double *y,       /* [N, Cout, Ho, Wo] */
                    const double *x, /* [N, Cin, H, W] */
                    const double *w, /* [Cout, Cin/groups, kh, kw] */
                    int N, int Cin, int H, int W, int Cout, int kh, int kw,
                    int stride, int pad_y, int pad_x, int groups)
{
    int Ho = (H + 2 * pad_y - kh) / stride + 1, Wo = (W + 2 * pad_x - kw) / stride + 1;
    for (int n = 0; n < N; n++)
        for (int co = 0; co < Cout; co++)
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++)
                    y[idx4(n, co, oy, ox, Cout, Ho, Wo)] =
                        conv_point(x, w, n, co, oy, ox, Cin, H, W, Cout, kh, kw, stride, pad_y, pad_x, groups);
}

/* Scatter one input element of conv_transpose2d into every output it touches:
 * the transpose of conv_point's gather. Output coordinates outside [0,Ho) x [0,Wo)
 * are the transposed padding and are dropped. */
static void convt_scatter(double *y, double v, const double *w, int n, int ci, int iy, int ix,
                          int Cin, int Ho, int Wo, int Cout, int kh, int kw,
                          int stride, int pad_y, int pad_x, int groups)
{
    int cin_g = Cin / groups, cout_g = Cout / groups;
    int c0 = (ci / cin_g) * cout_g; /* first output channel of ci's group */
    for (int co = 0; co < cout_g; co++)
        for (int ky = 0; ky < kh; ky++) {
            int oy = in_coord(iy, ky, stride, pad_y, Ho);
            if (oy < 0)
                continue;
            for (int kx = 0; kx < kw; kx++) {
                int ox = in_coord(ix, kx, stride, pad_x, Wo);
                if (ox < 0)
                    continue;
                y[idx4(n, c0 + co, oy, ox, Cout, Ho, Wo)] += v * w[idx4(ci, co, ky, kx, cout_g, kh, kw)];
            }
        }
}

void sg2_ref_conv_transpose2d(double *y,       /* [N, Cout, Ho, Wo] */
                              const double *x, /* [N, Cin, H, W] */
                              const double *w, /* [Cin, Cout/groups, kh, kw] */
                              int N, int Cin, int H, int W, int Cout, int kh, int kw,
                              int stride, int pad_y, int pad_x, int outpad_y, int outpad_x, int groups)
{
    int Ho = (H - 1) * stride - 2 * pad_y + kh + outpad_y;
    int Wo = (W - 1) * stride - 2 * pad_x + kw + outpad_x;
    zero(y, (long)N * Cout * Ho * Wo);
    for (int n = 0; n < N; n++)
        for (int ci = 0; ci < Cin; ci++)
            for (int iy = 0; iy < H; iy++)
                for (int ix = 0; ix < W; ix++)
                    convt_scatter(y, x[idx4(n, ci, iy, ix, Cin, H, W)], w, n, ci, iy, ix, Cin, Ho, Wo, Cout, kh, kw,
                                  stride, pad_y, pad_x, groups);
}

/* One weight-gradient element: correlate the dy plane of co with the x plane of
 * its input channel, shifted by the tap (ky, kx), summed over the batch. */
static double wgrad_point(const double *dy, const double *x, int co, int ci, int ky, int kx,
                          int N, int Cin, int H, int W, int Cout, int Ho, int Wo,
                          int stride, int pad_y, int pad_x, int groups)
{
    int cin_g = Cin / groups, cout_g = Cout / groups;
    int c = (co / cout_g) * cin_g + ci;
    double acc = 0;
    for (int n = 0; n < N; n++)
        for (int oy = 0; oy < Ho; oy++) {
            int iy = in_coord(oy, ky, stride, pad_y, H);
            if (iy < 0)
                continue;
            for (int ox = 0; ox < Wo; ox++) {
                int ix = in_coord(ox, kx, stride, pad_x, W);
                if (ix < 0)
                    continue;
                acc += dy[idx4(n, co, oy, ox, Cout, Ho, Wo)] * x[idx4(n, c, iy, ix, Cin, H, W)];
            }
        }
    return acc;
}

void sg2_ref_conv2d_wgrad(double *dw,       /* [Cout, Cin/groups, kh, kw] */
                          const double *dy, /* [N, Cout, Ho, Wo] */
                          const double *x,  /* [N, Cin, H, W] */
                          int N, int Cin, int H, int W, int Cout, int kh, int kw,
                          int stride, int pad_y, int pad_x, int groups)
{
    int Ho = (H + 2 * pad_y - kh) / stride + 1, Wo = (W + 2 * pad_x - kw) / stride + 1;
    int cin_g = Cin / groups;
    for (int co = 0; co < Cout; co++)
        for (int ci = 0; ci < cin_g; ci++)
            for (int ky = 0; ky < kh; ky++)
                for (int kx = 0; kx < kw; kx++)
                    dw[idx4(co, ci, ky, kx, cin_g, kh, kw)] = wgrad_point(
                        dy, x, co, ci, ky, kx, N, Cin, H, W, Cout, Ho, Wo, stride, pad_y, pad_x, groups);
}
