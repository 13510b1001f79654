#include "tests/test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "host/splitmix.h"

static sg2_runtime g_rt;
static sg2_ctx g_ctx;
static int g_ready;

sg2_ctx *sg2_test_ctx(void)
{
    if (!g_ready) {
        sg2_error err = {0};
        if (sg2_runtime_init(&g_rt, NULL, &err)) {
            fprintf(stderr, "test: cannot open an OpenCL device: %s\n", err.msg);
            exit(1);
        }
        sg2_ctx_init(&g_ctx, &g_rt);
        g_ready = 1;
    }
    if (g_ctx.err.status) {
        /* A failed case must not poison the next one. */
        sg2_ctx_clear_error(&g_ctx);
    }
    return &g_ctx;
}

void sg2_test_ctx_free(void)
{
    if (g_ready) {
        sg2_ctx_free(&g_ctx);
        sg2_runtime_free(&g_rt);
        g_ready = 0;
    }
}

void sg2_test_uniform(double *out, long n, double lo, double hi, uint64_t seed)
{
    uint64_t s = seed;
    for (long i = 0; i < n; i++)
        out[i] = lo + (hi - lo) * ((double)(sg2_splitmix64(&s) >> 11) * 0x1.0p-53);
}

void sg2_test_avoid_zero(double *x, long n, double gap)
{
    for (long i = 0; i < n; i++)
        if (fabs(x[i]) < gap)
            x[i] = x[i] < 0 ? -gap - fabs(x[i]) : gap + fabs(x[i]);
}

sg2_tensor *sg2_test_tensor(sg2_ctx *ctx, int ndim, const int64_t *shape, const double *data)
{
    int64_t n = sg2_shape_numel(ndim, shape);
    float *f = malloc((size_t)n * sizeof *f);
    ck_assert_ptr_nonnull(f);
    for (int64_t i = 0; i < n; i++)
        f[i] = (float)data[i];
    sg2_tensor *t = sg2_tensor_from_host(ctx, ndim, shape, f);
    free(f);
    ck_assert_msg(t != NULL, "upload failed: %s", ctx->err.msg);
    return t;
}

double *sg2_test_read(sg2_ctx *ctx, const sg2_tensor *t)
{
    ck_assert_msg(t != NULL, "op failed: %s", ctx->err.msg);
    float *f = malloc((size_t)t->numel * sizeof *f);
    double *d = malloc((size_t)t->numel * sizeof *d);
    ck_assert(f && d);
    ck_assert_msg(sg2_tensor_read(ctx, t, f) == SG2_OK, "read failed: %s", ctx->err.msg);
    for (int64_t i = 0; i < t->numel; i++)
        d[i] = f[i];
    free(f);
    return d;
}

double sg2_test_close_ratio(const double *got, const double *ref, long n, double *max_abs_err)
{
    double scale = 1.0, worst = 0.0, max_err = 0.0;
    for (long i = 0; i < n; i++)
        if (fabs(ref[i]) > scale)
            scale = fabs(ref[i]);
    for (long i = 0; i < n; i++) {
        double e = fabs(got[i] - ref[i]);
        double allowed = SG2_TEST_ATOL * scale + SG2_TEST_RTOL * fabs(ref[i]);
        if (!(e <= allowed))
            e = isnan(e) ? INFINITY : e;
        if (e / allowed > worst || isnan(got[i]))
            worst = isnan(got[i]) ? INFINITY : e / allowed;
        if (e > max_err)
            max_err = e;
    }
    if (max_abs_err)
        *max_abs_err = max_err;
    return worst;
}

void sg2_test_assert_arrays(const double *got, const double *ref, long n, const char *what)
{
    double max_err = 0;
    double ratio = sg2_test_close_ratio(got, ref, n, &max_err);
    long first = -1;
    if (!(ratio <= 1.0)) {
        double scale = 1.0;
        for (long i = 0; i < n; i++)
            if (fabs(ref[i]) > scale)
                scale = fabs(ref[i]);
        for (long i = 0; i < n && first < 0; i++)
            if (!(fabs(got[i] - ref[i]) <= SG2_TEST_ATOL * scale + SG2_TEST_RTOL * fabs(ref[i])))
                first = i;
    }
    ck_assert_msg(ratio <= 1.0, "%s: max |err| %.3g (%.2fx tolerance); first bad [%ld] got %.9g want %.9g", what,
                  max_err, ratio, first, first >= 0 ? got[first] : 0.0, first >= 0 ? ref[first] : 0.0);
}

void sg2_test_assert_close(sg2_ctx *ctx, const sg2_tensor *t, const double *ref, long n, const char *what)
{
    ck_assert_msg(t != NULL, "%s: op failed: %s", what, ctx->err.msg);
    ck_assert_msg(t->numel == n, "%s: %lld elements, reference has %ld", what, (long long)t->numel, n);
    double *got = sg2_test_read(ctx, t);
    sg2_test_assert_arrays(got, ref, n, what);
    free(got);
}

void sg2_test_fd_vjp(sg2_test_fn f, void *user, const double *x, long n_x, const double *dy, long n_y,
                     double *grad, double h)
{
    double *xp = malloc((size_t)n_x * sizeof *xp);
    double *yp = malloc((size_t)n_y * sizeof *yp);
    double *ym = malloc((size_t)n_y * sizeof *ym);
    ck_assert(xp && yp && ym);
    memcpy(xp, x, (size_t)n_x * sizeof *xp);
    for (long i = 0; i < n_x; i++) {
        double step = h * (fabs(x[i]) > 1.0 ? fabs(x[i]) : 1.0);
        xp[i] = x[i] + step;
        f(yp, xp, user);
        xp[i] = x[i] - step;
        f(ym, xp, user);
        xp[i] = x[i];
        double s = 0;
        for (long j = 0; j < n_y; j++)
            s += dy[j] * (yp[j] - ym[j]);
        grad[i] = s / (2.0 * step);
    }
    free(xp);
    free(yp);
    free(ym);
}

int sg2_test_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    sg2_test_ctx_free();
    return failed;
}
