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
/* UPF_TILED: 1 = build upfirdn2d_tiled (below), which the host launches
 * where a tile fits in local memory and the rows kernel does not apply
 * (its default then); its work-group shape is
 * the host's choice (tunables UPF_TWG, UPF_TLX, UPF_TILE). 0 = only the
 * generic kernel above. */
#ifndef UPF_TILED
#define UPF_TILED 0
#endif
/* UPF_ROWS: > 0 = build upfirdn2d_rows (at the end), UPF_ROWS output rows
 * per work-item; the host's default where the op's constants allow it. */
#ifndef UPF_ROWS
#define UPF_ROWS 0
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

#if UPF_TILED
/* The tiled path: a work-group computes a tile of tx_n x ty_n outputs in
 * each of LZ planes (local z). It stages the input samples the tile's
 * windows reach in local memory, zeros outside the image, so the tap loops
 * below have constant trip counts and no bounds tests. Each work-item walks
 * a run of consecutive columns (a whole row with one work-item along x, the
 * host's default): on a CPU its inner loops then read and write contiguous
 * memory and vectorize, where one output per work-item measured 2-3x
 * slower. When the filter is an outer product (every StyleGAN2 filter is),
 * it runs as two 1-D passes, along x over the staged rows, then along y:
 * ceil(fw/up) + ceil(fh/up) taps per output instead of their product. Any
 * other filter takes the 2-D taps. The host passes the filter size and
 * factors as constants (flip stays an argument). */
#ifndef UPF_FH
#error "UPF_TILED needs -DUPF_FH, UPF_FW, UPF_UPX, UPF_UPY, UPF_DOWNX, UPF_DOWNY"
#endif
#define TAPS_X ((UPF_FW + UPF_UPX - 1) / UPF_UPX)
#define TAPS_Y ((UPF_FH + UPF_UPY - 1) / UPF_UPY)
/* Filter index spans padded to whole tap rounds: taps past the filter read 0. */
#define GX_N (TAPS_X * UPF_UPX)
#define GY_N (TAPS_Y * UPF_UPY)

/* ceil(u / up) for any sign of u: the first sample at or after upsampled u. */
static int ceil_div(int u, int up)
{
    return u >= 0 ? (u + up - 1) / up : -((-u) / up);
}

/* The first tap of a window starting at upsampled u that lands on a sample
 * (u + t a multiple of up), zero-padding standing in for the image edge. */
static int phase(int u, int up)
{
    int r = (-u) % up;
    return r < 0 ? r + up : r;
}

/* The taps as the window reads them (flip 0: reversed), times gain, zero
 * past the filter; and, when g is rank one, its factors gy (x gain) and gx.
 * The pivot is the largest tap; the rank test allows float rounding of an
 * outer product computed in higher precision. */
static void load_taps(__global const float *f, int flip, float gain, __local float *g2, __local float *gx,
                      __local float *gy, __local int *separable)
{
    float m = 0.0f;
    int pi = 0, pj = 0;
    for (int ty = 0; ty < GY_N; ty++)
        for (int tx = 0; tx < GX_N; tx++) {
            float v = 0.0f;
            if (ty < UPF_FH && tx < UPF_FW)
                v = flip ? f[ty * UPF_FW + tx] : f[(UPF_FH - 1 - ty) * UPF_FW + (UPF_FW - 1 - tx)];
            g2[ty * GX_N + tx] = v;
            if (fabs(v) > m) {
                m = fabs(v);
                pi = ty;
                pj = tx;
            }
        }
    float p = g2[pi * GX_N + pj];
    int sep = p != 0.0f;
    for (int ty = 0; ty < GY_N; ty++)
        for (int tx = 0; tx < GX_N; tx++)
            if (fabs(g2[ty * GX_N + tx] * p - g2[ty * GX_N + pj] * g2[pi * GX_N + tx]) > 2e-6f * p * p)
                sep = 0;
    for (int ty = 0; ty < GY_N; ty++)
        gy[ty] = sep ? g2[ty * GX_N + pj] / p * gain : 0.0f;
    for (int tx = 0; tx < GX_N; tx++)
        gx[tx] = g2[pi * GX_N + tx];
    for (int t = 0; t < GY_N * GX_N; t++)
        g2[t] *= gain;
    *separable = sep;
}

/* One staged row xr through the 1-D filter gx into hr[c0, c1). Column c's
 * window starts at upsampled u0 + c * down (u0 relative to the row's first
 * sample times up). Columns up apart share their taps (the phase) and step
 * `down` samples, so each phase is one loop with fixed taps that reads
 * consecutive or evenly strided samples: no per-column gather. */
static void x_pass(__local const float *restrict xr, __local float *restrict hr, __local const float *gx, int u0,
                   int c0, int c1)
{
    for (int q = 0; q < UPF_UPX; q++) {
        int u = u0 + (c0 + q) * UPF_DOWNX, t0 = phase(u, UPF_UPX);
        __local const float *xq = xr + (u + t0) / UPF_UPX;
        float g[TAPS_X];
        for (int j = 0; j < TAPS_X; j++)
            g[j] = gx[t0 + j * UPF_UPX];
        for (int c = c0 + q, k = 0; c < c1; c += UPF_UPX, k += UPF_DOWNX) {
            float acc = 0.0f;
            for (int j = 0; j < TAPS_X; j++)
                acc += g[j] * xq[k + j];
            hr[c] = acc;
        }
    }
}

/* Global range (tiles_x * LX, tiles_y * LY, planes rounded up to LZ).
 * scratch: LZ x [in_h * in_w staged samples, in_h * tx_n x-pass results];
 * in_w = ceil((tx_n - 1) * down_x / up_x) + TAPS_X covers every window of
 * the tile (likewise in_h). Work-item lx of LX takes the lx-th run of
 * ceil(n / LX) columns of each row. No work-item returns early: all reach
 * the barriers. */
__kernel void upfirdn2d_tiled(int planes, int H, int W, int Ho, int Wo,
                              __global const float *x, int x_off, /* [planes, H, W] */
                              __global const float *f, int f_off, /* [fh, fw] */
                              int pad_x0, int pad_y0, int flip, float gain,
                              __global float *y, int y_off,       /* [planes, Ho, Wo] */
                              int tx_n, int ty_n, int in_w, int in_h, __local float *scratch)
{
    __local float g2[GY_N * GX_N], gx[GX_N], gy[GY_N];
    __local int separable;
    int lx = get_local_id(0), ly = get_local_id(1), lz = get_local_id(2);
    int nlx = get_local_size(0), nly = get_local_size(1);
    int plane = get_global_id(2);
    int ox0 = get_group_id(0) * tx_n, oy0 = get_group_id(1) * ty_n;
    int sx0 = ceil_div(ox0 * UPF_DOWNX - pad_x0, UPF_UPX), sy0 = ceil_div(oy0 * UPF_DOWNY - pad_y0, UPF_UPY);
    __local float *restrict xs = scratch + lz * (in_h * in_w + in_h * tx_n);
    __local float *restrict hs = xs + in_h * in_w;
    if (lx == 0 && ly == 0 && lz == 0)
        load_taps(f + f_off, flip, gain, g2, gx, gy, &separable);
    /* This work-item's runs: staged columns [s0, s1), output columns [c0, c1). */
    int srun = (in_w + nlx - 1) / nlx, s0 = lx * srun, s1 = min(in_w, s0 + srun);
    int crun = (tx_n + nlx - 1) / nlx, c0 = lx * crun, c1 = min(tx_n, c0 + crun);
    int live = plane < planes;
    __global const float *xp = x + x_off + (size_t)(live ? plane : 0) * H * W;
    for (int r = ly; r < in_h; r += nly) {
        int iy = sy0 + r;
        int row_in = live && iy >= 0 && iy < H;
        __global const float *xr = xp + (row_in ? iy : 0) * W + sx0;
        for (int c = s0; c < s1; c++)
            xs[r * in_w + c] = row_in && sx0 + c >= 0 && sx0 + c < W ? xr[c] : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    int sep = separable;
    if (sep)
        for (int r = ly; r < in_h; r += nly)
            x_pass(xs + r * in_w, hs + r * tx_n, gx, ox0 * UPF_DOWNX - pad_x0 - sx0 * UPF_UPX, c0, c1);
    barrier(CLK_LOCAL_MEM_FENCE);
    __global float *yp = y + y_off + (size_t)plane * Ho * Wo;
    for (int r = ly; r < ty_n; r += nly) {
        int oy = oy0 + r, v = oy * UPF_DOWNY - pad_y0, ty0 = phase(v, UPF_UPY), sy = (v + ty0) / UPF_UPY - sy0;
        int cend = live && oy < Ho ? min(c1, Wo - ox0) : c0;
        __global float *yr = yp + oy * Wo + ox0;
        if (sep)
            for (int c = c0; c < cend; c++) {
                float acc = 0.0f;
                for (int a = 0; a < TAPS_Y; a++)
                    acc += gy[ty0 + a * UPF_UPY] * hs[(sy + a) * tx_n + c];
                yr[c] = acc;
            }
        else
            for (int c = c0; c < cend; c++) {
                int u = (ox0 + c) * UPF_DOWNX - pad_x0, tx0 = phase(u, UPF_UPX), sx = (u + tx0) / UPF_UPX - sx0;
                float acc = 0.0f;
                for (int a = 0; a < TAPS_Y; a++)
                    for (int b = 0; b < TAPS_X; b++)
                        acc += g2[(ty0 + a * UPF_UPY) * GX_N + tx0 + b * UPF_UPX] * xs[(sy + a) * in_w + sx + b];
                yr[c] = acc;
            }
    }
}
#endif

#if UPF_ROWS
/* The rows path, for up and down factors of 1 or 2: a work-item computes a
 * strip of 8 output-column groups (UPF_UPX columns each, one per x phase),
 * as float8 vectors, walking UPF_ROWS output rows (a multiple of UPF_UPY)
 * down the plane. The vectors are explicit, so a CPU device runs them as
 * SIMD whatever it makes of the work-items, and they are plain OpenCL C
 * that any device takes. With the filter size, factors and leading pads
 * all constants, every tap, phase and offset is known at compile time.
 * Each input row is loaded once per work-item and, for a separable
 * filter, run once through the x taps; the result feeds the ceil(fh/up)
 * output rows whose windows hold that row. No local memory, no barriers. */
#if !defined(UPF_FH) || !defined(UPF_PADX0) || !defined(UPF_PADY0)
#error "UPF_ROWS needs -DUPF_FH, UPF_FW, UPF_UPX, UPF_UPY, UPF_DOWNX, UPF_DOWNY, UPF_PADX0, UPF_PADY0"
#endif
#if UPF_UPX > 2 || UPF_DOWNX > 2
#error "upfirdn2d_rows takes x factors of 1 or 2"
#endif
#if UPF_ROWS % UPF_UPY
#error "upfirdn2d_rows needs UPF_ROWS a multiple of UPF_UPY (every work-item's rows start on one phase)"
#endif
#define RT_X ((UPF_FW + UPF_UPX - 1) / UPF_UPX)
#define RT_Y ((UPF_FH + UPF_UPY - 1) / UPF_UPY)
#define RG_X (RT_X * UPF_UPX)
#define RG_Y (RT_Y * UPF_UPY)
/* ceil(u / up) for constants of either sign, and the first tap (phase) of
 * a window starting at upsampled u. */
#define CDIV(u, up) ((u) >= 0 ? ((u) + (up) - 1) / (up) : -((-(u)) / (up)))
#define PHASE(u, up) ((((-(u)) % (up)) + (up)) % (up))
/* Sample offsets (from the strip's first staged sample) and phases of
 * phase column c and output row r. */
#define OFF_X(c) (CDIV((c) * UPF_DOWNX - UPF_PADX0, UPF_UPX) - CDIV(-UPF_PADX0, UPF_UPX))
#define PH_X(c) PHASE((c) * UPF_DOWNX - UPF_PADX0, UPF_UPX)
#define OFF_Y(r) (CDIV((r) * UPF_DOWNY - UPF_PADY0, UPF_UPY) - CDIV(-UPF_PADY0, UPF_UPY))
#define PH_Y(r) PHASE((r) * UPF_DOWNY - UPF_PADY0, UPF_UPY)
/* Samples a strip reads per row (16 spare, so every vector load below stays
 * inside the array), and input rows it walks. */
#define SPAN_X (7 * UPF_DOWNX + OFF_X(UPF_UPX - 1) + RT_X)
#define SPAN_Y (OFF_Y(UPF_ROWS - 1) + RT_Y)

/* The 8 samples of lanes 0..7 at sample offset o: consecutive, or every
 * other one when the output steps two samples. */
/* A strip's output row: 8 columns, or 16 with the two x phases interleaved. */
#if UPF_UPX == 1
typedef float8 stripf;
#define STRIP_LOAD vload8
#define STRIP_STORE vstore8
#else
typedef float16 stripf;
#define STRIP_LOAD vload16
#define STRIP_STORE vstore16
#endif

/* EPI 1: the rows kernel applies a synthesis layer's epilogue as it stores
 * (inference, after an up-sampling conv; bias_act_epilogue in
 * cl/bias_act.cl is the same maths as a pass of its own): plane p is
 * channel c = p % epi_channels of sample s = p / epi_channels, and output
 * i of it becomes
 * clamp(act(v * scale[p] + noise[s * noise_stride + i] + bias[c]) * gain).
 * act: 0 linear, 1 leaky ReLU (slope alpha), 2 ReLU; clampv < 0: no clamp. */
#ifndef EPI
#define EPI 0
#endif
#if EPI
#define EPI_ARGS , int epi_channels, __global const float *epi_scale, int epi_scale_off, int has_scale, \
    __global const float *epi_bias, int epi_bias_off, int has_bias, \
    __global const float *epi_noise, int epi_noise_off, int noise_stride, int has_noise, \
    int act, float alpha, float gain, float clampv

static stripf epilogue(stripf v, float scale, float bias, stripf noise, int act, float alpha, float gain,
                       float clampv)
{
    v = v * scale + noise + bias;
    if (act == 1)
        v = select(v * alpha, v, v > (stripf)(0.0f));
    else if (act == 2)
        v = select((stripf)(0.0f), v, v > (stripf)(0.0f));
    v *= gain;
    return clampv >= 0.0f ? fmin(fmax(v, (stripf)(-clampv)), (stripf)(clampv)) : v;
}
#else
#define EPI_ARGS
#endif

/* The 8 lanes of a strip from consecutive samples (or every other one at
 * stride 2), spelled out element by element: PoCL's LLVM turns that into
 * whole-vector loads, where vload8 / vload16().even at these unaligned
 * offsets became 8-byte pieces and shuffles (1.4-2x slower at 256 channels
 * of 16x16 to 33x33, perf annotate on the kernel). */
#if UPF_DOWNX == 1
#define LANES(xs, o) lanes8((xs) + (o), 1)
#else
#define LANES(xs, o) lanes8((xs) + (o), 2)
#endif
#define lanes8(p, s)                                                                                \
    ((float8)((p)[0], (p)[(s)], (p)[2 * (s)], (p)[3 * (s)], (p)[4 * (s)], (p)[5 * (s)], (p)[6 * (s)], \
              (p)[7 * (s)]))

/* The taps as upfirdn2d_rows reads them, prepared once per call by one
 * work-item (preparing them in every work-item of the rows kernel cost a
 * third of its time): taps[0] = 1 when the filter is separable, then gx
 * [RG_X], gy [RG_Y] and g2 [RG_Y][RG_X]. g2 holds the taps as the window
 * reads them (flip 0: reversed), times gain, zero past the filter. A
 * rank-one g2 is the outer product of its row sums and column sums over its
 * total; the test allows float rounding of an outer product computed in
 * higher precision. */
#define TAPS_GX 1
#define TAPS_GY (TAPS_GX + RG_X)
#define TAPS_G2 (TAPS_GY + RG_Y)
__kernel void upfirdn2d_rows_taps(__global const float *f, int f_off, int flip, float gain,
                                  __global float *taps) /* [TAPS_G2 + RG_Y * RG_X] */
{
    if (get_global_id(0) != 0)
        return;
    float g2[RG_Y][RG_X], gx[RG_X], gy[RG_Y], total = 0.0f, mag = 0.0f;
    for (int ty = 0; ty < RG_Y; ty++)
        for (int tx = 0; tx < RG_X; tx++) {
            float v = 0.0f;
            if (ty < UPF_FH && tx < UPF_FW)
                v = flip ? f[f_off + ty * UPF_FW + tx] : f[f_off + (UPF_FH - 1 - ty) * UPF_FW + (UPF_FW - 1 - tx)];
            g2[ty][tx] = v * gain;
            total += g2[ty][tx];
            mag = fmax(mag, fabs(g2[ty][tx]));
        }
    for (int ty = 0; ty < RG_Y; ty++) {
        gy[ty] = 0.0f;
        for (int tx = 0; tx < RG_X; tx++)
            gy[ty] += g2[ty][tx];
        gy[ty] = total != 0.0f ? gy[ty] / total : 0.0f;
    }
    for (int tx = 0; tx < RG_X; tx++) {
        gx[tx] = 0.0f;
        for (int ty = 0; ty < RG_Y; ty++)
            gx[tx] += g2[ty][tx];
    }
    int sep = fabs(total) > 1e-3f * mag;
    for (int ty = 0; ty < RG_Y; ty++)
        for (int tx = 0; tx < RG_X; tx++)
            if (fabs(g2[ty][tx] - gy[ty] * gx[tx]) > 2e-6f * mag)
                sep = 0;
    taps[0] = sep ? 1.0f : 0.0f;
    for (int tx = 0; tx < RG_X; tx++)
        taps[TAPS_GX + tx] = gx[tx];
    for (int ty = 0; ty < RG_Y; ty++)
        taps[TAPS_GY + ty] = gy[ty];
    for (int ty = 0; ty < RG_Y; ty++)
        for (int tx = 0; tx < RG_X; tx++)
            taps[TAPS_G2 + ty * RG_X + tx] = g2[ty][tx];
}

/* Global range (strips rounded up to the work-group, ceil(Ho / UPF_ROWS),
 * planes rounded up); a strip is 8 * UPF_UPX output columns. taps: from
 * upfirdn2d_rows_taps. */
__kernel void upfirdn2d_rows(int planes, int H, int W, int Ho, int Wo,
                             __global const float *x, int x_off, /* [planes, H, W] */
                             __global const float *taps,
                             __global float *y, int y_off        /* [planes, Ho, Wo] */
                             EPI_ARGS)
{
    int strip = get_global_id(0), oy0 = get_global_id(1) * UPF_ROWS, plane = get_global_id(2);
    int ox0 = strip * 8 * UPF_UPX;
    if (plane >= planes || ox0 >= Wo)
        return;
    int sep = taps[0] != 0.0f;
    float gx[RG_X], gy[RG_Y];
#pragma unroll
    for (int tx = 0; tx < RG_X; tx++)
        gx[tx] = taps[TAPS_GX + tx];
#pragma unroll
    for (int ty = 0; ty < RG_Y; ty++)
        gy[ty] = taps[TAPS_GY + ty];
    __global const float(*g2)[RG_X] = (__global const float(*)[RG_X])(taps + TAPS_G2);

    int sx = strip * 8 * UPF_DOWNX + CDIV(-UPF_PADX0, UPF_UPX);
    int sy = oy0 / UPF_UPY * UPF_DOWNY + CDIV(-UPF_PADY0, UPF_UPY);
    /* A strip inside the row reads its lanes straight from x (unaligned
     * vector loads; LANES at stride 2 reads one sample past the last it
     * keeps); one at an edge stages its row with zeros outside the image
     * first. Staging every row measured 2x slower. */
    int inside_x = sx >= 0 && sx + SPAN_X + UPF_DOWNX - 1 <= W;
    __global const float *xp = x + x_off + (size_t)plane * H * W;
    float8 acc[UPF_ROWS][UPF_UPX];
#pragma unroll
    for (int r = 0; r < UPF_ROWS; r++)
#pragma unroll
        for (int c = 0; c < UPF_UPX; c++)
            acc[r][c] = (float8)(0.0f);
#pragma unroll
    for (int k = 0; k < SPAN_Y; k++) {
        int iy = sy + k;
        if (iy < 0 || iy >= H)
            continue;
        __global const float *xr = xp + iy * W + sx;
        float8 lanes[UPF_UPX][RT_X];
        if (inside_x) {
#pragma unroll
            for (int c = 0; c < UPF_UPX; c++)
#pragma unroll
                for (int j = 0; j < RT_X; j++)
                    lanes[c][j] = LANES(xr, OFF_X(c) + j);
        } else {
            float xs[SPAN_X + 16];
#pragma unroll
            for (int q = 0; q < SPAN_X; q++)
                xs[q] = sx + q >= 0 && sx + q < W ? xr[q] : 0.0f;
#pragma unroll
            for (int q = SPAN_X; q < SPAN_X + 16; q++)
                xs[q] = 0.0f;
#pragma unroll
            for (int c = 0; c < UPF_UPX; c++)
#pragma unroll
                for (int j = 0; j < RT_X; j++)
                    lanes[c][j] = LANES(xs, OFF_X(c) + j);
        }
        if (sep) {
            float8 h[UPF_UPX];
#pragma unroll
            for (int c = 0; c < UPF_UPX; c++) {
                h[c] = (float8)(0.0f);
#pragma unroll
                for (int j = 0; j < RT_X; j++)
                    h[c] += gx[PH_X(c) + j * UPF_UPX] * lanes[c][j];
            }
#pragma unroll
            for (int r = 0; r < UPF_ROWS; r++) {
                int a = k - OFF_Y(r);
                if (a >= 0 && a < RT_Y)
#pragma unroll
                    for (int c = 0; c < UPF_UPX; c++)
                        acc[r][c] += gy[PH_Y(r) + a * UPF_UPY] * h[c];
            }
        } else {
#pragma unroll
            for (int r = 0; r < UPF_ROWS; r++) {
                int a = k - OFF_Y(r);
                if (a >= 0 && a < RT_Y)
#pragma unroll
                    for (int c = 0; c < UPF_UPX; c++)
#pragma unroll
                        for (int j = 0; j < RT_X; j++)
                            acc[r][c] += g2[PH_Y(r) + a * UPF_UPY][PH_X(c) + j * UPF_UPX] * lanes[c][j];
            }
        }
    }
    __global float *yp = y + y_off + (size_t)plane * Ho * Wo;
    int whole = ox0 + 8 * UPF_UPX <= Wo;
#if EPI
    int sample = plane / epi_channels;
    float scale = has_scale ? epi_scale[epi_scale_off + plane] : 1.0f;
    float bias = has_bias ? epi_bias[epi_bias_off + plane - sample * epi_channels] : 0.0f;
    __global const float *noise = epi_noise + epi_noise_off + sample * noise_stride;
#endif
    for (int r = 0; r < UPF_ROWS; r++) {
        if (oy0 + r >= Ho)
            break;
        __global float *yr = yp + (oy0 + r) * Wo + ox0;
#if UPF_UPX == 1
        stripf o = acc[r][0];
#else
        stripf o;
        o.even = acc[r][0];
        o.odd = acc[r][1];
#endif
#if EPI
        stripf nz = (stripf)(0.0f);
        __global const float *nr = noise + (oy0 + r) * Wo + ox0;
        if (has_noise && whole) {
            nz = STRIP_LOAD(0, nr);
        } else if (has_noise) {
            float part[8 * UPF_UPX];
            for (int i = 0; i < 8 * UPF_UPX; i++)
                part[i] = ox0 + i < Wo ? nr[i] : 0.0f;
            nz = STRIP_LOAD(0, part);
        }
        o = epilogue(o, scale, bias, nz, act, alpha, gain, clampv);
#endif
        if (whole) {
            STRIP_STORE(o, 0, yr);
            continue;
        }
        float vals[8 * UPF_UPX];
        STRIP_STORE(o, 0, vals);
        for (int i = 0; i < 8 * UPF_UPX && ox0 + i < Wo; i++)
            yr[i] = vals[i];
    }
}
#endif
