/* Reference of the modulated-convolution weights (modconv_weight): a direct
 * double-precision sum per (n, o), as the StyleGAN2 paper writes it. */
#include <math.h>

#include "src/ref/ref.h"

void sg2_ref_modconv_weight(double *y, const double *w, const double *s, int N, int Cout, int Cin, int taps,
                            int demodulate, double gain)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < Cout; o++) {
            const double *wo = w + (long)o * Cin * taps;
            double *yo = y + ((long)n * Cout + o) * Cin * taps;
            double q = 0;
            for (int i = 0; i < Cin; i++)
                for (int k = 0; k < taps; k++) {
                    double a = wo[i * taps + k] * s[n * Cin + i];
                    q += a * a;
                }
            double d = demodulate ? 1.0 / sqrt(q + 1e-8) : 1.0;
            for (int i = 0; i < Cin; i++)
                for (int k = 0; k < taps; k++)
                    yo[i * taps + k] = wo[i * taps + k] * s[n * Cin + i] * d * gain;
        }
}

void sg2_ref_scale_channels(double *y, const double *x, const double *s, int rows, int inner)
{
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < inner; j++)
            y[(long)r * inner + j] = x[(long)r * inner + j] * s[r];
}

void sg2_ref_channel_dot(double *d, const double *a, const double *b, int rows, int inner)
{
    for (int r = 0; r < rows; r++) {
        double acc = 0;
        for (int j = 0; j < inner; j++)
            acc += a[(long)r * inner + j] * b[(long)r * inner + j];
        d[r] = acc;
    }
}
