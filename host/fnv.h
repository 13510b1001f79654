/* FNV-1a, 32 bits: the lookup tables' hash (kernels by file, name and
 * options; tuning results by key) and the tuning families' kernel-source
 * fingerprint. */
#ifndef SG2_FNV_H
#define SG2_FNV_H
#include <stddef.h>

#define SG2_FNV_BASIS 2166136261u

/* h continued over s and its terminator, so ("ab", "c") and ("a", "bc")
 * hash apart. */
static inline unsigned sg2_fnv_str(unsigned h, const char *s)
{
    do {
        h = (h ^ (unsigned char)*s) * 16777619u;
    } while (*s++);
    return h;
}

/* h continued over n bytes at p. */
static inline unsigned sg2_fnv_bytes(unsigned h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 16777619u;
    return h;
}

#endif
