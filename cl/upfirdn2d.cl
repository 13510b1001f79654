/* upfirdn2d: upsample by zero insertion, pad (negative crops), FIR filter,
 * downsample, on each (n, c) plane of an NCHW tensor.
 *
 * The upsampled, padded image is never built: an output's filter window
 * starts at padded coordinate o*down; padded coordinate p holds input sample
 * (p - pad0) / up when p - pad0 is a non-negative multiple of up, and zero
 * otherwise. So each output visits only the taps that land on real samples:
 * the first such tap, then every up-th one, about fh*fw/(up_x*up_y) in all.
 * The right/bottom padding only sets the output size (the host's job). */

/* First tap t >= 0 whose window position hits a real sample, for a window
 * that starts at upsampled coordinate u0 (may be negative): u0 + t must be a
 * non-negative multiple of up. The sample it hits is (u0 + t) / up. */
static int first_tap(int u0, int up)
{
    if (u0 < 0)
        return -u0;
    int r = u0 % up;
    return r == 0 ? 0 : up - r;
}

/* One work-item per output pixel; global range (Wo, Ho, planes).
 * flip 0: true convolution (the window reads the filter reversed);
 * flip 1: correlation (reads it as stored). Filter values are times gain. */
__kernel void upfirdn2d(int planes, int H, int W, int Ho, int Wo,
                        __global const float *x, int x_off,  /* [planes, H, W] */
                        __global const float *f, int f_off,  /* [fh, fw] */
                        int fh, int fw,
                        int up_x, int up_y, int down_x, int down_y,
                        int pad_x0, int pad_y0, int flip, float gain,
                        __global float *y, int y_off)        /* [planes, Ho, Wo] */
{
    int ox = get_global_id(0), oy = get_global_id(1), plane = get_global_id(2);
    if (ox >= Wo || oy >= Ho || plane >= planes)
        return;
    int i = (plane * Ho + oy) * Wo + ox;

    int uy0 = oy * down_y - pad_y0;
    int ux0 = ox * down_x - pad_x0;
    int ty0 = first_tap(uy0, up_y), tx0 = first_tap(ux0, up_x);
    int iy0 = (uy0 + ty0) / up_y, ix0 = (ux0 + tx0) / up_x;
    /* Filter index of tap (ty, tx) = row_base + ty*row_step + col_base + tx*col_step. */
    int row_base = flip ? 0 : (fh - 1) * fw, row_step = flip ? fw : -fw;
    int col_base = flip ? 0 : fw - 1, col_step = flip ? 1 : -1;

    __global const float *xp = x + x_off + (size_t)plane * H * W;
    __global const float *fp = f + f_off;
    float acc = 0.0f;
    for (int ty = ty0, iy = iy0; ty < fh && iy < H; ty += up_y, iy++) {
        __global const float *xrow = xp + iy * W;
        int frow = row_base + ty * row_step + col_base;
        for (int tx = tx0, ix = ix0; tx < fw && ix < W; tx += up_x, ix++)
            acc += xrow[ix] * fp[frow + tx * col_step];
    }
    y[y_off + i] = acc * gain;
}
