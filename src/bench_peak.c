/* The device's measured FP32 multiply-add peak and streaming bandwidth
 * (kernels in cl/peak.cl): the denominators of "percent of peak". Each is
 * the best of repeated launches within a share of the budget, timed by the
 * launch's profiling event when the queue has profiling on, else by wall
 * time around launch and finish. */
#include <string.h>
#include <time.h>

#include "host/runtime.h"
#include "src/bench_suite.h"

#define PEAK_FILE "peak.cl"
#define PEAK_ITERS 512
#define FMA_ITEMS_PER_CU 65536 /* divided by the vector width */
#define STREAM_FLOAT4 (4 << 20)                      /* 64 MiB per buffer: past any cache */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Total profiled ns of kernel `name` so far (0 without profiling). */
static double profiled_ns(sg2_profile *p, const char *name)
{
    sg2_profile_collect(p);
    for (int i = 0; i < p->n_rows; i++)
        if (strcmp(p->rows[i].name, name) == 0)
            return p->rows[i].total_ns;
    return 0;
}

/* Seconds of one launch of a prepared kernel over `global` work-items. */
static sg2_status time_launch(sg2_runtime *rt, sg2_args *a, size_t global, double *s, sg2_error *err)
{
    const char *name = a->k->name;
    double ns0 = profiled_ns(&rt->profile, name), t0 = now_s();
    sg2_status st = sg2_launch(rt, a, 1, &global, NULL, err);
    if (!st)
        st = sg2_runtime_finish(rt, err);
    double wall = now_s() - t0, ns = profiled_ns(&rt->profile, name) - ns0;
    *s = ns > 0 ? ns * 1e-9 : wall;
    return st;
}

typedef struct peak_bufs {
    cl_mem out, a, b, c;
} peak_bufs;

static sg2_status make_buffers(sg2_runtime *rt, size_t fma_items, peak_bufs *m, sg2_error *err)
{
    size_t stream = (size_t)STREAM_FLOAT4 * 16;
    if (stream * 3 > rt->dev.global_mem / 2 || stream > rt->dev.max_alloc)
        stream = (size_t)(rt->dev.max_alloc < rt->dev.global_mem / 8 ? rt->dev.max_alloc : rt->dev.global_mem / 8);
    cl_int rc = CL_SUCCESS;
    m->out = clCreateBuffer(rt->context, CL_MEM_WRITE_ONLY, fma_items * sizeof(float), NULL, &rc);
    cl_mem *s[3] = {&m->a, &m->b, &m->c};
    for (int i = 0; i < 3 && rc == CL_SUCCESS; i++)
        *s[i] = clCreateBuffer(rt->context, CL_MEM_READ_WRITE, stream, NULL, &rc);
    if (sg2_cl_check(err, rc, "clCreateBuffer", PEAK_FILE))
        return SG2_ERR_OPENCL;
    /* Touch the stream buffers once so first-use page faults are not timed. */
    float zero = 0;
    for (int i = 0; i < 3 && rc == CL_SUCCESS; i++)
        rc = clEnqueueFillBuffer(rt->queue, *s[i], &zero, sizeof zero, 0, stream, 0, NULL, NULL);
    if (sg2_cl_check(err, rc, "clEnqueueFillBuffer", PEAK_FILE))
        return SG2_ERR_OPENCL;
    return sg2_runtime_finish(rt, err);
}

static void free_buffers(peak_bufs *m)
{
    cl_mem all[4] = {m->out, m->a, m->b, m->c};
    for (int i = 0; i < 4; i++)
        if (all[i])
            clReleaseMemObject(all[i]);
}

static size_t stream_items(const peak_bufs *m)
{
    size_t bytes = 0;
    clGetMemObjectInfo(m->a, CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
    return bytes / 16;
}

/* Best rate (units per second) of kernel `which` (0 fma, 1 copy, 2 triad;
 * width and fused: peak_fma's PEAK_W and PEAK_FMA) over launches until budget_s is spent (at least
 * 3 after one warm-up launch). */
static sg2_status best_rate(sg2_runtime *rt, int which, int width, int fused, const peak_bufs *m, size_t fma_items,
                            double budget_s, double *rate, int *runs, sg2_error *err)
{
    static const char *const names[3] = {"peak_fma", "peak_copy", "peak_triad"};
    const sg2_kernel_entry *k;
    char opts[64];
    snprintf(opts, sizeof opts, "-DPEAK_ITERS=%d -DPEAK_W=%d -DPEAK_FMA=%d", PEAK_ITERS, width, fused);
    sg2_status st = sg2_runtime_kernel(rt, PEAK_FILE, names[which], which == 0 ? opts : NULL, &k, err);
    int n = (int)stream_items(m);
    size_t global = which == 0 ? fma_items / (size_t)width : (size_t)n;
    /* FLOP: 2 per multiply-add, width lanes x 8 chains x PEAK_ITERS per item. */
    double units = which == 0 ? 2.0 * width * 8 * PEAK_ITERS * (double)global : (which == 1 ? 32.0 : 48.0) * n;
    double t_end = now_s() + budget_s, best = 0;
    for (int r = 0; !st && (r < 4 || now_s() < t_end); r++) {
        sg2_args a = sg2_args_begin(k);
        if (which == 0) {
            sg2_args_mem(&a, m->out);
            sg2_args_float(&a, 0.999f);
            sg2_args_float(&a, 0.001f);
        } else {
            sg2_args_mem(&a, m->a);
            sg2_args_mem(&a, m->b);
            if (which == 2) {
                sg2_args_mem(&a, m->c);
                sg2_args_float(&a, 3.0f);
            }
            sg2_args_int(&a, n);
        }
        double s = 0;
        st = time_launch(rt, &a, global, &s, err);
        if (!st && r > 0 && s > 0 && units / s > best) /* launch 0 is the warm-up */
            best = units / s;
        *runs += !st;
    }
    *rate = best;
    return st;
}

/* The best vector width and builtin (fma or mad) for multiply-add on this
 * device, and its rate. */
static sg2_status best_fma(sg2_runtime *rt, const peak_bufs *m, size_t fma_items, double budget_s,
                           sg2_bench_peak *out, sg2_error *err)
{
    static const int widths[] = {1, 4, 8, 16};
    sg2_status st = SG2_OK;
    for (int i = 0; !st && i < 8; i++) {
        double rate = 0;
        int w = widths[i % 4], fused = i < 4;
        st = best_rate(rt, 0, w, fused, m, fma_items, budget_s / 8, &rate, &out->runs, err);
        if (!st && rate * 1e-9 > out->fma_gflops) {
            out->fma_gflops = rate * 1e-9;
            out->fma_width = w;
            out->fma_fused = fused;
        }
    }
    return st;
}

sg2_status sg2_bench_measure_peak(sg2_runtime *rt, double budget_s, sg2_bench_peak *out, sg2_error *err)
{
    memset(out, 0, sizeof *out);
    /* Enough work-items to fill any device several times over, and enough
     * work per launch (~0.5 GFLOP per compute unit) to dwarf launch costs. */
    size_t cu = rt->dev.compute_units ? rt->dev.compute_units : 1, fma_items = cu * FMA_ITEMS_PER_CU;
    peak_bufs m = {0};
    double rate = 0;
    sg2_status st = make_buffers(rt, fma_items, &m, err);
    if (!st)
        st = best_fma(rt, &m, fma_items, budget_s / 2, out, err);
    if (!st)
        st = best_rate(rt, 1, 1, 0, &m, fma_items, budget_s / 4, &rate, &out->runs, err);
    out->copy_gbs = rate * 1e-9;
    if (!st)
        st = best_rate(rt, 2, 1, 0, &m, fma_items, budget_s / 4, &rate, &out->runs, err);
    out->triad_gbs = st ? 0 : rate * 1e-9;
    free_buffers(&m);
    if (st)
        snprintf(out->error, sizeof out->error, "%.255s", err->msg);
    return st;
}
