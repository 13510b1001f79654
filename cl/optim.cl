/* Optimizer steps: gradient sanitising, Adam, and the exponential moving
 * average of the generator's weights. One work-item per element. */

/* Elements per adam_step work-item: a run it walks in a loop the compiler
 * can vectorize, with one atomic at the end at most. */
#define ADAM_RUN 16

/* Adam (Kingma & Ba) with PyTorch's bias corrections:
 * m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 * p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps).
 * The gradient is sanitised on the way in, as the reference does before
 * every step (NaN -> 0, +-inf -> +-1e5), and the values replaced are
 * counted in *bad: an integer sum, the same in any order. Work-item i
 * takes elements [i * ADAM_RUN, (i + 1) * ADAM_RUN). */
__kernel void adam_step(int n, __global float *p, int p_off, __global const float *g, int g_off,
                        __global float *m, int m_off, __global float *v, int v_off,
                        float lr_over_bc1, float b1, float b2, float eps, float sqrt_bc2,
                        __global int *bad)
{
    int i0 = get_global_id(0) * ADAM_RUN;
    int len = min(ADAM_RUN, n - i0);
    int replaced = 0;
    for (int k = 0; k < len; k++) {
        int i = i0 + k;
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
        atomic_add(bad, replaced);
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
