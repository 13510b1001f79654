/* Tuning families of the register-tiled convolutions (src/conv_tiled.c):
 * their search spaces, shape classes, workloads and presets. The kernels
 * read the chosen CONV_TILE and CONV_LWS through tuned_tiles there. */
#include <stdio.h>

#include "src/ops.h"
#include "src/tune.h"

/* Dims: {N, Cin, Cout, H, W, k, stride, groups}, see conv_dims in src/conv_tiled.c. Each family
 * tunes CONV_TILE (a tiles code, see tiles_from_code; 0 = the heuristic's)
 * and CONV_LWS (work-items per work-group along dim 0; 0 = the heuristic's).
 * The candidates hold the heuristic's CPU and GPU choices and their
 * neighbours: wider and narrower vectors, taller and wider pixel blocks. */

static int conv_valid(const int *v, const void *dev)
{
    return (size_t)v[1] <= ((const sg2_device_info *)dev)->max_work_group;
}

static const sg2_tune_space conv2d_space = {
    2,
    {{"CONV_TILE", 12, {0, 116208, 116404, 2116204, 2116108, 2116402, 104204, 108208, 108404, 216204, 216108, 204108}},
     {"CONV_LWS", 5, {0, 4, 8, 32, 128}}},
    conv_valid,
};

static const sg2_tune_space conv_transpose2d_space = {
    2,
    {{"CONV_TILE", 12, {0, 116208, 116404, 116204, 116408, 108208, 108404, 104404, 104208, 116104, 316302, 2316103}},
     {"CONV_LWS", 5, {0, 4, 8, 32, 128}}},
    conv_valid,
};

static const sg2_tune_space conv2d_wgrad_space = {
    2,
    {{"CONV_TILE", 12, {0, 116301, 116201, 116102, 108301, 104401, 208102, 208104, 208108, 204104, 216102, 216104}},
     {"CONV_LWS", 5, {0, 2, 4, 16, 32}}},
    conv_valid,
};

/* The smallest of lo, 2 lo, 4 lo, ... hi that is at least n (hi if none). */
static int bucket(int n, int lo, int hi)
{
    int b = lo;
    while (b < n && b < hi)
        b *= 2;
    return b;
}

/* Channels per group: ToRGB's 3 (and 4) apart, tests' handfuls apart,
 * then up to 64, 256 (128 and 256), more. */
static int chan_bucket(int c) { return c <= 4 ? 4 : c <= 16 ? 16 : c <= 64 ? 64 : c <= 256 ? 256 : 512; }

/* The work of a call, n_img * cin_g * cout_g * k^2 * wo^2, in steps of 4x:
 * the buckets above alone let one class span 200x in work (17 to 64
 * channels, 33 to 64 columns, 1 to 4 images), and the first instance of a
 * class decides its tiles for all: a 64-channel 64x64 conv at batch 4 ran
 * 0.87x its default tiles on a choice made for a far smaller one. */
static int work_bucket(int n_img, int cin_g, int cout_g, int wo, int k)
{
    double w = (double)n_img * cin_g * cout_g * k * k * wo * wo;
    int b = 0;
    for (; w >= 4.0; w /= 4.0)
        b++;
    return b;
}

/* "k3s1-c512x512-r32-b4-w16": kernel, stride, channels per group in and
 * out, output width (4 .. 256), images times groups (4, 16, 64) and work
 * (for the transpose, at the up-sampled width: 4x its multiply-adds, alike
 * across the family): what the heuristic's choice turns on; the presets
 * below make about one class each. */
static void conv_class_of(int n_img, int cin_g, int cout_g, int wo, int k, int stride, char *out, size_t cap)
{
    snprintf(out, cap, "k%ds%d-c%dx%d-r%d-b%d-w%d", k, stride, chan_bucket(cin_g), chan_bucket(cout_g),
             bucket(wo, 4, 256), n_img <= 4 ? 4 : n_img <= 16 ? 16 : 64, work_bucket(n_img, cin_g, cout_g, wo, k));
}

static void conv2d_class(const int *d, char *out, size_t cap)
{
    int wo = d[6] == 1 ? d[4] : (d[4] - d[5]) / d[6] + 1;
    conv_class_of(d[0] * d[7], d[1] / d[7], d[2] / d[7], wo, d[5], d[6], out, cap);
}

/* Classed by the upsampled width (before the FIR crops the border). */
static void conv_transpose2d_class(const int *d, char *out, size_t cap)
{
    conv_class_of(d[0] * d[7], d[1] / d[7], d[2] / d[7], d[4] * d[6], d[5], d[6], out, cap);
}

static sg2_conv_params tune_params(const int *d)
{
    int pad = d[6] == 1 ? d[5] / 2 : 0;
    return (sg2_conv_params){.stride = d[6], .pad_y = pad, .pad_x = pad, .groups = d[7]};
}

/* in[0] = x[N, Cin, H, W], in[1] = w[Cout, Cin/g, k, k] */
static sg2_status conv2d_setup(sg2_ctx *ctx, const int *d, sg2_tensor **in)
{
    in[0] = sg2_tune_random_tensor(ctx, 4, (const int64_t[]){d[0], d[1], d[3], d[4]}, 11);
    in[1] = sg2_tune_random_tensor(ctx, 4, (const int64_t[]){d[2], d[1] / d[7], d[5], d[5]}, 12);
    return ctx->err.status;
}

static sg2_tensor *conv2d_run(sg2_ctx *ctx, const int *d, sg2_tensor *const *in)
{
    sg2_conv_params p = tune_params(d);
    return sg2_conv2d(ctx, in[0], in[1], &p);
}

/* in[0] = x[N, Cin, H, W], in[1] = w[Cin, Cout/g, k, k] */
static sg2_status conv_transpose2d_setup(sg2_ctx *ctx, const int *d, sg2_tensor **in)
{
    in[0] = sg2_tune_random_tensor(ctx, 4, (const int64_t[]){d[0], d[1], d[3], d[4]}, 13);
    in[1] = sg2_tune_random_tensor(ctx, 4, (const int64_t[]){d[1], d[2] / d[7], d[5], d[5]}, 14);
    return ctx->err.status;
}

static sg2_tensor *conv_transpose2d_run(sg2_ctx *ctx, const int *d, sg2_tensor *const *in)
{
    sg2_conv_params p = {.stride = d[6], .groups = d[7]};
    return sg2_conv_transpose2d(ctx, in[0], in[1], &p, 0, 0);
}

/* in[0] = dy[N, Cout, Ho, Wo], in[1] = x[N, Cin, H, W] */
static sg2_status conv2d_wgrad_setup(sg2_ctx *ctx, const int *d, sg2_tensor **in)
{
    sg2_conv_params p = tune_params(d);
    int ho = (d[3] + 2 * p.pad_y - d[5]) / d[6] + 1, wo = (d[4] + 2 * p.pad_x - d[5]) / d[6] + 1;
    in[0] = sg2_tune_random_tensor(ctx, 4, (const int64_t[]){d[0], d[2], ho, wo}, 15);
    in[1] = sg2_tune_random_tensor(ctx, 4, (const int64_t[]){d[0], d[1], d[3], d[4]}, 16);
    return ctx->err.status;
}

static sg2_tensor *conv2d_wgrad_run(sg2_ctx *ctx, const int *d, sg2_tensor *const *in)
{
    sg2_conv_params p = tune_params(d);
    return sg2_conv2d_wgrad(ctx, in[0], in[1], &p, d[5], d[5]);
}

/* The convolutions of the 32x32 preset at batch 4 and 32 (G: 512 channels
 * as one group per image, the fused modulation's form, whose shape class,
 * N * groups images of a group's channels, is the non-fused layer's too;
 * ToRGB 1x1 to 3 channels; D: 3x3, the stride-2 3x3 after the FIR's 2
 * pixels of padding, 1x1 skips), the
 * 64- and 128-channel layers of larger discriminators, and the 256x256
 * generator at batch 4 (256, 128 and 64 channels at 64, 128 and 256). */
static const int conv2d_presets[][SG2_TUNE_DIMS] = {
    {1, 2048, 2048, 4, 4, 3, 1, 4},        {1, 2048, 2048, 8, 8, 3, 1, 4},       {1, 2048, 2048, 32, 32, 3, 1, 4},
    {1, 16384, 16384, 8, 8, 3, 1, 32},     {1, 16384, 16384, 32, 32, 3, 1, 32},  {1, 2048, 12, 32, 32, 1, 1, 4},
    {1, 16384, 96, 32, 32, 1, 1, 32},      {32, 512, 512, 16, 16, 3, 1, 1},      {32, 512, 512, 18, 18, 3, 2, 1},
    {32, 512, 512, 16, 16, 1, 1, 1},       {4, 64, 64, 32, 32, 3, 1, 1},         {32, 64, 128, 34, 34, 3, 2, 1},
    {1, 1024, 1024, 64, 64, 3, 1, 4},      {1, 512, 512, 128, 128, 3, 1, 4},     {1, 256, 256, 256, 256, 3, 1, 4},
    {1, 256, 12, 256, 256, 1, 1, 4},
};

/* G's stride-2 upsampling convolutions (as one group per image, no padding;
 * the class is the non-fused layer's too, see above). */
static const int conv_transpose2d_presets[][SG2_TUNE_DIMS] = {
    {1, 2048, 2048, 4, 4, 3, 2, 4},      {1, 2048, 2048, 16, 16, 3, 2, 4},  {1, 16384, 16384, 4, 4, 3, 2, 32},
    {1, 16384, 16384, 16, 16, 3, 2, 32}, {1, 2048, 1024, 32, 32, 3, 2, 4},  {1, 1024, 512, 64, 64, 3, 2, 4},
    {1, 512, 256, 128, 128, 3, 2, 4},
};

/* The weight gradients of the training layers among those above. */
static const int conv2d_wgrad_presets[][SG2_TUNE_DIMS] = {
    {1, 2048, 2048, 8, 8, 3, 1, 4},    {1, 2048, 2048, 32, 32, 3, 1, 4},   {1, 16384, 16384, 8, 8, 3, 1, 32},
    {1, 16384, 16384, 32, 32, 3, 1, 32}, {1, 2048, 12, 32, 32, 1, 1, 4},   {32, 512, 512, 16, 16, 3, 1, 1},
    {32, 512, 512, 18, 18, 3, 2, 1},   {32, 512, 512, 16, 16, 1, 1, 1},    {4, 64, 64, 32, 32, 3, 1, 1},
};

#define N_PRESETS(a) ((int)(sizeof a / sizeof a[0]))

const sg2_tune_family sg2_tune_family_conv2d = {
    .name = "conv2d",
    .kernel_file = "conv_tiled.cl",
    .space = &conv2d_space,
    .shape_class = conv2d_class,
    .setup = conv2d_setup,
    .run = conv2d_run,
    .presets = conv2d_presets,
    .n_presets = N_PRESETS(conv2d_presets),
};

const sg2_tune_family sg2_tune_family_conv_transpose2d = {
    .name = "conv_transpose2d",
    .kernel_file = "conv_tiled.cl",
    .space = &conv_transpose2d_space,
    .shape_class = conv_transpose2d_class,
    .setup = conv_transpose2d_setup,
    .run = conv_transpose2d_run,
    .presets = conv_transpose2d_presets,
    .n_presets = N_PRESETS(conv_transpose2d_presets),
};

const sg2_tune_family sg2_tune_family_conv2d_wgrad = {
    .name = "conv2d_wgrad",
    .kernel_file = "conv_tiled.cl",
    .space = &conv2d_wgrad_space,
    .shape_class = conv2d_class,
    .setup = conv2d_wgrad_setup,
    .run = conv2d_wgrad_run,
    .presets = conv2d_wgrad_presets,
    .n_presets = N_PRESETS(conv2d_wgrad_presets),
};
