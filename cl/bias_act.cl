/* Fused scale + noise + bias + activation + gain + clamp (a synthesis
 * layer's epilogue: demodulation, noise, bias and activation in one pass
 * where they took four), and its
 * gradient, which reads the
 * activation's slope from the sign of the forward output so the backward
 * pass needs only y.
 *
 * act: 0 linear, 1 leaky ReLU (slope alpha below 0), 2 ReLU.
 * clampv < 0 means no clamp.
 *
 * Tunables (the host reads the same values from its -D options):
 * BA_WG: work-group size; BA_ITEMS: elements per work-item; BA_CONTIG: 1 =
 * a work-item takes BA_ITEMS neighbours (suits CPUs), 0 = it strides by the
 * global size so neighbouring work-items read neighbouring elements (GPUs).
 * The global size is ceil(n / BA_ITEMS). */
#ifndef BA_WG
#define BA_WG 64
#endif
#ifndef BA_ITEMS
#define BA_ITEMS 1
#endif
#ifndef BA_CONTIG
#define BA_CONTIG 1
#endif

#ifndef BA_VW
#define BA_VW 8    /* elements per vector of the _vec kernels: 4, 8 or 16 */
#endif
#if BA_VW == 4
typedef float4 bavec;
typedef int4 bamask;
#define BA_LOAD vload4
#define BA_STORE vstore4
#elif BA_VW == 8
typedef float8 bavec;
typedef int8 bamask;
#define BA_LOAD vload8
#define BA_STORE vstore8
#elif BA_VW == 16
typedef float16 bavec;
typedef int16 bamask;
#define BA_LOAD vload16
#define BA_STORE vstore16
#else
#error "BA_VW must be 4, 8 or 16"
#endif

/* Element j of this work-item's share. */
static int item_index(int j)
{
    return BA_CONTIG ? (int)get_global_id(0) * BA_ITEMS + j : (int)get_global_id(0) + j * (int)get_global_size(0);
}

static float activate(float v, int act, float alpha)
{
    if (act == 1)
        return v > 0.0f ? v : alpha * v;
    if (act == 2)
        return v > 0.0f ? v : 0.0f;
    return v;
}

/* activate() on a vector: the same selects, lane by lane. */
static bavec activate_vec(bavec v, int act, float alpha)
{
    bamask positive = v > (bavec)(0.0f);
    if (act == 1)
        return select(v * alpha, v, positive);
    if (act == 2)
        return select((bavec)(0.0f), v, positive);
    return v;
}

/* x, y: [samples, C, inner] contiguous; scale: [samples, C] multiplying x,
 * read only when has_scale; b: [C], read only when has_bias; noise: one
 * plane of `inner` values per sample (noise_stride = inner) or shared by all
 * (noise_stride = 0), added to every channel, read only when has_noise. */
__kernel void bias_act(int n, int C, int inner,
                       __global const float *x, int x_off,
                       __global const float *scale, int scale_off, int has_scale,
                       __global const float *b, int b_off, int has_bias,
                       __global const float *noise, int noise_off, int noise_stride, int has_noise,
                       int act, float alpha, float gain, float clampv,
                       __global float *y, int y_off)
{
#if BA_CONTIG
    /* A run of neighbours: find the sample, channel and position once, then
     * step them along instead of dividing per element. */
    int i0 = (int)get_global_id(0) * BA_ITEMS;
    int q = i0 / inner, pos = i0 - q * inner; /* i0 = q * inner + pos */
    int sample = q / C, c = q - sample * C;
#endif
    for (int j = 0; j < BA_ITEMS; j++) {
        int i = item_index(j);
        if (i >= n)
            return;
        float v = x[x_off + i];
#if BA_CONTIG
        if (has_scale)
            v *= scale[scale_off + sample * C + c];
        if (has_noise)
            v += noise[noise_off + sample * noise_stride + pos];
        if (has_bias)
            v += b[b_off + c];
        if (++pos == inner) {
            pos = 0;
            if (++c == C) {
                c = 0;
                sample++;
            }
        }
#else
        if (has_scale)
            v *= scale[scale_off + i / inner];
        if (has_noise)
            v += noise[noise_off + i / (C * inner) * noise_stride + i % inner];
        if (has_bias)
            v += b[b_off + (i / inner) % C];
#endif
        float r = activate(v, act, alpha) * gain;
        if (clampv >= 0.0f)
            r = fmin(fmax(r, -clampv), clampv);
        y[y_off + i] = r;
    }
}

/* dx = dy * slope(y) * gain, 0 where the output sits at the clamp (flat in x).
 * dx, dy, y: [n]. */
/* bias_act when inner is a multiple of BA_VW: work-item share j is one
 * vector of one plane, so its channel's scale and bias are read once and
 * the loads and stores are whole vectors (the element kernel ran at a
 * fifth of the copy bandwidth on PoCL). n_vec = samples * C * inner / BA_VW. */
__kernel void bias_act_vec(int n_vec, int C, int inner,
                           __global const float *x, int x_off,
                           __global const float *scale, int scale_off, int has_scale,
                           __global const float *b, int b_off, int has_bias,
                           __global const float *noise, int noise_off, int noise_stride, int has_noise,
                           int act, float alpha, float gain, float clampv,
                           __global float *y, int y_off)
{
    for (int j = 0; j < BA_ITEMS; j++) {
        int u = item_index(j);
        if (u >= n_vec)
            return;
        int i = u * BA_VW;
        int q = i / inner, pos = i - q * inner; /* plane q = sample * C + c */
        int sample = q / C, c = q - sample * C;
        bavec v = BA_LOAD(0, x + x_off + i);
        if (has_scale)
            v *= scale[scale_off + q];
        if (has_noise)
            v += BA_LOAD(0, noise + noise_off + sample * noise_stride + pos);
        if (has_bias)
            v += b[b_off + c];
        bavec r = activate_vec(v, act, alpha) * gain;
        if (clampv >= 0.0f)
            r = fmin(fmax(r, -clampv), clampv);
        BA_STORE(r, 0, y + y_off + i);
    }
}

__kernel void bias_act_grad(int n,
                            __global const float *dy, int dy_off,
                            __global const float *y, int y_off,
                            int act, float alpha, float gain, float clampv,
                            __global float *dx, int dx_off)
{
    for (int j = 0; j < BA_ITEMS; j++) {
        int i = item_index(j);
        if (i >= n)
            return;
        float yv = y[y_off + i];
        float slope = 1.0f;
        if (act == 1)
            slope = yv > 0.0f ? 1.0f : alpha;
        else if (act == 2)
            slope = yv > 0.0f ? 1.0f : 0.0f;
        /* An exact 0 where clamped, even if dy is not finite. */
        int clamped = clampv >= 0.0f && fabs(yv) >= clampv;
        dx[dx_off + i] = clamped ? 0.0f : dy[dy_off + i] * slope * gain;
    }
}

/* bias_act_grad when n is a multiple of BA_VW, a vector per share. */
__kernel void bias_act_grad_vec(int n_vec,
                                __global const float *dy, int dy_off,
                                __global const float *y, int y_off,
                                int act, float alpha, float gain, float clampv,
                                __global float *dx, int dx_off)
{
    for (int j = 0; j < BA_ITEMS; j++) {
        int u = item_index(j);
        if (u >= n_vec)
            return;
        int i = u * BA_VW;
        bavec yv = BA_LOAD(0, y + y_off + i);
        bamask positive = yv > (bavec)(0.0f);
        bavec slope = (bavec)(1.0f);
        if (act == 1)
            slope = select((bavec)(alpha), slope, positive);
        else if (act == 2)
            slope = select((bavec)(0.0f), slope, positive);
        bavec g = BA_LOAD(0, dy + dy_off + i) * slope * gain;
        /* An exact 0 where clamped, even if dy is not finite. */
        if (clampv >= 0.0f)
            g = select(g, (bavec)(0.0f), fabs(yv) >= (bavec)(clampv));
        BA_STORE(g, 0, dx + dx_off + i);
    }
}
