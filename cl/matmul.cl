/* Our own GEMM: C[b] = op(A[b]) @ op(B[b]), row-major, float32.
 *
 * A register-tiled kernel in the style of CLBlast's xgemm (and Cedric
 * Nugteren's SGEMM tutorial): a work-group computes a TSM x TSN tile of C,
 * each work-item WPTM x WPTN of its outputs, strided by the work-group's
 * extent so neighbouring work-items touch neighbouring columns. K is walked
 * in TSK-deep slices staged in local memory.
 *
 * Transposes are expressed through strides, so one kernel serves all four
 * combinations: op(A)[m][k] = a[m * a_sm + k * a_sk] and
 * op(B)[k][n] = b[k * b_sk + n * b_sn]. The batch index is global id 2.
 *
 * The work-group must be (TSN / WPTN, TSM / WPTM, 1); the host derives it
 * from the same macros. Local memory: TSK * (TSM + TSN) floats (4 KiB at the
 * defaults). Results are deterministic: a fixed summation order, no atomics. */

#ifndef TSM
#define TSM 32 /* rows of C per work-group */
#endif
#ifndef TSN
#define TSN 32 /* columns of C per work-group */
#endif
#ifndef TSK
#define TSK 16 /* depth of the K slice held in local memory */
#endif
#ifndef WPTM
#define WPTM 4 /* rows of C per work-item */
#endif
#ifndef WPTN
#define WPTN 4 /* columns of C per work-item */
#endif

#define RTSM (TSM / WPTM)  /* work-group extent along M (local id 1) */
#define RTSN (TSN / WPTN)  /* work-group extent along N (local id 0) */
#define GEMM_WG (RTSM * RTSN)

__kernel void gemm_tiled(int M, int N, int K,
                         __global const float *a, int a_off, int a_sm, int a_sk, int a_sb,
                         __global const float *b, int b_off, int b_sk, int b_sn, int b_sb,
                         __global float *c, int c_off, int c_sb)
{
    __local float As[TSK][TSM];
    __local float Bs[TSK][TSN];
    const int tn = get_local_id(0);
    const int tm = get_local_id(1);
    const int lid = tm * RTSN + tn;
    const int n0 = get_group_id(0) * TSN;
    const int m0 = get_group_id(1) * TSM;
    const int batch = get_global_id(2);
    const int a_base = a_off + batch * a_sb;
    const int b_base = b_off + batch * b_sb;

    float acc[WPTM][WPTN];
    for (int wm = 0; wm < WPTM; wm++)
        for (int wn = 0; wn < WPTN; wn++)
            acc[wm][wn] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += TSK) {
        /* Stage the slices; out-of-range entries are zero so the inner loop
         * needs no bounds checks. */
        for (int i = lid; i < TSK * TSM; i += GEMM_WG) {
            int kk = i / TSM, mm = i % TSM;
            int gm = m0 + mm, gk = k0 + kk;
            As[kk][mm] = (gm < M && gk < K) ? a[a_base + gm * a_sm + gk * a_sk] : 0.0f;
        }
        for (int i = lid; i < TSK * TSN; i += GEMM_WG) {
            int kk = i / TSN, nn = i % TSN;
            int gn = n0 + nn, gk = k0 + kk;
            Bs[kk][nn] = (gn < N && gk < K) ? b[b_base + gk * b_sk + gn * b_sn] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < TSK; kk++) {
            float breg[WPTN];
            for (int wn = 0; wn < WPTN; wn++)
                breg[wn] = Bs[kk][tn + wn * RTSN];
            for (int wm = 0; wm < WPTM; wm++) {
                float areg = As[kk][tm + wm * RTSM];
                for (int wn = 0; wn < WPTN; wn++)
                    acc[wm][wn] += areg * breg[wn];
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    const int c_base = c_off + batch * c_sb;
    for (int wm = 0; wm < WPTM; wm++) {
        int gm = m0 + tm + wm * RTSM;
        if (gm >= M)
            continue;
        for (int wn = 0; wn < WPTN; wn++) {
            int gn = n0 + tn + wn * RTSN;
            if (gn < N)
                c[c_base + gm * N + gn] = acc[wm][wn];
        }
    }
}

/* ---- gemm_vec: packed panels, vectors along N, no local memory ---------
 *
 * For devices where local memory is ordinary cached memory (CPUs: PoCL) and
 * wide vectors are what makes SIMD code. gemm_pack first copies op(A) into
 * panels of GMR rows and op(B) into panels of GV columns, each stored
 * k-major ([panel][k][lane], zero past the matrix), so the product streams
 * through contiguous memory whatever the stored layouts and leading
 * dimensions (a power-of-two stride between successive k would map every
 * access to one cache set). A work-item then computes GMR rows x GV columns
 * of C, one GV-wide vector per row: per k, one vector load of the B panel
 * and GMR loads of the A panel broadcast into multiply-adds.
 * Matrices of a batch lie a_sb, b_sb and c_sb floats apart (more than
 * one matrix's panels when a caller pads them off a power of two).
 * With GVN > 1 a work-item takes GVN adjacent panels of B: GMR x GVN
 * vectors, each A value loaded once for GVN multiply-adds.
 * Range of gemm_vec: (ceil(N / (GV GVN)), ceil(M / GMR), batch). */

#ifndef GV
#define GV 16  /* columns per work-item, one vector: 4, 8 or 16 */
#endif
#ifndef GMR
#define GMR 16 /* rows per work-item */
#endif
#ifndef GVN
#define GVN 1  /* B panels (GV-column vectors) per work-item */
#endif

#if GV == 4
typedef float4 gvfloat;
#define GVLOAD vload4
#define GVSTORE vstore4
#elif GV == 8
typedef float8 gvfloat;
#define GVLOAD vload8
#define GVSTORE vstore8
#elif GV == 16
typedef float16 gvfloat;
#define GVLOAD vload16
#define GVSTORE vstore16
#else
#error "GV must be 4, 8 or 16"
#endif

/* Register tiles need their loops unrolled; see cl/conv_tiled.cl. */
#define GEMM_UNROLL _Pragma("unroll")

/* p[batch][panel][k][lane] = src[batch * s_b + k * s_k + (panel * lanes + lane) * s_j],
 * zero where panel * lanes + lane >= J. One work-item per run of `lanes`
 * (batch, panel, k): the index arithmetic once per run rather than per
 * element, which cost more than the copy. */
__kernel void gemm_pack(int batch, int K, int J, int lanes,
                        __global const float *src, int s_off, int s_k, int s_j, int s_b,
                        __global float *p)
{
    int panels = (J + lanes - 1) / lanes;
    int run = get_global_id(0);
    if (run >= batch * panels * K)
        return;
    int k = run % K, t = run / K;
    int panel = t % panels, b = t / panels;
    int j0 = panel * lanes, n = min(lanes, J - j0);
    __global const float *s = src + s_off + b * s_b + k * s_k + j0 * s_j;
    __global float *d = p + run * lanes;
    for (int l = 0; l < n; l++)
        d[l] = s[l * s_j];
    for (int l = n; l < lanes; l++)
        d[l] = 0.0f;
}

__kernel void gemm_vec(int M, int N, int K,
                       __global const float *ap, int a_sb, __global const float *bp, int b_sb,
                       __global float *c, int c_off, int c_sb)
{
    const int nb = get_global_id(0), mb = get_global_id(1), batch = get_global_id(2);
    const int n0 = nb * GVN * GV, m0 = mb * GMR;
    if (n0 >= N || m0 >= M)
        return;
    const int last_panel = (N - 1) / GV;
    __global const float *a = ap + batch * a_sb + mb * K * GMR;
    __global const float *b[GVN];
    GEMM_UNROLL
    for (int v = 0; v < GVN; v++) /* panels past N read the last one: their sums are not stored */
        b[v] = bp + batch * b_sb + min(nb * GVN + v, last_panel) * K * GV;

    gvfloat acc[GMR][GVN];
    GEMM_UNROLL
    for (int r = 0; r < GMR; r++)
        GEMM_UNROLL
        for (int v = 0; v < GVN; v++)
            acc[r][v] = (gvfloat)(0.0f);
    for (int k = 0; k < K; k++) {
        gvfloat bv[GVN];
        GEMM_UNROLL
        for (int v = 0; v < GVN; v++)
            bv[v] = GVLOAD(k, b[v]);
        GEMM_UNROLL
        for (int r = 0; r < GMR; r++) {
            const float ar = a[k * GMR + r];
            GEMM_UNROLL
            for (int v = 0; v < GVN; v++)
                acc[r][v] += ar * bv[v];
        }
    }

    GEMM_UNROLL
    for (int v = 0; v < GVN; v++) {
        const int nv = n0 + v * GV;
        if (nv >= N)
            break;
        __global float *cp = c + c_off + batch * c_sb + m0 * N + nv;
        GEMM_UNROLL
        for (int r = 0; r < GMR; r++) {
            if (m0 + r >= M)
                continue;
            if (nv + GV <= N) {
                GVSTORE(acc[r][v], 0, cp + r * N);
            } else {
                float t[GV];
                GVSTORE(acc[r][v], 0, t);
                for (int j = 0; nv + j < N; j++)
                    cp[r * N + j] = t[j];
            }
        }
    }
}

/* ---- small products, straight from the stored layouts ------------------
 *
 * A batch-8 fully connected layer is an [8, K] x [K, N] product: packing
 * both operands for gemm_vec cost more than the product itself. These two
 * kernels read op(A)[m][k] = a[a_off + batch * a_sb + m * a_sm + k * a_sk]
 * and op(B)[k][n] = b[b_off + batch * b_sb + k * b_sk + n * b_sn] in place
 * and write C[batch][m][n] (c_sb floats per batch). */

/* Rows GSR_ROWS gid 1 .. of C, columns 16 gid 0 .. + 15: each B row strip,
 * read along n (a vector when b_sn is 1), serves GSR_ROWS rows (one row per
 * work-item re-read a [256, 4096] B eight times from beyond L2 at batch 8;
 * the host takes fewer rows when that leaves too few work-items). Rows past
 * M repeat the last one: their sums are not stored. Range (ceil(N / 16),
 * ceil(M / GSR_ROWS), batch). */
#ifndef GSR_ROWS
#define GSR_ROWS 1
#endif
__kernel void gemm_small_rows(int M, int N, int K, __global const float *a, int a_off, int a_sm, int a_sk, int a_sb,
                              __global const float *b, int b_off, int b_sk, int b_sn, int b_sb, __global float *c,
                              int c_off, int c_sb)
{
    const int n0 = get_global_id(0) * 16, m0 = get_global_id(1) * GSR_ROWS, batch = get_global_id(2);
    if (n0 >= N || m0 >= M)
        return;
    const int last = N - 1;
    __global const float *ab = a + a_off + batch * a_sb;
    __global const float *ar[GSR_ROWS];
#pragma unroll
    for (int r = 0; r < GSR_ROWS; r++)
        ar[r] = ab + min(m0 + r, M - 1) * a_sm;
    __global const float *bb = b + b_off + batch * b_sb;
    float16 acc[GSR_ROWS];
#pragma unroll
    for (int r = 0; r < GSR_ROWS; r++)
        acc[r] = (float16)(0.0f);
    const int contiguous = b_sn == 1 && n0 + 16 <= N;
    for (int k = 0; k < K; k++) {
        __global const float *br = bb + k * b_sk;
        float16 bv;
        if (contiguous) {
            /* spelled out: one vector load, see upfirdn2d's lanes8 */
            br += n0;
            bv = (float16)(br[0], br[1], br[2], br[3], br[4], br[5], br[6], br[7], br[8], br[9], br[10], br[11],
                           br[12], br[13], br[14], br[15]);
        } else {
            /* columns past N repeat the last one: their sums are not stored */
            bv = (float16)(br[min(n0, last) * b_sn], br[min(n0 + 1, last) * b_sn], br[min(n0 + 2, last) * b_sn],
                           br[min(n0 + 3, last) * b_sn], br[min(n0 + 4, last) * b_sn], br[min(n0 + 5, last) * b_sn],
                           br[min(n0 + 6, last) * b_sn], br[min(n0 + 7, last) * b_sn], br[min(n0 + 8, last) * b_sn],
                           br[min(n0 + 9, last) * b_sn], br[min(n0 + 10, last) * b_sn],
                           br[min(n0 + 11, last) * b_sn], br[min(n0 + 12, last) * b_sn],
                           br[min(n0 + 13, last) * b_sn], br[min(n0 + 14, last) * b_sn],
                           br[min(n0 + 15, last) * b_sn]);
        }
#pragma unroll
        for (int r = 0; r < GSR_ROWS; r++)
            acc[r] += ar[r][k * a_sk] * bv;
    }
    /* a constant trip count, so acc stays in registers */
#pragma unroll
    for (int r = 0; r < GSR_ROWS; r++) {
        if (m0 + r >= M)
            break;
        float out[16];
        vstore16(acc[r], 0, out);
        __global float *cr = c + c_off + batch * c_sb + (m0 + r) * N + n0;
        for (int j = 0; j < 16 && n0 + j < N; j++)
            cr[j] = out[j];
    }
}

/* Column n (gid 0) of C, rows 8 gid 1 .. + 7, when both operands run along
 * k (a_sk = b_sk = 1, which the host checks: x w^T, a layer's forward): 8
 * dot products over k in 8-float blocks. The same arguments as
 * gemm_small_rows. Range (N, ceil(M / 8), batch). */
__kernel void gemm_small_dots(int M, int N, int K, __global const float *a, int a_off, int a_sm, int a_sk, int a_sb,
                              __global const float *b, int b_off, int b_sk, int b_sn, int b_sb, __global float *c,
                              int c_off, int c_sb)
{
    const int n = get_global_id(0), m0 = get_global_id(1) * 8, batch = get_global_id(2);
    (void)a_sk; /* both 1 */
    (void)b_sk;
    if (n >= N || m0 >= M)
        return;
    __global const float *bc = b + b_off + batch * b_sb + n * b_sn;
    __global const float *ab = a + a_off + batch * a_sb;
    float8 acc[8];
    for (int r = 0; r < 8; r++)
        acc[r] = (float8)(0.0f);
    const int whole = K / 8 * 8;
    for (int k = 0; k < whole; k += 8) {
        __global const float *bk = bc + k;
        float8 bv = (float8)(bk[0], bk[1], bk[2], bk[3], bk[4], bk[5], bk[6], bk[7]);
#pragma unroll
        for (int r = 0; r < 8; r++) {
            /* rows past M repeat the last one: their sums are not stored */
            __global const float *ak = ab + min(m0 + r, M - 1) * a_sm + k;
            acc[r] += (float8)(ak[0], ak[1], ak[2], ak[3], ak[4], ak[5], ak[6], ak[7]) * bv;
        }
    }
    __global float *cc = c + c_off + batch * c_sb + n;
    for (int r = 0; r < 8 && m0 + r < M; r++) {
        float4 h = acc[r].lo + acc[r].hi;
        float s = (h.s0 + h.s1) + (h.s2 + h.s3);
        __global const float *am = ab + (m0 + r) * a_sm;
        for (int k = whole; k < K; k++)
            s += am[k] * bc[k];
        cc[(m0 + r) * N] = s;
    }
}
