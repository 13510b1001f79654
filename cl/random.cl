/* Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11), the
 * same stream definition as src/ref/ref.h (sg2_ref_rand_uniform,
 * sg2_ref_rand_normal), so every device draws the same numbers for a seed.
 *
 * Stream element j (j = offset + i, 64-bit) lives in the Philox block at
 * counter q = j / 4: ctr = (low, high 32 bits of q, tag, 0), key = (low,
 * high 32 bits of seed); tag 0 is the uniform stream, tag 1 the normal one.
 * One work-item computes one block and writes the (up to) four elements of
 * it that fall inside [offset, offset + n). 64-bit quantities travel as two
 * uints, so the kernels need no 64-bit kernel arguments. */

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

/* 2^-24: (word >> 8) * 2^-24 is exact in float, hence identical everywhere. */
#define UNIT24 5.9604644775390625e-8f

/* The 64-bit product through ulong rather than mul_hi, which some NVIDIA
 * drivers (470-515) miscompiled. */
static uint4 philox_round(uint4 c, uint2 k)
{
    ulong p0 = (ulong)PHILOX_M0 * (ulong)c.x;
    ulong p1 = (ulong)PHILOX_M1 * (ulong)c.z;
    uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0;
    uint hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
    return (uint4)(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
}

static uint4 philox4x32_10(uint4 c, uint2 k)
{
    c = philox_round(c, k);
    for (int r = 1; r < 10; r++) {
        /* Weyl key schedule, bumped between rounds. */
        k.x += PHILOX_W0;
        k.y += PHILOX_W1;
        c = philox_round(c, k);
    }
    return c;
}

/* Block q0 + b (64-bit q0 = q0_hi:q0_lo) of stream `tag`. */
static uint4 stream_block(uint q0_lo, uint q0_hi, uint b, uint tag, uint seed_lo, uint seed_hi)
{
    uint lo = q0_lo + b;
    uint hi = q0_hi + (lo < q0_lo ? 1u : 0u);
    return philox4x32_10((uint4)(lo, hi, tag, 0u), (uint2)(seed_lo, seed_hi));
}

/* Element of block b, word w, sits at i = 4 b + w - skip (skip = offset % 4). */
static void store4(__global float *y, int y_off, int n, int b, int skip, float4 v)
{
    int i = 4 * b - skip;
    if (i >= 0 && i < n) y[y_off + i] = v.x;
    if (i + 1 >= 0 && i + 1 < n) y[y_off + i + 1] = v.y;
    if (i + 2 >= 0 && i + 2 < n) y[y_off + i + 2] = v.z;
    if (i + 3 >= 0 && i + 3 < n) y[y_off + i + 3] = v.w;
}

/* y[i] = uniform in [0, 1), i < n; blocks = (skip + n + 3) / 4 work-items. */
__kernel void rand_uniform(int n, int blocks, uint seed_lo, uint seed_hi, uint q0_lo, uint q0_hi, int skip,
                           __global float *y, int y_off)
{
    int b = get_global_id(0);
    if (b >= blocks)
        return;
    uint4 w = stream_block(q0_lo, q0_hi, (uint)b, 0u, seed_lo, seed_hi);
    float4 u = convert_float4(w >> 8) * UNIT24;
    store4(y, y_off, n, b, skip, u);
}

/* y[i] = N(0, 1) by Box-Muller: block words (0, 1) make the pair giving
 * elements 4q (cos) and 4q+1 (sin), words (2, 3) elements 4q+2 and 4q+3.
 * u1 in (0, 1] keeps log finite; cospi/sinpi take 2 u2 exactly. */
__kernel void rand_normal(int n, int blocks, uint seed_lo, uint seed_hi, uint q0_lo, uint q0_hi, int skip,
                          __global float *y, int y_off)
{
    int b = get_global_id(0);
    if (b >= blocks)
        return;
    uint4 w = stream_block(q0_lo, q0_hi, (uint)b, 1u, seed_lo, seed_hi);
    float4 u = convert_float4(w >> 8) * UNIT24;
    float r0 = sqrt(-2.0f * log(u.x + UNIT24));
    float r1 = sqrt(-2.0f * log(u.z + UNIT24));
    float4 v = (float4)(r0 * cospi(2.0f * u.y), r0 * sinpi(2.0f * u.y), r1 * cospi(2.0f * u.w),
                        r1 * sinpi(2.0f * u.w));
    store4(y, y_off, n, b, skip, v);
}
