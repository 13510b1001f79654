/* Modulated-convolution weight preparation (StyleGAN2 paper, Section 2.2):
 * per sample n and output channel o,
 *     a[n,o,i,k] = w[o,i,k] * s[n,i]
 *     d[n,o]     = rsqrt(sum_{i,k} a^2 + 1e-8)   (1 without demodulation)
 *     y[n,o,i,k] = a * d * gain
 * in one pass over y. This replaces the chain of broadcast multiplies,
 * squares, sums, a matmul and a rsqrt the composed version launches, several
 * of which read or write the whole N x Cout x Cin x k x k tensor.
 *
 * sum_{i,k} a^2 = sum_i s[n,i]^2 wsq[o,i] with wsq[o,i] = sum_k w[o,i,k]^2,
 * which the host's channel_sq computes once for all samples (channel_dot_rows
 * below for a filter's taps), so the
 * demodulation reads cin values per (n, o) instead of cin * taps;
 * modconv_demod turns that into d[n,o], and the weight kernels read d and
 * write the scaled rows.
 *
 * transposed = 1 writes y[n, i, o, k] instead: the [Cin, Cout/groups, k, k]
 * per-group layout a grouped transposed convolution takes (the up-sampling
 * layers), which saves a permuting copy of the whole tensor. */

#ifndef MC_WG
#define MC_WG 64 /* work-items per (n, o), a power of two */
#endif
/* Taps per filter (kh * kw), set by the host: the compiler turns the
 * divisions by it into a multiply and a shift, which vectorise (a division
 * by a run-time value is scalar on x86). */
#ifndef MC_TAPS
#define MC_TAPS 9
#endif

/* Range (MC_WG, cout, N). */
__kernel __attribute__((reqd_work_group_size(MC_WG, 1, 1)))
void modconv_weight(int cin, int cout, int demodulate, int transposed, float gain,
                    __global const float *w, int w_off,   /* [cout, cin, taps] */
                    __global const float *d,              /* [N, cout] from modconv_demod, read when demodulate */
                    __global const float *s, int s_off,   /* [N, cin] */
                    __global float *y, int y_off)         /* [N, cout, cin, taps] or [N, cin, cout, taps] */
{
    int lid = get_local_id(0), o = get_group_id(1), n = get_group_id(2);
    const int taps = MC_TAPS;
    int row = cin * taps;
    __global const float *wo = w + w_off + o * row;
    __global const float *sn = s + s_off + n * cin;
    float scale = demodulate ? gain * d[n * cout + o] : gain;
    /* taps-long runs per input channel: no division in the index */
    __global float *yo = y + y_off + (transposed ? n * row * cout + o * taps : (n * cout + o) * row);
    int ystride = transposed ? cout * taps : taps;
    for (int i = lid; i < cin; i += MC_WG) {
        float si = sn[i] * scale;
        for (int k = 0; k < MC_TAPS; k++)
            yo[i * ystride + k] = wo[i * MC_TAPS + k] * si;
    }
}

/* The same weights written straight into the panels the register-tiled
 * convolution reads (src/conv_tiled.h, sg2_conv_tiled_fwd_packed), which
 * saves that convolution's packing pass: wt[N][n_cb][cin * taps][lanes],
 * channel o = cb * lanes + l, zero for o >= cout; flip = 1 stores tap t at
 * taps - 1 - t (the transposed convolution's packing). One work-group
 * writes one panel (n, cb), each work-item whole runs of taps * lanes
 * floats. Range (MC_WG, n_cb, N). */
#ifndef MC_LANES
#define MC_LANES 16 /* the panel width (lanes), set by the host */
#endif

/* d[n, o] = rsqrt(sum_i s[n, i]^2 wsq[o, i] + 1e-8): the demodulation
 * coefficients alone, for modconv_weight and modconv_weight_packed (whose
 * work-groups would otherwise each reduce their rows through local memory
 * and barriers). Range (cout, N). */
__kernel void modconv_demod(int cin, int cout, __global const float *wsq, __global const float *s, int s_off,
                            __global float *d)
{
    int o = get_global_id(0), n = get_global_id(1);
    if (o >= cout)
        return;
    __global const float *sn = s + s_off + n * cin, *wo = wsq + o * cin;
    /* eight independent sums, not one chain of cin dependent adds (the
     * chain's latency was the whole cost) */
    float8 acc8 = (float8)(0.0f);
    int i = 0;
    for (; i + 8 <= cin; i += 8) {
        float8 sv = vload8(0, sn + i);
        acc8 += sv * sv * vload8(0, wo + i);
    }
    float acc = (acc8.s0 + acc8.s1) + (acc8.s2 + acc8.s3) + (acc8.s4 + acc8.s5) + (acc8.s6 + acc8.s7);
    for (; i < cin; i++)
        acc += sn[i] * sn[i] * wo[i];
    d[n * cout + o] = rsqrt(acc + 1e-8f);
}

/* d: [N, cout] from modconv_demod, read only when demodulate. */
__kernel __attribute__((reqd_work_group_size(MC_WG, 1, 1)))
void modconv_weight_packed(int cin, int cout, int flip, int demodulate, float gain,
                           __global const float *w, int w_off, __global const float *d,
                           __global const float *s, int s_off, __global float *wt, int wt_off)
{
    int lid = get_local_id(0), cb = get_group_id(1), n = get_group_id(2), n_cb = get_num_groups(1);
    const int taps = MC_TAPS;
    int row = cin * taps;
    __global const float *sn = s + s_off + n * cin;
    int o_end = cout - cb * MC_LANES; /* lanes l < o_end are channels */
    float scale[MC_LANES];
    for (int l = 0; l < MC_LANES; l++)
        scale[l] = l < o_end ? (demodulate ? gain * d[n * cout + cb * MC_LANES + l] : gain) : 0.0f;
    __global const float *wc = w + w_off + cb * MC_LANES * row;
    __global float *yp = wt + wt_off + (n * n_cb + cb) * row * MC_LANES;
    /* one input channel per step: taps * lanes contiguous floats out */
    for (int i = lid; i < cin; i += MC_WG) {
        float si = sn[i];
        for (int k = 0; k < MC_TAPS; k++) {
            int src = i * taps + (flip ? taps - 1 - k : k);
            __global float *yk = yp + (i * taps + k) * MC_LANES;
            for (int l = 0; l < MC_LANES; l++)
                yk[l] = l < o_end ? wc[l * row + src] * si * scale[l] : 0.0f;
        }
    }
}

/* ---- the non-fused (training) path's per-channel scalings -------------- */

/* y[r, j] = x[r, j] * s[r] over rows r = (n, c) of `inner` elements: the
 * modulation x * styles and the demodulation y * d without the general
 * broadcasting kernel's six index divisions per operand. Range (n). */
__kernel void scale_channels(int n, int inner, __global const float *x, int x_off, __global const float *s,
                             int s_off, __global float *y, int y_off)
{
    int i = get_global_id(0);
    if (i < n)
        y[y_off + i] = x[x_off + i] * s[s_off + i / inner];
}

/* scale_channels when inner is a multiple of 8: a work-item per 8
 * neighbours of one row, one scale read and whole-vector loads and stores
 * (the element kernel's division per element held it to a fifth of the
 * copy bandwidth on PoCL). n8 = n / 8. */
__kernel void scale_channels_vec(int n8, int inner, __global const float *x, int x_off, __global const float *s,
                                 int s_off, __global float *y, int y_off)
{
    int u = get_global_id(0);
    if (u < n8) {
        int i = u * 8;
        vstore8(vload8(0, x + x_off + i) * s[s_off + i / inner], 0, y + y_off + i);
    }
}

/* scale_channels for short rows (a filter's taps): a work-item per row, no
 * division per element (the element kernel's runtime divisor made it
 * scalar on x86). Range (rows). */
__kernel void scale_channels_rows(int rows, int inner, __global const float *x, int x_off, __global const float *s,
                                  int s_off, __global float *y, int y_off)
{
    int r = get_global_id(0);
    if (r >= rows)
        return;
    float sr = s[s_off + r];
    __global const float *xr = x + x_off + r * inner;
    __global float *yr = y + y_off + r * inner;
    for (int j = 0; j < inner; j++)
        yr[j] = xr[j] * sr;
}

/* channel_dot for rows shorter than a work-group (a filter's taps, whose
 * sums of squares the demodulation takes): a work-item per row instead of
 * a work-group with most of its items idle. Range (rows). */
__kernel void channel_dot_rows(int rows, int inner, __global const float *a, int a_off, __global const float *b,
                               int b_off, __global float *d, int d_off)
{
    int r = get_global_id(0);
    if (r >= rows)
        return;
    __global const float *ar = a + a_off + r * inner, *br = b + b_off + r * inner;
    float acc = 0.0f;
    for (int j = 0; j < inner; j++)
        acc += ar[j] * br[j];
    d[d_off + r] = acc;
}

/* d[r] = sum_j a[r, j] * b[r, j]: the styles' and demodulation
 * coefficients' gradients (the adjoint of scale_channels). One work-group
 * per row, reduced in local memory. Range (MC_WG, rows). */
__kernel __attribute__((reqd_work_group_size(MC_WG, 1, 1)))
void channel_dot(int inner, __global const float *a, int a_off, __global const float *b, int b_off,
                 __global float *d, int d_off)
{
    __local float part[MC_WG];
    int lid = get_local_id(0), r = get_group_id(1);
    __global const float *ar = a + a_off + r * inner, *br = b + b_off + r * inner;
    float acc = 0.0f;
    for (int j = lid; j < inner; j += MC_WG)
        acc += ar[j] * br[j];
    part[lid] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = MC_WG / 2; h > 0; h >>= 1) {
        if (lid < h)
            part[lid] += part[lid + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0)
        d[d_off + r] = part[0];
}
