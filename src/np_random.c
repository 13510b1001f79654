/* numpy's legacy RandomState stream (see np_random.h for why bit equality
 * holds). The generator is the standard MT19937 of Matsumoto and Nishimura;
 * the conversions follow numpy's legacy distributions. */
#include "src/np_random.h"

#include <math.h>

/* Exact results need each product and sum rounded on its own (no fma):
 * GCC keeps -ffp-contract off under -std=c11; clang needs telling. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define MT_M 397
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UPPER 0x80000000u
#define MT_LOWER 0x7fffffffu

void sg2_np_random_seed(sg2_np_random *r, uint32_t seed)
{
    /* init_genrand; numpy's legacy seeding also forgets a cached normal. */
    uint32_t s = seed;
    for (int i = 0; i < SG2_NP_MT_N; i++) {
        r->key[i] = s;
        s = 1812433253u * (s ^ (s >> 30)) + (uint32_t)(i + 1);
    }
    r->pos = SG2_NP_MT_N;
    r->has_gauss = 0;
    r->gauss = 0.0;
}

/* Regenerate all 624 words at once, as the reference implementation does. */
static void mt_refill(sg2_np_random *r)
{
    uint32_t *k = r->key;
    int i;
    for (i = 0; i < SG2_NP_MT_N - MT_M; i++) {
        uint32_t y = (k[i] & MT_UPPER) | (k[i + 1] & MT_LOWER);
        k[i] = k[i + MT_M] ^ (y >> 1) ^ ((y & 1u) ? MT_MATRIX_A : 0u);
    }
    for (; i < SG2_NP_MT_N - 1; i++) {
        uint32_t y = (k[i] & MT_UPPER) | (k[i + 1] & MT_LOWER);
        k[i] = k[i + (MT_M - SG2_NP_MT_N)] ^ (y >> 1) ^ ((y & 1u) ? MT_MATRIX_A : 0u);
    }
    uint32_t y = (k[SG2_NP_MT_N - 1] & MT_UPPER) | (k[0] & MT_LOWER);
    k[SG2_NP_MT_N - 1] = k[MT_M - 1] ^ (y >> 1) ^ ((y & 1u) ? MT_MATRIX_A : 0u);
    r->pos = 0;
}

uint32_t sg2_np_random_u32(sg2_np_random *r)
{
    if (r->pos >= SG2_NP_MT_N)
        mt_refill(r);
    uint32_t y = r->key[r->pos++];
    /* Tempering. */
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

double sg2_np_random_sample(sg2_np_random *r)
{
    /* 27 high bits of one word and 26 of the next make a 53-bit fraction. */
    uint32_t a = sg2_np_random_u32(r) >> 5;
    uint32_t b = sg2_np_random_u32(r) >> 6;
    return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}

double sg2_np_random_gauss(sg2_np_random *r)
{
    if (r->has_gauss) {
        double g = r->gauss;
        r->has_gauss = 0;
        r->gauss = 0.0;
        return g;
    }
    double x1, x2, r2;
    do {
        x1 = 2.0 * sg2_np_random_sample(r) - 1.0;
        x2 = 2.0 * sg2_np_random_sample(r) - 1.0;
        r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 == 0.0);
    /* Polar method: one accepted point gives two independent normals; numpy
     * returns the one from x2 and keeps the one from x1. */
    double f = sqrt(-2.0 * log(r2) / r2);
    r->gauss = f * x1;
    r->has_gauss = 1;
    return f * x2;
}

void sg2_np_random_randn(sg2_np_random *r, double *out, long n)
{
    for (long i = 0; i < n; i++)
        out[i] = sg2_np_random_gauss(r);
}
