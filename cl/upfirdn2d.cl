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

/* Tunables (the host reads the same values from its -D options):
 * UPF_WG: work-items per work-group, shaped width first by the host;
 * UPF_PX: consecutive output pixels along x per work-item;
 * UPF_SPEC: 1 = the host also passes the op's filter size, factors and flip
 * as UPF_FH, UPF_FW, UPF_UPX, UPF_UPY, UPF_DOWNX, UPF_DOWNY, UPF_FLIP, so
 * the tap loops have constant trip counts (one build per op variant; the
 * matching run-time arguments are then ignored). */
#ifndef UPF_WG
#define UPF_WG 64
#endif
#ifndef UPF_PX
#define UPF_PX 1
#endif
#ifndef UPF_SPEC
#define UPF_SPEC 0
#endif

#if UPF_SPEC
#define K_FH UPF_FH
#define K_FW UPF_FW
#define K_UPX UPF_UPX
#define K_UPY UPF_UPY
#define K_DOWNX UPF_DOWNX
#define K_DOWNY UPF_DOWNY
#define K_FLIP UPF_FLIP
#else
#define K_FH fh
#define K_FW fw
#define K_UPX up_x
#define K_UPY up_y
#define K_DOWNX down_x
#define K_DOWNY down_y
#define K_FLIP flip
#endif

/* Output pixel (ox, oy) of one plane xp: the taps that land on samples,
 * at most ceil(fh / up_y) rows of ceil(fw / up_x). */
static float out_pixel(__global const float *xp, __global const float *fp, int H, int W, int ox, int oy,
                       int fh, int fw, int up_x, int up_y, int down_x, int down_y,
                       int pad_x0, int pad_y0, int flip)
{
    int uy0 = oy * K_DOWNY - pad_y0;
    int ux0 = ox * K_DOWNX - pad_x0;
    int ty0 = first_tap(uy0, K_UPY), tx0 = first_tap(ux0, K_UPX);
    int iy0 = (uy0 + ty0) / K_UPY, ix0 = (ux0 + tx0) / K_UPX;
    /* Filter index of tap (ty, tx) = row_base + ty*row_step + col_base + tx*col_step. */
    int row_base = K_FLIP ? 0 : (K_FH - 1) * K_FW, row_step = K_FLIP ? K_FW : -K_FW;
    int col_base = K_FLIP ? 0 : K_FW - 1, col_step = K_FLIP ? 1 : -1;
    float acc = 0.0f;
    for (int a = 0; a < (K_FH + K_UPY - 1) / K_UPY; a++) {
        int ty = ty0 + a * K_UPY, iy = iy0 + a;
        if (ty >= K_FH || iy >= H)
            break;
        __global const float *xrow = xp + iy * W;
        int frow = row_base + ty * row_step + col_base;
        for (int b = 0; b < (K_FW + K_UPX - 1) / K_UPX; b++) {
            int tx = tx0 + b * K_UPX, ix = ix0 + b;
            if (tx >= K_FW || ix >= W)
                break;
            acc += xrow[ix] * fp[frow + tx * col_step];
        }
    }
    return acc;
}

/* UPF_PX output pixels per work-item; global range (ceil(Wo / UPF_PX), Ho, planes).
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
    int ox0 = get_global_id(0) * UPF_PX, oy = get_global_id(1), plane = get_global_id(2);
    if (ox0 >= Wo || oy >= Ho || plane >= planes)
        return;
    __global const float *xp = x + x_off + (size_t)plane * H * W;
    __global float *yrow = y + y_off + (size_t)(plane * Ho + oy) * Wo;
    for (int p = 0; p < UPF_PX; p++) {
        int ox = ox0 + p;
        if (ox < Wo)
            yrow[ox] = gain * out_pixel(xp, f + f_off, H, W, ox, oy, fh, fw, up_x, up_y, down_x, down_y,
                                        pad_x0, pad_y0, flip);
    }
}
