/* stylegan2-cl bench: the benchmark suite of src/bench_suite.h on the
 * selected device; a table on stdout and the JSON report of bench/SCHEMA.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/bench_suite.h"
#include "src/cli_util.h"
#include "src/commands.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: stylegan2-cl bench [--workloads LIST] [--budget SEC] [--json FILE] [--list]\n"
                 "Measure the device's FP32 peak and bandwidth, then validate and time each workload\n"
                 "against the double-precision reference (ops) or self-consistency (e2e).\n\n"
                 "  --workloads LIST  comma-separated names (see --list), or all, ops, e2e (generator\n"
                 "                    and training) (default all)\n"
                 "  --budget SEC      timing budget per workload and for the peak test (default 5);\n"
                 "                    at least 3 timed runs after one warm-up\n"
                 "  --json FILE       write the report (fields: bench/SCHEMA.md)\n"
                 "  --list            list the workloads and exit\n");
}

static void list_workloads(void)
{
    for (int i = 0; i < sg2_bench_count(); i++) {
        const sg2_bench_workload *w = sg2_bench_get(i);
        printf("%-26s %-4s %s\n", w->name, w->kind == SG2_BENCH_OP ? "op" : "e2e", w->shape);
    }
}

typedef struct bench_args {
    const char *list, *json;
    double budget;
} bench_args;

/* 0 to go on, else the exit status (after --help / --list, or 2 on bad input). */
static int parse(int argc, char **argv, bench_args *a, int *done)
{
    sg2_error err = {0};
    *a = (bench_args){.list = "all", .budget = 5.0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return *done = 1, 0;
        } else if (strcmp(argv[i], "--list") == 0) {
            list_workloads();
            return *done = 1, 0;
        } else if (strcmp(argv[i], "--workloads") == 0 && i + 1 < argc) {
            a->list = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
            a->json = argv[++i];
        } else if (strcmp(argv[i], "--budget") == 0 && i + 1 < argc) {
            if (sg2_parse_float(argv[++i], 0.0, 86400.0, "--budget", &a->budget, &err)) {
                fprintf(stderr, "stylegan2-cl bench: %s\n", err.msg);
                return 2;
            }
        } else {
            fprintf(stderr, "stylegan2-cl bench: unexpected argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    char bad[64];
    if (!sg2_bench_list_valid(a->list, bad, sizeof bad)) {
        fprintf(stderr, "stylegan2-cl bench: no workload '%s' (see --list)\n", bad);
        return 2;
    }
    return 0;
}

static void print_row(const sg2_bench_result *r, const sg2_bench_peak *peak)
{
    if (!r->ran) {
        printf("%-26s %-4s FAILED: %s\n", r->w->name, r->w->kind == SG2_BENCH_OP ? "op" : "e2e", r->error);
    } else {
        double gfs = r->gflop / r->median_s, gbs = r->gbyte / r->median_s, best = r->gflop / r->min_s;
        char fl[48] = "        -       -       -", bw[32] = "      -       -";
        /* % of peak from the median run, and from the best run: the peak
         * itself is the best of its launches */
        if (r->gflop > 0 && peak->fma_gflops > 0)
            snprintf(fl, sizeof fl, "%9.2f %7.1f %7.1f", gfs, 100 * gfs / peak->fma_gflops,
                     100 * best / peak->fma_gflops);
        else if (r->gflop > 0)
            snprintf(fl, sizeof fl, "%9.2f %7s %7s", gfs, "-", "-");
        if (r->gbyte > 0)
            snprintf(bw, sizeof bw, "%7.2f %7.1f", gbs, peak->triad_gbs > 0 ? 100 * gbs / peak->triad_gbs : 0.0);
        printf("%-26s %-4s %10.3f %10.3f %s %s %5d %9.1f %9.2g\n", r->w->name,
               r->w->kind == SG2_BENCH_OP ? "op" : "e2e", 1e3 * r->median_s, r->device_ms, fl, bw, r->repeats,
               (double)r->peak_bytes / 1048576.0, r->check.rel_err);
    }
    fflush(stdout);
}

static void print_op_class(const char *workload, const char *name, long calls, double gflop, double ms,
                           const sg2_bench_peak *peak)
{
    double gfs = ms > 0 ? gflop / (1e-3 * ms) : 0.0;
    char pct[16] = "      -";
    if (peak->fma_gflops > 0)
        snprintf(pct, sizeof pct, "%7.1f", 100 * gfs / peak->fma_gflops);
    printf("%-26s %-24s %6ld %9.3f %10.3f %9.2f %s\n", workload, name, calls, gflop, ms, gfs, pct);
}

/* The convolutions inside the end-to-end workloads by op class (kind,
 * kernel, stride): their FLOPs as direct convolutions over the device time
 * of every kernel their calls launched, per run; then all 3x3 classes
 * together. */
static void print_op_classes(const sg2_bench_result *res, int n, const sg2_bench_peak *peak)
{
    int header = 0;
    for (int i = 0; i < n; i++) {
        const sg2_bench_result *r = &res[i];
        if (!r->ran || r->w->kind != SG2_BENCH_E2E || r->n_ops == 0)
            continue;
        if (!header++)
            printf("\n%-26s %-24s %6s %9s %10s %9s %7s\n", "workload", "conv class", "calls", "GFLOP", "device ms",
                   "GFLOP/s", "% peak");
        long calls = 0;
        double gflop = 0, ms = 0;
        for (int j = 0; j < r->n_ops; j++) {
            const sg2_bench_op_time *o = &r->ops[j];
            print_op_class(r->w->name, o->name, o->calls_per_run, o->gflop_per_run, o->ms_per_run, peak);
            if (strstr(o->name, " 3x3 ")) {
                calls += o->calls_per_run;
                gflop += o->gflop_per_run;
                ms += o->ms_per_run;
            }
        }
        if (calls)
            print_op_class(r->w->name, "all 3x3", calls, gflop, ms, peak);
    }
}

/* Validate and time every selected workload; returns how many failed. */
static int run_all(sg2_runtime *rt, const bench_args *a, const sg2_bench_peak *peak, sg2_bench_result *res, int *n)
{
    sg2_ctx ctx;
    sg2_ctx_init(&ctx, rt);
    ctx.grad_enabled = 0;
    int failed = 0;
    for (int i = 0; i < sg2_bench_count(); i++) {
        const sg2_bench_workload *w = sg2_bench_get(i);
        if (!sg2_bench_selected(w, a->list))
            continue;
        sg2_bench_run(&ctx, w, a->budget, &res[*n]);
        print_row(&res[*n], peak);
        failed += !res[(*n)++].ran;
    }
    sg2_ctx_free(&ctx);
    return failed;
}

int sg2_cmd_bench(int argc, char **argv)
{
    bench_args a;
    int done = 0, rc = parse(argc, argv, &a, &done);
    if (rc || done)
        return rc;
    /* Per-kernel times come from profiling events: the queue needs them. */
    setenv("SG2_PROFILE", "1", 1);
    sg2_error err = {0};
    sg2_runtime rt;
    if (sg2_runtime_init(&rt, sg2_cli_device, &err)) {
        fprintf(stderr, "stylegan2-cl bench: %s\n", err.msg);
        return 1;
    }
    printf("device: %s (%s, driver %s, %s)\n", rt.dev.name, rt.dev.platform_name, rt.dev.driver_version,
           rt.dev.device_version);
    sg2_bench_peak peak;
    if (sg2_bench_measure_peak(&rt, a.budget, &peak, &err))
        fprintf(stderr, "stylegan2-cl bench: peak microbenchmark: %s\n", err.msg);
    printf("peak: FP32 multiply-add %.1f GFLOP/s (%s, vector width %d), copy %.1f GB/s, triad %.1f GB/s\n\n",
           peak.fma_gflops, peak.fma_fused ? "fma" : "mad", peak.fma_width, peak.copy_gbs, peak.triad_gbs);
    printf("%-26s %-4s %10s %10s %9s %7s %7s %7s %7s %5s %9s %9s\n", "workload", "kind", "median ms", "device ms",
           "GFLOP/s", "% peak", "% best", "GB/s", "% bw", "runs", "peak MiB", "rel. err");
    sg2_bench_result *res = calloc((size_t)sg2_bench_count(), sizeof *res);
    int n = 0, failed = res ? run_all(&rt, &a, &peak, res, &n) : 1;
    if (res)
        print_op_classes(res, n, &peak);
    rc = failed ? 1 : 0;
    if (res && a.json) {
        if (sg2_bench_write_json(a.json, &rt, &peak, a.budget, res, n, &err)) {
            fprintf(stderr, "stylegan2-cl bench: %s\n", err.msg);
            rc = 1;
        } else {
            printf("\nreport: %s\n", a.json);
        }
    }
    for (int i = 0; i < n; i++)
        sg2_bench_result_free(&res[i]);
    free(res);
    /* The tables above replace the runtime's own profile dump at exit. */
    sg2_profile_free(&rt.profile);
    sg2_runtime_free(&rt);
    return rc;
}
