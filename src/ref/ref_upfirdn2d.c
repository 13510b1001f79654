/* Reference upfirdn2d: upsample by zero insertion, pad (or crop), FIR filter,
 * downsample, on each (n, c) plane.
 *
 * Rather than building the upsampled, padded image, each output reads it
 * virtually: padded coordinate p holds x[(p - pad0) / up] when p - pad0 is a
 * non-negative multiple of up below in*up, and 0 otherwise. Negative padding
 * then needs no special case: it only shifts p and shortens the output. */
#include "src/ref/ref.h"

/* The sample of one axis's upsampled, padded signal at padded coordinate p,
 * as an index into the input, or -1 for an inserted zero or padding. */
static int source_index(int p, int pad0, int up, int in)
{
    int u = p - pad0;
    if (u < 0 || u % up != 0)
        return -1;
    u /= up;
    return u < in ? u : -1;
}

/* Filter tap that multiplies window position (ty, tx): a true convolution reads
 * the filter reversed, a correlation reads it as stored. */
static double tap(const double *f, int fh, int fw, int ty, int tx, int flip)
{
    return flip ? f[(long)ty * fw + tx] : f[(long)(fh - 1 - ty) * fw + (fw - 1 - tx)];
}

/* One output sample of one plane: the filter window starting at padded
 * coordinates (oy*downy, ox*downx). */
static double fir_point(const double *xp, const double *f, int H, int W, int fh, int fw,
                        int upx, int upy, int downx, int downy, int padx0, int pady0, int flip,
                        int oy, int ox)
{
    double acc = 0;
    for (int ty = 0; ty < fh; ty++) {
        int iy = source_index(oy * downy + ty, pady0, upy, H);
        if (iy < 0)
            continue;
        for (int tx = 0; tx < fw; tx++) {
            int ix = source_index(ox * downx + tx, padx0, upx, W);
            if (ix < 0)
                continue;
            acc += xp[(long)iy * W + ix] * tap(f, fh, fw, ty, tx, flip);
        }
    }
    return acc;
}

void sg2_ref_upfirdn2d(double *y,       /* [N, C, Ho, Wo] */
                       const double *x, /* [N, C, H, W] */
                       const double *f, /* [fh, fw] */
                       int N, int C, int H, int W, int fh, int fw,
                       int upx, int upy, int downx, int downy,
                       int padx0, int padx1, int pady0, int pady1, int flip, double gain)
{
    int Wo = (W * upx + padx0 + padx1 - fw) / downx + 1;
    int Ho = (H * upy + pady0 + pady1 - fh) / downy + 1;
    for (long plane = 0; plane < (long)N * C; plane++) {
        const double *xp = x + plane * H * W;
        double *yp = y + plane * Ho * Wo;
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++)
                yp[(long)oy * Wo + ox] =
                    gain * fir_point(xp, f, H, W, fh, fw, upx, upy, downx, downy, padx0, pady0, flip, oy, ox);
    }
}

int sg2_ref_upfirdn2d_out(int in, int up, int down, int pad0, int pad1, int ftaps)
{
    if (in < 1 || up < 1 || down < 1 || ftaps < 1)
        return -1;
    /* A negative numerator would truncate toward zero in C and look like a valid
     * size 1, so reject it before dividing. */
    long num = (long)in * up + pad0 + pad1 - ftaps;
    if (num < 0)
        return -1;
    return (int)(num / down + 1);
}
