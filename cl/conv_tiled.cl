/* Register-tiled convolution: conv2d forward (also conv_transpose2d at
 * stride 1, as a conv2d with flipped weights), conv_transpose2d at larger
 * strides by output phase, and the weight gradient.
 *
 * The input is first copied into a zero-padded buffer large enough for every
 * tile, and the weights into panels [group][channel block][ci*kh*kw + tap]
 * [channel in block] (zeros past the last channel), so the inner loops need
 * no bounds checks and read contiguous memory. Each work-item accumulates a
 * block of outputs in explicit vectors, along a row of pixels
 * (conv2d_tiled, conv2d_wgrad_tiled) or along output channels (the _cv
 * kernels, conv2d_wgrad_cv reading dy copied channels last): the SIMD width
 * then does not depend on how a driver maps work-items to lanes. PoCL compiles the vectors to AVX-512 directly; GPUs
 * split them into registers. Every tunable is a macro below.
 *
 * Sums run in a fixed order (reduction index innermost per work-item, lanes
 * added left to right at the end): results repeat exactly, no atomics.
 * All indices are int: the host refuses tensors of 2^31 elements or more. */

#ifndef KH
#define KH 3       /* kernel rows, compile-time so the tap loops unroll */
#endif
#ifndef KW
#define KW 3       /* kernel columns */
#endif
#ifndef STRIDE
#define STRIDE 1   /* convolution stride (1 and 2 load vectors directly) */
#endif
#ifndef VW
#define VW 8       /* pixels per vector: 4, 8 or 16 */
#endif
#ifndef NV
#define NV 2       /* vectors per work-item along a row (conv2d_tiled) */
#endif
#ifndef TCO
#define TCO 8      /* output channels per work-item (conv2d_tiled) */
#endif
#ifndef CV
#define CV 16      /* output channels per vector (conv2d_tiled_cv): 4, 8 or 16 */
#endif
#ifndef PR
#define PR 4       /* output rows per work-item (conv2d_tiled_cv) */
#endif
#ifndef PC
#define PC 4       /* output columns per work-item (conv2d_tiled_cv) */
#endif
#ifndef CVN
#define CVN 1      /* channel vectors per work-item (conv2d_tiled_cv, conv_transpose2d_tiled_ph) */
#endif
#ifndef WG_TCO
#define WG_TCO 2   /* output channels per work-item (conv2d_wgrad_tiled) */
#endif
#ifndef WG_TCI
#define WG_TCI 1   /* input channels per work-item (conv2d_wgrad_cv) */
#endif

#define TAPS (KH * KW)

/* Tile loops must unroll so the accumulators live in registers. OpenCL 1.2
 * has no unroll attribute; clang-based compilers (PoCL, ROCm, Intel, NVIDIA)
 * take this pragma and C99 lets the others ignore it. */
#define UNROLL _Pragma("unroll")
#define TX (NV * VW)  /* output pixels per work-item along a row */

#if VW == 4
typedef float4 vfloat;
#define VLOAD vload4
#define VSTORE vstore4
#elif VW == 8
typedef float8 vfloat;
#define VLOAD vload8
#define VSTORE vstore8
#elif VW == 16
typedef float16 vfloat;
#define VLOAD vload16
#define VSTORE vstore16
#else
#error "VW must be 4, 8 or 16"
#endif

#if CV == 4
typedef float4 cvfloat;
#define CVLOAD vload4
#define CVSTORE vstore4
#elif CV == 8
typedef float8 cvfloat;
#define CVLOAD vload8
#define CVSTORE vstore8
#elif CV == 16
typedef float16 cvfloat;
#define CVLOAD vload16
#define CVSTORE vstore16
#else
#error "CV must be 4, 8 or 16"
#endif

/* VW input pixels p[0], p[STRIDE], ... p[(VW-1)*STRIDE]. */
static vfloat load_px(__global const float *p)
{
#if STRIDE == 1
    return VLOAD(0, p);
#elif STRIDE == 2 && VW == 4
    return vload8(0, p).even;
#elif STRIDE == 2 && VW == 8
    return vload16(0, p).even;
#else
    float t[VW];
    UNROLL
    for (int j = 0; j < VW; j++)
        t[j] = p[j * STRIDE];
    return VLOAD(0, t);
#endif
}

static float lane_sum(vfloat v)
{
    float t[VW];
    VSTORE(v, 0, t);
    float s = 0.0f;
    UNROLL
    for (int j = 0; j < VW; j++)
        s += t[j];
    return s;
}

/* Output pixel (oy, ox) of the first nco channels of a CV-channel vector:
 * channel l at yb + l * plane_o; nothing outside the Ho x Wo image. */
static void store_channels(__global float *yb, int plane_o, int oy, int ox, int Ho, int Wo, cvfloat v, int nco)
{
    if (oy >= Ho || ox >= Wo)
        return;
    float t[CV];
    CVSTORE(v, 0, t);
    for (int l = 0; l < nco; l++)
        yb[l * plane_o + oy * Wo + ox] = t[l];
}

/* w_cb[u] = where panel cb0 + u of group g starts in the packed weights
 * (n_cb panels of cin_g * TAPS * CV floats a group). Panels past the last
 * repeat it: their sums are never stored. */
static void panel_offsets(int g, int n_cb, int cb0, int cin_g, int w_cb[CVN])
{
    UNROLL
    for (int u = 0; u < CVN; u++)
        w_cb[u] = (g * n_cb + min(cb0 + u, n_cb - 1)) * cin_g * TAPS * CV;
}

/* The output side of panel cb of image n, group g: returns how many of its
 * CV channels are real (0 or less past the last panel, which is then never
 * stored) and, when some are, sets *yb to its first channel's plane in y. */
static int panel_out(__global float *y, int y_off, int n, int Cout, int g, int cout_g, int cb, int plane_o,
                     __global float **yb)
{
    int co0 = cb * CV, nco = min(CV, cout_g - co0);
    if (nco > 0)
        *yb = y + y_off + (n * Cout + g * cout_g + co0) * plane_o;
    return nco;
}

/* EPI 1: conv2d_tiled_cv applies a synthesis layer's epilogue as it stores
 * (inference; bias_act_epilogue in cl/bias_act.cl is the same maths as a
 * pass of its own): output channel c of sample b (= n * groups + g, the
 * image or the fused modulation's group) at pixel i becomes
 * clamp(act(v * scale[b * cout_g + c] + noise[b * noise_stride + i] + bias[c]) * gain).
 * act: 0 linear, 1 leaky ReLU (slope alpha), 2 ReLU; clampv < 0: no clamp. */
#ifndef EPI
#define EPI 0
#endif
#if EPI
#define EPI_ARGS , __global const float *epi_scale, int epi_scale_off, int has_scale, \
    __global const float *epi_bias, int epi_bias_off, int has_bias, \
    __global const float *epi_noise, int epi_noise_off, int noise_stride, int has_noise, \
    int act, float alpha, float gain, float clampv

/* The first nco of CV channel values from p (has: else fill). */
static cvfloat channel_vector(int has, __global const float *p, int nco, float fill)
{
    float t[CV];
    UNROLL
    for (int l = 0; l < CV; l++)
        t[l] = has && l < nco ? p[l] : fill;
    return CVLOAD(0, t);
}

static cvfloat epilogue(cvfloat v, cvfloat scale, cvfloat bias, float noise, int act, float alpha, float gain,
                        float clampv)
{
    v = v * scale + (cvfloat)(noise) + bias;
    if (act == 1)
        v = select(v * alpha, v, v > (cvfloat)(0.0f));
    else if (act == 2)
        v = select((cvfloat)(0.0f), v, v > (cvfloat)(0.0f));
    v *= gain;
    return clampv >= 0.0f ? fmin(fmax(v, (cvfloat)(-clampv)), (cvfloat)(clampv)) : v;
}
#else
#define EPI_ARGS
#endif

/* xp[planes, Hp, Wp] = x[planes, H, W] shifted by (pad_y, pad_x), zero
 * elsewhere, times scale[plane] when has_scale (the modulation of a
 * modulated convolution, free in this copy); pads may be negative (crops).
 * One work-item per output row: the zero margins and the copied middle are
 * three plain loops, which vectorise, where one work-item per element spent
 * more on its index and bounds tests than on the copy. Range (Hp, planes). */
__kernel void conv_pad(int planes, int H, int W, int Hp, int Wp, int pad_y, int pad_x,
                       __global const float *x, int x_off, __global const float *scale, int scale_off, int has_scale,
                       __global float *xp)
{
    int yo = get_global_id(0), pl = get_global_id(1);
    if (yo >= Hp || pl >= planes)
        return;
    __global float *row = xp + (pl * Hp + yo) * Wp;
    int yy = yo - pad_y;
    /* columns xo with 0 <= xo - pad_x < W hold x; the rest are zero */
    int x0 = clamp(pad_x, 0, Wp), x1 = clamp(pad_x + W, x0, Wp);
    if (yy < 0 || yy >= H)
        x0 = x1 = Wp;
    for (int xo = 0; xo < x0; xo++)
        row[xo] = 0.0f;
    __global const float *src = x + x_off + (pl * H + yy) * W - pad_x;
    float s = has_scale ? scale[scale_off + pl] : 1.0f;
    for (int xo = x0; xo < x1; xo++)
        row[xo] = src[xo] * s;
    for (int xo = x1; xo < Wp; xo++)
        row[xo] = 0.0f;
}

/* wt[g][cb][ci*kh*kw + ky*kw + kx][lane], output channel co = cb*lanes + lane
 * (zero past cout_g): panels of `lanes` channels, so the weights one
 * work-item reads are contiguous. From conv2d's w[g*cout_g + co][ci][ky][kx]
 * (flip = 0), or for conv_transpose2d run as a conv2d, from
 * w[g*cin_g + ci][co][kh-1-ky][kw-1-kx] (flip = 1). One work-item writes one
 * run of `lanes` floats (k, cb): contiguous stores, and neighbouring
 * work-items read neighbouring source weights (one element per work-item
 * scattered its stores a cache line apart and cost as much as a small
 * convolution). Range (cin_g*kh*kw, n_cb, groups). */
/* PACK_LANES, PACK_TAPS: the lanes and taps as constants (the host's
 * build), so each work-item's gather unrolls into straight loads and one
 * vector store; unset, the arguments' values. */
#ifdef PACK_LANES
#define P_LANES PACK_LANES
#define P_TAPS PACK_TAPS
#else
#define P_LANES lanes
#define P_TAPS (kh * kw)
#endif
__kernel void conv_pack_weight(int groups, int cin_g, int cout_g, int n_cb, int lanes, int kh, int kw, int flip,
                               __global const float *w, int w_off, __global float *wt)
{
    int taps = P_TAPS, kk = cin_g * taps;
    int k = get_global_id(0); /* ci * taps + tap */
    int cb = get_global_id(1);
    int g = get_global_id(2);
    if (k >= kk || cb >= n_cb)
        return;
    int ci = k / taps, tap = k - ci * taps;
    __global float *dst = wt + ((g * n_cb + cb) * kk + k) * P_LANES;
    /* lane l reads channel co0 + l: w[g][co][k], or flipped w[g][ci][co][taps-1-tap] */
    int co0 = cb * P_LANES;
    __global const float *src = flip ? w + w_off + ((g * cin_g + ci) * cout_g + co0) * taps + taps - 1 - tap
                                     : w + w_off + (g * cout_g + co0) * kk + k;
    int step = flip ? taps : kk;
    UNROLL
    for (int lane = 0; lane < P_LANES; lane++)
        dst[lane] = co0 + lane < cout_g ? src[lane * step] : 0.0f;
}

/* Where work-item i0 of dimension 0 works: image n, group g and its item
 * (pixel tile, or phase and tile) among per_image. Two launch orders:
 * images_outer = 0, range (N * per_image, channel blocks, groups): each
 * channel block's weights serve the whole batch while they are in cache;
 * images_outer = 1, range (per_image, channel blocks, N * groups): every
 * channel block of an image runs while that image's input is in cache. The
 * host takes the second when the batch's input is larger than a cache
 * (1.2x at 32x32 and 1.5x at 64x64 with 256 channels and 8 images on PoCL,
 * where the first is 1.3x faster at 16x16). */
static void item_place(int i0, int per_image, int groups, int images_outer, int *n, int *g, int *item)
{
    if (images_outer) {
        int b = get_global_id(2);
        *n = b / groups;
        *g = b % groups;
        *item = i0;
    } else {
        *n = i0 / per_image;
        *g = get_global_id(2);
        *item = i0 % per_image;
    }
}

/* y[n, g*cout_g + co, oy, ox] = sum over ci, ky, kx of
 *     wt[g][co / TCO][(ci*KH + ky)*KW + kx][co % TCO] * xp[n*groups*cin_g + g*cin_g + ci][oy*S + ky][ox*S + kx].
 * One work-item: TCO output channels x TX pixels of one output row.
 * Range: see item_place, with n_tiles = n_xt * Ho pixel tiles per image:
 * the work-items of a work-group share their weights. */
__kernel void conv2d_tiled(int cin_g, int Hp, int Wp, int Cout, int cout_g, int n_cb, int Ho, int Wo,
                           int groups, int n_xt, int n_tiles, int n_items0, int images_outer,
                           __global const float *xp, int xp_off, __global const float *wt,
                           __global float *y, int y_off)
{
    int i0 = get_global_id(0);
    if (i0 >= n_items0)
        return;
    int n, g, tile;
    item_place(i0, n_tiles, groups, images_outer, &n, &g, &tile);
    int b = n * groups + g;
    int xt = tile % n_xt, oy = tile / n_xt;
    int cb = get_global_id(1);
    int co0 = cb * TCO;
    int ox0 = xt * TX;
    int plane = Hp * Wp;

    __global const float *xb = xp + xp_off + b * cin_g * plane + oy * STRIDE * Wp + ox0 * STRIDE;
    __global const float *wb = wt + (g * n_cb + cb) * cin_g * TAPS * TCO;

    vfloat acc[TCO][NV];
    UNROLL
    for (int c = 0; c < TCO; c++)
        UNROLL
        for (int v = 0; v < NV; v++)
            acc[c][v] = (vfloat)(0.0f);

    for (int ci = 0; ci < cin_g; ci++) {
        __global const float *xc = xb + ci * plane;
        __global const float *wc = wb + ci * TAPS * TCO;
        UNROLL
        for (int ky = 0; ky < KH; ky++) {
            UNROLL
            for (int kx = 0; kx < KW; kx++) {
                vfloat xv[NV];
                UNROLL
                for (int v = 0; v < NV; v++)
                    xv[v] = load_px(xc + ky * Wp + kx + v * VW * STRIDE);
                __global const float *wk = wc + (ky * KW + kx) * TCO;
                UNROLL
                for (int c = 0; c < TCO; c++) {
                    float wv = wk[c];
                    UNROLL
                    for (int v = 0; v < NV; v++)
                        acc[c][v] += wv * xv[v];
                }
            }
        }
    }

    int plane_o = Ho * Wo;
    __global float *yb = y + y_off + (n * Cout + g * cout_g + co0) * plane_o + oy * Wo + ox0;
    UNROLL
    for (int c = 0; c < TCO; c++) {
        UNROLL
        for (int v = 0; v < NV; v++) {
            int x0 = ox0 + v * VW;
            if (co0 + c >= cout_g) {
                /* a channel of the zero padding: not stored */
            } else if (x0 + VW <= Wo) {
                VSTORE(acc[c][v], 0, yb + c * plane_o + v * VW);
            } else {
                float t[VW];
                VSTORE(acc[c][v], 0, t);
                for (int j = 0; j < VW && x0 + j < Wo; j++)
                    yb[c * plane_o + v * VW + j] = t[j];
            }
        }
    }
}

/* dw[g*cout_g + co][ci][ky][kx] = sum over n, oy, ox of
 *     dyp[n][g*cout_g + co][oy][ox] * xp[n*groups*cin_g + g*cin_g + ci][oy*S + ky][ox*S + kx],
 * where dyp is dy padded with zeros to Wd = n_xt * VW columns. One
 * work-item: WG_TCO output channels x all taps of one input channel, with
 * one vector of partial sums per (channel, tap) along ox.
 * Range: (n_cb, cin_g, groups), channel block fastest so the work-items of a
 * work-group read the same x. */
__kernel void conv2d_wgrad_tiled(int N, int cin_g, int Hp, int Wp, int Cout, int cout_g, int Ho, int Wd,
                                 int groups, int n_cb,
                                 __global const float *dyp, int dyp_off, __global const float *xp, int xp_off,
                                 __global float *dw, int dw_off)
{
    int cb = get_global_id(0);
    if (cb >= n_cb)
        return;
    int ci = get_global_id(1);
    int g = get_global_id(2);
    int co0 = cb * WG_TCO;
    int nco = min(WG_TCO, cout_g - co0);
    int plane_x = Hp * Wp, plane_d = Ho * Wd;

    vfloat acc[WG_TCO][TAPS];
    UNROLL
    for (int c = 0; c < WG_TCO; c++)
        UNROLL
        for (int t = 0; t < TAPS; t++)
            acc[c][t] = (vfloat)(0.0f);

    for (int n = 0; n < N; n++) {
        __global const float *xn = xp + xp_off + ((n * groups + g) * cin_g + ci) * plane_x;
        __global const float *dn = dyp + dyp_off + (n * Cout + g * cout_g) * plane_d;
        for (int oy = 0; oy < Ho; oy++) {
            for (int ox0 = 0; ox0 < Wd; ox0 += VW) {
                vfloat dv[WG_TCO];
                UNROLL
                for (int c = 0; c < WG_TCO; c++)
                    /* channels past the group's end repeat a real one; never stored */
                    dv[c] = VLOAD(0, dn + (co0 + min(c, nco - 1)) * plane_d + oy * Wd + ox0);
                __global const float *xr = xn + oy * STRIDE * Wp + ox0 * STRIDE;
                UNROLL
                for (int ky = 0; ky < KH; ky++)
                    UNROLL
                    for (int kx = 0; kx < KW; kx++) {
                        vfloat xv = load_px(xr + ky * Wp + kx);
                        UNROLL
                        for (int c = 0; c < WG_TCO; c++)
                            acc[c][ky * KW + kx] += dv[c] * xv;
                    }
            }
        }
    }

    for (int c = 0; c < nco; c++)
        UNROLL
        for (int t = 0; t < TAPS; t++)
            dw[dw_off + ((g * cout_g + co0 + c) * cin_g + ci) * TAPS + t] = lane_sum(acc[c][t]);
}

/* dyt[b][p][c] = dy[n][g*cout_g + c][p] for c < cout_g, 0 up to Cp, with
 * b = n*groups + g and p a pixel: dy with its channels last, padded to whole
 * vectors, for conv2d_wgrad_cv. One work-item: CV channels of one pixel.
 * Range: (plane, Cp / CV, N * groups). */
__kernel void conv_channels_last(int plane, int cout_g, int Cp, __global const float *dy, int dy_off,
                                 __global float *dyt)
{
    int p = get_global_id(0);
    if (p >= plane)
        return;
    int c0 = get_global_id(1) * CV;
    int b = get_global_id(2);
    __global const float *src = dy + dy_off + (b * cout_g + c0) * plane + p;
    float t[CV];
    UNROLL
    for (int l = 0; l < CV; l++)
        t[l] = c0 + l < cout_g ? src[l * plane] : 0.0f;
    CVSTORE(CVLOAD(0, t), 0, dyt + (b * plane + p) * Cp + c0);
}

/* The weight gradient of conv2d_wgrad_tiled with the vectors along output
 * channels: per pixel, NV vectors of dy's channels (from dyt, see
 * conv_channels_last) times one scalar of x per (input channel, tap). Each
 * accumulator then holds CV whole outputs rather than partial sums of one,
 * and a pixel costs NV vector loads and WG_TCI * TAPS scalar loads for
 * WG_TCI * TAPS * NV vector multiply-adds. One work-item: CV * NV output
 * channels x WG_TCI input channels x all taps, over the images of one split
 * (n_split > 1 writes split s's sums to dw + s * the weights' size, for
 * conv_sum_splits: the dy a work-group reads then stays in cache). Range:
 * (n_cib, n_cob, groups * n_split), input-channel block fastest so the
 * work-items of a work-group read the same dy. Output channels start at
 * co_base (a tail launch takes the channels that do not fill a whole block
 * of CV * NV). xp is x padded to Hp = (Ho-1)*S + KH, Wp = (Wo-1)*S + KW. */
__kernel void conv2d_wgrad_cv(int N, int cin_g, int Hp, int Wp, int cout_g, int Cp, int Ho, int Wo, int groups,
                              int n_cib, int n_per_split, int co_base, __global const float *dyt,
                              __global const float *xp, int xp_off, __global float *dw, int dw_off)
{
    int cib = get_global_id(0);
    if (cib >= n_cib)
        return;
    int cob = get_global_id(1);
    int g = get_global_id(2) % groups, split = get_global_id(2) / groups;
    int n_end = min(N, (split + 1) * n_per_split);
    dw += dw_off + split * groups * cout_g * cin_g * TAPS;
    int ci0 = cib * WG_TCI, co0 = co_base + cob * (CV * NV);
    int nci = min(WG_TCI, cin_g - ci0);
    int plane_x = Hp * Wp, plane_d = Ho * Wo;
    int x_ci[WG_TCI];
    UNROLL
    for (int c = 0; c < WG_TCI; c++)
        /* channels past the group's end repeat a real one; never stored */
        x_ci[c] = min(c, nci - 1) * plane_x;

    cvfloat acc[WG_TCI][TAPS][NV];
    UNROLL
    for (int c = 0; c < WG_TCI; c++)
        UNROLL
        for (int t = 0; t < TAPS; t++)
            UNROLL
            for (int v = 0; v < NV; v++)
                acc[c][t][v] = (cvfloat)(0.0f);

    for (int n = split * n_per_split; n < n_end; n++) {
        int b = n * groups + g;
        __global const float *xb = xp + xp_off + (b * cin_g + ci0) * plane_x;
        __global const float *db = dyt + b * plane_d * Cp + co0;
        for (int oy = 0; oy < Ho; oy++) {
            for (int ox = 0; ox < Wo; ox++) {
                __global const float *d = db + (oy * Wo + ox) * Cp;
                cvfloat dv[NV];
                UNROLL
                for (int v = 0; v < NV; v++)
                    dv[v] = CVLOAD(v, d);
                __global const float *xr = xb + oy * STRIDE * Wp + ox * STRIDE;
                UNROLL
                for (int c = 0; c < WG_TCI; c++)
                    UNROLL
                    for (int ky = 0; ky < KH; ky++)
                        UNROLL
                        for (int kx = 0; kx < KW; kx++) {
                            float xv = xr[x_ci[c] + ky * Wp + kx];
                            UNROLL
                            for (int v = 0; v < NV; v++)
                                acc[c][ky * KW + kx][v] += xv * dv[v];
                        }
            }
        }
    }

    int nco = min(CV * NV, cout_g - co0);
    for (int c = 0; c < nci; c++)
        UNROLL
        for (int t = 0; t < TAPS; t++)
            UNROLL
            for (int v = 0; v < NV; v++) {
                float o[CV];
                CVSTORE(acc[c][t][v], 0, o);
                for (int l = 0; l < CV && v * CV + l < nco; l++)
                    dw[((g * cout_g + co0 + v * CV + l) * cin_g + ci0 + c) * TAPS + t] = o[l];
            }
}

/* dw[i] = the sum over s < n_split of part[s * count + i], in order. */
__kernel void conv_sum_splits(int count, int n_split, __global const float *part, __global float *dw, int dw_off)
{
    int i = get_global_id(0);
    if (i >= count)
        return;
    float sum = part[i];
    for (int s = 1; s < n_split; s++)
        sum += part[s * count + i];
    dw[dw_off + i] = sum;
}

/* The same sum as conv2d_tiled with the vector along output channels: one
 * work-item computes CV channels at PR x PC pixels, each pixel one scalar
 * load times the tap's weight vector. For small images (8x8, 4x4), whose
 * rows are too short for pixel vectors, and any stride.
 * Range: see item_place, with n_tiles = n_yt * n_xt pixel tiles per image
 * and n_cb / CVN along dimension 1. */
__kernel void conv2d_tiled_cv(int cin_g, int Hp, int Wp, int Cout, int cout_g, int n_cb, int Ho, int Wo,
                              int groups, int n_xt, int n_tiles, int n_items0, int images_outer,
                              __global const float *xp, int xp_off, __global const float *wt,
                              __global float *y, int y_off EPI_ARGS)
{
    int i0 = get_global_id(0);
    if (i0 >= n_items0)
        return;
    int n, g, tile;
    item_place(i0, n_tiles, groups, images_outer, &n, &g, &tile);
    int b = n * groups + g;
    int oy0 = tile / n_xt * PR, ox0 = tile % n_xt * PC;
    int cb0 = get_global_id(1) * CVN;
    int plane = Hp * Wp;

    __global const float *xb = xp + xp_off + b * cin_g * plane + oy0 * STRIDE * Wp + ox0 * STRIDE;
    int w_cb[CVN];
    panel_offsets(g, n_cb, cb0, cin_g, w_cb);

    cvfloat acc[CVN][PR][PC];
    UNROLL
    for (int u = 0; u < CVN; u++)
        UNROLL
        for (int r = 0; r < PR; r++)
            UNROLL
            for (int c = 0; c < PC; c++)
                acc[u][r][c] = (cvfloat)(0.0f);

    for (int ci = 0; ci < cin_g; ci++) {
        __global const float *xc = xb + ci * plane;
        __global const float *wc = wt + ci * TAPS * CV;
        UNROLL
        for (int ky = 0; ky < KH; ky++) {
            UNROLL
            for (int kx = 0; kx < KW; kx++) {
                cvfloat wv[CVN];
                UNROLL
                for (int u = 0; u < CVN; u++)
                    wv[u] = CVLOAD(ky * KW + kx, wc + w_cb[u]);
                UNROLL
                for (int r = 0; r < PR; r++) {
                    __global const float *xr = xc + (r * STRIDE + ky) * Wp + kx;
                    UNROLL
                    for (int c = 0; c < PC; c++) {
                        float xv = xr[c * STRIDE];
                        UNROLL
                        for (int u = 0; u < CVN; u++)
                            acc[u][r][c] += xv * wv[u];
                    }
                }
            }
        }
    }

    int plane_o = Ho * Wo;
    UNROLL
    for (int u = 0; u < CVN; u++) {
        __global float *yb;
        int nco = panel_out(y, y_off, n, Cout, g, cout_g, cb0 + u, plane_o, &yb);
        if (nco <= 0)
            break;
#if EPI
        int co0 = (cb0 + u) * CV;
        cvfloat scale = channel_vector(has_scale, epi_scale + epi_scale_off + b * cout_g + co0, nco, 1.0f);
        cvfloat bias = channel_vector(has_bias, epi_bias + epi_bias_off + co0, nco, 0.0f);
        __global const float *noise = epi_noise + epi_noise_off + b * noise_stride;
#endif
        UNROLL
        for (int r = 0; r < PR; r++)
            UNROLL
            for (int c = 0; c < PC; c++) {
                cvfloat v = acc[u][r][c];
#if EPI
                int oy = oy0 + r, ox = ox0 + c;
                float nz = has_noise && oy < Ho && ox < Wo ? noise[oy * Wo + ox] : 0.0f;
                v = epilogue(v, scale, bias, nz, act, alpha, gain, clampv);
#endif
                store_channels(yb, plane_o, oy0 + r, ox0 + c, Ho, Wo, v, nco);
            }
    }
}

/* y = conv_transpose2d(x, w) at stride STRIDE, without the zeros: written
 * as a conv2d of x spread out by the stride (P = k - 1 - pad, the kernel
 * flipped as conv_pack_weight does), output (oy, ox) only meets taps with
 * (oy + ky - P) divisible by STRIDE. A work-item takes PR x PC outputs of one
 * phase (oy % STRIDE, ox % STRIDE): they share that set of taps, and read
 * neighbouring pixels of x, from xq = x padded by Q on top and left so no
 * index goes negative. Range: see item_place, STRIDE^2 * n_tiles per image,
 * n_tiles = n_yt * n_xt tiles of one phase's output grid. */
__kernel void conv_transpose2d_tiled_cv(int cin_g, int Hq, int Wq, int Q, int P_y, int P_x,
                                        int Cout, int cout_g, int n_cb, int Ho, int Wo,
                                        int groups, int n_xt, int n_tiles, int n_items0, int images_outer,
                                        __global const float *xq, int xq_off, __global const float *wt,
                                        __global float *y, int y_off)
{
    int i0 = get_global_id(0);
    if (i0 >= n_items0)
        return;
    int n, g, item;
    item_place(i0, STRIDE * STRIDE * n_tiles, groups, images_outer, &n, &g, &item);
    int phase = item / n_tiles, tile = item % n_tiles;
    int phy = phase / STRIDE, phx = phase % STRIDE;
    int Y0 = tile / n_xt * PR, X0 = tile % n_xt * PC;
    int cb = get_global_id(1);
    int co0 = cb * CV;
    int b = n * groups + g;
    int plane = Hq * Wq;
    /* first tap of this phase along each axis: ky = P - phy (mod STRIDE) */
    int ky0 = ((P_y - phy) % STRIDE + STRIDE) % STRIDE;
    int kx0 = ((P_x - phx) % STRIDE + STRIDE) % STRIDE;

    __global const float *xb = xq + xq_off + b * cin_g * plane;
    __global const float *wb = wt + (g * n_cb + cb) * cin_g * TAPS * CV;

    cvfloat acc[PR][PC];
    UNROLL
    for (int r = 0; r < PR; r++)
        UNROLL
        for (int c = 0; c < PC; c++)
            acc[r][c] = (cvfloat)(0.0f);

    for (int ci = 0; ci < cin_g; ci++) {
        __global const float *xc = xb + ci * plane;
        __global const float *wc = wb + ci * TAPS * CV;
        for (int ky = ky0; ky < KH; ky += STRIDE) {
            /* row of xq that output row Y0 reads at this tap */
            __global const float *xr = xc + (Y0 + (phy + ky - P_y + Q * STRIDE) / STRIDE) * Wq;
            for (int kx = kx0; kx < KW; kx += STRIDE) {
                __global const float *xp = xr + X0 + (phx + kx - P_x + Q * STRIDE) / STRIDE;
                cvfloat wv = CVLOAD(ky * KW + kx, wc);
                UNROLL
                for (int r = 0; r < PR; r++)
                    UNROLL
                    for (int c = 0; c < PC; c++)
                        acc[r][c] += xp[r * Wq + c] * wv;
            }
        }
    }

    int plane_o = Ho * Wo;
    int nco = min(CV, cout_g - co0);
    __global float *yb = y + y_off + (n * Cout + g * cout_g + co0) * plane_o;
    UNROLL
    for (int r = 0; r < PR; r++)
        UNROLL
        for (int c = 0; c < PC; c++)
            store_channels(yb, plane_o, phy + (Y0 + r) * STRIDE, phx + (X0 + c) * STRIDE, Ho, Wo, acc[r][c], nco);
}

/* The same transposed convolution with every phase in one work-item: for a
 * PR x PC block of positions (Y, X) on the input grid it computes the
 * STRIDE^2 outputs (phy + Y*STRIDE, phx + X*STRIDE) of each position. Each
 * tap (ky, kx) serves exactly one phase, fixed at compile time like the
 * tap's offset into xq, so the tap loops unroll to straight FMAs: per input
 * channel CVN * KH*KW weight vectors (CVN panels of CV output channels)
 * times PR*PC pixels, reading one small window of xq. TP_Y, TP_X: the conv
 * padding P = k - 1 - pad of conv_transpose2d as a conv2d; TQ: xq's zero
 * rows and columns on top and left (see above). Range: see item_place,
 * n_tiles = n_yt * n_xt blocks per image, and n_cb / CVN along dimension
 * 1. */
#ifndef TP_Y
#define TP_Y 1
#endif
#ifndef TP_X
#define TP_X 1
#endif
#ifndef TQ
#define TQ 1
#endif
#define PHASE_OF(p, k) ((((p) - (k)) % STRIDE + STRIDE) % STRIDE)

__kernel void conv_transpose2d_tiled_ph(int cin_g, int Hq, int Wq, int Cout, int cout_g, int n_cb, int Ho, int Wo,
                                        int groups, int n_xt, int n_tiles, int n_items0, int images_outer,
                                        __global const float *xq, int xq_off, __global const float *wt,
                                        __global float *y, int y_off)
{
    int i0 = get_global_id(0);
    if (i0 >= n_items0)
        return;
    int n, g, tile;
    item_place(i0, n_tiles, groups, images_outer, &n, &g, &tile);
    int b = n * groups + g;
    int Y0 = tile / n_xt * PR, X0 = tile % n_xt * PC;
    int cb0 = get_global_id(1) * CVN;
    int plane = Hq * Wq;

    __global const float *xb = xq + xq_off + b * cin_g * plane + Y0 * Wq + X0;
    int w_cb[CVN];
    panel_offsets(g, n_cb, cb0, cin_g, w_cb);

    cvfloat acc[CVN][STRIDE * STRIDE][PR][PC];
    UNROLL
    for (int u = 0; u < CVN; u++)
        UNROLL
        for (int ph = 0; ph < STRIDE * STRIDE; ph++)
            UNROLL
            for (int r = 0; r < PR; r++)
                UNROLL
                for (int c = 0; c < PC; c++)
                    acc[u][ph][r][c] = (cvfloat)(0.0f);

    for (int ci = 0; ci < cin_g; ci++) {
        __global const float *xc = xb + ci * plane;
        __global const float *wc = wt + ci * TAPS * CV;
        UNROLL
        for (int ky = 0; ky < KH; ky++) {
            UNROLL
            for (int kx = 0; kx < KW; kx++) {
                /* compile-time after unrolling: the phase this tap serves
                 * and where its pixels sit in xq relative to (Y, X) */
                const int phy = PHASE_OF(TP_Y, ky), phx = PHASE_OF(TP_X, kx);
                const int dy = (phy + ky - TP_Y) / STRIDE + TQ, dx = (phx + kx - TP_X) / STRIDE + TQ;
                cvfloat wv[CVN];
                UNROLL
                for (int u = 0; u < CVN; u++)
                    wv[u] = CVLOAD(ky * KW + kx, wc + w_cb[u]);
                UNROLL
                for (int r = 0; r < PR; r++) {
                    /* a row pointer, so each pixel's offset c + dx is a
                     * constant displacement: indexed as one int sum, LLVM
                     * kept every pixel's index in a register of its own
                     * and spilled them */
                    __global const float *xr = xc + (r + dy) * Wq;
                    UNROLL
                    for (int c = 0; c < PC; c++) {
                        float xv = xr[c + dx];
                        UNROLL
                        for (int u = 0; u < CVN; u++)
                            acc[u][phy * STRIDE + phx][r][c] += xv * wv[u];
                    }
                }
            }
        }
    }

    int plane_o = Ho * Wo;
    UNROLL
    for (int u = 0; u < CVN; u++) {
        __global float *yb;
        int nco = panel_out(y, y_off, n, Cout, g, cout_g, cb0 + u, plane_o, &yb);
        if (nco <= 0)
            break;
        UNROLL
        for (int ph = 0; ph < STRIDE * STRIDE; ph++)
            UNROLL
            for (int r = 0; r < PR; r++)
                UNROLL
                for (int c = 0; c < PC; c++)
                    store_channels(yb, plane_o, ph / STRIDE + (Y0 + r) * STRIDE, ph % STRIDE + (X0 + c) * STRIDE, Ho,
                                   Wo, acc[u][ph][r][c], nco);
    }
}
