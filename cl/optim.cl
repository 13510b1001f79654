/* Optimizer steps: Adam with the gradient sanitised on the way in, and
 * the exponential moving average of the generator's weights. */

/* Elements per adam_step work-item (the host passes the same value), and
 * their layout: ADAM_RUNS 1 = a run of consecutive elements per work-item
 * (CPUs: one work-item's loop vectorizes; 4x the interleaved layout on
 * PoCL), 0 = elements i, i + G, ... for G work-items, so neighbouring
 * work-items read neighbouring elements (GPUs: coalesced). */
#ifndef ADAM_RUN
#define ADAM_RUN 16
#endif
#ifndef ADAM_RUNS
#define ADAM_RUNS 0
#endif

/* Adam (Kingma & Ba) with PyTorch's bias corrections:
 * m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 * p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps).
 * The gradient is sanitised on the way in, as the reference does before
 * every step (NaN -> 0, +-inf -> +-1e5), and the values replaced are
 * counted in bad[bad_off]: an integer sum, the same in any order, added
 * with at most one atomic per work-item. */
__kernel void adam_step(int n, __global float *p, int p_off, __global const float *g, int g_off,
                        __global float *m, int m_off, __global float *v, int v_off,
                        float lr_over_bc1, float b1, float b2, float eps, float sqrt_bc2,
                        __global int *bad, int bad_off)
{
#if ADAM_RUNS
    int first = get_global_id(0) * ADAM_RUN, step = 1;
#else
    int first = get_global_id(0), step = get_global_size(0);
#endif
    int replaced = 0;
#if ADAM_RUNS && ADAM_RUN == 16
    /* A whole run as one vector: the square root and division per element
     * were the step's cost when done one lane at a time. */
    if (first + 16 <= n) {
        float16 raw = vload16(0, g + g_off + first);
        int16 nan_g = isnan(raw), inf_g = isinf(raw); /* -1 where true */
        float16 gi = select(raw, select((float16)(-1e5f), (float16)(1e5f), raw > 0.0f), inf_g);
        gi = select(gi, (float16)(0.0f), nan_g);
        int16 bad16 = -(nan_g | inf_g);
        int8 b8 = bad16.lo + bad16.hi;
        int4 b4 = b8.lo + b8.hi;
        replaced = (b4.s0 + b4.s1) + (b4.s2 + b4.s3);
        float16 mi = b1 * vload16(0, m + m_off + first) + (1.0f - b1) * gi;
        float16 vi = b2 * vload16(0, v + v_off + first) + (1.0f - b2) * gi * gi;
        vstore16(mi, 0, m + m_off + first);
        vstore16(vi, 0, v + v_off + first);
        float16 pi = vload16(0, p + p_off + first) - lr_over_bc1 * mi / (sqrt(vi) / sqrt_bc2 + eps);
        vstore16(pi, 0, p + p_off + first);
        if (replaced)
            atomic_add(bad + bad_off, replaced);
        return;
    }
#endif
    for (int k = 0; k < ADAM_RUN; k++) {
        int i = first + k * step;
        if (i >= n)
            break;
        float raw = g[g_off + i];
        int nan_g = isnan(raw), inf_g = isinf(raw);
        float gi = nan_g ? 0.0f : inf_g ? (raw > 0.0f ? 1e5f : -1e5f) : raw;
        replaced += nan_g | inf_g;
        float mi = b1 * m[m_off + i] + (1.0f - b1) * gi;
        float vi = b2 * v[v_off + i] + (1.0f - b2) * gi * gi;
        m[m_off + i] = mi;
        v[v_off + i] = vi;
        p[p_off + i] -= lr_over_bc1 * mi / (sqrt(vi) / sqrt_bc2 + eps);
    }
    if (replaced)
        atomic_add(bad + bad_off, replaced);
}

/* e = p + beta (e - p): the generator EMA (G_ema). */
__kernel void ema_lerp(int n, __global float *e, int e_off, __global const float *p, int p_off, float beta)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    float pi = p[p_off + i];
    e[e_off + i] = pi + beta * (e[e_off + i] - pi);
}
