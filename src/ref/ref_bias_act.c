/* Reference fused bias + activation + gain + clamp, and its input gradient. */
#include "src/ref/ref.h"

#include <math.h>

static double activate(double v, int act, double alpha)
{
    switch (act) {
    case SG2_REF_ACT_LRELU:
        return v > 0 ? v : alpha * v;
    case SG2_REF_ACT_RELU:
        return v > 0 ? v : 0;
    default:
        return v;
    }
}

/* Slope of the activation, read from the sign of the forward output: y has the
 * sign of the pre-activation for a positive gain, and using y lets the backward
 * pass keep only y (not x + b) alive, as the fused GPU op does. */
static double slope_from_output(double y, int act, double alpha)
{
    switch (act) {
    case SG2_REF_ACT_LRELU:
        return y > 0 ? 1 : alpha;
    case SG2_REF_ACT_RELU:
        return y > 0 ? 1 : 0;
    default:
        return 1;
    }
}

static double clamp_abs(double v, double clamp)
{
    if (clamp < 0)
        return v;
    return v > clamp ? clamp : (v < -clamp ? -clamp : v);
}

void sg2_ref_bias_act(double *y,       /* [outer, C, inner] */
                      const double *x, /* [outer, C, inner] */
                      const double *b, /* [C] or NULL */
                      int outer, int C, int inner, int act, double alpha, double gain, double clamp)
{
    for (int o = 0; o < outer; o++)
        for (int c = 0; c < C; c++) {
            double bias = b ? b[c] : 0;
            long base = ((long)o * C + c) * inner;
            for (int i = 0; i < inner; i++)
                y[base + i] = clamp_abs(activate(x[base + i] + bias, act, alpha) * gain, clamp);
        }
}

void sg2_ref_bias_act_grad(double *dx,       /* [n_elems] */
                           const double *dy, /* [n_elems] */
                           const double *y,  /* [n_elems], the forward output */
                           long n_elems, int act, double alpha, double gain, double clamp)
{
    for (long i = 0; i < n_elems; i++) {
        /* A clamped output is flat in x, so no gradient flows through it. */
        if (clamp >= 0 && fabs(y[i]) >= clamp)
            dx[i] = 0;
        else
            dx[i] = dy[i] * slope_from_output(y[i], act, alpha) * gain;
    }
}
