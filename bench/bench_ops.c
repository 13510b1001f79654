/* Per-op throughput of the convolutions and the GEMM, two implementations of
 * each measured in one run: conv2d, its input gradient (conv_transpose2d)
 * and its weight gradient (conv2d_wgrad) with SG2_CONV=direct (the direct
 * kernels of cl/conv.cl) against SG2_CONV=tiled (cl/conv_tiled.cl); sgemm
 * with SG2_GEMM=clblast against SG2_GEMM=own (cl/matmul.cl); and the
 * stride-1 3x3 conv2d and its input gradient with the tiled kernels
 * (SG2_WINOGRAD=0, as in every other row) against Winograd F(4x4, 3x3)
 * (SG2_WINOGRAD=1, cl/winograd.cl), as rows wino-fwd, wino-dx and wino-dw.
 *
 * Validated before timing: each implementation's output is compared with the
 * double reference of src/ref (conv at a batch of 2 with the same channels and
 * sizes, since the reference at the timed batch would take minutes; the GEMM
 * in full); max |error| must stay below 1e-4 of max |reference|. Then one
 * warm-up run each (kernel builds), and `--repeats` rounds in which A and B
 * run back to back, so load from other programs hits both alike. Reports
 * min and median GFLOP/s, counted as 2*N*Cout*Cin/groups*kh*kw*Ho*Wo for a
 * conv (Ho, Wo of the forward conv) and 2*M*N*K for a GEMM, and the ratio
 * B/A of the medians.
 *
 * Usage: bench_ops [--repeats N] [--only SUBSTRING] [--clock wall|cpu] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/bench_suite.h"
#include "src/ops.h"
#include "src/ref/ref.h"

/* OP_WFWD, OP_WCONVT and OP_WWGRAD run conv2d, its input gradient at stride
 * 1 and its weight gradient again, comparing the tiled direct kernels with
 * Winograd F(4x4, 3x3). */
enum { OP_FWD, OP_CONVT, OP_WGRAD, OP_GEMM, OP_WFWD, OP_WCONVT, OP_WWGRAD };

/* Per op: its name in the report, the op it runs, the variable its two
 * implementations are chosen by, their values and their names. */
typedef struct op_info {
    const char *name;
    int runs;
    const char *var, *mode[2], *label[2];
} op_info;

static const op_info ops[] = {
    {"conv2d", OP_FWD, "SG2_CONV", {"direct", "tiled"}, {"direct", "tiled"}},
    {"convT(dx)", OP_CONVT, "SG2_CONV", {"direct", "tiled"}, {"direct", "tiled"}},
    {"wgrad", OP_WGRAD, "SG2_CONV", {"direct", "tiled"}, {"direct", "tiled"}},
    {"sgemm", OP_GEMM, "SG2_GEMM", {"clblast", "own"}, {"clblast", "own"}},
    {"wino-fwd", OP_FWD, "SG2_WINOGRAD", {"0", "1"}, {"tiled", "winograd"}},
    {"wino-dx", OP_CONVT, "SG2_WINOGRAD", {"0", "1"}, {"tiled", "winograd"}},
    {"wino-dw", OP_WGRAD, "SG2_WINOGRAD", {"0", "1"}, {"tiled", "winograd"}},
};

/* One workload, in the forward conv's terms: x[N,Cin,H,W], w[Cout,Cin/g,k,k],
 * y[N,Cout,Ho,Wo]. For OP_GEMM: M = Cin, N = Cout, K = H. */
typedef struct bench_case {
    int op, N, Cin, Cout, H, W, k, stride, pad, groups;
} bench_case;

static const bench_case cases[] = {
    {OP_FWD, 8, 128, 128, 32, 32, 3, 1, 1, 1},   {OP_CONVT, 8, 128, 128, 32, 32, 3, 1, 1, 1},
    {OP_WGRAD, 8, 128, 128, 32, 32, 3, 1, 1, 1}, {OP_FWD, 8, 256, 256, 16, 16, 3, 1, 1, 1},
    {OP_CONVT, 8, 256, 256, 16, 16, 3, 1, 1, 1}, {OP_WGRAD, 8, 256, 256, 16, 16, 3, 1, 1, 1},
    {OP_FWD, 8, 256, 256, 8, 8, 3, 1, 1, 1},     {OP_CONVT, 8, 256, 256, 8, 8, 3, 1, 1, 1},
    {OP_WGRAD, 8, 256, 256, 8, 8, 3, 1, 1, 1},   {OP_FWD, 8, 256, 256, 32, 32, 3, 1, 1, 1},
    {OP_FWD, 8, 512, 512, 4, 4, 3, 1, 1, 1},     {OP_WGRAD, 8, 512, 512, 4, 4, 3, 1, 1, 1},
    {OP_FWD, 8, 256, 3, 32, 32, 1, 1, 0, 1},     {OP_WGRAD, 8, 256, 3, 32, 32, 1, 1, 0, 1},
    {OP_FWD, 8, 256, 256, 33, 33, 3, 2, 0, 1},   {OP_CONVT, 8, 256, 256, 33, 33, 3, 2, 0, 1},
    {OP_WGRAD, 8, 256, 256, 33, 33, 3, 2, 0, 1},
    {OP_FWD, 1, 8 * 128, 8 * 128, 16, 16, 3, 1, 1, 8},
    {OP_GEMM, 0, 1024, 1024, 1024, 0, 0, 0, 0, 0},
    {OP_WFWD, 8, 256, 256, 32, 32, 3, 1, 1, 1},   {OP_WCONVT, 8, 256, 256, 32, 32, 3, 1, 1, 1},
    {OP_WFWD, 8, 256, 256, 16, 16, 3, 1, 1, 1},   {OP_WCONVT, 8, 256, 256, 16, 16, 3, 1, 1, 1},
    {OP_WFWD, 8, 256, 256, 8, 8, 3, 1, 1, 1},     {OP_WFWD, 4, 256, 256, 16, 16, 3, 1, 1, 1},
    {OP_WFWD, 8, 128, 128, 32, 32, 3, 1, 1, 1},   {OP_WFWD, 8, 64, 64, 64, 64, 3, 1, 1, 1},
    {OP_WWGRAD, 8, 256, 256, 32, 32, 3, 1, 1, 1}, {OP_WWGRAD, 8, 256, 256, 16, 16, 3, 1, 1, 1},
    {OP_WWGRAD, 8, 256, 256, 8, 8, 3, 1, 1, 1},   {OP_WWGRAD, 8, 64, 64, 64, 64, 3, 1, 1, 1},
};

static int out_len(const bench_case *c, int in) { return (in + 2 * c->pad - c->k) / c->stride + 1; }

static double flops(const bench_case *c)
{
    if (c->op == OP_GEMM)
        return 2.0 * c->Cin * c->Cout * c->H;
    return 2.0 * c->N * c->Cout * (c->Cin / c->groups) * c->k * c->k * out_len(c, c->H) * out_len(c, c->W);
}

/* CLOCK_MONOTONIC, or with --clock cpu this process's CPU time: on a CPU
 * device shared with other programs, CPU seconds divided by the device's core
 * count track the kernels' cost better than wall time does. */
static clockid_t bench_clock = CLOCK_MONOTONIC;

static double now(void)
{
    struct timespec ts;
    clock_gettime(bench_clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The two inputs of a case at batch n, on the host and the device. */
typedef struct inputs {
    int64_t sa[4], sb[4];
    float *a, *b;
    sg2_tensor *ta, *tb;
} inputs;

static void set4(int64_t *s, long a, long b, long c, long d)
{
    s[0] = a, s[1] = b, s[2] = c, s[3] = d;
}

static long numel(const int64_t *s, int nd)
{
    long n = 1;
    for (int i = 0; i < nd; i++)
        n *= (long)s[i];
    return n;
}

static int make_inputs(sg2_ctx *ctx, const bench_case *c, int n, inputs *in)
{
    const int op = ops[c->op].runs;
    int ho = out_len(c, c->H), wo = out_len(c, c->W), nd = op == OP_GEMM ? 2 : 4;
    if (op == OP_GEMM) {
        set4(in->sa, c->Cin, c->H, 1, 1);  /* A[M,K] */
        set4(in->sb, c->H, c->Cout, 1, 1); /* B[K,N] */
    } else {
        set4(in->sa, n, op == OP_FWD ? c->Cin : c->Cout, op == OP_FWD ? c->H : ho, op == OP_FWD ? c->W : wo);
        if (op == OP_WGRAD)
            set4(in->sb, n, c->Cin, c->H, c->W);
        else
            set4(in->sb, c->Cout, c->Cin / c->groups, c->k, c->k);
    }
    in->a = malloc(sizeof(float) * (size_t)numel(in->sa, nd));
    in->b = malloc(sizeof(float) * (size_t)numel(in->sb, nd));
    if (!in->a || !in->b)
        return 0;
    sg2_bench_fill(in->a, numel(in->sa, nd), 12345u);
    sg2_bench_fill(in->b, numel(in->sb, nd), 54321u);
    in->ta = sg2_tensor_from_host(ctx, nd, in->sa, in->a);
    in->tb = sg2_tensor_from_host(ctx, nd, in->sb, in->b);
    return in->ta && in->tb;
}

static sg2_tensor *run_op(sg2_ctx *ctx, const bench_case *c, const inputs *in)
{
    const int op = ops[c->op].runs;
    sg2_conv_params p = {.stride = c->stride, .pad_y = c->pad, .pad_x = c->pad, .groups = c->groups};
    int opy = c->H - ((out_len(c, c->H) - 1) * c->stride - 2 * c->pad + c->k);
    int opx = c->W - ((out_len(c, c->W) - 1) * c->stride - 2 * c->pad + c->k);
    switch (op) {
    case OP_FWD:
        return sg2_conv2d(ctx, in->ta, in->tb, &p);
    case OP_CONVT:
        return sg2_conv_transpose2d(ctx, in->ta, in->tb, &p, opy, opx);
    case OP_WGRAD:
        return sg2_conv2d_wgrad(ctx, in->ta, in->tb, &p, c->k, c->k);
    default:
        return sg2_matmul(ctx, in->ta, in->tb, 0, 0);
    }
}

/* The double reference of run_op; returns its element count. */
static long ref_op(const bench_case *c, int n, const inputs *in, double **out)
{
    const int op = ops[c->op].runs;
    long na = numel(in->sa, 4), nb = numel(in->sb, 4);
    double *a = malloc(sizeof(double) * (size_t)na), *b = malloc(sizeof(double) * (size_t)nb);
    int ho = out_len(c, c->H), wo = out_len(c, c->W), cg = c->Cin / c->groups;
    long ny = op == OP_GEMM    ? (long)c->Cin * c->Cout
              : op == OP_FWD   ? (long)n * c->Cout * ho * wo
              : op == OP_CONVT ? (long)n * c->Cin * c->H * c->W
                                  : (long)c->Cout * cg * c->k * c->k;
    double *y = calloc((size_t)ny, sizeof(double));
    for (long i = 0; a && i < na; i++)
        a[i] = in->a[i];
    for (long i = 0; b && i < nb; i++)
        b[i] = in->b[i];
    int k = c->k, s = c->stride, pd = c->pad, g = c->groups;
    if (!a || !b || !y)
        ny = 0;
    else if (op == OP_GEMM)
        for (int i = 0; i < c->Cin; i++)
            for (int kk = 0; kk < c->H; kk++)
                for (int j = 0; j < c->Cout; j++)
                    y[(long)i * c->Cout + j] += a[(long)i * c->H + kk] * b[(long)kk * c->Cout + j];
    else if (op == OP_FWD)
        sg2_ref_conv2d(y, a, b, n, c->Cin, c->H, c->W, c->Cout, k, k, s, pd, pd, g);
    else if (op == OP_CONVT)
        sg2_ref_conv_transpose2d(y, a, b, n, c->Cout, ho, wo, c->Cin, k, k, s, pd, pd,
                                 c->H - ((ho - 1) * s - 2 * pd + k), c->W - ((wo - 1) * s - 2 * pd + k), g);
    else
        sg2_ref_conv2d_wgrad(y, a, b, n, c->Cin, c->H, c->W, c->Cout, k, k, s, pd, pd, g);
    free(a);
    free(b);
    *out = y;
    return ny;
}

/* max |got - ref| / max |ref| of mode `mode` at batch n; < 0 on failure. */
static double validate(sg2_ctx *ctx, const bench_case *c, int n, const char *var, const char *mode)
{
    inputs in = {0};
    double *ref = NULL, err = -1;
    size_t mark = sg2_scope_begin(ctx);
    setenv(var, mode, 1);
    sg2_tensor *y = make_inputs(ctx, c, n, &in) ? run_op(ctx, c, &in) : NULL;
    long ny = y ? ref_op(c, n, &in, &ref) : 0;
    float *got = ny == (long)(y ? y->numel : -1) ? malloc(sizeof(float) * (size_t)ny) : NULL;
    if (got && !sg2_tensor_read(ctx, y, got)) {
        double emax = 0, rmax = 0;
        for (long i = 0; i < ny; i++) {
            emax = fmax(emax, fabs(got[i] - ref[i]));
            rmax = fmax(rmax, fabs(ref[i]));
        }
        err = emax / (rmax > 0 ? rmax : 1);
    }
    free(got);
    free(ref);
    free(in.a);
    free(in.b);
    sg2_scope_end(ctx, mark, NULL, 0);
    return err;
}

/* Seconds for one run of the op (queue drained before and after). */
static double time_once(sg2_ctx *ctx, const bench_case *c, const inputs *in)
{
    size_t mark = sg2_scope_begin(ctx);
    double t0 = now();
    sg2_tensor *y = run_op(ctx, c, in);
    if (!y || sg2_runtime_finish(ctx->rt, &ctx->err))
        t0 = -1e9;
    double t = now() - t0;
    sg2_scope_end(ctx, mark, NULL, 0);
    return t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int bench_case_run(sg2_ctx *ctx, const bench_case *c, int repeats)
{
    const char *var = ops[c->op].var;
    /* The direct-kernel rows time the direct kernels, wherever Winograd would be chosen. */
    if (strcmp(var, "SG2_WINOGRAD") != 0)
        setenv("SG2_WINOGRAD", "0", 1);
    const char *const *modes = ops[c->op].mode, *const *labels = ops[c->op].label;
    double err[2], t[2][64], med[2];
    for (int m = 0; m < 2; m++)
        if ((err[m] = validate(ctx, c, c->N < 2 ? c->N : 2, var, modes[m])) < 0 || err[m] > 1e-4) {
            fprintf(stderr, "bench_ops: %s %s failed validation (rel. error %.3g) %s\n", ops[c->op].name, labels[m],
                    err[m], ctx->err.msg);
            sg2_ctx_clear_error(ctx);
            return 0;
        }
    inputs in = {0};
    size_t mark = sg2_scope_begin(ctx);
    int ok = make_inputs(ctx, c, c->N, &in);
    for (int m = 0; ok && m < 2; m++) {
        setenv(var, modes[m], 1);
        ok = time_once(ctx, c, &in) >= 0; /* warm-up: builds, buffer pool */
    }
    for (int r = 0; ok && r < repeats; r++)
        for (int m = 0; m < 2; m++) {
            setenv(var, modes[m], 1);
            ok = (t[m][r] = time_once(ctx, c, &in)) >= 0;
        }
    sg2_scope_end(ctx, mark, NULL, 0);
    free(in.a);
    free(in.b);
    unsetenv(var);
    unsetenv("SG2_WINOGRAD");
    if (!ok) {
        fprintf(stderr, "bench_ops: %s: %s\n", ops[c->op].name, ctx->err.msg);
        sg2_ctx_clear_error(ctx);
        return 0;
    }
    double gf = flops(c) * 1e-9;
    char shape[64];
    if (c->op == OP_GEMM)
        snprintf(shape, sizeof shape, "%dx%dx%d", c->Cin, c->Cout, c->H);
    else
        snprintf(shape, sizeof shape, "N%d %d->%d %dx%d k%d s%d g%d", c->N, c->Cin, c->Cout, c->H, c->W, c->k,
                 c->stride, c->groups);
    printf("%-10s %-30s", ops[c->op].name, shape);
    for (int m = 0; m < 2; m++) {
        qsort(t[m], (size_t)repeats, sizeof(double), cmp_double);
        med[m] = t[m][repeats / 2];
        printf(" %8s %7.1f %7.1f", labels[m], gf / t[m][0], gf / med[m]);
    }
    printf(" %6.2fx\n", med[0] / med[1]);
    printf("{\"op\": \"%s\", \"shape\": \"%s\", \"gflop\": %.4g, \"a\": \"%s\", \"a_gflops_max\": %.4g, "
           "\"a_gflops_med\": %.4g, \"b\": \"%s\", \"b_gflops_max\": %.4g, \"b_gflops_med\": %.4g, "
           "\"speedup_med\": %.4g, \"a_rel_err\": %.3g, \"b_rel_err\": %.3g, \"repeats\": %d}\n",
           ops[c->op].name, shape, gf, labels[0], gf / t[0][0], gf / med[0], labels[1], gf / t[1][0], gf / med[1],
           med[0] / med[1], err[0], err[1], repeats);
    fflush(stdout);
    return 1;
}

int main(int argc, char **argv)
{
    int repeats = 5;
    const char *only = NULL;
    int bad = argc % 2 == 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--repeats") == 0)
            repeats = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--only") == 0)
            only = argv[i + 1];
        else if (strcmp(argv[i], "--clock") == 0 && strcmp(argv[i + 1], "cpu") == 0)
            bench_clock = CLOCK_PROCESS_CPUTIME_ID;
        else if (strcmp(argv[i], "--clock") != 0 || strcmp(argv[i + 1], "wall") != 0)
            bad = 1;
    }
    if (bad || repeats < 1 || repeats > 64) {
        fprintf(stderr, "usage: bench_ops [--repeats 1..64] [--only SUBSTRING of the op name or shape] "
                        "[--clock wall|cpu]\n");
        return 2;
    }
    sg2_error err = {0};
    sg2_runtime rt;
    if (sg2_runtime_init(&rt, NULL, &err)) {
        fprintf(stderr, "bench_ops: %s\n", err.msg);
        return 1;
    }
    sg2_ctx ctx;
    sg2_ctx_init(&ctx, &rt);
    ctx.grad_enabled = 0;
    printf("device: %s; GFLOP/s as max (from the fastest run) and median of %d runs%s; speedup = A med / B med\n",
           rt.dev.name, repeats, bench_clock == CLOCK_MONOTONIC ? "" : " per CPU second");
    printf("%-10s %-30s %8s %7s %7s %8s %7s %7s %7s\n", "op", "shape", "A", "max", "med", "B", "max", "med", "B/A");
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char key[96];
        const bench_case *c = &cases[i];
        snprintf(key, sizeof key, "%s N%d %d->%d %dx%d k%d s%d g%d", ops[c->op].name, c->N, c->Cin, c->Cout, c->H,
                 c->W, c->k, c->stride, c->groups);
        if (!only || strstr(key, only))
            failed |= !bench_case_run(&ctx, c, repeats);
    }
    sg2_ctx_free(&ctx);
    sg2_runtime_free(&rt);
    return failed;
}
