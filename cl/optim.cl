/* Optimizer steps: gradient sanitising, Adam, and the exponential moving
 * average of the generator's weights. One work-item per element. */

/* NaN -> 0, +-inf -> +-1e5, as the reference does before every step;
 * flags[i] = 1 where a value was replaced, so the caller can count them. */
__kernel void sanitize_grad(int n, __global float *g, int g_off, __global float *flags, int f_off)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    float v = g[g_off + i];
    float bad = 0.0f;
    if (isnan(v)) {
        v = 0.0f;
        bad = 1.0f;
    } else if (isinf(v)) {
        v = v > 0.0f ? 1e5f : -1e5f;
        bad = 1.0f;
    }
    g[g_off + i] = v;
    flags[f_off + i] = bad;
}

/* Adam (Kingma & Ba) with PyTorch's bias corrections:
 * m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 * p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps). */
__kernel void adam_step(int n, __global float *p, int p_off, __global const float *g, int g_off,
                        __global float *m, int m_off, __global float *v, int v_off,
                        float lr_over_bc1, float b1, float b2, float eps, float sqrt_bc2)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    float gi = g[g_off + i];
    float mi = b1 * m[m_off + i] + (1.0f - b1) * gi;
    float vi = b2 * v[v_off + i] + (1.0f - b2) * gi * gi;
    m[m_off + i] = mi;
    v[v_off + i] = vi;
    p[p_off + i] -= lr_over_bc1 * mi / (sqrt(vi) / sqrt_bc2 + eps);
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
