/* Generator throughput at the reference's presets: images/s of mapping +
 * synthesis (modulated conv as the generate command runs it, constant noise, psi 1, random init
 * weights) per batch size, with GFLOP per image counted from the layer
 * shapes and the device memory the pass needed.
 *
 * Validated before timing: at 32^2 one image of the fused path must match the
 * non-fused path (1e-3 relative), and every warm-up output must be finite.
 *
 * Usage: bench_generate [--presets 32,64,256,1024] [--batches 1,8]
 *                       [--repeats N] [--budget SECONDS] [--cmax N] [--map N]
 *                       [--modconv auto|fused|nonfused]
 * --cmax and --map replace every chosen preset's channel_max (512) and
 * mapping depth (the Speed issue's 32^2 setting is --cmax 256 --map 2).
 * --modconv picks the modulated convolution timed: auto (what the generate
 * command runs: non-fused 3x3 layers, fused ToRGB; default), fused
 * (per-sample weights, grouped conv: the reference's inference path) or
 * nonfused (scale, shared-weight conv, scale: its training path).
 * --batches defaults to 1,8 (1,2 at 1024^2, whose activations at batch 8
 * would pass PoCL's 1 GiB buffer limit). The number of timed runs is what
 * fits in --budget seconds per preset (default 60) after the warm-up, at
 * least 1 and at most --repeats (default 10).
 * Prints a table and one JSON line per workload. "peak MiB" is the device
 * pool's high-water mark: parameters plus everything the pass kept alive.
 * "cpu" is this process's CPU seconds per wall second during the timed runs:
 * on a CPU device (PoCL) it falls below the core count when another program
 * competed for the cores, which makes that run's numbers suspect. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/bench_suite.h"
#include "src/cli_util.h"
#include "src/network.h"
#include "src/ops.h"

typedef struct preset {
    int res, cbase, cmax, map;
    const char *name;
    double ref_gflop; /* G forward GFLOP per image in the reference notes (1.9); 0: not given */
} preset;

/* The reference's train.py configs: auto below 512 has channel_base 16384 and
 * 2 mapping layers; paper256 16384 and 8; config F 32768 and 8. (The notes
 * give 8.0 GFLOP for 32^2 at base 32768: the same network, as both bases
 * cap at 512 channels up to 32^2.) */
static const preset presets[] = {
    {32, 16384, 512, 2, "32^2 auto", 8.0},
    {64, 16384, 512, 2, "64^2 auto", 0},
    {256, 16384, 512, 8, "256^2 paper256", 29.8},
    {1024, 32768, 512, 8, "1024^2 config F", 148.5},
};

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now(void) { return clock_s(CLOCK_MONOTONIC); }

/* FLOPs counted as the bench suite counts them (src/bench_util.c). */
static double gflop_per_image(const sg2_g_config *c)
{
    return sg2_bench_generator_gflop(c->img_resolution, c->channel_base, c->channel_max, c->map_layers, c->z_dim,
                                     c->w_dim, c->img_channels);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One forward pass of n images finished on the device. out: NULL, or a host
 * array for the images [n, C, R, R]. Everything the pass made is released
 * at the end, so each call starts from the same pool state. */
static int forward(sg2_ctx *ctx, sg2_generator *g, int n, int fused, float *out)
{
    size_t mark = sg2_scope_begin(ctx);
    sg2_random_seed(ctx, 1234);
    sg2_tensor *z = sg2_rand_normal(ctx, 2, (const int64_t[]){n, g->cfg.z_dim}); /* [n, z_dim] */
    sg2_mapping_args m = {.truncation_psi = 1.0f};
    sg2_synthesis_args s = {.noise_mode = SG2_NOISE_CONST, .fused_modconv = fused};
    sg2_tensor *ws = sg2_mapping_forward(ctx, g, z, NULL, &m);     /* [n, num_ws, w_dim] */
    sg2_tensor *img = sg2_synthesis_forward(ctx, g, ws, &s);       /* [n, C, R, R] */
    if (img && out)
        sg2_tensor_read(ctx, img, out);
    sg2_runtime_finish(ctx->rt, &ctx->err);
    sg2_scope_end(ctx, mark, NULL, 0);
    return ctx->err.status == SG2_OK;
}

static size_t image_floats(const sg2_generator *g, int n)
{
    size_t r = (size_t)g->cfg.img_resolution;
    return (size_t)n * (size_t)g->cfg.img_channels * r * r;
}

static int all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

/* Fused (grouped per-sample conv) against non-fused (scale, shared conv,
 * scale) on one image: two different kernels computing the same thing. */
static int validate_fused(sg2_ctx *ctx, sg2_generator *g)
{
    size_t n = image_floats(g, 1);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    int ok = a && b && forward(ctx, g, 1, 1, a) && forward(ctx, g, 1, 0, b) && all_finite(a, n) && all_finite(b, n);
    double max_d = 0, max_v = 0;
    for (size_t i = 0; ok && i < n; i++) {
        max_d = fmax(max_d, fabs((double)a[i] - b[i]));
        max_v = fmax(max_v, fabs((double)b[i]));
    }
    ok = ok && max_d <= 1e-3 * fmax(max_v, 1.0);
    fprintf(stderr, "validate %dx%d: fused vs non-fused max |diff| %.3g (max |img| %.3g): %s\n", g->cfg.img_resolution,
            g->cfg.img_resolution, max_d, max_v, ok ? "ok" : "FAILED");
    free(a);
    free(b);
    return ok;
}

typedef struct bench_opts {
    long max_repeats;
    double budget; /* seconds per preset */
    const long *batches;
    int n_batches; /* 0: the preset's default */
    long cmax, map; /* 0: the preset's */
    int fused;      /* modulated conv path timed: SG2_MODCONV_* */
} bench_opts;

/* Warm-up (also checked finite), then timed runs; prints the table row and
 * the JSON line. Returns 0 when the workload could not run. */
static int bench_batch(sg2_ctx *ctx, sg2_generator *g, const preset *pr, int n, double budget, const bench_opts *o)
{
    sg2_runtime *rt = ctx->rt;
    /* The peak counts the parameters (already in use) plus the pass. */
    rt->pool.peak_in_use = rt->pool.bytes_in_use;
    size_t nf = image_floats(g, n);
    float *img = malloc(nf * sizeof *img);
    double t0 = now();
    int ok = img && forward(ctx, g, n, o->fused, img);
    double t_warm = now() - t0;
    if (!ok || !all_finite(img, nf)) {
        fprintf(stderr, "bench_generate: %s at batch %d: %s\n", pr->name, n,
                ctx->err.status ? ctx->err.msg : "output not finite");
        sg2_ctx_clear_error(ctx);
        free(img);
        return 0;
    }
    free(img);
    /* The warm-up includes kernel compilation, so this errs on few runs. */
    long repeats = (long)(budget / t_warm);
    repeats = repeats < 1 ? 1 : repeats > o->max_repeats ? o->max_repeats : repeats;
    double *t = calloc((size_t)repeats, sizeof *t);
    /* CPU seconds of this process per wall second over the timed runs: on a
     * CPU device, close to the core count unless something else competed. */
    double cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), wall0 = now();
    for (long r = 0; ok && t && r < repeats; r++) {
        double t1 = now();
        ok = forward(ctx, g, n, o->fused, NULL);
        t[r] = now() - t1;
    }
    if (!ok || !t) {
        fprintf(stderr, "bench_generate: %s at batch %d: %s\n", pr->name, n, ctx->err.msg);
        sg2_ctx_clear_error(ctx);
        free(t);
        return 0;
    }
    double cpu_util = (clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0) / (now() - wall0);
    qsort(t, (size_t)repeats, sizeof *t, cmp_double);
    double gf = gflop_per_image(&g->cfg);
    double med = t[repeats / 2], ips = n / med, peak = (double)rt->pool.peak_in_use / 1048576.0;
    char ref[16] = "-";
    if (pr->ref_gflop > 0)
        snprintf(ref, sizeof ref, "%.1f", pr->ref_gflop);
    printf("%-16s %5d %4ld %9.3f %10.1f %10.1f %10.1f %9.2f %9s %8.2f %9.0f %5.2f\n", pr->name, n, repeats, ips,
           1e3 * t[0] / n, 1e3 * med / n, 1e3 * t[repeats - 1] / n, gf, ref, gf * ips, peak, cpu_util);
    printf("{\"workload\": \"generator_forward\", \"preset\": \"%s\", \"resolution\": %d, \"channel_base\": %d, "
           "\"channel_max\": %d, \"map_layers\": %d, \"batch\": %d, \"repeats\": %ld, \"images_per_s\": %.4g, \"ms_per_image\": %.4g, "
           "\"s_min\": %.4g, \"s_median\": %.4g, \"s_max\": %.4g, \"warmup_s\": %.4g, \"gflop_per_image\": %.4g, "
           "\"ref_gflop_per_image\": %.4g, \"gflop_per_s\": %.4g, \"peak_device_mib\": %.1f, \"cpu_util\": %.3g, "
           "\"device\": \"%s\"}\n",
           pr->name, pr->res, pr->cbase, pr->cmax, pr->map, n, repeats, ips, 1e3 * med / n, t[0], med, t[repeats - 1], t_warm, gf,
           pr->ref_gflop, gf * ips, peak, cpu_util, rt->dev.name);
    fflush(stdout);
    free(t);
    return 1;
}

static int bench_preset(sg2_ctx *ctx, const preset *chosen, const bench_opts *o)
{
    preset own = *chosen;
    const preset *pr = &own;
    char name[64];
    if (o->cmax || o->map) {
        own.cmax = o->cmax ? (int)o->cmax : own.cmax;
        own.map = o->map ? (int)o->map : own.map;
        own.ref_gflop = 0;
        snprintf(name, sizeof name, "%d^2 cmax%d map%d", own.res, own.cmax, own.map);
        own.name = name;
    }
    static const long def_batches[] = {1, 8}, big_batches[] = {1, 2};
    const long *batches = o->n_batches ? o->batches : pr->res >= 1024 ? big_batches : def_batches;
    int nb = o->n_batches ? o->n_batches : 2;
    sg2_g_config cfg = sg2_g_config_default(pr->res, 3);
    cfg.channel_base = pr->cbase;
    cfg.channel_max = pr->cmax;
    cfg.map_layers = pr->map;
    sg2_generator g;
    if (sg2_generator_init(ctx, &g, &cfg)) {
        fprintf(stderr, "bench_generate: %s: %s\n", pr->name, ctx->err.msg);
        return 0;
    }
    if (sg2_generator_freeze(ctx, &g)) {
        fprintf(stderr, "bench_generate: %s: %s\n", pr->name, ctx->err.msg);
        sg2_generator_free(&g);
        return 0;
    }
    /* The comparison costs two more passes; 32^2 is where it is cheap. */
    int ok = pr->res > 32 || validate_fused(ctx, &g);
    for (int b = 0; ok && b < nb; b++)
        ok = bench_batch(ctx, &g, pr, (int)batches[b], o->budget / nb, o);
    sg2_generator_free(&g);
    /* Hand cached buffers back so the next preset starts from an empty pool. */
    sg2_bufpool_trim(&ctx->rt->pool);
    return ok;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_generate [--presets 32,64,256,1024] [--batches 1,8] [--repeats N] "
                    "[--budget SECONDS] [--cmax N] [--map N] [--modconv auto|fused|nonfused]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *which = "32,64,256,1024", *batches = NULL;
    long repeats = 10, budget = 60, cmax = 0, map = 0;
    int fused = SG2_MODCONV_AUTO;
    sg2_error err = {0};
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc)
            return usage();
        if (strcmp(argv[i], "--presets") == 0)
            which = argv[i + 1];
        else if (strcmp(argv[i], "--batches") == 0)
            batches = argv[i + 1];
        else if (strcmp(argv[i], "--repeats") == 0) {
            if (sg2_parse_long(argv[i + 1], 1, 1000, "--repeats", &repeats, &err))
                break;
        } else if (strcmp(argv[i], "--modconv") == 0) {
            if (strcmp(argv[i + 1], "auto") == 0)
                fused = SG2_MODCONV_AUTO;
            else if (strcmp(argv[i + 1], "fused") == 0)
                fused = SG2_MODCONV_FUSED;
            else if (strcmp(argv[i + 1], "nonfused") == 0)
                fused = SG2_MODCONV_NONFUSED;
            else
                return usage();
        } else if (strcmp(argv[i], "--cmax") == 0) {
            if (sg2_parse_long(argv[i + 1], 1, 4096, "--cmax", &cmax, &err))
                break;
        } else if (strcmp(argv[i], "--map") == 0) {
            if (sg2_parse_long(argv[i + 1], 1, 32, "--map", &map, &err))
                break;
        } else if (strcmp(argv[i], "--budget") == 0) {
            if (sg2_parse_long(argv[i + 1], 1, 100000, "--budget", &budget, &err))
                break;
        } else
            return usage();
    }
    long *res_list = NULL, *batch_list = NULL;
    int nres = 0, nb = 0;
    if (err.status || sg2_parse_num_list(which, 4, 1024, &res_list, &nres, &err) ||
        (batches && sg2_parse_num_list(batches, 1, 64, &batch_list, &nb, &err))) {
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
    printf("device: %s, driver %s, %u compute units\n", rt.dev.name, rt.dev.driver_version, rt.dev.compute_units);
    printf("%-16s %5s %4s %9s %10s %10s %10s %9s %9s %8s %9s %5s\n", "preset", "batch", "runs", "img/s", "min ms/img",
           "med ms/img", "max ms/img", "GFLOP/img", "ref GFLOP", "GFLOP/s", "peak MiB", "cpu");
    bench_opts o = {.max_repeats = repeats, .budget = (double)budget, .batches = batch_list, .n_batches = nb,
                    .cmax = cmax, .map = map, .fused = fused};
    int failed = 0;
    for (int p = 0; p < nres; p++) {
        const preset *pr = NULL;
        for (size_t k = 0; k < sizeof presets / sizeof presets[0]; k++)
            if (presets[k].res == res_list[p])
                pr = &presets[k];
        if (!pr) {
            fprintf(stderr, "bench_generate: no preset at %ld (have 32, 64, 256, 1024)\n", res_list[p]);
            failed = 1;
            continue;
        }
        failed |= !bench_preset(&ctx, pr, &o);
    }
    free(res_list);
    free(batch_list);
    sg2_ctx_free(&ctx);
    sg2_runtime_free(&rt);
    return failed;
}
