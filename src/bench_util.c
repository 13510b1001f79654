/* Helpers the benchmark workloads and the bench/ programs share. */
#include <math.h>

#include "src/bench_suite.h"

/* A linear congruential stream: the same inputs on every platform. */
void sg2_bench_fill(float *v, long n, unsigned seed)
{
    for (long i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        v[i] = (float)((seed >> 8) * (1.0 / 8388608.0) - 1.0);
    }
}

double sg2_bench_rel_err(const float *got, const double *want, long n, int *finite)
{
    double emax = 0, rmax = 0;
    *finite = 1;
    for (long i = 0; i < n; i++) {
        if (!isfinite(got[i]))
            *finite = 0;
        emax = fmax(emax, fabs(got[i] - want[i]));
        rmax = fmax(rmax, fabs(want[i]));
    }
    return emax / (rmax > 0 ? rmax : 1);
}

static int channels_at(int cbase, int cmax, int res) { return cbase / res < cmax ? cbase / res : cmax; }

/* 2 x the multiply-adds of every convolution and fully connected layer of
 * one image (mapping, then per resolution the up conv, conv1 and ToRGB with
 * their affine layers); the modulation, FIR filters and bias_act are left
 * out (memory-bound, < 1% of the FLOPs at 32^2 and above). */
double sg2_bench_generator_gflop(int img_resolution, int channel_base, int channel_max, int map_layers, int z_dim,
                                 int w_dim, int img_channels)
{
    double f = 0;
    for (int i = 0; i < map_layers; i++)
        f += 2.0 * (i == 0 ? z_dim : w_dim) * w_dim;
    double cin_prev = 0;
    for (int res = 4; res <= img_resolution; res *= 2) {
        double co = channels_at(channel_base, channel_max, res), hw = (double)res * res;
        if (res > 4) {
            /* conv0 is a stride-2 transposed conv: every input pixel meets
             * every tap once, so it costs k*k per input pixel of res/2. */
            f += 2.0 * w_dim * cin_prev;
            f += 2.0 * co * cin_prev * 9 * (hw / 4);
        }
        f += 2.0 * w_dim * co + 2.0 * co * co * 9 * hw;
        f += 2.0 * w_dim * co + 2.0 * img_channels * co * hw;
        cin_prev = co;
    }
    return f * 1e-9;
}

/* The same for one resnet discriminator forward: fromrgb, per block conv0
 * at res and the stride-2 conv1 and 1x1 skip at res/2, then the epilogue
 * (mbstd channel, conv, fc, out). */
double sg2_bench_discriminator_gflop(int img_resolution, int img_channels, int channel_base, int channel_max)
{
    int r = img_resolution;
    double f = 2.0 * img_channels * channels_at(channel_base, channel_max, r) * (double)r * r;
    for (int res = r; res >= 8; res /= 2) {
        int tmp = channels_at(channel_base, channel_max, res), co = channels_at(channel_base, channel_max, res / 2);
        double hw = (double)res * res;
        f += 2.0 * tmp * tmp * 9 * hw + 2.0 * co * tmp * 9 * (hw / 4) + 2.0 * co * tmp * (hw / 4);
    }
    int c4 = channels_at(channel_base, channel_max, 4);
    f += 2.0 * c4 * (c4 + 1) * 9 * 16 + 2.0 * c4 * 16 * c4 + 2.0 * c4;
    return f * 1e-9;
}
