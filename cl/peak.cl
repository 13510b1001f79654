/* Device peak microbenchmarks for `stylegan2-cl bench` (src/bench_peak.c):
 * what fraction of the device a workload reaches is measured against these,
 * not against a datasheet.
 *
 * peak_fma: 8 independent multiply-add chains of PEAK_W-wide vectors per
 * work-item, PEAK_ITERS steps each. Independent chains hide the latency.
 * Which width fills a device best differs (GPUs split vectors into scalars
 * and fill lanes with work-items; a CPU compiler may vectorize across
 * work-items or within the vector), so the host runs PEAK_W = 1, 4, 8 and
 * 16, each with PEAK_FMA = 1 (fma(), fused on hardware with FMA; PoCL
 * on x86 is ~3x faster with it) and 0 (mad(), whatever the compiler finds
 * fastest), and keeps the best. x = x * a + b with |a| < 1 stays bounded and
 * normal, and the sum is stored so nothing is dead code.
 * FLOP per work-item = 2 * PEAK_W * 8 chains * PEAK_ITERS. */
#ifndef PEAK_ITERS
#define PEAK_ITERS 512
#endif
#ifndef PEAK_W
#define PEAK_W 8
#endif
#ifndef PEAK_FMA
#define PEAK_FMA 1
#endif
#if PEAK_FMA
#define PEAK_MADD(x, a, b) fma(x, a, b)
#else
#define PEAK_MADD(x, a, b) mad(x, a, b)
#endif

#if PEAK_W == 1
typedef float peak_t;
#define PEAK_HSUM(s) (s)
#elif PEAK_W == 4
typedef float4 peak_t;
#define PEAK_HSUM(s) ((s).s0 + (s).s1 + (s).s2 + (s).s3)
#elif PEAK_W == 8
typedef float8 peak_t;
#define PEAK_HSUM(s) (((s).s0 + (s).s1) + ((s).s2 + (s).s3) + ((s).s4 + (s).s5) + ((s).s6 + (s).s7))
#else
typedef float16 peak_t;
#define PEAK_HSUM(s) (((s).s0 + (s).s1) + ((s).s2 + (s).s3) + ((s).s4 + (s).s5) + ((s).s6 + (s).s7) + \
                      ((s).s8 + (s).s9) + ((s).sa + (s).sb) + ((s).sc + (s).sd) + ((s).se + (s).sf))
#endif

__kernel void peak_fma(__global float *out, float a, float b)
{
    int gid = get_global_id(0);
    peak_t va = (peak_t)(a), vb = (peak_t)(b);
    peak_t x0 = (peak_t)(gid & 7) * 1e-3f, x1 = x0 + 0.1f, x2 = x0 + 0.2f, x3 = x0 + 0.3f;
    peak_t x4 = x0 + 0.4f, x5 = x0 + 0.5f, x6 = x0 + 0.6f, x7 = x0 + 0.7f;
    for (int i = 0; i < PEAK_ITERS; i++) {
        x0 = PEAK_MADD(x0, va, vb);
        x1 = PEAK_MADD(x1, va, vb);
        x2 = PEAK_MADD(x2, va, vb);
        x3 = PEAK_MADD(x3, va, vb);
        x4 = PEAK_MADD(x4, va, vb);
        x5 = PEAK_MADD(x5, va, vb);
        x6 = PEAK_MADD(x6, va, vb);
        x7 = PEAK_MADD(x7, va, vb);
    }
    peak_t s = ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7));
    out[gid] = PEAK_HSUM(s);
}

/* Streaming copy: 32 bytes moved per float4 (16 read, 16 written). */
__kernel void peak_copy(__global float4 *dst, __global const float4 *src, int n)
{
    int i = get_global_id(0);
    if (i < n)
        dst[i] = src[i];
}

/* STREAM triad a = b + s * c: 48 bytes moved per float4. */
__kernel void peak_triad(__global float4 *a, __global const float4 *b, __global const float4 *c, float s, int n)
{
    int i = get_global_id(0);
    if (i < n)
        a[i] = b[i] + s * c[i];
}
