/* Training throughput: whole iterations of sg2_train (Gmain and Dmain every
 * iteration, Greg every 4, Dreg every 16, Adam, G EMA) on synthetic reals.
 *
 * The options are the reference's --cfg auto at --res, then overridden by
 * --cbase, --cmax, --map and --batch. The reals are deterministic uniform
 * noise in [-1, 1] made in memory (no disk, no prefetch thread), so the
 * numbers are the device's.
 *
 * How it times from outside sg2_train: the loop asks the reals source for
 * batch i at the start of iteration i, so the time between two requests is
 * one whole iteration. Any 16 consecutive iterations hold exactly the
 * issue's mix (16 Gmain + 16 Dmain, 4 Greg, 1 Dreg), so after --warmup
 * iterations (kernel compilation, pool growth) it times 16-iteration cycles
 * and reports min/median/max over them. When the budget is spent it asks the
 * loop to stop (sg2_train_request_stop), which runs one more iteration to
 * close the last cycle; that one and the final checkpoint are not timed.
 *
 * Validated: the losses the run logged must be finite.
 *
 * Usage: bench_train [--res 32] [--cbase 16384] [--cmax 256] [--map 2]
 *                    [--batch 8] [--warmup ITERS] [--cycles N] [--budget S]
 * --cycles is the most cycles timed (default 10); the budget (seconds,
 * default 60) stops it earlier, after at least one.
 * Prints the model line sg2_train logs ("G: N parameters, D: M"), GFLOP
 * per image of one G and one D forward counted from the shapes, a table row
 * and one JSON line. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host/splitmix.h"
#include "src/bench_suite.h"
#include "src/cli_util.h"
#include "src/network.h"
#include "src/train.h"

enum { CYCLE = 16 }; /* lcm of the G (4) and D (16) regularization intervals */

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now(void) { return clock_s(CLOCK_MONOTONIC); }

/* ---- the synthetic reals ---- */

typedef struct synth {
    int res, channels;
    long warmup, max_cycles;
    double budget;
    double *t;      /* [cap] wall time at which batch i was asked for */
    double cpu0;    /* process CPU time at the start of the timed cycles */
    double cpu1;    /* ... at the end of the last closed cycle */
    long cap, seen; /* requests recorded */
} synth;

static float uniform_pm1(uint64_t *s)
{
    return (float)((double)(sg2_splitmix64(s) >> 11) * 0x1.0p-52 - 1.0);
}

/* Records the start of iteration batch_index and decides whether the cycle
 * it closes was the last one. */
static void mark_iteration(synth *sy, long i)
{
    double t = now();
    if (i < sy->cap) {
        sy->t[i] = t;
        sy->seen = i + 1;
    }
    if (i == sy->warmup)
        sy->cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    long k = i - sy->warmup;
    if (k <= 0 || k % CYCLE != 0)
        return;
    sy->cpu1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    long cycles = k / CYCLE;
    double spent = t - sy->t[sy->warmup], per_cycle = spent / (double)cycles;
    if (cycles >= sy->max_cycles || spent + per_cycle > sy->budget)
        sg2_train_request_stop();
}

static sg2_status synth_next(void *user, long batch_index, int n, float *images, float *labels, sg2_error *err)
{
    (void)labels;
    (void)err;
    synth *sy = user;
    mark_iteration(sy, batch_index);
    uint64_t s = 0x5eed0000ull + (uint64_t)batch_index;
    size_t count = (size_t)n * (size_t)sy->channels * (size_t)sy->res * (size_t)sy->res;
    for (size_t j = 0; j < count; j++)
        images[j] = uniform_pm1(&s);
    return SG2_OK;
}

/* For the reals grid: image i as uint8. */
static sg2_status synth_get(void *user, long i, uint8_t *pixels, float *label, sg2_error *err)
{
    (void)label;
    (void)err;
    synth *sy = user;
    uint64_t s = 0xa11ull + (uint64_t)i;
    size_t count = (size_t)sy->channels * (size_t)sy->res * (size_t)sy->res;
    for (size_t j = 0; pixels && j < count; j++)
        pixels[j] = (uint8_t)(sg2_splitmix64(&s) >> 56);
    return SG2_OK;
}

/* ---- model size from the shapes ---- */

/* FLOPs counted as the bench suite counts them (src/bench_util.c). */
static double g_gflop(const sg2_g_config *c)
{
    return sg2_bench_generator_gflop(c->img_resolution, c->channel_base, c->channel_max, c->map_layers, c->z_dim,
                                     c->w_dim, c->img_channels);
}

static double d_gflop(int r, int channels, int cbase, int cmax)
{
    return sg2_bench_discriminator_gflop(r, channels, cbase, cmax);
}

/* ---- after the run ---- */

/* The "G: ..." line sg2_train wrote to log.txt, and the last value of a
 * stat in stats.jsonl (NAN when absent). */
static void read_log_line(const char *run_dir, const char *prefix, char *out, size_t cap)
{
    char path[2200], line[1024];
    snprintf(path, sizeof path, "%s/log.txt", run_dir);
    out[0] = 0;
    FILE *fp = fopen(path, "r");
    while (fp && fgets(line, sizeof line, fp))
        if (strncmp(line, prefix, strlen(prefix)) == 0) {
            line[strcspn(line, "\n")] = 0;
            snprintf(out, cap, "%s", line);
        }
    if (fp)
        fclose(fp);
}

static double read_stat(const char *run_dir, const char *name)
{
    char path[2200], key[128];
    static char line[65536];
    snprintf(path, sizeof path, "%s/stats.jsonl", run_dir);
    snprintf(key, sizeof key, "\"%s\": {", name);
    double v = NAN;
    FILE *fp = fopen(path, "r");
    while (fp && fgets(line, sizeof line, fp)) {
        const char *p = strstr(line, key), *m = p ? strstr(p, "\"mean\": ") : NULL;
        if (m)
            v = strtod(m + 8, NULL);
    }
    if (fp)
        fclose(fp);
    return v;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- the benchmark ---- */

typedef struct bench_args {
    long res, cbase, cmax, map, batch, warmup, cycles, budget;
} bench_args;

static int report(const bench_args *a, const synth *sy, const char *run_dir, const char *device)
{
    long ncyc = (sy->seen - 1 - sy->warmup) / CYCLE;
    if (ncyc < 1) {
        fprintf(stderr, "bench_train: no whole cycle timed (%ld iterations ran)\n", sy->seen);
        return 0;
    }
    double *c = malloc((size_t)ncyc * sizeof *c);
    if (!c)
        return 0;
    for (long k = 0; k < ncyc; k++)
        c[k] = sy->t[sy->warmup + (k + 1) * CYCLE] - sy->t[sy->warmup + k * CYCLE];
    double wall = sy->t[sy->warmup + ncyc * CYCLE] - sy->t[sy->warmup];
    double cpu_util = (sy->cpu1 - sy->cpu0) / wall, warm = sy->t[sy->warmup] - sy->t[0];
    qsort(c, (size_t)ncyc, sizeof *c, cmp_double);
    double med = c[ncyc / 2], ips = (double)(CYCLE * a->batch) / med;
    char model[1100];
    read_log_line(run_dir, "G: ", model, sizeof model);
    double gl = read_stat(run_dir, "Loss/G/loss"), dl = read_stat(run_dir, "Loss/D/loss");
    int ok = isfinite(gl) && isfinite(dl);
    sg2_g_config gc = sg2_g_config_default((int)a->res, 3);
    gc.channel_base = (int)a->cbase, gc.channel_max = (int)a->cmax, gc.map_layers = (int)a->map;
    double gf = g_gflop(&gc), df = d_gflop((int)a->res, 3, (int)a->cbase, (int)a->cmax);
    printf("model: %s\n", model[0] ? model : "(not logged)");
    printf("GFLOP/img: G forward %.4f, D forward %.4f\n", gf, df);
    printf("losses (last tick mean): G %.4g, D %.4g: %s\n", gl, dl, ok ? "finite" : "NOT FINITE");
    printf("%-22s %5s %6s %9s %9s %11s %11s %11s %5s\n", "workload", "batch", "cycles", "img/s", "s/kimg",
           "min s/cyc", "med s/cyc", "max s/cyc", "cpu");
    char name[64];
    snprintf(name, sizeof name, "train %ld^2 map%ld", a->res, a->map);
    printf("%-22s %5ld %6ld %9.3f %9.1f %11.3f %11.3f %11.3f %5.2f\n", name, a->batch, ncyc, ips, 1000.0 / ips, c[0],
           med, c[ncyc - 1], cpu_util);
    printf("{\"workload\": \"train_iteration\", \"resolution\": %ld, \"channel_base\": %ld, \"channel_max\": %ld, "
           "\"map_layers\": %ld, \"batch\": %ld, \"iters_per_cycle\": %d, \"cycles\": %ld, \"warmup_iters\": %ld, "
           "\"warmup_s\": %.4g, \"images_per_s\": %.4g, \"s_per_kimg\": %.4g, \"cycle_s_min\": %.4g, "
           "\"cycle_s_median\": %.4g, \"cycle_s_max\": %.4g, \"g_gflop_per_image\": %.4g, "
           "\"d_gflop_per_image\": %.4g, \"losses_finite\": %s, \"cpu_util\": %.3g, \"device\": \"%s\"}\n",
           a->res, a->cbase, a->cmax, a->map, a->batch, CYCLE, ncyc, a->warmup, warm, ips, 1000.0 / ips, c[0], med,
           c[ncyc - 1], gf, df, ok ? "true" : "false", cpu_util, device);
    fflush(stdout);
    free(c);
    return ok;
}

static int run(const bench_args *a)
{
    sg2_error err = {0};
    sg2_train_opts o;
    if (sg2_train_preset(&o, "auto", (int)a->res, &err)) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 0;
    }
    o.cbase = (int)a->cbase, o.cmax = (int)a->cmax, o.map_layers = (int)a->map;
    o.batch = o.batch_gpu = (int)a->batch;
    o.mbstd_group = o.batch < 4 ? o.batch : 4;
    o.gamma = 0.0002f * (float)(a->res * a->res) / (float)o.batch; /* auto's gamma for this batch */
    o.ema_kimg = o.batch * 10.0 / 32.0;
    o.seed = 0, o.quiet = 1, o.grid_max = 4, o.snap = 0;
    o.max_iters = a->warmup + a->cycles * CYCLE + 1; /* +1: its request closes the last cycle */
    o.kimg = 1e6;                                    /* no tick before the end */
    o.kimg_per_tick = 1e6;
    const char *tmp = getenv("TMPDIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/bench_train.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("bench_train: mkdtemp");
        return 0;
    }
    o.outdir = dir;
    synth sy = {.res = (int)a->res, .channels = 3, .warmup = a->warmup, .max_cycles = a->cycles,
                .budget = (double)a->budget, .cap = o.max_iters + 1};
    sy.t = calloc((size_t)sy.cap, sizeof *sy.t);
    sg2_reals reals = {.user = &sy, .resolution = (int)a->res, .channels = 3, .c_dim = 0, .count = 1000,
                       .name = "synthetic", .next = synth_next, .get = synth_get};
    sg2_runtime rt;
    int ok = sy.t && !sg2_runtime_init(&rt, NULL, &err);
    if (!ok) {
        fprintf(stderr, "bench_train: %s\n", sy.t ? err.msg : "out of memory");
    } else {
        printf("device: %s, driver %s, %u compute units\n", rt.dev.name, rt.dev.driver_version,
               rt.dev.compute_units);
        sg2_ctx ctx;
        sg2_ctx_init(&ctx, &rt);
        char run_dir[2048] = "";
        if (sg2_train(&ctx, &o, &reals, run_dir, sizeof run_dir)) {
            fprintf(stderr, "bench_train: %s\n", ctx.err.msg);
            ok = 0;
        } else {
            ok = report(a, &sy, run_dir, rt.dev.name);
        }
        sg2_ctx_free(&ctx);
        sg2_runtime_free(&rt);
    }
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(sy.t);
    return ok;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_train [--res 32] [--cbase 16384] [--cmax 256] [--map 2] [--batch 8] "
                    "[--warmup ITERS] [--cycles N] [--budget SECONDS]\n");
    return 2;
}

int main(int argc, char **argv)
{
    bench_args a = {.res = 32, .cbase = 16384, .cmax = 256, .map = 2, .batch = 8, .warmup = 2, .cycles = 10,
                    .budget = 60};
    static const struct {
        const char *name;
        long lo, hi;
        size_t off;
    } opts[] = {
        {"--res", 8, 1024, offsetof(bench_args, res)},         {"--cbase", 64, 65536, offsetof(bench_args, cbase)},
        {"--cmax", 8, 4096, offsetof(bench_args, cmax)},       {"--map", 1, 8, offsetof(bench_args, map)},
        {"--batch", 1, 64, offsetof(bench_args, batch)},       {"--warmup", 1, 1000, offsetof(bench_args, warmup)},
        {"--cycles", 1, 1000, offsetof(bench_args, cycles)},   {"--budget", 1, 100000, offsetof(bench_args, budget)},
    };
    sg2_error err = {0};
    for (int i = 1; i < argc; i += 2) {
        size_t k = 0;
        while (k < sizeof opts / sizeof opts[0] && strcmp(argv[i], opts[k].name) != 0)
            k++;
        if (i + 1 >= argc || k == sizeof opts / sizeof opts[0])
            return usage();
        if (sg2_parse_long(argv[i + 1], opts[k].lo, opts[k].hi, opts[k].name, (long *)((char *)&a + opts[k].off),
                           &err)) {
            fprintf(stderr, "bench_train: %s\n", err.msg);
            return 2;
        }
    }
    if (a.res & (a.res - 1)) {
        fprintf(stderr, "bench_train: --res %ld is not a power of two\n", a.res);
        return 2;
    }
    return run(&a) ? 0 : 1;
}
