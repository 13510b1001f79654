/* numpy's legacy random stream, bit for bit: numpy.random.RandomState(seed)
 * for an integer seed. The generation tool draws each latent as the reference
 * does, RandomState(seed).randn(1, z_dim), so a seed names the same image here
 * and in stylegan2-ada-pytorch.
 *
 * The legacy stream is frozen by numpy's compatibility policy (NEP 19): MT19937
 * seeded with init_genrand, 53-bit doubles from two 32-bit words, and normals
 * from the polar Box-Muller method, which keeps the second value of each pair
 * for the next call. Bit equality also needs the host's log() to agree with
 * the one numpy was built against (glibc's is correctly rounded in practice)
 * and no contraction of a*b+c into fma, here (GCC keeps -ffp-contract off
 * under -std=c11; np_random.c tells clang) or in numpy's own build (true on
 * x86-64 without -march flags). tests/test_io checks against numpy. */
#ifndef SG2_NP_RANDOM_H
#define SG2_NP_RANDOM_H
#include <stdint.h>

#define SG2_NP_MT_N 624

typedef struct sg2_np_random {
    uint32_t key[SG2_NP_MT_N]; /* MT19937 state words */
    int pos;                   /* next word of key to temper; SG2_NP_MT_N means regenerate */
    int has_gauss;             /* a cached second normal is waiting ... */
    double gauss;              /* ... and this is it */
} sg2_np_random;

/* RandomState(seed): numpy accepts seeds in [0, 2^32 - 1], i.e. any uint32_t. */
void sg2_np_random_seed(sg2_np_random *r, uint32_t seed);
/* The next raw 32-bit MT19937 output (numpy's randint(0, 2**32) uses other paths). */
uint32_t sg2_np_random_u32(sg2_np_random *r);
/* RandomState.random_sample(): uniform in [0, 1) with 53 random bits. */
double sg2_np_random_sample(sg2_np_random *r);
/* RandomState.standard_normal() / randn() for one value (legacy_gauss). */
double sg2_np_random_gauss(sg2_np_random *r);
/* RandomState.randn(n) (or any shape with n elements, row-major): out[n]. */
void sg2_np_random_randn(sg2_np_random *r, double *out, long n);

#endif
