/* Reference matmul, minibatch standard deviation, and the Philox random streams. */
#include "src/ref/ref.h"

#include <math.h>
#include <string.h>

/* ---- matmul ------------------------------------------------------------- */

/* Element (i, k) of op(A) for A stored [rows, cols] as op(A) is [rows', cols']:
 * transposing only swaps which index strides by the row length. */
static double at(const double *a, int i, int k, int ld, int trans)
{
    return trans ? a[(long)k * ld + i] : a[(long)i * ld + k];
}

void sg2_ref_matmul(double *c,       /* [M, N] */
                    const double *a, /* [M, K], or [K, M] when ta */
                    const double *b, /* [K, N], or [N, K] when tb */
                    int M, int N, int K, int ta, int tb)
{
    int lda = ta ? M : K, ldb = tb ? K : N;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++)
                acc += at(a, i, k, lda, ta) * at(b, k, j, ldb, tb);
            c[(long)i * N + j] = acc;
        }
}

/* ---- minibatch standard deviation --------------------------------------- */

/* Standard deviation over the G group members of one element: member g of
 * sample slot m is batch index g * (N/G) + m, so members sit `stride` apart. */
static double group_std(const double *x, int G, long stride)
{
    double mean = 0, var = 0;
    for (int g = 0; g < G; g++)
        mean += x[g * stride];
    mean /= G;
    for (int g = 0; g < G; g++) {
        double d = x[g * stride] - mean;
        var += d * d;
    }
    /* Population variance (mean over G, not G-1), and 1e-8 keeps sqrt
     * differentiable when the group agrees exactly. */
    return sqrt(var / G + 1e-8);
}

/* s for slot m and feature f: the group std averaged over that feature's
 * C/F channels and all pixels. */
static double mbstd_stat(const double *x, int N, int C, int H, int W, int G, int F, int m, int f)
{
    int cf = C / F;
    long plane = (long)H * W, sample = (long)C * plane, stride = (long)(N / G) * sample;
    const double *base = x + m * sample + (long)f * cf * plane;
    double acc = 0;
    for (long e = 0; e < cf * plane; e++)
        acc += group_std(base + e, G, stride);
    return acc / (double)(cf * plane);
}

void sg2_ref_mbstd(double *y,       /* [N, C + nfeat, H, W] */
                   const double *x, /* [N, C, H, W] */
                   int N, int C, int H, int W, int group, int nfeat)
{
    int G = group < N ? group : N, M = N / G;
    long plane = (long)H * W;
    for (int n = 0; n < N; n++)
        memcpy(y + (long)n * (C + nfeat) * plane, x + (long)n * C * plane, sizeof(double) * (size_t)(C * plane));
    for (int m = 0; m < M; m++)
        for (int f = 0; f < nfeat; f++) {
            double s = mbstd_stat(x, N, C, H, W, G, nfeat, m, f);
            /* Every group member of slot m gets the same statistic. */
            for (int n = m; n < N; n += M) {
                double *dst = y + ((long)n * (C + nfeat) + C + f) * plane;
                for (long e = 0; e < plane; e++)
                    dst[e] = s;
            }
        }
}

/* ---- Philox4x32-10 ------------------------------------------------------ */

enum { PHILOX_ROUNDS = 10 };
#define PHILOX_M0 UINT32_C(0xD2511F53)
#define PHILOX_M1 UINT32_C(0xCD9E8D57)
#define PHILOX_W0 UINT32_C(0x9E3779B9)
#define PHILOX_W1 UINT32_C(0xBB67AE85)

static void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

/* One Philox S-box round: two 32x32->64 multiplies, the high halves mixed
 * with the other two words and the round key, the words permuted. */
static void philox_round(uint32_t c[4], const uint32_t k[2])
{
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(PHILOX_M0, c[0], &hi0, &lo0);
    mulhilo(PHILOX_M1, c[2], &hi1, &lo1);
    uint32_t r0 = hi1 ^ c[1] ^ k[0], r2 = hi0 ^ c[3] ^ k[1];
    c[0] = r0;
    c[1] = lo1;
    c[2] = r2;
    c[3] = lo0;
}

void sg2_ref_philox4x32_10(uint32_t out[4],       /* [4] */
                           const uint32_t ctr[4], /* [4] */
                           const uint32_t key[2]) /* [2] */
{
    uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]}, k[2] = {key[0], key[1]};
    for (int r = 0; r < PHILOX_ROUNDS; r++) {
        /* The key schedule is a Weyl sequence, bumped between rounds (the
         * first round uses the key as given). */
        if (r > 0) {
            k[0] += PHILOX_W0;
            k[1] += PHILOX_W1;
        }
        philox_round(c, k);
    }
    memcpy(out, c, sizeof c);
}

/* The four words of the stream block at counter q, stream tag `tag` in ctr2. */
static void stream_block(uint32_t w[4], uint64_t seed, uint64_t q, uint32_t tag)
{
    const uint32_t ctr[4] = {(uint32_t)q, (uint32_t)(q >> 32), tag, 0};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    sg2_ref_philox4x32_10(w, ctr, key);
}

/* 24 bits are all a float32 mantissa holds, so every device gets the same
 * float from a word: (word >> 8) / 2^24 is exact in float. */
static double unit24(uint32_t word)
{
    return (double)(word >> 8) * (1.0 / 16777216.0);
}

void sg2_ref_rand_uniform(double *out, /* [n] */
                          long n, uint64_t seed, uint64_t offset)
{
    for (long i = 0; i < n; i++) {
        uint64_t j = offset + (uint64_t)i;
        uint32_t w[4];
        stream_block(w, seed, j / 4, 0);
        out[i] = unit24(w[j % 4]);
    }
}

void sg2_ref_rand_normal(double *out, /* [n] */
                         long n, uint64_t seed, uint64_t offset)
{
    const double two_pi = 6.283185307179586476925286766559;
    for (long i = 0; i < n; i++) {
        uint64_t j = offset + (uint64_t)i, p = j / 2;
        uint32_t w[4];
        stream_block(w, seed, p / 2, 1);
        int k = 2 * (int)(p % 2);
        /* u1 in (0, 1] keeps log finite; u2 in [0, 1) gives the angle. */
        double u1 = unit24(w[k]) + 1.0 / 16777216.0, u2 = unit24(w[k + 1]);
        double r = sqrt(-2.0 * log(u1));
        out[i] = (j % 2 == 0) ? r * cos(two_pi * u2) : r * sin(two_pi * u2);
    }
}
