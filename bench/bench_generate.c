/* Generator throughput at the reference's presets: images/s of mapping +
 * synthesis (fused modulated conv, constant noise) for batch sizes, with
 * GFLOP per image counted from the layer shapes. Validated before timing:
 * the fused path must agree with the non-fused one and be finite.
 * Usage: bench_generate [--presets 32,64,256,1024] [--repeats N] [--batches 1,8]
 * Prints a table and one JSON line per workload. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/cli_util.h"
#include "src/network.h"
#include "src/ops.h"

typedef struct preset {
    int res, cbase, map;
    const char *name;
    double ref_gflop; /* the reference's G forward GFLOP per image, when known */
} preset;

static const preset presets[] = {
    {32, 16384, 2, "32^2 auto", 8.0},
    {64, 16384, 2, "64^2 auto", 0},
    {256, 16384, 8, "256^2 paper256", 29.8},
    {1024, 32768, 8, "1024^2 stylegan2 (config F)", 148.5},
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 2 x multiply-adds of every convolution and fully connected layer. */
static double gflop_per_image(const sg2_g_config *c)
{
    double f = 0;
    int w = c->w_dim;
    for (int i = 0; i < c->map_layers; i++)
        f += 2.0 * (i == 0 ? c->z_dim : w) * w;
    int cin_prev = 0;
    for (int res = 4; res <= c->img_resolution; res *= 2) {
        int co = sg2_channels_at(c->channel_base, c->channel_max, res);
        if (res > 4) {
            /* conv0: a transposed conv, stride 2: each input pixel meets every tap once */
            f += 2.0 * w * cin_prev + 2.0 * co * cin_prev * 9 * (double)(res / 2) * (res / 2);
        }
        f += 2.0 * w * co + 2.0 * co * co * 9 * (double)res * res;             /* conv1 */
        f += 2.0 * w * co + 2.0 * c->img_channels * co * (double)res * res;    /* torgb */
        cin_prev = co;
    }
    return f * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One forward of n images; returns a host copy of the images when out != NULL. */
static int forward(sg2_ctx *ctx, sg2_generator *g, int n, int fused, float *out)
{
    size_t mark = sg2_scope_begin(ctx);
    sg2_random_seed(ctx, 1234);
    sg2_tensor *z = sg2_rand_normal(ctx, 2, (const int64_t[]){n, g->cfg.z_dim});
    sg2_mapping_args m = {.truncation_psi = 1.0f};
    sg2_synthesis_args s = {.noise_mode = SG2_NOISE_CONST, .fused_modconv = fused};
    sg2_tensor *img = sg2_synthesis_forward(ctx, g, sg2_mapping_forward(ctx, g, z, NULL, &m), &s);
    if (img && out)
        sg2_tensor_read(ctx, img, out);
    sg2_runtime_finish(ctx->rt, &ctx->err);
    sg2_scope_end(ctx, mark, NULL, 0);
    return ctx->err.status == SG2_OK;
}

static int validate(sg2_ctx *ctx, sg2_generator *g)
{
    int r = g->cfg.img_resolution;
    size_t n = (size_t)2 * g->cfg.img_channels * r * r;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    int ok = a && b && forward(ctx, g, 2, 1, a) && forward(ctx, g, 2, 0, b);
    double max_d = 0, max_v = 0;
    for (size_t i = 0; ok && i < n; i++) {
        if (!isfinite(a[i]))
            ok = 0;
        max_d = fmax(max_d, fabs((double)a[i] - b[i]));
        max_v = fmax(max_v, fabs((double)b[i]));
    }
    if (ok && max_d > 1e-3 * fmax(max_v, 1.0))
        ok = 0;
    fprintf(stderr, "validate %dx%d: fused vs non-fused max |diff| %.3g (max |img| %.3g): %s\n", r, r, max_d, max_v,
            ok ? "ok" : "FAILED");
    free(a);
    free(b);
    return ok;
}

int main(int argc, char **argv)
{
    const char *which = "32,64,256,1024", *batches = "1,8";
    long repeats = 5;
    sg2_error err = {0};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--presets") == 0)
            which = argv[i + 1];
        else if (strcmp(argv[i], "--batches") == 0)
            batches = argv[i + 1];
        else if (strcmp(argv[i], "--repeats") == 0 && !sg2_parse_long(argv[i + 1], 1, 1000, "--repeats", &repeats, &err))
            ;
        else {
            fprintf(stderr, "usage: bench_generate [--presets 32,64,256,1024] [--batches 1,8] [--repeats N]\n");
            return 2;
        }
    }
    long *res_list = NULL, *batch_list = NULL;
    int nres = 0, nb = 0;
    if (sg2_parse_num_list(which, 4, 1024, &res_list, &nres, &err) ||
        sg2_parse_num_list(batches, 1, 64, &batch_list, &nb, &err)) {
        fprintf(stderr, "bench_generate: %s\n", err.msg);
        return 2;
    }
    sg2_runtime rt;
    if (sg2_runtime_init(&rt, NULL, &err)) {
        fprintf(stderr, "bench_generate: %s\n", err.msg);
        return 1;
    }
    sg2_ctx ctx;
    sg2_ctx_init(&ctx, &rt);
    ctx.grad_enabled = 0;
    printf("device: %s, driver %s\n", rt.dev.name, rt.dev.driver_version);
    printf("%-30s %5s %10s %10s %9s %10s %10s %9s\n", "preset", "batch", "img/s", "ms/img", "GFLOP/img", "ref GFLOP",
           "GFLOP/s", "peak MiB");
    for (int p = 0; p < nres; p++) {
        const preset *pr = NULL;
        for (size_t k = 0; k < sizeof presets / sizeof presets[0]; k++)
            if (presets[k].res == res_list[p])
                pr = &presets[k];
        if (!pr) {
            fprintf(stderr, "bench_generate: no preset at %ld\n", res_list[p]);
            continue;
        }
        sg2_g_config cfg = sg2_g_config_default(pr->res, 3);
        cfg.channel_base = pr->cbase;
        cfg.map_layers = pr->map;
        sg2_generator g;
        if (sg2_generator_init(&ctx, &g, &cfg) || !validate(&ctx, &g)) {
            fprintf(stderr, "bench_generate: %s\n", ctx.err.status ? ctx.err.msg : "validation failed");
            return 1;
        }
        double gf = gflop_per_image(&cfg);
        for (int b = 0; b < nb; b++) {
            int n = (int)batch_list[b];
            rt.pool.peak_in_use = rt.pool.bytes_in_use;
            if (!forward(&ctx, &g, n, 1, NULL)) { /* warm-up */
                fprintf(stderr, "bench_generate: %s at batch %d\n", ctx.err.msg, n);
                sg2_ctx_clear_error(&ctx);
                continue;
            }
            double *t = calloc((size_t)repeats, sizeof *t);
            for (long r = 0; r < repeats; r++) {
                double t0 = now();
                forward(&ctx, &g, n, 1, NULL);
                t[r] = now() - t0;
            }
            qsort(t, (size_t)repeats, sizeof *t, cmp);
            double med = t[repeats / 2], ips = n / med;
            char ref[16] = "-";
            if (pr->ref_gflop > 0)
                snprintf(ref, sizeof ref, "%.1f", pr->ref_gflop);
            printf("%-30s %5d %10.2f %10.1f %9.2f %10s %10.1f %9.0f\n", pr->name, n, ips, 1e3 * med / n, gf,
                   ref, gf * ips, (double)rt.pool.peak_in_use / 1048576.0);
            printf("{\"workload\": \"generator_forward\", \"preset\": \"%s\", \"resolution\": %d, \"batch\": %d, "
                   "\"images_per_s\": %.4g, \"s_min\": %.4g, \"s_median\": %.4g, \"s_max\": %.4g, \"gflop_per_image\": %.4g, "
                   "\"gflop_per_s\": %.4g, \"peak_device_mib\": %.1f, \"device\": \"%s\"}\n",
                   pr->name, pr->res, n, ips, t[0], med, t[repeats - 1], gf, gf * ips,
                   (double)rt.pool.peak_in_use / 1048576.0, rt.dev.name);
            fflush(stdout);
            free(t);
        }
        sg2_generator_free(&g);
    }
    free(res_list);
    free(batch_list);
    sg2_ctx_free(&ctx);
    sg2_runtime_free(&rt);
    return 0;
}
