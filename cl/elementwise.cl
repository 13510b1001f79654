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

/* Binary ops: 0 add, 1 sub, 2 mul, 3 div; for scalars and for float4. */
#define BINARY_OP(T, name)                     \
    static T name(int op, T u, T v)            \
    {                                          \
        switch (op) {                          \
        case 0: return u + v;                  \
        case 1: return u - v;                  \
        case 2: return u * v;                  \
        default: return u / v;                 \
        }                                      \
    }
BINARY_OP(float, binary_op)
BINARY_OP(float4, binary_op4)

/* The general case: any broadcast over up to 6 axes. */
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
    y[y_off + i] = binary_op(op, u, v);
}

/* Contiguous operands of n elements, or a scalar where a_step (b_step) is
 * 0: no index arithmetic, four elements per work-item. Most calls in
 * training are of this kind (gradient sums, residual adds), and the
 * divisions of strided_offset cost more than the arithmetic. vload4 needs
 * only float alignment, so any offset works. */
__kernel void ew_binary_flat(int op, int n,
                             __global const float *a, int a_off, int a_step,
                             __global const float *b, int b_off, int b_step,
                             __global float *y, int y_off)
{
    int i = get_global_id(0) * 4;
    if (i >= n)
        return;
    __global const float *pa = a + a_off + i * a_step;
    __global const float *pb = b + b_off + i * b_step;
    if (i + 4 <= n) {
        float4 u = a_step ? vload4(0, pa) : (float4)(pa[0]);
        float4 v = b_step ? vload4(0, pb) : (float4)(pb[0]);
        vstore4(binary_op4(op, u, v), 0, y + y_off + i);
        return;
    }
    for (int k = 0; i + k < n; k++)
        y[y_off + i + k] = binary_op(op, pa[k * a_step], pb[k * b_step]);
}

/* Up to three axes [d0, d1, d2] left after the host merged the axes that
 * walk memory contiguously (e.g. noise [N,1,H,W] added to [N,C,H,W] is
 * [N, C, H*W] with b's stride 0 along C). Each work-item takes a run of
 * EW_RUN_LEN elements along d2: one division per run, not per element. */
#define EW_RUN_LEN 16

/* This work-item's run: row i0 * d1 + i1 of the [d0, d1] rows, elements
 * [k0, k0 + len) along d2; 0 past the last row. */
static int row_run(int rows, int d1, int d2, int runs, int *i0, int *i1, int *k0, int *len)
{
    int g = get_global_id(0), row = g / runs;
    if (row >= rows)
        return 0;
    *i0 = row / d1;
    *i1 = row % d1;
    *k0 = (g % runs) * EW_RUN_LEN;
    *len = min(EW_RUN_LEN, d2 - *k0);
    return 1;
}

/* Offset of element (i0, i1, k0) under strides st (s0, s1, s2). */
static int run_offset(int i0, int i1, int k0, int8 st)
{
    return i0 * st.s0 + i1 * st.s1 + k0 * st.s2;
}
__kernel void ew_binary_rows(int op, int rows, int d1, int d2, int runs,
                             __global const float *a, int a_off, int8 a_st,
                             __global const float *b, int b_off, int8 b_st,
                             __global float *y, int y_off)
{
    int i0, i1, k0, len;
    if (!row_run(rows, d1, d2, runs, &i0, &i1, &k0, &len))
        return;
    __global const float *pa = a + a_off + run_offset(i0, i1, k0, a_st);
    __global const float *pb = b + b_off + run_offset(i0, i1, k0, b_st);
    __global float *py = y + y_off + (i0 * d1 + i1) * d2 + k0;
    for (int k = 0; k < len; k++)
        py[k] = binary_op(op, pa[k * a_st.s2], pb[k * b_st.s2]);
}

/* Unary ops on contiguous data: 0 x*s+t, 1 square, 2 sqrt, 3 rsqrt, 4 exp,
 * 5 log, 6 softplus, 7 sigmoid. */
static float4 unary_op4(int op, float s, float t, float4 v)
{
    switch (op) {
    case 0: return v * s + t;
    case 1: return v * v;
    case 2: return sqrt(v);
    case 3: return rsqrt(v);
    case 4: return exp(v);
    case 5: return log(v);
    /* softplus without overflow: max(v,0) + log1p(exp(-|v|)) */
    case 6: return fmax(v, 0.0f) + log1p(exp(-fabs(v)));
    default: return 1.0f / (1.0f + exp(-v));
    }
}

/* Four elements per work-item. The tail goes through the same vector code
 * one element at a time, so no value depends on where the tail falls. */
__kernel void ew_unary(int op, int n, float s, float t,
                       __global const float *x, int x_off,
                       __global float *y, int y_off)
{
    int i = get_global_id(0) * 4;
    if (i >= n)
        return;
    if (i + 4 <= n) {
        vstore4(unary_op4(op, s, t, vload4(0, x + x_off + i)), 0, y + y_off + i);
        return;
    }
    for (int k = 0; i + k < n; k++)
        y[y_off + i + k] = unary_op4(op, s, t, (float4)(x[x_off + i + k])).s0;
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

/* copy_strided over up to three axes [d0, d1, d2] left after the host
 * merged contiguous axes (a weight transpose [O,I,3,3] -> [I,O,3,3] is
 * [I, O, 9]; an expand [O,I,1,1] -> [O,I,3,3] is [O*I, 9] reading with
 * stride 0). Each work-item copies a run of EW_RUN_LEN along d2. */
__kernel void copy_rows(int rows, int d1, int d2, int runs,
                        __global const float *x, int x_off, int8 x_st,
                        __global float *y, int y_off, int8 y_st)
{
    int i0, i1, k0, len;
    if (!row_run(rows, d1, d2, runs, &i0, &i1, &k0, &len))
        return;
    __global const float *px = x + x_off + run_offset(i0, i1, k0, x_st);
    __global float *py = y + y_off + run_offset(i0, i1, k0, y_st);
    for (int k = 0; k < len; k++)
        py[k * y_st.s2] = px[k * x_st.s2];
}

/* EW_OPG outputs per work-group: out[o] = sum over the `inner` index
 * space of x. keep/keep_strides walk the kept axes, red/red_strides the
 * reduced ones. A fixed-order tree in local memory keeps results identical
 * from run to run (no atomics), and each work-item sums with Kahan
 * compensation so long sums stay accurate in float32 (sums of a few terms
 * go without: see SHORT_SUM). With n_split > 1 the
 * reduced range is cut into n_split parts, each its own work-group, and
 * part s of output o goes to y[o * n_split + s] (summed by a second call):
 * one or a few long sums otherwise ran on one work-group, one core. */
/* Sums of at most SHORT_SUM terms go uncompensated. */
#define SHORT_SUM 32

/* One compensated (Kahan) step: *sum += v, the rounding error carried in
 * *comp into the next step. */
static void kahan_add(float *sum, float *comp, float v)
{
    float y = v - *comp, t = *sum + y;
    *comp = (t - *sum) - y;
    *sum = t;
}

/* kahan_add on four independent sums. */
static void kahan_add4(float4 *sum, float4 *comp, float4 v)
{
    float4 y = v - *comp, t = *sum + y;
    *comp = (t - *sum) - y;
    *sum = t;
}

/* (sum, comp) with the four compensated sums of (sum4, comp4) added in. */
static float fold4(float sum, float comp, float4 sum4, float4 comp4)
{
    kahan_add(&sum, &comp, sum4.s0 - comp4.s0);
    kahan_add(&sum, &comp, sum4.s1 - comp4.s1);
    kahan_add(&sum, &comp, sum4.s2 - comp4.s2);
    kahan_add(&sum, &comp, sum4.s3 - comp4.s3);
    return sum;
}

/* The sum of the 8 floats at p, pairwise. */
static float block_sum8(__global const float *p)
{
    float8 b = vload8(0, p);
    float4 h = b.lo + b.hi;
    return (h.s0 + h.s1) + (h.s2 + h.s3);
}

/* Work-item sub's compensated part of a sum over `rows` rows row_st apart,
 * their `len` terms contiguous (a bias gradient's planes): blocks of 8
 * neighbours added as a vector, block j of a row the work-item j % EW_SUB's,
 * then the tail past the last whole block spread the same way. Four blocks
 * at a time go to four independent compensated sums (the lanes of sum4):
 * the compensation's chain of dependent operations, not the loads, bounded
 * one block at a time. */
static float part_contiguous(__global const float *xo, int rows, int row_st, int len, int sub)
{
    float sum = 0.0f, comp = 0.0f;
    float4 sum4 = (float4)(0.0f), comp4 = (float4)(0.0f);
    int whole = len / 8 * 8, step = EW_SUB * 8;
    for (int m = 0; m < rows; m++) {
        __global const float *p = xo + m * row_st;
        int k = sub * 8;
        for (; k + 3 * step < whole; k += 4 * step)
            kahan_add4(&sum4, &comp4,
                       (float4)(block_sum8(p + k), block_sum8(p + k + step), block_sum8(p + k + 2 * step),
                                block_sum8(p + k + 3 * step)));
        for (; k < whole; k += step)
            kahan_add(&sum, &comp, block_sum8(p + k));
        for (k = whole + sub; k < len; k += EW_SUB)
            kahan_add(&sum, &comp, p[k]);
    }
    return fold4(sum, comp, sum4, comp4);
}

/* The same over terms st apart (a sum over channels), four terms at a time
 * into four compensated sums, then the rest one at a time. */
static float part_strided(__global const float *xo, int rows, int row_st, int len, int st, int sub)
{
    float sum = 0.0f, comp = 0.0f;
    float4 sum4 = (float4)(0.0f), comp4 = (float4)(0.0f);
    for (int m = 0; m < rows; m++) {
        __global const float *p = xo + m * row_st;
        int k = sub;
        for (; k + 3 * EW_SUB < len; k += 4 * EW_SUB)
            kahan_add4(&sum4, &comp4,
                       (float4)(p[k * st], p[(k + EW_SUB) * st], p[(k + 2 * EW_SUB) * st], p[(k + 3 * EW_SUB) * st]));
        for (; k < len; k += EW_SUB)
            kahan_add(&sum, &comp, p[k * st]);
    }
    return fold4(sum, comp, sum4, comp4);
}

__kernel void reduce_sum(int n_out, int n_red, int n_split,
                         int8 keep, int8 keep_strides, int8 red, int8 red_strides,
                         __global const float *x, int x_off,
                         __global float *y, int y_off, float scale)
{
    __local float part[EW_WG];
    int lid = get_local_id(0);
    int sub = lid % EW_SUB;
    int split = get_group_id(0) % n_split;
    int o = get_group_id(0) / n_split * EW_OPG + lid / EW_SUB;
    int part_len = (n_red + n_split - 1) / n_split;
    int r_begin = min(n_red, split * part_len), r_stop = min(n_red, r_begin + part_len);
    float sum = 0.0f, comp = 0.0f;
    /* No early return: every work-item must reach the barriers. */
    if (o < n_out && n_split == 1 && red.s0 == 1 && red.s1 == 1 && red.s2 == 1 && red.s3 == 1 && red.s5 >= EW_SUB) {
        /* At most two summed axes (after the host merged them: a bias
         * gradient sums [N, H*W] per channel), the inner one at least as
         * long as the work-items of an output: nested loops, no index
         * division per element, the work-items interleaved along the inner
         * axis so neighbours read neighbours (EW_RUN does not apply). */
        __global const float *xo = x + x_off + strided_offset(o, keep, keep_strides);
        if (n_red <= SHORT_SUM) {
            /* a few terms (a filter's taps): plain adds, whose error is
             * already small, instead of the compensation's chain of four
             * dependent operations per term (the sum of squares over 3x3
             * taps spent 1.4 ms on 590K terms waiting on that chain) */
            for (int m = 0; m < red.s4; m++)
                for (int k = sub; k < red.s5; k += EW_SUB)
                    sum += xo[m * red_strides.s4 + k * red_strides.s5];
        } else if (red_strides.s5 == 1) {
            sum = part_contiguous(xo, red.s4, red_strides.s4, red.s5, sub);
        } else {
            sum = part_strided(xo, red.s4, red_strides.s4, red.s5, red_strides.s5, sub);
        }
    } else if (o < n_out && n_red <= SHORT_SUM) {
        int base = x_off + strided_offset(o, keep, keep_strides);
        for (int r = r_begin + sub; r < r_stop; r += EW_SUB)
            sum += x[base + strided_offset(r, red, red_strides)];
    } else if (o < n_out) {
        int base = x_off + strided_offset(o, keep, keep_strides);
#if EW_RUN
        /* One strided_offset per stretch along the innermost summed axis. */
        int chunk = (r_stop - r_begin + EW_SUB - 1) / EW_SUB;
        int r = r_begin + sub * chunk, r_end = min(r + chunk, r_stop);
        while (r < r_end) {
            int len = min(red.s5 - r % red.s5, r_end - r);
            __global const float *p = x + base + strided_offset(r, red, red_strides);
            for (int k = 0; k < len; k++)
                kahan_add(&sum, &comp, p[k * red_strides.s5]);
            r += len;
        }
#else
        for (int r = r_begin + sub; r < r_stop; r += EW_SUB)
            kahan_add(&sum, &comp, x[base + strided_offset(r, red, red_strides)]);
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
        y[y_off + o * n_split + split] = part[lid] * scale;
}
