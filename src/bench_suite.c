/* The benchmark runner: registry lookup, validate-then-time, and the JSON
 * report (every field is documented in bench/SCHEMA.md; change both). */
#include "config.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host/tuner.h"
#include "src/bench_suite.h"

#define MIN_REPEATS 3
#define MAX_REPEATS 1000

int sg2_bench_count(void) { return sg2_bench_n_ops + sg2_bench_n_e2e + sg2_bench_n_train; }

const sg2_bench_workload *sg2_bench_get(int i)
{
    if (i < 0 || i >= sg2_bench_count())
        return NULL;
    if (i < sg2_bench_n_ops)
        return &sg2_bench_ops[i];
    i -= sg2_bench_n_ops;
    return i < sg2_bench_n_e2e ? &sg2_bench_e2e[i] : &sg2_bench_train[i - sg2_bench_n_e2e];
}

/* Does list entry [s, s+len) pick w? */
static int entry_picks(const char *s, size_t len, const sg2_bench_workload *w)
{
    if (len == 3 && strncmp(s, "all", 3) == 0)
        return 1;
    if (len == 3 && strncmp(s, "ops", 3) == 0)
        return w->kind == SG2_BENCH_OP;
    if (len == 3 && strncmp(s, "e2e", 3) == 0)
        return w->kind == SG2_BENCH_E2E;
    return strlen(w->name) == len && strncmp(s, w->name, len) == 0;
}

int sg2_bench_selected(const sg2_bench_workload *w, const char *list)
{
    for (const char *s = list; *s;) {
        size_t len = strcspn(s, ",");
        if (entry_picks(s, len, w))
            return 1;
        s += len + (s[len] == ',');
    }
    return 0;
}

int sg2_bench_list_valid(const char *list, char *bad, size_t cap)
{
    for (const char *s = list; *s;) {
        size_t len = strcspn(s, ",");
        int any = 0;
        for (int i = 0; i < sg2_bench_count() && !any; i++)
            any = entry_picks(s, len, sg2_bench_get(i));
        if (!any) {
            snprintf(bad, cap, "%.*s", (int)len, s);
            return 0;
        }
        s += len + (s[len] == ',');
    }
    return *list != '\0';
}

/* ---- the runner ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Seconds for one run, queue drained; its outputs released. */
static sg2_status time_run(sg2_ctx *ctx, const sg2_bench_workload *w, void *state, double *s)
{
    size_t mark = sg2_scope_begin(ctx);
    double t0 = now_s();
    sg2_status st = w->run(ctx, w->dims, state);
    if (!st)
        st = sg2_runtime_finish(ctx->rt, &ctx->err);
    *s = now_s() - t0;
    sg2_scope_end(ctx, mark, NULL, 0);
    return st ? st : ctx->err.status;
}

/* Forget the per-kernel totals so far: the next table is this workload's. */
static void profile_restart(sg2_profile *p)
{
    sg2_profile_collect(p);
    p->n_rows = 0;
    p->n_ops = 0;
}

static int by_time_desc(const void *a, const void *b)
{
    double x = ((const sg2_bench_kernel_time *)a)->ms_per_run, y = ((const sg2_bench_kernel_time *)b)->ms_per_run;
    return (x < y) - (x > y);
}

static void take_kernel_times(sg2_profile *p, int repeats, sg2_bench_result *res)
{
    sg2_profile_collect(p);
    res->kernels = p->n_rows ? calloc((size_t)p->n_rows, sizeof *res->kernels) : NULL;
    for (int i = 0; res->kernels && i < p->n_rows; i++) {
        sg2_bench_kernel_time *k = &res->kernels[res->n_kernels++];
        snprintf(k->name, sizeof k->name, "%s", p->rows[i].name);
        k->calls_per_run = p->rows[i].count / repeats;
        k->ms_per_run = p->rows[i].total_ns * 1e-6 / repeats;
        res->device_ms += k->ms_per_run;
    }
    if (res->kernels)
        qsort(res->kernels, (size_t)res->n_kernels, sizeof *res->kernels, by_time_desc);
}

static int op_by_time_desc(const void *a, const void *b)
{
    double x = ((const sg2_bench_op_time *)a)->ms_per_run, y = ((const sg2_bench_op_time *)b)->ms_per_run;
    return (x < y) - (x > y);
}

static void take_op_times(sg2_profile *p, int repeats, sg2_bench_result *res)
{
    sg2_profile_collect(p);
    res->ops = p->n_ops ? calloc((size_t)p->n_ops, sizeof *res->ops) : NULL;
    for (int i = 0; res->ops && i < p->n_ops; i++) {
        sg2_bench_op_time *o = &res->ops[res->n_ops++];
        snprintf(o->name, sizeof o->name, "%s", p->ops[i].name);
        o->calls_per_run = p->ops[i].calls / repeats;
        o->gflop_per_run = p->ops[i].flop * 1e-9 / repeats;
        o->ms_per_run = p->ops[i].total_ns * 1e-6 / repeats;
    }
    if (res->ops)
        qsort(res->ops, (size_t)res->n_ops, sizeof *res->ops, op_by_time_desc);
}

/* Warm-up, then runs until the budget is spent; fills the times. */
static sg2_status time_runs(sg2_ctx *ctx, const sg2_bench_workload *w, void *state, double budget_s,
                            sg2_bench_result *res)
{
    sg2_status st = time_run(ctx, w, state, &res->warmup_s);
    double *t = calloc(MAX_REPEATS, sizeof *t);
    if (!t)
        return SG2_ERR_NOMEM;
    int min_runs = res->warmup_s > budget_s ? 1 : MIN_REPEATS;
    profile_restart(&ctx->rt->profile);
    double t_end = now_s() + budget_s;
    int n = 0;
    while (!st && n < MAX_REPEATS && (n < min_runs || now_s() < t_end))
        st = time_run(ctx, w, state, &t[n++]);
    if (!st) {
        qsort(t, (size_t)n, sizeof *t, cmp_double);
        res->repeats = n;
        res->min_s = t[0];
        res->median_s = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
        res->max_s = t[n - 1];
        take_kernel_times(&ctx->rt->profile, n, res);
        take_op_times(&ctx->rt->profile, n, res);
    }
    free(t);
    return st;
}

void sg2_bench_run(sg2_ctx *ctx, const sg2_bench_workload *w, double budget_s, sg2_bench_result *res)
{
    memset(res, 0, sizeof *res);
    res->w = w;
    res->gflop = w->flop ? w->flop(w->dims) * 1e-9 : 0;
    res->gbyte = w->bytes ? w->bytes(w->dims) * 1e-9 : 0;
    sg2_bufpool *pool = &ctx->rt->pool;
    size_t mark = sg2_scope_begin(ctx);
    void *state = NULL;
    sg2_status st = w->setup(ctx, w->dims, &state);
    if (!st) {
        size_t vmark = sg2_scope_begin(ctx);
        st = w->validate(ctx, w->dims, state, &res->check);
        sg2_scope_end(ctx, vmark, NULL, 0);
    }
    /* The peak counts what setup keeps resident plus the timed runs, not
     * validation (often at another batch size). */
    pool->peak_in_use = pool->bytes_in_use;
    if (!st && !res->check.passed)
        snprintf(res->error, sizeof res->error, "validation failed: rel. error %.3g > %.3g (%s)", res->check.rel_err,
                 res->check.tolerance, res->check.method);
    else if (!st)
        st = time_runs(ctx, w, state, budget_s, res);
    if (st)
        snprintf(res->error, sizeof res->error, "%.255s", ctx->err.status ? ctx->err.msg : sg2_status_str(st));
    res->ran = !st && res->check.passed;
    res->peak_bytes = pool->peak_in_use;
    w->free(state);
    sg2_scope_end(ctx, mark, NULL, 0);
    sg2_ctx_clear_error(ctx);
    /* Hand cached buffers back so the next workload starts from an empty pool. */
    sg2_bufpool_trim(pool);
}

void sg2_bench_result_free(sg2_bench_result *res)
{
    free(res->kernels);
    res->kernels = NULL;
    res->n_kernels = 0;
    free(res->ops);
    res->ops = NULL;
    res->n_ops = 0;
}

/* ---- JSON ---- */

/* A number, or null when it is not finite (JSON has no inf or nan). */
static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static const char *device_type(cl_device_type t)
{
    return t & CL_DEVICE_TYPE_GPU             ? "gpu"
           : t & CL_DEVICE_TYPE_CPU         ? "cpu"
           : t & CL_DEVICE_TYPE_ACCELERATOR ? "accelerator"
                                            : "other";
}

static json_t *device_json(const sg2_device_info *d)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "name", d->name, "vendor",
                     d->vendor, "type", device_type(d->type), "platform", d->platform_name, "platform_version",
                     d->platform_version, "driver_version", d->driver_version, "opencl_version", d->device_version,
                     "opencl_c_version", d->opencl_c_version, "compute_units", (json_int_t)d->compute_units,
                     "global_mem_bytes", (json_int_t)d->global_mem, "max_alloc_bytes", (json_int_t)d->max_alloc,
                     "local_mem_bytes", (json_int_t)d->local_mem);
}

/* The -D options every kernel was built with: the tuned parameters in use
 * (tuned values appear here; an empty string means the kernel's defaults). */
static json_t *kernels_built_json(const sg2_runtime *rt)
{
    json_t *a = json_array();
    for (int i = 0; i < rt->n_kernels; i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "file", rt->kernels[i]->file, "kernel",
                                           rt->kernels[i]->name, "options", rt->kernels[i]->options));
    return a;
}

static json_t *tuning_json(const sg2_runtime *rt)
{
    char path[1100] = "";
    sg2_tuner_cache_path(&rt->dev, path, sizeof path);
    return json_pack("{s:b, s:f, s:s}", "enabled", sg2_tuner_enabled(), "first_use_budget_s",
                     sg2_tuner_first_use_budget(), "cache_file", path);
}

static json_t *kernel_times_json(const sg2_bench_result *r)
{
    json_t *a = json_array();
    for (int i = 0; i < r->n_kernels; i++) {
        const sg2_bench_kernel_time *k = &r->kernels[i];
        json_array_append_new(a, json_pack("{s:s, s:I, s:o, s:o}", "name", k->name, "calls_per_run",
                                           (json_int_t)k->calls_per_run, "ms_per_run", jnum(k->ms_per_run),
                                           "percent", jnum(r->device_ms > 0 ? 100 * k->ms_per_run / r->device_ms : 0)));
    }
    return a;
}

static json_t *op_times_json(const sg2_bench_result *r, const sg2_bench_peak *peak)
{
    json_t *a = json_array();
    for (int i = 0; i < r->n_ops; i++) {
        const sg2_bench_op_time *o = &r->ops[i];
        double gfs = o->ms_per_run > 0 ? o->gflop_per_run / (1e-3 * o->ms_per_run) : NAN;
        json_array_append_new(a, json_pack("{s:s, s:I, s:o, s:o, s:o, s:o}", "name", o->name, "calls_per_run",
                                           (json_int_t)o->calls_per_run, "gflop_per_run", jnum(o->gflop_per_run),
                                           "ms_per_run", jnum(o->ms_per_run), "gflops", jnum(gfs),
                                           "percent_of_peak",
                                           jnum(peak->fma_gflops > 0 ? 100 * gfs / peak->fma_gflops : NAN)));
    }
    return a;
}

static json_t *workload_json(const sg2_bench_result *r, const sg2_bench_peak *peak)
{
    const sg2_bench_check *c = &r->check;
    int counted = r->ran && r->gflop > 0;
    double gfs_med = counted ? r->gflop / r->median_s : NAN, gfs_best = counted ? r->gflop / r->min_s : NAN;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", r->w->name, "kind",
                          r->w->kind == SG2_BENCH_OP ? "op" : "e2e", "shape", r->w->shape, "status",
                          r->ran ? "ok" : "failed", "error", r->error[0] ? json_string(r->error) : json_null());
    json_object_set_new(o, "validation",
                        json_pack("{s:s, s:s, s:o, s:o}", "result", c->passed ? "passed" : "failed", "method",
                                  c->method, "rel_err", jnum(c->rel_err), "tolerance", jnum(c->tolerance)));
    json_object_set_new(o, "repeats", json_integer(r->repeats));
    json_object_set_new(o, "warmup_ms", jnum(1e3 * r->warmup_s));
    json_object_set_new(o, "min_ms", r->ran ? jnum(1e3 * r->min_s) : json_null());
    json_object_set_new(o, "median_ms", r->ran ? jnum(1e3 * r->median_s) : json_null());
    json_object_set_new(o, "max_ms", r->ran ? jnum(1e3 * r->max_s) : json_null());
    json_object_set_new(o, "device_ms_per_run", r->ran && r->n_kernels ? jnum(r->device_ms) : json_null());
    json_object_set_new(o, "gflop", r->gflop > 0 ? jnum(r->gflop) : json_null());
    json_object_set_new(o, "gflops_median", jnum(gfs_med));
    json_object_set_new(o, "gflops_best", jnum(gfs_best));
    json_object_set_new(o, "percent_of_peak", jnum(peak->fma_gflops > 0 ? 100 * gfs_med / peak->fma_gflops : NAN));
    json_object_set_new(o, "percent_of_peak_best",
                        jnum(peak->fma_gflops > 0 ? 100 * gfs_best / peak->fma_gflops : NAN));
    double gbs = r->ran && r->gbyte > 0 ? r->gbyte / r->median_s : NAN;
    json_object_set_new(o, "gbyte", r->gbyte > 0 ? jnum(r->gbyte) : json_null());
    json_object_set_new(o, "gbs_median", jnum(gbs));
    json_object_set_new(o, "percent_of_bandwidth", jnum(peak->triad_gbs > 0 ? 100 * gbs / peak->triad_gbs : NAN));
    json_object_set_new(o, "peak_device_bytes", json_integer((json_int_t)r->peak_bytes));
    json_object_set_new(o, "kernels", kernel_times_json(r));
    json_object_set_new(o, "op_classes", op_times_json(r, peak));
    return o;
}

static json_t *peak_json(const sg2_bench_peak *p)
{
    return json_pack("{s:o, s:i, s:s, s:o, s:o, s:i, s:o}", "fp32_fma_gflops", jnum(p->fma_gflops),
                     "fma_vector_width", p->fma_width, "fma_builtin", p->fma_fused ? "fma" : "mad", "copy_gbs",
                     jnum(p->copy_gbs), "triad_gbs", jnum(p->triad_gbs), "runs", p->runs, "error",
                     p->error[0] ? json_string(p->error) : json_null());
}

sg2_status sg2_bench_write_json(const char *path, sg2_runtime *rt, const sg2_bench_peak *peak, double budget_s,
                                const sg2_bench_result *res, int n, sg2_error *err)
{
    char stamp[32];
    time_t now = time(NULL);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    json_t *root = json_pack("{s:s, s:i, s:s, s:s, s:f}", "schema", "stylegan2-cl-bench", "schema_version", 1,
                             "program", PACKAGE_STRING, "time_utc", stamp, "budget_s", budget_s);
    if (!root)
        return sg2_error_set(err, SG2_ERR_NOMEM, "bench: cannot build the JSON report");
    json_object_set_new(root, "device", device_json(&rt->dev));
    json_object_set_new(root, "peak", peak_json(peak));
    json_object_set_new(root, "tuning", tuning_json(rt));
    json_object_set_new(root, "kernels_built", kernels_built_json(rt));
    json_t *ws = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(ws, workload_json(&res[i], peak));
    json_object_set_new(root, "workloads", ws);
    int rc = json_dump_file(root, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (rc)
        return sg2_error_set(err, SG2_ERR_IO, "%s: cannot write the JSON report", path);
    return SG2_OK;
}
