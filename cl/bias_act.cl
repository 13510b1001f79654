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
 * BA_WG: work-group size; BA_ITEMS: units per work-item; BA_CONTIG: 1 =
 * a work-item takes BA_ITEMS neighbouring units (suits CPUs), 0 = it
 * strides by the global size so neighbouring work-items read neighbouring
 * units (GPUs). The global size is ceil(n_units / BA_ITEMS). Set by the
 * host from the shape: BA_VW, elements per unit, 1 for any shape, 4, 8 or
 * 16 when every plane (bias_act) or the whole tensor (bias_act_grad) is a
 * whole number of vectors: the loads and stores are then whole vectors and
 * a channel's scale and bias are read once per vector (the element kernel
 * ran at a fifth of the copy bandwidth on PoCL). */
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
#define BA_VW 1
#endif

#if BA_VW == 1
typedef float bavec;
typedef int bamask;
#define BA_LOAD(o, p) ((p)[o])
#define BA_STORE(v, o, p) ((p)[o] = (v))
#elif BA_VW == 4
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
#error "BA_VW must be 1, 4, 8 or 16"
#endif

/* Unit j of this work-item's share. */
static int item_index(int j)
{
    return BA_CONTIG ? (int)get_global_id(0) * BA_ITEMS + j : (int)get_global_id(0) + j * (int)get_global_size(0);
}

/* The activation lane by lane (select takes the sign test's lanes; on
 * scalars it is c ? b : a). */
static bavec activate(bavec v, int act, float alpha)
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
 * (noise_stride = 0), added to every channel, read only when has_noise.
 * n_units = samples * C * inner / BA_VW. */
__kernel void bias_act(int n_units, int C, int inner,
                       __global const float *x, int x_off,
                       __global const float *scale, int scale_off, int has_scale,
                       __global const float *b, int b_off, int has_bias,
                       __global const float *noise, int noise_off, int noise_stride, int has_noise,
                       int act, float alpha, float gain, float clampv,
                       __global float *y, int y_off)
{
#if BA_CONTIG
    /* A run of neighbours: find the sample, channel and position once, then
     * step them along instead of dividing per unit. */
    int i0 = (int)get_global_id(0) * BA_ITEMS * BA_VW;
    int q = i0 / inner, pos = i0 - q * inner; /* i0 = q * inner + pos */
    int sample = q / C, c = q - sample * C;
#endif
    for (int j = 0; j < BA_ITEMS; j++) {
        int u = item_index(j);
        if (u >= n_units)
            return;
        int i = u * BA_VW;
#if !BA_CONTIG
        int q = i / inner, pos = i - q * inner; /* plane q = sample * C + c */
        int sample = q / C, c = q - sample * C;
#endif
        bavec v = BA_LOAD(0, x + x_off + i);
        if (has_scale)
            v *= scale[scale_off + sample * C + c];
        if (has_noise)
            v += BA_LOAD(0, noise + noise_off + sample * noise_stride + pos);
        if (has_bias)
            v += b[b_off + c];
        bavec r = activate(v, act, alpha) * gain;
        if (clampv >= 0.0f)
            r = fmin(fmax(r, -clampv), clampv);
        BA_STORE(r, 0, y + y_off + i);
#if BA_CONTIG
        pos += BA_VW;
        if (pos == inner) {
            pos = 0;
            if (++c == C) {
                c = 0;
                sample++;
            }
        }
#endif
    }
}

/* dx = dy * act'(y) * gain, n_units = n / BA_VW. */
__kernel void bias_act_grad(int n_units,
                            __global const float *dy, int dy_off,
                            __global const float *y, int y_off,
                            int act, float alpha, float gain, float clampv,
                            __global float *dx, int dx_off)
{
    for (int j = 0; j < BA_ITEMS; j++) {
        int u = item_index(j);
        if (u >= n_units)
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
