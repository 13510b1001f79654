/* The benchmark suite behind `stylegan2-cl bench`: a registry of workloads
 * (single ops and end-to-end passes), each validated before it is timed, a
 * runner (warm-up, repeats within a time budget, min/median/max wall time,
 * per-kernel device time from OpenCL profiling events, peak device memory),
 * the device's measured FP32 peak and memory bandwidth (cl/peak.cl), and the
 * JSON report documented in bench/SCHEMA.md. Same workloads and schema on
 * every device. */
#ifndef SG2_BENCH_SUITE_H
#define SG2_BENCH_SUITE_H
#include <stdio.h>

#include "host/profile.h"
#include "src/tensor.h"

#define SG2_BENCH_DIMS 8

typedef enum { SG2_BENCH_OP = 0, SG2_BENCH_E2E = 1 } sg2_bench_kind;

/* What validation found; `method` says against what. */
typedef struct sg2_bench_check {
    int passed;
    double rel_err;    /* max |got - want| / max |want| */
    double tolerance;  /* passed = rel_err <= tolerance (and outputs finite) */
    char method[160];
} sg2_bench_check;

typedef struct sg2_bench_workload {
    const char *name;  /* "modconv3x3_c512_r8"; --workloads takes these */
    sg2_bench_kind kind;
    const char *shape; /* human-readable, e.g. "x[4,512,8,8] w[512,512,3,3]" */
    int dims[SG2_BENCH_DIMS];
    /* Floating-point operations of one run (see bench/SCHEMA.md for what
     * counts); NULL or 0: not counted (no GFLOP/s reported). */
    double (*flop)(const int *dims);
    /* Least bytes one run must move (inputs read, output written); NULL: not counted. */
    double (*bytes)(const int *dims);
    /* Inputs and whatever the runs need, into *state. */
    sg2_status (*setup)(sg2_ctx *ctx, const int *dims, void **state);
    /* Compare the op with an independent result; may run the op itself. */
    sg2_status (*validate)(sg2_ctx *ctx, const int *dims, void *state, sg2_bench_check *out);
    /* Enqueue one run; the runner finishes the queue and frees the outputs. */
    sg2_status (*run)(sg2_ctx *ctx, const int *dims, void *state);
    void (*free)(void *state);
} sg2_bench_workload;

/* The registry: ops (src/bench_workloads.c) then the end-to-end ones
 * (src/bench_e2e.c); i in [0, sg2_bench_count()). */
int sg2_bench_count(void);
const sg2_bench_workload *sg2_bench_get(int i);
extern const sg2_bench_workload sg2_bench_ops[];
extern const int sg2_bench_n_ops;
extern const sg2_bench_workload sg2_bench_e2e[];
extern const int sg2_bench_n_e2e;
extern const sg2_bench_workload sg2_bench_train[]; /* src/bench_train_step.c */
extern const int sg2_bench_n_train;

/* 1 when `w` is picked by a --workloads list: "all", "ops", "e2e" or
 * comma-separated names (each may also be a kind). */
int sg2_bench_selected(const sg2_bench_workload *w, const char *list);
/* 0 when an entry of `list` names no workload and no kind; it goes to bad. */
int sg2_bench_list_valid(const char *list, char *bad, size_t cap);

/* The device's measured peaks (best of the runs within the budget). */
typedef struct sg2_bench_peak {
    double fma_gflops;  /* FP32 multiply-add, 2 FLOP each */
    int fma_width;      /* the vector width (cl/peak.cl PEAK_W) that reached it */
    int fma_fused;      /* 1: with fma(), 0: with mad() */
    double copy_gbs;    /* streaming copy, bytes read + written per second */
    double triad_gbs;   /* a = b + s*c */
    int runs;
    char error[256];    /* non-empty when a microbenchmark failed */
} sg2_bench_peak;

sg2_status sg2_bench_measure_peak(sg2_runtime *rt, double budget_s, sg2_bench_peak *out, sg2_error *err);

typedef struct sg2_bench_kernel_time {
    char name[64];
    long calls_per_run;
    double ms_per_run;  /* device time (profiling events) per run */
} sg2_bench_kernel_time;

/* An op class of the profile (sg2_profile_op: the convolutions by kind,
 * kernel and stride) within one run of a workload. */
typedef struct sg2_bench_op_time {
    char name[48];
    long calls_per_run;
    double gflop_per_run; /* as a direct computation would count them */
    double ms_per_run;    /* device time of the kernels its calls launched */
} sg2_bench_op_time;

typedef struct sg2_bench_result {
    const sg2_bench_workload *w;
    sg2_bench_check check;
    int ran;            /* validated and timed */
    char error[256];    /* why not */
    int repeats;
    double warmup_s, min_s, median_s, max_s; /* wall time per run */
    double device_ms;   /* sum of the profiled kernels per run */
    double gflop;       /* per run */
    double gbyte;       /* per run, 0 when not counted */
    size_t peak_bytes;  /* device pool high-water mark over setup and runs */
    sg2_bench_kernel_time *kernels; /* by time, descending */
    int n_kernels;
    sg2_bench_op_time *ops;         /* by time, descending */
    int n_ops;
} sg2_bench_result;

/* Validate, warm up once, then time runs until budget_s is spent (at least
 * 3, or 1 when the warm-up alone took longer than the budget). Needs a
 * runtime with profiling on for per-kernel times. Never fails the process:
 * problems go to res->error and res->ran = 0. */
void sg2_bench_run(sg2_ctx *ctx, const sg2_bench_workload *w, double budget_s, sg2_bench_result *res);
void sg2_bench_result_free(sg2_bench_result *res);

/* The whole report as JSON (bench/SCHEMA.md) into path. */
sg2_status sg2_bench_write_json(const char *path, sg2_runtime *rt, const sg2_bench_peak *peak, double budget_s,
                                const sg2_bench_result *res, int n, sg2_error *err);

/* Shared by the workloads (src/bench_util.c, no other dependencies so that
 * bench/ programs can link it alone): deterministic values in [-1, 1), the
 * relative error of got against want (finite: all of got finite), and the
 * GFLOP of one generator image and one discriminator image. */
void sg2_bench_fill(float *v, long n, unsigned seed);
double sg2_bench_rel_err(const float *got, const double *want, long n, int *finite);
double sg2_bench_generator_gflop(int img_resolution, int channel_base, int channel_max, int map_layers, int z_dim,
                                 int w_dim, int img_channels);
double sg2_bench_discriminator_gflop(int img_resolution, int img_channels, int channel_base, int channel_max);

#endif
