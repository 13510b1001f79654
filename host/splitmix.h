/* splitmix64 (Steele, Lea and Flood): a tiny, fast generator whose whole
 * state is one number, so callers can checkpoint it or seed it from a
 * counter. Shared by the loss's host-side draws, the dataset's epoch
 * permutations, the benchmarks' synthetic data and the tests. */
#ifndef SG2_SPLITMIX_H
#define SG2_SPLITMIX_H
#include <stdint.h>

static inline uint64_t sg2_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#endif
