/* Winograd's minimal filtering F(4x4, 3x3) for stride-1 3x3 convolutions
 * (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks",
 * 2016), in three passes around a batched GEMM:
 *
 *   V = B^T d B  for each 6x6 input tile d (4x4 outputs) and input channel,
 *   U = G g G^T  for each 3x3 filter g (output channel, input channel),
 *   M[xi] = V[xi] U[xi]  for each of the 36 tile positions xi: a GEMM
 *                        over input channels (gemm_vec of cl/matmul.cl),
 *   Y = A^T M A  for each tile and output channel.
 *
 * 16 outputs take 36 multiplies per input channel instead of 144. The
 * interpolation points are 0, 1, -1, 2, -2 and infinity; their matrices:
 *
 *   B^T = | 4  0 -5  0  1  0 |   G = | 1/4     0     0 |   A^T = | 1 1  1 1  1 0 |
 *         | 0 -4 -4  1  1  0 |       | -1/6 -1/6  -1/6 |         | 0 1 -1 2 -2 0 |
 *         | 0  4 -4 -1  1  0 |       | -1/6  1/6  -1/6 |         | 0 1  1 4  4 0 |
 *         | 0 -2 -1  2  1  0 |       | 1/24 1/12   1/6 |         | 0 1 -1 8 -8 1 |
 *         | 0  2 -1 -2  1  0 |       | 1/24 -1/12  1/6 |
 *         | 0  4  0 -5  0  1 |       | 0       0     1 |
 *
 * V and U are written straight into the panel layouts gemm_vec reads
 * ([xi][panel][k][lane]; lanes past the matrix keep whatever the buffer
 * held, since the GEMM never stores the outputs they meet), so the GEMM
 * needs no packing pass. The 36 matrices of V, U and M lie xi_stride
 * floats apart, an odd number of 64-byte lines: at a power of two, the 36
 * lines a work-item touches would share one cache set. Tile p is
 * (n * TY + ty) * TX + tx; tiles start at output (4 ty, 4 tx), reading
 * input from (4 ty - pad_y, 4 tx - pad_x). The weight gradient, at the end
 * of the file, takes the same V with the products summed over tiles. */

/* Fixed-count loops over the tile's positions are unrolled so the private
 * arrays stay in registers (PoCL otherwise keeps them in memory). */
#define WINO_UNROLL _Pragma("unroll")

#ifndef GMR
#define GMR 16 /* GEMM rows (tiles) per panel: gemm_vec's GMR */
#endif
#ifndef GV
#define GV 16  /* GEMM columns (output channels) per panel: gemm_vec's GV */
#endif

/* r = B^T v for one column or row of six values. */
#define WINO_BT(r, v)                                              \
    do {                                                           \
        r[0] = 4.0f * v[0] - 5.0f * v[2] + v[4];                   \
        r[1] = -4.0f * (v[1] + v[2]) + v[3] + v[4];                \
        r[2] = 4.0f * (v[1] - v[2]) - v[3] + v[4];                 \
        r[3] = 2.0f * (v[3] - v[1]) - v[2] + v[4];                 \
        r[4] = 2.0f * (v[1] - v[3]) - v[2] + v[4];                 \
        r[5] = 4.0f * v[1] - 5.0f * v[3] + v[5];                   \
    } while (0)

/* V = B^T d B for 4 tiles side by side, tx = 4 q .. 4 q + 3, of tile row ty
 * of one plane of x (H x W) times scale, into v[36] (position xi = 6 i + j).
 * The 4 tiles are the lanes of float4s: their 6 x 18 input pixels are read once,
 * row by row (zero outside the image), and column j of the tiles is lanes
 * j, 4 + j, 8 + j, 12 + j of a row. */
static void input_tiles(__global const float *plane, float scale, int H, int W, int y0, int x0, float4 v[36])
{
    float4 d[6][6];
    WINO_UNROLL
    for (int i = 0; i < 6; i++) {
        const int yy = y0 + i;
        float r[18];
        const float row_scale = yy >= 0 && yy < H ? scale : 0.0f;
        __global const float *row = plane + clamp(yy, 0, H - 1) * W;
        WINO_UNROLL
        for (int j = 0; j < 18; j++) {
            const int xx = x0 + j;
            r[j] = (xx >= 0 && xx < W ? row_scale : 0.0f) * row[clamp(xx, 0, W - 1)];
        }
        WINO_UNROLL
        for (int j = 0; j < 6; j++)
            d[i][j] = (float4)(r[j], r[4 + j], r[8 + j], r[12 + j]);
    }
    float4 t[6][6]; /* t = B^T d, column by column */
    WINO_UNROLL
    for (int j = 0; j < 6; j++) {
        float4 c[6] = {d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j]}, r[6];
        WINO_BT(r, c);
        WINO_UNROLL
        for (int i = 0; i < 6; i++)
            t[i][j] = r[i];
    }
    WINO_UNROLL
    for (int i = 0; i < 6; i++) { /* V = t B, row by row */
        float4 r[6];
        WINO_BT(r, t[i]);
        WINO_UNROLL
        for (int j = 0; j < 6; j++)
            v[i * 6 + j] = r[j];
    }
}

/* V of tiles 4 q .. 4 q + 3 (gid 0 = q) of tile row ty (gid 1) of plane
 * n * C + ci (gid 2) of x[N, C, H, W], times in_scale[plane] when
 * has_scale (a modulated conv's styles), as the forward's GEMM reads it:
 * rows of A, ap[36][ceil(P / GMR)][C][GMR] (xi_stride apart). Rows of the
 * last panel past P are left as they are: the GEMM's rows past P are never
 * stored. */
__kernel void winograd_input(int C, int H, int W, int pad_y, int pad_x, int TY, int TX, int xi_stride,
                             __global const float *x, int x_off, __global const float *in_scale, int scale_off,
                             int has_scale, __global float *ap)
{
    const int q = get_global_id(0), ty = get_global_id(1), plane_i = get_global_id(2);
    if (4 * q >= TX)
        return;
    const int n = plane_i / C, ci = plane_i % C;
    float4 v[36];
    const float scale = has_scale ? in_scale[scale_off + plane_i] : 1.0f;
    input_tiles(x + x_off + plane_i * H * W, scale, H, W, 4 * ty - pad_y, 16 * q - pad_x, v);
    const int p0 = (n * TY + ty) * TX + 4 * q;
    /* the 4 tiles in one row of tiles and one panel: one vector store each */
    const int whole = 4 * q + 4 <= TX && p0 % GMR + 4 <= GMR;
    __global float *dst = ap + ((p0 / GMR) * C + ci) * GMR + p0 % GMR;
    WINO_UNROLL
    for (int xi = 0; xi < 36; xi++) {
        if (whole) {
            vstore4(v[xi], 0, dst + xi * xi_stride);
        } else {
            float lane[4];
            vstore4(v[xi], 0, lane);
            for (int l = 0; l < 4 && 4 * q + l < TX; l++) {
                const int p = p0 + l;
                ap[xi * xi_stride + ((p / GMR) * C + ci) * GMR + p % GMR] = lane[l];
            }
        }
    }
}

/* The same V as the weight gradient's GEMM reads it: the tiles are its K,
 * the input channels its columns, bp[36][ceil(C / GV)][P][GV] (xi_stride
 * apart). */
__kernel void winograd_input_k(int C, int H, int W, int pad_y, int pad_x, int TY, int TX, int P, int xi_stride,
                               __global const float *x, int x_off, __global float *bp)
{
    const int q = get_global_id(0), ty = get_global_id(1), plane_i = get_global_id(2);
    if (4 * q >= TX)
        return;
    const int n = plane_i / C, ci = plane_i % C;
    float4 v[36];
    input_tiles(x + x_off + plane_i * H * W, 1.0f, H, W, 4 * ty - pad_y, 16 * q - pad_x, v);
    const int p0 = (n * TY + ty) * TX + 4 * q, lanes = min(4, TX - 4 * q);
    __global float *dst = bp + ((ci / GV) * P + p0) * GV + ci % GV;
    WINO_UNROLL
    for (int xi = 0; xi < 36; xi++) {
        float lane[4];
        vstore4(v[xi], 0, lane);
        WINO_UNROLL
        for (int l = 0; l < 4; l++)
            if (l < lanes)
                dst[xi * xi_stride + l * GV] = lane[l];
    }
}

/* r = G v for one column or row of three values. */
#define WINO_G(r, v)                                                         \
    do {                                                                     \
        r[0] = 0.25f * v[0];                                                 \
        r[1] = (v[0] + v[1] + v[2]) * (-1.0f / 6.0f);                        \
        r[2] = (v[0] - v[1] + v[2]) * (-1.0f / 6.0f);                        \
        r[3] = v[0] * (1.0f / 24.0f) + v[1] * (1.0f / 12.0f) + v[2] * (1.0f / 6.0f); \
        r[4] = v[0] * (1.0f / 24.0f) - v[1] * (1.0f / 12.0f) + v[2] * (1.0f / 6.0f); \
        r[5] = v[2];                                                         \
    } while (0)

/* U for output channels 4 c .. 4 c + 3 (gid 0 = c; the lanes of float4s)
 * and input channel ci (gid 1); bp[36][ceil(Cout / GV)][Cin][GV]
 * (xi_stride apart). The filter is
 * w[co][ci] of w[Cout, Cin, 3, 3], or with flip = 1 w[ci][co] of
 * w[Cin, Cout, 3, 3] turned by 180 degrees (conv_transpose2d at stride 1).
 * Columns of the last panel past Cout are left as they are: the GEMM's
 * columns past Cout are never stored. */
__kernel void winograd_weight(int Cin, int Cout, int flip, int xi_stride, __global const float *w, int w_off,
                              __global float *bp)
{
    const int c = get_global_id(0), ci = get_global_id(1), co0 = 4 * c;
    if (co0 >= Cout || ci >= Cin)
        return;
    float g[4][9]; /* per lane, taps in conv2d order */
    WINO_UNROLL
    for (int l = 0; l < 4; l++) {
        const int co = min(co0 + l, Cout - 1); /* lanes past Cout repeat the last filter */
        __global const float *src = w + w_off + (flip ? ci * Cout + co : co * Cin + ci) * 9;
        WINO_UNROLL
        for (int i = 0; i < 9; i++)
            g[l][i] = src[flip ? 8 - i : i];
    }
    float4 t[6][3]; /* t = G g, column by column */
    WINO_UNROLL
    for (int j = 0; j < 3; j++) {
        float4 v[3], r[6];
        WINO_UNROLL
        for (int i = 0; i < 3; i++)
            v[i] = (float4)(g[0][i * 3 + j], g[1][i * 3 + j], g[2][i * 3 + j], g[3][i * 3 + j]);
        WINO_G(r, v);
        WINO_UNROLL
        for (int i = 0; i < 6; i++)
            t[i][j] = r[i];
    }
    /* GV is a multiple of 4, so the 4 channels share a panel */
    __global float *dst = bp + ((co0 / GV) * Cin + ci) * GV + co0 % GV;
    WINO_UNROLL
    for (int i = 0; i < 6; i++) { /* U = t G^T, row by row */
        float4 r[6];
        WINO_G(r, t[i]);
        WINO_UNROLL
        for (int j = 0; j < 6; j++)
            vstore4(r[j], 0, dst + (i * 6 + j) * xi_stride);
    }
}

/* e[0 .. lanes - 1] as a float4, zero past them (the last channels of a
 * count that 4 does not divide). Spelled out element by element: PoCL
 * compiled vload4 here into two 8-byte loads and a shuffle. */
static float4 load_lanes(__global const float *e, int lanes)
{
    if (lanes == 4)
        return (float4)(e[0], e[1], e[2], e[3]);
    return (float4)(e[0], lanes > 1 ? e[1] : 0.0f, lanes > 2 ? e[2] : 0.0f, 0.0f);
}

/* r = A^T v for one column or row of six values. */
#define WINO_AT(r, v)                                                        \
    do {                                                                     \
        r[0] = v[0] + v[1] + v[2] + v[3] + v[4];                             \
        r[1] = v[1] - v[2] + 2.0f * (v[3] - v[4]);                           \
        r[2] = v[1] + v[2] + 4.0f * (v[3] + v[4]);                           \
        r[3] = v[1] - v[2] + 8.0f * (v[3] - v[4]) + v[5];                    \
    } while (0)

/* Y for output channels 4 c .. 4 c + 3 (gid 0 = c; the lanes of float4s)
 * and tile p (gid 1) from m[36][P][Cout]
 * (xi_stride apart) into y[N, Cout, Ho, Wo]; tiles on
 * the last row or column store only the outputs inside. */
__kernel void winograd_output(int Cout, int Ho, int Wo, int TY, int TX, int P, int xi_stride,
                              __global const float *m, __global float *y, int y_off)
{
    const int c = get_global_id(0), p = get_global_id(1), co0 = 4 * c;
    if (co0 >= Cout || p >= P)
        return;
    const int tiles = TY * TX, n = p / tiles, ty = p % tiles / TX, tx = p % TX;
    const int lanes = min(4, Cout - co0);
    __global const float *src = m + p * Cout + co0;
    float4 t[4][6]; /* t = A^T M, column by column */
    WINO_UNROLL
    for (int j = 0; j < 6; j++) {
        float4 v[6], r[4];
        WINO_UNROLL
        for (int i = 0; i < 6; i++) {
            v[i] = load_lanes(src + (i * 6 + j) * xi_stride, lanes);
        }
        WINO_AT(r, v);
        WINO_UNROLL
        for (int i = 0; i < 4; i++)
            t[i][j] = r[i];
    }
    const int plane = Ho * Wo;
    __global float *dst = y + y_off + ((n * Cout + co0) * Ho + 4 * ty) * Wo + 4 * tx;
    const int rows = min(4, Ho - 4 * ty), cols = min(4, Wo - 4 * tx);
    /* a whole tile of 4 channels: each channel's row of 4 outputs stored
     * side by side (the lanes transposed; stored lane by lane, each a
     * scalar store behind a bounds test, the kernel ran 1.1x slower) */
    if (rows == 4 && cols == 4 && lanes == 4) {
        WINO_UNROLL
        for (int i = 0; i < 4; i++) {
            float4 r[4];
            WINO_AT(r, t[i]);
            __global float *o = dst + i * Wo;
            o[0] = r[0].s0; o[1] = r[1].s0; o[2] = r[2].s0; o[3] = r[3].s0;
            o += plane;
            o[0] = r[0].s1; o[1] = r[1].s1; o[2] = r[2].s1; o[3] = r[3].s1;
            o += plane;
            o[0] = r[0].s2; o[1] = r[1].s2; o[2] = r[2].s2; o[3] = r[3].s2;
            o += plane;
            o[0] = r[0].s3; o[1] = r[1].s3; o[2] = r[2].s3; o[3] = r[3].s3;
        }
        return;
    }
    WINO_UNROLL
    for (int i = 0; i < 4; i++) { /* Y = t A, row by row */
        float4 r[4];
        WINO_AT(r, t[i]);
        WINO_UNROLL
        for (int j = 0; j < 4; j++) {
            if (i >= rows || j >= cols)
                continue;
            float lane[4];
            vstore4(r[j], 0, lane);
            WINO_UNROLL
            for (int l = 0; l < 4; l++)
                if (l < lanes)
                    dst[l * plane + i * Wo + j] = lane[l];
        }
    }
}

/* ---- the weight gradient ------------------------------------------------
 *
 * The forward is linear in g, y = A^T [(G g G^T) . V] A summed over input
 * channels, so its adjoint gives dW = G^T [Z . V] G summed over tiles,
 * with Z = A dy A^T the 4x4 output gradient of each tile spread to 6x6:
 * the same V, a GEMM over tiles at each of the 36 positions, and G^T on
 * the way out. */

/* r = A v for one column or row of four values. */
#define WINO_A(r, v)                                                         \
    do {                                                                     \
        r[0] = v[0];                                                         \
        r[1] = v[0] + v[1] + v[2] + v[3];                                    \
        r[2] = v[0] - v[1] + v[2] - v[3];                                    \
        r[3] = v[0] + 2.0f * v[1] + 4.0f * v[2] + 8.0f * v[3];               \
        r[4] = v[0] - 2.0f * v[1] + 4.0f * v[2] - 8.0f * v[3];               \
        r[5] = v[3];                                                         \
    } while (0)

/* Z of output channels 4 c .. 4 c + 3 (gid 0 = c; float4 lanes) for tile p
 * (gid 1) of dy[N, Cout, Ho, Wo] (zero outside it), as rows of the GEMM's
 * A: ap[36][ceil(Cout / GMR)][P][GMR] (xi_stride apart). Lanes past Cout
 * repeat the last channel: the GEMM's rows past Cout are never stored. */
__kernel void winograd_grad_output(int Cout, int Ho, int Wo, int TY, int TX, int P, int xi_stride,
                                   __global const float *dy, int dy_off, __global float *ap)
{
    const int c = get_global_id(0), p = get_global_id(1), co0 = 4 * c;
    if (co0 >= Cout || p >= P)
        return;
    const int tiles = TY * TX, n = p / tiles, ty = p % tiles / TX, tx = p % TX;
    const int rows = min(4, Ho - 4 * ty), cols = min(4, Wo - 4 * tx), plane = Ho * Wo;
    __global const float *src = dy + dy_off + (n * Cout) * plane + (4 * ty) * Wo + 4 * tx;
    float4 g[4][4];
    WINO_UNROLL
    for (int i = 0; i < 4; i++)
        WINO_UNROLL
        for (int j = 0; j < 4; j++) {
            float lane[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            if (i < rows && j < cols)
                WINO_UNROLL
                for (int l = 0; l < 4; l++)
                    lane[l] = src[min(co0 + l, Cout - 1) * plane + i * Wo + j];
            g[i][j] = vload4(0, lane);
        }
    float4 t[6][4]; /* t = A g, column by column */
    WINO_UNROLL
    for (int j = 0; j < 4; j++) {
        float4 v[4] = {g[0][j], g[1][j], g[2][j], g[3][j]}, r[6];
        WINO_A(r, v);
        WINO_UNROLL
        for (int i = 0; i < 6; i++)
            t[i][j] = r[i];
    }
    /* GMR is a multiple of 4, so the 4 channels share a panel */
    __global float *dst = ap + ((co0 / GMR) * P + p) * GMR + co0 % GMR;
    WINO_UNROLL
    for (int i = 0; i < 6; i++) { /* Z = t A^T, row by row */
        float4 r[6];
        WINO_A(r, t[i]);
        WINO_UNROLL
        for (int j = 0; j < 6; j++)
            vstore4(r[j], 0, dst + (i * 6 + j) * xi_stride);
    }
}

/* r = G^T u for one column or row of six values. */
#define WINO_GT(r, u)                                                                                      \
    do {                                                                                                   \
        r[0] = 0.25f * u[0] - (u[1] + u[2]) * (1.0f / 6.0f) + (u[3] + u[4]) * (1.0f / 24.0f);          \
        r[1] = (u[2] - u[1]) * (1.0f / 6.0f) + (u[3] - u[4]) * (1.0f / 12.0f);                          \
        r[2] = (u[3] + u[4] - u[1] - u[2]) * (1.0f / 6.0f) + u[5];                                       \
    } while (0)

/* dw[co][ci] (3x3) = G^T dU G for input channels 4 c .. 4 c + 3 (gid 0 = c;
 * float4 lanes) and output channel co (gid 1), from du[36][Cout][Cin]
 * (xi_stride apart), into dw[Cout, Cin, 3, 3]. */
__kernel void winograd_grad_filter(int Cin, int Cout, int xi_stride, __global const float *du,
                                   __global float *dw, int dw_off)
{
    const int c = get_global_id(0), co = get_global_id(1), ci0 = 4 * c;
    if (ci0 >= Cin || co >= Cout)
        return;
    const int lanes = min(4, Cin - ci0);
    __global const float *src = du + co * Cin + ci0;
    float4 t[3][6]; /* t = G^T dU, column by column */
    WINO_UNROLL
    for (int j = 0; j < 6; j++) {
        float4 u[6], r[3];
        WINO_UNROLL
        for (int i = 0; i < 6; i++) {
            u[i] = load_lanes(src + (i * 6 + j) * xi_stride, lanes);
        }
        WINO_GT(r, u);
        WINO_UNROLL
        for (int i = 0; i < 3; i++)
            t[i][j] = r[i];
    }
    __global float *dst = dw + dw_off + (co * Cin + ci0) * 9;
    WINO_UNROLL
    for (int i = 0; i < 3; i++) { /* dW = t G, row by row */
        float4 r[3];
        WINO_GT(r, t[i]);
        WINO_UNROLL
        for (int j = 0; j < 3; j++) {
            float lane[4];
            vstore4(r[j], 0, lane);
            WINO_UNROLL
            for (int l = 0; l < 4; l++)
                if (l < lanes)
                    dst[l * 9 + i * 3 + j] = lane[l];
        }
    }
}
