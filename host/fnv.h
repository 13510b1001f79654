/* FNV-1a, 32 bits, over NUL-terminated strings: the lookup tables' hash
 * (kernels by file, name and options; tuning results by key). */
#ifndef SG2_FNV_H
#define SG2_FNV_H

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

#endif
