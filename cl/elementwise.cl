/* Elementwise arithmetic, strided copies and sums over axes.
 *
 * Shapes travel as int8 vectors (6 axes used, leading axes padded with 1);
 * an input's strides are 0 along broadcast axes. All indices are int: the
 * host refuses tensors of 2^31 elements or more. */

/* reduce_sum's tunables (per shape class: src/reduce.c). EW_WG: its
 * work-group size, a power of two; the other kernels take any size.
 * EW_RUN: 0 = the work-items of a group interleave over the summed
 * elements (neighbours read neighbours: GPUs); 1 = each takes a run of
 * them and walks the innermost summed axis by its stride (CPUs).
 * EW_OPG: outputs per work-group (a power of two <= EW_WG), each summed by
 * EW_WG / EW_OPG work-items: many short sums need few work-groups. */
#ifndef EW_WG
#define EW_WG 64
#endif
#ifndef EW_RUN
#define EW_RUN 0
#endif
#ifndef EW_OPG
#define EW_OPG 1
#endif
#define EW_SUB (EW_WG / EW_OPG) /* work-items per output */

/* Offset of linear index i of `shape` under `strides`. */
static int strided_offset(int i, int8 shape, int8 strides)
{
    int off = 0;
    int q;
    q = i % shape.s5; off += q * strides.s5; i /= shape.s5;
    q = i % shape.s4; off += q * strides.s4; i /= shape.s4;
    q = i % shape.s3; off += q * strides.s3; i /= shape.s3;
    q = i % shape.s2; off += q * strides.s2; i /= shape.s2;
    q = i % shape.s1; off += q * strides.s1; i /= shape.s1;
    off += i * strides.s0;
    return off;
}

/* Binary ops: 0 add, 1 sub, 2 mul, 3 div. */
__kernel void ew_binary(int op, int n, int8 shape,
                        __global const float *a, int a_off, int8 a_strides,
                        __global const float *b, int b_off, int8 b_strides,
                        __global float *y, int y_off)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    float u = a[a_off + strided_offset(i, shape, a_strides)];
    float v = b[b_off + strided_offset(i, shape, b_strides)];
    float r;
    switch (op) {
    case 0: r = u + v; break;
    case 1: r = u - v; break;
    case 2: r = u * v; break;
    default: r = u / v; break;
    }
    y[y_off + i] = r;
}

/* Unary ops on contiguous data: 0 x*s+t, 1 square, 2 sqrt, 3 rsqrt, 4 exp,
 * 5 log, 6 softplus, 7 sigmoid. */
__kernel void ew_unary(int op, int n, float s, float t,
                       __global const float *x, int x_off,
                       __global float *y, int y_off)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    float v = x[x_off + i];
    float r;
    switch (op) {
    case 0: r = v * s + t; break;
    case 1: r = v * v; break;
    case 2: r = sqrt(v); break;
    case 3: r = rsqrt(v); break;
    case 4: r = exp(v); break;
    case 5: r = log(v); break;
    /* softplus without overflow: max(v,0) + log1p(exp(-|v|)) */
    case 6: r = fmax(v, 0.0f) + log1p(exp(-fabs(v))); break;
    default: r = 1.0f / (1.0f + exp(-v)); break;
    }
    y[y_off + i] = r;
}

/* y[y_off + strided(i, y_strides)] = x[x_off + strided(i, x_strides)] over `shape`. */
__kernel void copy_strided(int n, int8 shape,
                           __global const float *x, int x_off, int8 x_strides,
                           __global float *y, int y_off, int8 y_strides)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    y[y_off + strided_offset(i, shape, y_strides)] = x[x_off + strided_offset(i, shape, x_strides)];
}

/* EW_OPG outputs per work-group: out[o] = sum over the `inner` index
 * space of x. keep/keep_strides walk the kept axes, red/red_strides the
 * reduced ones. A fixed-order tree in local memory keeps results identical
 * from run to run (no atomics), and each work-item sums with Kahan
 * compensation so long sums stay accurate in float32. */
__kernel void reduce_sum(int n_out, int n_red,
                         int8 keep, int8 keep_strides, int8 red, int8 red_strides,
                         __global const float *x, int x_off,
                         __global float *y, int y_off, float scale)
{
    __local float part[EW_WG];
    int lid = get_local_id(0);
    int sub = lid % EW_SUB;
    int o = get_group_id(0) * EW_OPG + lid / EW_SUB;
    float sum = 0.0f, comp = 0.0f;
    /* No early return: every work-item must reach the barriers. */
    if (o < n_out) {
        int base = x_off + strided_offset(o, keep, keep_strides);
#if EW_RUN
        /* One strided_offset per stretch along the innermost summed axis. */
        int chunk = (n_red + EW_SUB - 1) / EW_SUB;
        int r = sub * chunk, r_end = min(r + chunk, n_red);
        while (r < r_end) {
            int len = min(red.s5 - r % red.s5, r_end - r);
            __global const float *p = x + base + strided_offset(r, red, red_strides);
            for (int k = 0; k < len; k++) {
                float v = p[k * red_strides.s5] - comp;
                float t = sum + v;
                comp = (t - sum) - v;
                sum = t;
            }
            r += len;
        }
#else
        for (int r = sub; r < n_red; r += EW_SUB) {
            float v = x[base + strided_offset(r, red, red_strides)] - comp;
            float t = sum + v;
            comp = (t - sum) - v;
            sum = t;
        }
#endif
    }
    part[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = EW_SUB / 2; w > 0; w >>= 1) {
        if (sub < w)
            part[lid] += part[lid + w];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (sub == 0 && o < n_out)
        y[y_off + o] = part[lid] * scale;
}
