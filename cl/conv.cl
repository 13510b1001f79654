/* Direct 2-D convolution, its transpose and its weight gradient (NCHW,
 * PyTorch semantics, symmetric zero padding, groups).
 *
 * The three kernels evaluate one bilinear form
 *     S = sum x[n, ci, oy*s - py + ky, ox*s - px + kx] * w[co, ci', ky, kx] * y[n, co, oy, ox]
 * summed over everything but one of x, w, y. Each output is a plain sum in a
 * fixed order (no atomics), so results repeat exactly from run to run.
 *
 * Tiling: conv2d_fwd and conv_transpose2d_fwd give each work-item a block of
 * CONV_CO output channels x CONV_PX pixels of one row, so every input value
 * loaded feeds CONV_CO products and every weight CONV_PX. conv2d_wgrad gives
 * each work-group WGR_CO output channels x WGR_TAPS taps of one input
 * channel; its work-items stride over N*Ho*Wo and a fixed-order tree in local
 * memory adds their partial sums.
 *
 * All indices are int: the host refuses tensors of 2^31 elements or more. */

#ifndef CONV_CO
#define CONV_CO 4   /* output channels per work-item */
#endif
#ifndef CONV_PX
#define CONV_PX 4   /* output pixels (along x) per work-item */
#endif
#ifndef WGR_WG
#define WGR_WG 64   /* work-group size of conv2d_wgrad, a power of two */
#endif
#ifndef WGR_CO
#define WGR_CO 4    /* output channels per conv2d_wgrad work-group */
#endif
#ifndef WGR_TAPS
#define WGR_TAPS 9  /* kernel taps per conv2d_wgrad work-group */
#endif

/* y[N,Cout,Ho,Wo] = conv2d(x[N,Cin,H,W], w[Cout,Cin/groups,kh,kw]).
 * One work-item: image n, group g, CONV_CO output channels of that group
 * starting at co0, row oy, CONV_PX pixels from ox0. Work-items are ordered
 * with the pixel block fastest so neighbours read neighbouring x. */
__kernel void conv2d_fwd(int N, int Cin, int H, int W, int Cout, int Ho, int Wo, int kh, int kw,
                         int stride, int pad_y, int pad_x, int groups,
                         __global const float *x, int x_off,
                         __global const float *w, int w_off,
                         __global float *y, int y_off)
{
    int cin_g = Cin / groups, cout_g = Cout / groups;
    int n_cb = (cout_g + CONV_CO - 1) / CONV_CO;
    int n_pb = (Wo + CONV_PX - 1) / CONV_PX;
    int i = get_global_id(0);
    if (i >= N * groups * n_cb * Ho * n_pb)
        return;
    int pb = i % n_pb; i /= n_pb;
    int oy = i % Ho; i /= Ho;
    int cb = i % n_cb; i /= n_cb;
    int g = i % groups;
    int n = i / groups;

    int co0 = g * cout_g + cb * CONV_CO;          /* first output channel */
    int nco = min(CONV_CO, cout_g - cb * CONV_CO); /* how many are real */
    int ox0 = pb * CONV_PX;
    int taps = kh * kw;
    __global const float *xg = x + x_off + (n * Cin + g * cin_g) * H * W;
    __global const float *wg = w + w_off + co0 * cin_g * taps;
    int w_co = cin_g * taps;                       /* weight stride between output channels */
    int iy0 = oy * stride - pad_y;
    int ix0 = ox0 * stride - pad_x;

    float acc[CONV_CO][CONV_PX];
    for (int c = 0; c < CONV_CO; c++)
        for (int j = 0; j < CONV_PX; j++)
            acc[c][j] = 0.0f;

    for (int ci = 0; ci < cin_g; ci++) {
        for (int ky = 0; ky < kh; ky++) {
            int iy = iy0 + ky;
            if (iy < 0 || iy >= H)
                continue;
            __global const float *xrow = xg + (ci * H + iy) * W;
            __global const float *wrow = wg + (ci * kh + ky) * kw;
            for (int kx = 0; kx < kw; kx++) {
                float xv[CONV_PX];
                for (int j = 0; j < CONV_PX; j++) {
                    int ix = ix0 + j * stride + kx;
                    xv[j] = (ix >= 0 && ix < W) ? xrow[ix] : 0.0f;
                }
                for (int c = 0; c < CONV_CO; c++) {
                    /* channels past the group's end read a real weight; never stored */
                    float wv = wrow[min(c, nco - 1) * w_co + kx];
                    for (int j = 0; j < CONV_PX; j++)
                        acc[c][j] += wv * xv[j];
                }
            }
        }
    }

    __global float *yp = y + y_off + ((n * Cout + co0) * Ho + oy) * Wo;
    for (int c = 0; c < CONV_CO; c++) {
        if (c >= nco)
            break;
        for (int j = 0; j < CONV_PX; j++)
            if (ox0 + j < Wo)
                yp[c * Ho * Wo + ox0 + j] = acc[c][j];
    }
}

/* y[N,Cout,Ho,Wo] = conv_transpose2d(x[N,Cin,H,W], w[Cin,Cout/groups,kh,kw]).
 * Output (oy, ox) gathers x[iy, ix] at taps with oy + pad_y = iy*s + ky and
 * ox + pad_x = ix*s + kx. Writing u = ox + pad_x = s*m + r, only taps
 * kx = r + s*t contribute, from ix = m - t. A work-item takes CONV_PX outputs
 * of one phase r (m = m0 .. m0+CONV_PX-1): they share their taps, and read
 * consecutive input pixels, so no stride test sits in the inner loop.
 * Items: (n, g, channel block, oy, r, m block), m block fastest. */
__kernel void conv_transpose2d_fwd(int N, int Cin, int H, int W, int Cout, int Ho, int Wo, int kh, int kw,
                                   int stride, int pad_y, int pad_x, int groups,
                                   __global const float *x, int x_off,
                                   __global const float *w, int w_off,
                                   __global float *y, int y_off)
{
    int cin_g = Cin / groups, cout_g = Cout / groups;
    int n_cb = (cout_g + CONV_CO - 1) / CONV_CO;
    int m_lo = pad_x / stride;                     /* m of ox = 0 */
    int n_m = (Wo - 1 + pad_x) / stride - m_lo + 1;
    int n_mb = (n_m + CONV_PX - 1) / CONV_PX;
    int i = get_global_id(0);
    if (i >= N * groups * n_cb * Ho * stride * n_mb)
        return;
    int mb = i % n_mb; i /= n_mb;
    int r = i % stride; i /= stride;
    int oy = i % Ho; i /= Ho;
    int cb = i % n_cb; i /= n_cb;
    int g = i % groups;
    int n = i / groups;

    int c0 = cb * CONV_CO;                         /* first output channel inside the group */
    int nco = min(CONV_CO, cout_g - c0);
    int m0 = m_lo + mb * CONV_PX;
    int taps = kh * kw;
    __global const float *xg = x + x_off + (n * Cin + g * cin_g) * H * W;
    __global const float *wg = w + w_off + (g * cin_g * cout_g + c0) * taps;
    int uy = oy + pad_y;
    int ry = uy % stride, qy = uy / stride;        /* ky = ry + s*ty reads iy = qy - ty */

    float acc[CONV_CO][CONV_PX];
    for (int c = 0; c < CONV_CO; c++)
        for (int j = 0; j < CONV_PX; j++)
            acc[c][j] = 0.0f;

    for (int ci = 0; ci < cin_g; ci++) {
        __global const float *xc = xg + ci * H * W;
        __global const float *wc = wg + ci * cout_g * taps;
        for (int ky = ry, iy = qy; ky < kh; ky += stride, iy--) {
            if (iy < 0)
                break;
            if (iy >= H)
                continue;
            __global const float *xrow = xc + iy * W;
            for (int kx = r, t = 0; kx < kw; kx += stride, t++) {
                float xv[CONV_PX];
                for (int j = 0; j < CONV_PX; j++) {
                    int ix = m0 + j - t;
                    xv[j] = (ix >= 0 && ix < W) ? xrow[ix] : 0.0f;
                }
                for (int c = 0; c < CONV_CO; c++) {
                    float wv = wc[min(c, nco - 1) * taps + ky * kw + kx];
                    for (int j = 0; j < CONV_PX; j++)
                        acc[c][j] += wv * xv[j];
                }
            }
        }
    }

    __global float *yp = y + y_off + ((n * Cout + g * cout_g + c0) * Ho + oy) * Wo;
    for (int c = 0; c < CONV_CO; c++) {
        if (c >= nco)
            break;
        for (int j = 0; j < CONV_PX; j++) {
            int ox = (m0 + j) * stride + r - pad_x;
            if (ox >= 0 && ox < Wo)
                yp[c * Ho * Wo + ox] = acc[c][j];
        }
    }
}

/* dw[Cout,Cin/groups,kh,kw] = d/dw sum(dy * conv2d(x, w)):
 * dw[co, ci, ky, kx] = sum over n, oy, ox of dy[n, co, oy, ox] * x[n, g*cin_g + ci, oy*s - py + ky, ox*s - px + kx].
 * One work-group of WGR_WG items per (group g, channel block, ci, tap block);
 * launched with global = groups * n_cb * cin_g * n_tb * WGR_WG. */
__kernel void conv2d_wgrad(int N, int Cin, int H, int W, int Cout, int Ho, int Wo, int kh, int kw,
                           int stride, int pad_y, int pad_x, int groups,
                           __global const float *dy, int dy_off,
                           __global const float *x, int x_off,
                           __global float *dw, int dw_off)
{
    __local float part[WGR_CO * WGR_TAPS * WGR_WG];
    int cin_g = Cin / groups, cout_g = Cout / groups;
    int taps = kh * kw;
    int n_cb = (cout_g + WGR_CO - 1) / WGR_CO;
    int n_tb = (taps + WGR_TAPS - 1) / WGR_TAPS;
    int lid = get_local_id(0);
    int wgid = get_group_id(0);
    /* uniform across the work-group, so the barriers below are reached by all */
    if (wgid >= groups * n_cb * cin_g * n_tb)
        return;
    int tb = wgid % n_tb; wgid /= n_tb;
    int ci = wgid % cin_g; wgid /= cin_g;
    int cb = wgid % n_cb;
    int g = wgid / n_cb;

    int co0 = g * cout_g + cb * WGR_CO;
    int nco = min(WGR_CO, cout_g - cb * WGR_CO);
    int t0 = tb * WGR_TAPS;
    int nt = min(WGR_TAPS, taps - t0);
    /* Tap offsets; taps past the end repeat the last real one and are never stored. */
    int tky[WGR_TAPS], tkx[WGR_TAPS];
    for (int t = 0; t < WGR_TAPS; t++) {
        int tap = t0 + min(t, nt - 1);
        tky[t] = tap / kw - pad_y;
        tkx[t] = tap % kw - pad_x;
    }
    int xc = g * cin_g + ci;

    float acc[WGR_CO][WGR_TAPS];
    for (int c = 0; c < WGR_CO; c++)
        for (int t = 0; t < WGR_TAPS; t++)
            acc[c][t] = 0.0f;

    int plane = Ho * Wo;
    int total = N * plane;
    for (int e = lid; e < total; e += WGR_WG) {
        int n = e / plane;
        int p = e - n * plane;
        int oy = p / Wo, ox = p - oy * Wo;
        float dv[WGR_CO];
        for (int c = 0; c < WGR_CO; c++)
            dv[c] = dy[dy_off + (n * Cout + co0 + min(c, nco - 1)) * plane + p];
        __global const float *xp = x + x_off + (n * Cin + xc) * H * W;
        int iy0 = oy * stride, ix0 = ox * stride;
        for (int t = 0; t < WGR_TAPS; t++) {
            int iy = iy0 + tky[t], ix = ix0 + tkx[t];
            float xv = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? xp[iy * W + ix] : 0.0f;
            for (int c = 0; c < WGR_CO; c++)
                acc[c][t] += dv[c] * xv;
        }
    }

    for (int c = 0; c < WGR_CO; c++)
        for (int t = 0; t < WGR_TAPS; t++)
            part[(c * WGR_TAPS + t) * WGR_WG + lid] = acc[c][t];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int span = WGR_WG / 2; span > 0; span >>= 1) {
        if (lid < span)
            for (int a = 0; a < WGR_CO * WGR_TAPS; a++)
                part[a * WGR_WG + lid] += part[a * WGR_WG + lid + span];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int a = lid; a < WGR_CO * WGR_TAPS; a += WGR_WG) {
        int c = a / WGR_TAPS, t = a % WGR_TAPS;
        if (c < nco && t < nt)
            dw[dw_off + ((co0 + c) * cin_g + ci) * taps + t0 + t] = part[a * WGR_WG];
    }
}
