/* Shared test helpers: one OpenCL context per test program, host random
 * data, float-vs-double comparisons under the suite's single tolerance
 * policy, and central finite differences on double-precision functions. */
#ifndef SG2_TEST_UTIL_H
#define SG2_TEST_UTIL_H
#include <check.h>
#include <stdint.h>

#include "src/autograd.h"
#include "src/ops.h"

/* The tolerance policy, stated once for the whole suite.
 * A float32 result g passes against a double reference r when
 *     |g - r| <= SG2_TEST_ATOL * scale + SG2_TEST_RTOL * |r|
 * where scale = max(1, max |r| over the compared tensor). Kernels sum up to a
 * few thousand products, so float32 rounding stays well below 1e-4 relative;
 * gradient checks compare against central differences of the double
 * reference (step 1e-6), whose truncation error is far below that. */
#define SG2_TEST_RTOL 1e-4
#define SG2_TEST_ATOL 1e-4

/* The context shared by the cases of one test program (created on first use). */
sg2_ctx *sg2_test_ctx(void);
void sg2_test_ctx_free(void);

/* Deterministic uniform numbers in [lo, hi) from a 64-bit seed. */
void sg2_test_uniform(double *out, long n, double lo, double hi, uint64_t seed);
/* Move such numbers away from 0 by at least `gap` (kinks of lrelu/relu). */
void sg2_test_avoid_zero(double *x, long n, double gap);

sg2_tensor *sg2_test_tensor(sg2_ctx *ctx, int ndim, const int64_t *shape, const double *data);
/* Read a tensor into a malloc'd double array. */
double *sg2_test_read(sg2_ctx *ctx, const sg2_tensor *t);

/* Assert a tensor equals the reference under the policy; `what` names it. */
void sg2_test_assert_close(sg2_ctx *ctx, const sg2_tensor *t, const double *ref, long n, const char *what);
/* Same for host arrays; returns the max relative violation (<=1 passes). */
double sg2_test_close_ratio(const double *got, const double *ref, long n, double *max_abs_err);
void sg2_test_assert_arrays(const double *got, const double *ref, long n, const char *what);

/* f maps x[n_x] to y[n_y] in double precision. */
typedef void (*sg2_test_fn)(double *y, const double *x, void *user);
/* grad[i] = d/dx_i sum_j dy[j] * f(x)_j by central differences, step h. */
void sg2_test_fd_vjp(sg2_test_fn f, void *user, const double *x, long n_x, const double *dy, long n_y,
                     double *grad, double h);

/* Run a suite without forking; returns the number of failures. */
int sg2_test_run(Suite *s);

#endif
