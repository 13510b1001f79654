/* Core engine: elementwise ops with broadcasting, reductions, layout ops,
 * autodiff bookkeeping (scopes, selective gradients, create_graph) and the
 * buffer pool, against double-precision references computed here. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/kernel_sources.h"
#include "src/op_util.h"
#include "tests/test_util.h"

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})

/* ---- binary ops with broadcasting ---- */

typedef double (*binop)(double, double);
static double d_add(double a, double b) { return a + b; }
static double d_sub(double a, double b) { return a - b; }
static double d_mul(double a, double b) { return a * b; }
static double d_div(double a, double b) { return a / b; }

/* a[2,3,5,7] op b[3,1,7] (broadcast over axes 0 and 2). */
static void ref_broadcast(double *y, const double *a, const double *b, binop f)
{
    for (int i = 0; i < 2; i++)
        for (int c = 0; c < 3; c++)
            for (int h = 0; h < 5; h++)
                for (int w = 0; w < 7; w++) {
                    int ia = ((i * 3 + c) * 5 + h) * 7 + w;
                    y[ia] = f(a[ia], b[c * 7 + w]);
                }
}

typedef sg2_tensor *(*tensor_binop)(sg2_ctx *, sg2_tensor *, sg2_tensor *);

START_TEST(test_binary_broadcast)
{
    static const tensor_binop ops[] = {sg2_add, sg2_sub, sg2_mul, sg2_div};
    static const binop refs[] = {d_add, d_sub, d_mul, d_div};
    static const char *names[] = {"add", "sub", "mul", "div"};
    sg2_ctx *ctx = sg2_test_ctx();
    double a[210], b[21], y[210];
    sg2_test_uniform(a, 210, -2, 2, 1);
    sg2_test_uniform(b, 21, 0.5, 2, 2);
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *ta = sg2_test_tensor(ctx, 4, SHAPE(2, 3, 5, 7), a);
    sg2_tensor *tb = sg2_test_tensor(ctx, 3, SHAPE(3, 1, 7), b);
    for (int k = 0; k < 4; k++) {
        ref_broadcast(y, a, b, refs[k]);
        sg2_tensor *t = ops[k](ctx, ta, tb);
        sg2_test_assert_close(ctx, t, y, 210, names[k]);
        ck_assert_int_eq(t->ndim, 4);
    }
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

/* y = a op b under NumPy broadcasting, for any ranks up to 4. */
static void ref_broadcast_any(double *y, const double *a, int na, const int64_t *sa, const double *b, int nb,
                              const int64_t *sb, int ny, const int64_t *sy, binop f)
{
    int64_t n = 1;
    for (int d = 0; d < ny; d++)
        n *= sy[d];
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, ia = 0, ib = 0, step_a = 1, step_b = 1;
        for (int d = ny - 1; d >= 0; d--) {
            int64_t q = rem % sy[d];
            rem /= sy[d];
            int da = d - (ny - na), db = d - (ny - nb);
            if (da >= 0) {
                ia += (sa[da] == 1 ? 0 : q) * step_a;
                step_a *= sa[da];
            }
            if (db >= 0) {
                ib += (sb[db] == 1 ? 0 : q) * step_b;
                step_b *= sb[db];
            }
        }
        y[i] = f(a[ia], b[ib]);
    }
}

/* Each shape pair takes another kernel: same shape with a ragged tail of
 * the four-wide loop, scalars on either side, broadcasts that merge into
 * two or three axes (runs shorter and longer than one work-item's), and
 * one that needs the general kernel. */
START_TEST(test_binary_kernel_paths)
{
    static const tensor_binop ops[] = {sg2_add, sg2_sub, sg2_mul, sg2_div};
    static const binop refs[] = {d_add, d_sub, d_mul, d_div};
    static const char *names[] = {"add", "sub", "mul", "div"};
    static const struct {
        int na, nb;
        int64_t sa[4], sb[4];
    } cases[] = {
        {3, 3, {3, 5, 7}, {3, 5, 7}},     {3, 0, {3, 5, 7}, {0}},          {1, 3, {1}, {2, 3, 5}},
        {3, 3, {4, 6, 37}, {4, 1, 37}},   {2, 1, {6, 10}, {10}},           {3, 3, {4, 6, 1}, {4, 1, 9}},
        {2, 2, {5, 1}, {1, 37}},          {4, 4, {2, 3, 4, 5}, {2, 1, 4, 1}}, {4, 2, {2, 1, 3, 1}, {1, 1}},
    };
    sg2_ctx *ctx = sg2_test_ctx();
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int ny;
        int64_t sy[4];
        ck_assert(sg2_broadcast_shape(cases[c].na, cases[c].sa, cases[c].nb, cases[c].sb, &ny, sy));
        long n_a = (long)sg2_shape_numel(cases[c].na, cases[c].sa), n_b = (long)sg2_shape_numel(cases[c].nb, cases[c].sb);
        long n_y = (long)sg2_shape_numel(ny, sy);
        double *a = malloc((size_t)n_a * sizeof *a), *b = malloc((size_t)n_b * sizeof *b);
        double *y = malloc((size_t)n_y * sizeof *y);
        sg2_test_uniform(a, n_a, -2, 2, 10 + c);
        sg2_test_uniform(b, n_b, 0.5, 2, 20 + c);
        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *ta = sg2_test_tensor(ctx, cases[c].na, cases[c].sa, a);
        sg2_tensor *tb = sg2_test_tensor(ctx, cases[c].nb, cases[c].sb, b);
        for (int k = 0; k < 4; k++) {
            char what[64];
            snprintf(what, sizeof what, "case %zu %s", c, names[k]);
            ref_broadcast_any(y, a, cases[c].na, cases[c].sa, b, cases[c].nb, cases[c].sb, ny, sy, refs[k]);
            sg2_tensor *t = ops[k](ctx, ta, tb);
            ck_assert_ptr_nonnull(t);
            ck_assert_int_eq(t->ndim, ny);
            sg2_test_assert_close(ctx, t, y, n_y, what);
        }
        sg2_scope_end(ctx, mark, NULL, 0);
        free(a);
        free(b);
        free(y);
    }
}
END_TEST

/* d(sum(w * (a op b)))/da and /db against central differences. */
typedef struct bin_user {
    binop f;
    const double *b_or_a;
    int wrt_b;
    const double *w;
} bin_user;

static void bin_fn(double *y, const double *x, void *user)
{
    bin_user *u = user;
    double out[210];
    if (u->wrt_b)
        ref_broadcast(out, u->b_or_a, x, u->f);
    else
        ref_broadcast(out, x, u->b_or_a, u->f);
    memcpy(y, out, sizeof out);
}

START_TEST(test_binary_grad)
{
    static const tensor_binop ops[] = {sg2_add, sg2_sub, sg2_mul, sg2_div};
    static const binop refs[] = {d_add, d_sub, d_mul, d_div};
    static const char *names[] = {"add", "sub", "mul", "div"};
    sg2_ctx *ctx = sg2_test_ctx();
    double a[210], b[21], v[210], ga[210], gb[21];
    sg2_test_uniform(a, 210, -2, 2, 3);
    sg2_test_uniform(b, 21, 0.5, 2, 4);
    sg2_test_uniform(v, 210, -1, 1, 5);
    for (int k = 0; k < 4; k++) {
        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *ta = sg2_test_tensor(ctx, 4, SHAPE(2, 3, 5, 7), a);
        sg2_tensor *tb = sg2_test_tensor(ctx, 3, SHAPE(3, 1, 7), b);
        sg2_tensor *tv = sg2_test_tensor(ctx, 4, SHAPE(2, 3, 5, 7), v);
        sg2_tensor_set_requires_grad(ta, 1);
        sg2_tensor_set_requires_grad(tb, 1);
        sg2_tensor *y = ops[k](ctx, ta, tb);
        sg2_tensor *in[2] = {ta, tb}, *g[2];
        ck_assert_int_eq(sg2_autograd_grad(ctx, 1, &y, &tv, 2, in, 0, g), SG2_OK);
        bin_user ua = {refs[k], b, 0, v}, ub = {refs[k], a, 1, v};
        sg2_test_fd_vjp(bin_fn, &ua, a, 210, v, 210, ga, 1e-6);
        sg2_test_fd_vjp(bin_fn, &ub, b, 21, v, 210, gb, 1e-6);
        sg2_test_assert_close(ctx, g[0], ga, 210, names[k]);
        sg2_test_assert_close(ctx, g[1], gb, 21, names[k]);
        sg2_scope_end(ctx, mark, NULL, 0);
    }
}
END_TEST

/* ---- unary ops: values, first and second derivatives ---- */

typedef sg2_tensor *(*tensor_unop)(sg2_ctx *, sg2_tensor *);
static double u_square(double x) { return x * x; }
static double u_sqrt(double x) { return sqrt(x); }
static double u_rsqrt(double x) { return 1.0 / sqrt(x); }
static double u_exp(double x) { return exp(x); }
static double u_log(double x) { return log(x); }
static double u_softplus(double x) { return log1p(exp(x)); }
static double u_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double u_neg(double x) { return -x; }

static const tensor_unop unary_ops[] = {sg2_square, sg2_sqrt, sg2_rsqrt, sg2_exp, sg2_log, sg2_softplus, sg2_sigmoid, sg2_neg};
static double (*const unary_refs[])(double) = {u_square, u_sqrt, u_rsqrt, u_exp, u_log, u_softplus, u_sigmoid, u_neg};
static const char *const unary_names[] = {"square", "sqrt", "rsqrt", "exp", "log", "softplus", "sigmoid", "neg"};

typedef struct unary_user {
    double (*f)(double);
} unary_user;

static void unary_fn(double *y, const double *x, void *user)
{
    unary_user *u = user;
    for (int i = 0; i < 105; i++)
        y[i] = u->f(x[i]);
}

/* First derivative by central differences of f, in double. */
static double d1(double (*f)(double), double x)
{
    double h = 1e-5 * (fabs(x) > 1 ? fabs(x) : 1);
    return (f(x + h) - f(x - h)) / (2 * h);
}

START_TEST(test_unary)
{
    sg2_ctx *ctx = sg2_test_ctx();
    double x[105], v[105], y[105], g[105], gg[105];
    sg2_test_uniform(x, 105, 0.3, 2.5, 7); /* positive: sqrt, rsqrt, log */
    sg2_test_uniform(v, 105, -1, 1, 8);
    for (int k = 0; k < 8; k++) {
        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *tx = sg2_test_tensor(ctx, 3, SHAPE(3, 5, 7), x);
        sg2_tensor *tv = sg2_test_tensor(ctx, 3, SHAPE(3, 5, 7), v);
        sg2_tensor_set_requires_grad(tx, 1);
        sg2_tensor *ty = unary_ops[k](ctx, tx);
        unary_user u = {unary_refs[k]};
        unary_fn(y, x, &u);
        sg2_test_assert_close(ctx, ty, y, 105, unary_names[k]);
        /* first order: g = v * f'(x) */
        sg2_tensor *tg = NULL;
        ck_assert_int_eq(sg2_autograd_grad(ctx, 1, &ty, &tv, 1, &tx, 1, &tg), SG2_OK);
        sg2_test_fd_vjp(unary_fn, &u, x, 105, v, 105, g, 1e-6);
        sg2_test_assert_close(ctx, tg, g, 105, unary_names[k]);
        /* second order: d/dx sum(g) = v * f''(x), FD of the double f' */
        sg2_tensor *s = sg2_sum_all(ctx, tg), *tgg = NULL;
        ck_assert_int_eq(sg2_autograd_grad(ctx, 1, &s, NULL, 1, &tx, 0, &tgg), SG2_OK);
        for (int i = 0; i < 105; i++) {
            double h = 1e-4 * (fabs(x[i]) > 1 ? fabs(x[i]) : 1);
            gg[i] = v[i] * (d1(unary_refs[k], x[i] + h) - d1(unary_refs[k], x[i] - h)) / (2 * h);
        }
        sg2_test_assert_close(ctx, tgg, gg, 105, unary_names[k]);
        sg2_scope_end(ctx, mark, NULL, 0);
    }
}
END_TEST

START_TEST(test_affine_scalar)
{
    sg2_ctx *ctx = sg2_test_ctx();
    double x[7], y[7];
    sg2_test_uniform(x, 7, -3, 3, 9);
    for (int i = 0; i < 7; i++)
        y[i] = x[i] * -1.5 + 0.25;
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *t = sg2_affine_scalar(ctx, sg2_test_tensor(ctx, 1, SHAPE(7), x), -1.5f, 0.25f);
    sg2_test_assert_close(ctx, t, y, 7, "affine_scalar");
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

/* ---- reductions ---- */

START_TEST(test_sum_mean_axes)
{
    sg2_ctx *ctx = sg2_test_ctx();
    enum { A = 2, B = 3, C = 5, D = 7 };
    double x[A * B * C * D];
    sg2_test_uniform(x, A * B * C * D, -1, 1, 10);
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *tx = sg2_test_tensor(ctx, 4, SHAPE(A, B, C, D), x);
    /* sum over axes 1 and 3 -> [A, C] */
    double r[A * C] = {0};
    for (int a = 0; a < A; a++)
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++)
                for (int d = 0; d < D; d++)
                    r[a * C + c] += x[((a * B + b) * C + c) * D + d];
    sg2_tensor *s = sg2_sum(ctx, tx, 0xA, 0);
    sg2_test_assert_close(ctx, s, r, A * C, "sum axes 1,3");
    ck_assert_int_eq(s->ndim, 2);
    ck_assert_int_eq(s->shape[1], C);
    sg2_tensor *sk = sg2_sum(ctx, tx, 0xA, 1);
    ck_assert_int_eq(sk->ndim, 4);
    ck_assert_int_eq(sk->shape[1], 1);
    for (int i = 0; i < A * C; i++)
        r[i] /= B * D;
    sg2_test_assert_close(ctx, sg2_mean(ctx, tx, 0xA, 1), r, A * C, "mean axes 1,3");
    double total = 0;
    for (int i = 0; i < A * B * C * D; i++)
        total += x[i];
    sg2_tensor *all = sg2_sum_all(ctx, tx);
    ck_assert_int_eq(all->ndim, 0);
    sg2_test_assert_close(ctx, all, &total, 1, "sum_all");
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

/* Short sums (at most SHORT_SUM terms of cl/elementwise.cl, added without
 * compensation): the taps of a [37, 11, 3, 3] weight, as the demodulation
 * sums their squares, and axes 0 and 2 of [4, 5, 6] (strided terms), with
 * 1, 4 and 64 work-items per output. */
START_TEST(test_sum_short)
{
    sg2_ctx *ctx = sg2_test_ctx();
    enum { O = 37, I = 11, T = 9, A = 4, B = 5, C = 6 };
    double *w = malloc(sizeof(double) * O * I * T), rw[O * I] = {0}, x[A * B * C], rx[B] = {0};
    sg2_test_uniform(w, O * I * T, -1, 1, 14);
    sg2_test_uniform(x, A * B * C, -1, 1, 15);
    for (int i = 0; i < O * I; i++)
        for (int t = 0; t < T; t++)
            rw[i] += w[i * T + t];
    for (int a = 0; a < A; a++)
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++)
                rx[b] += x[(a * B + b) * C + c];
    /* 1 and 4 work-items per output: the nested loops (runs at least that
     * long); 64: the strided index path */
    static const char *const subs[] = {"1", "4", "64"};
    for (int k = 0; k < 3; k++) {
        setenv("SG2_REDUCE_SUB", subs[k], 1);
        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *tw = sg2_test_tensor(ctx, 4, SHAPE(O, I, 3, 3), w);
        sg2_tensor *tx = sg2_test_tensor(ctx, 3, SHAPE(A, B, C), x);
        char what[96];
        snprintf(what, sizeof what, "sum over the 3x3 taps of [37, 11, 3, 3], %s per output", subs[k]);
        sg2_test_assert_close(ctx, sg2_sum(ctx, tw, 0xC, 0), rw, O * I, what);
        snprintf(what, sizeof what, "sum axes 0,2 of [4, 5, 6], %s per output", subs[k]);
        sg2_test_assert_close(ctx, sg2_sum(ctx, tx, 0x5, 0), rx, B, what);
        sg2_scope_end(ctx, mark, NULL, 0);
    }
    unsetenv("SG2_REDUCE_SUB");
    free(w);
}
END_TEST

/* Few outputs of long strided sums: the reduction runs in parts, summed by
 * a second pass (the part boundaries fall inside rows). */
START_TEST(test_sum_in_parts)
{
    sg2_ctx *ctx = sg2_test_ctx();
    enum { A = 3, B = 200, C = 2, D = 61 };
    double *x = malloc(sizeof(double) * A * B * C * D), r[C] = {0};
    sg2_test_uniform(x, A * B * C * D, -1, 1, 13);
    for (int a = 0; a < A; a++)
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++)
                for (int d = 0; d < D; d++)
                    r[c] += x[((a * B + b) * C + c) * D + d];
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *tx = sg2_test_tensor(ctx, 4, SHAPE(A, B, C, D), x);
    sg2_test_assert_close(ctx, sg2_sum(ctx, tx, 0xB, 0), r, C, "sum axes 0,1,3 of [3,200,2,61]");
    for (int c = 0; c < C; c++)
        r[c] /= A * B * D;
    sg2_test_assert_close(ctx, sg2_mean(ctx, tx, 0xB, 0), r, C, "mean axes 0,1,3 of [3,200,2,61]");
    sg2_scope_end(ctx, mark, NULL, 0);
    free(x);
}
END_TEST

/* Contiguous rows, as a bias gradient sums [N, H*W] per channel: axes 0
 * and 2 of [3, 5, 2083] with 1, 4 and 64 work-items per output, so each
 * takes its blocks of 8 four at a time (four compensated sums), then one at
 * a time, then the tail of 3. Strided terms, as a noise gradient sums over
 * channels: axes 0 and 1 of the same values as [3, 2083, 5], four terms at
 * a time, then the rest. Each within 1e-6 of the double sum of the float
 * inputs. */
START_TEST(test_sum_rows)
{
    sg2_ctx *ctx = sg2_test_ctx();
    enum { A = 3, B = 5, C = 2083 };
    double *x = malloc(sizeof(double) * A * B * C), r[B] = {0}, rs[B] = {0};
    sg2_test_uniform(x, A * B * C, 0, 1, 16);
    for (int a = 0; a < A; a++)
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++) {
                r[b] += (float)x[(a * B + b) * C + c];
                rs[b] += (float)x[(a * C + c) * B + b];
            }
    static const char *const subs[] = {"1", "4", "64"};
    for (int k = 0; k < 3; k++) {
        setenv("SG2_REDUCE_SUB", subs[k], 1);
        size_t mark = sg2_scope_begin(ctx);
        double *got = sg2_test_read(ctx, sg2_sum(ctx, sg2_test_tensor(ctx, 3, SHAPE(A, B, C), x), 0x5, 0));
        double *got_s = sg2_test_read(ctx, sg2_sum(ctx, sg2_test_tensor(ctx, 3, SHAPE(A, C, B), x), 0x3, 0));
        for (int b = 0; b < B; b++) {
            ck_assert_msg(fabs(got[b] - r[b]) / r[b] < 1e-6, "row sum %d, %s per output: %.9g vs %.9g", b, subs[k],
                          got[b], r[b]);
            ck_assert_msg(fabs(got_s[b] - rs[b]) / rs[b] < 1e-6, "strided sum %d, %s per output: %.9g vs %.9g", b,
                          subs[k], got_s[b], rs[b]);
        }
        free(got);
        free(got_s);
        sg2_scope_end(ctx, mark, NULL, 0);
    }
    unsetenv("SG2_REDUCE_SUB");
    free(x);
}
END_TEST

START_TEST(test_sum_large_accuracy)
{
    /* A long sum in float32: Kahan compensation keeps it near the double sum. */
    sg2_ctx *ctx = sg2_test_ctx();
    long n = 1 << 20;
    double *x = malloc((size_t)n * sizeof *x);
    sg2_test_uniform(x, n, 0, 1, 11);
    double total = 0;
    for (long i = 0; i < n; i++)
        total += (float)x[i];
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *s = sg2_sum_all(ctx, sg2_test_tensor(ctx, 1, SHAPE(n), x));
    double *got = sg2_test_read(ctx, s);
    ck_assert_msg(fabs(got[0] - total) / total < 1e-6, "sum of 2^20: %.9g vs %.9g", got[0], total);
    free(got);
    free(x);
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

/* ---- layout ops ---- */

START_TEST(test_permute_slice_concat_repeat)
{
    sg2_ctx *ctx = sg2_test_ctx();
    enum { A = 2, B = 3, C = 4 };
    double x[A * B * C], r[A * B * 90];
    sg2_test_uniform(x, A * B * C, -1, 1, 12);
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *tx = sg2_test_tensor(ctx, 3, SHAPE(A, B, C), x);
    /* permute (2,0,1): y[c][a][b] = x[a][b][c] */
    for (int a = 0; a < A; a++)
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++)
                r[(c * A + a) * B + b] = x[(a * B + b) * C + c];
    sg2_test_assert_close(ctx, sg2_permute(ctx, tx, (const int[]){2, 0, 1}), r, A * B * C, "permute");
    /* slice axis 2 [1, 3) */
    for (int a = 0; a < A; a++)
        for (int b = 0; b < B; b++)
            for (int c = 0; c < 2; c++)
                r[(a * B + b) * 2 + c] = x[(a * B + b) * C + c + 1];
    sg2_test_assert_close(ctx, sg2_slice(ctx, tx, 2, 1, 2), r, A * B * 2, "slice");
    /* concat [x, 2x] along axis 1 */
    sg2_tensor *parts[2] = {tx, sg2_scale(ctx, tx, 2.0f)};
    for (int a = 0; a < A; a++)
        for (int b = 0; b < 2 * B; b++)
            for (int c = 0; c < C; c++)
                r[(a * 2 * B + b) * C + c] = (b < B ? 1.0 : 2.0) * x[(a * B + b % B) * C + c];
    sg2_test_assert_close(ctx, sg2_concat(ctx, 2, parts, 1), r, A * 2 * B * C, "concat");
    /* repeat (2,1,3): tile */
    for (int a = 0; a < 2 * A; a++)
        for (int b = 0; b < B; b++)
            for (int c = 0; c < 3 * C; c++)
                r[(a * B + b) * 3 * C + c] = x[((a % A) * B + b) * C + c % C];
    sg2_test_assert_close(ctx, sg2_repeat(ctx, tx, SHAPE(2, 1, 3)), r, 2 * A * B * 3 * C, "repeat");
    /* many copies on a 4-D tensor (an mbstd-style tiling) */
    sg2_tensor *small = sg2_reshape(ctx, sg2_slice(ctx, tx, 2, 0, 1), 4, SHAPE(A, B, 1, 1));
    sg2_tensor *tiled = sg2_repeat(ctx, small, SHAPE(1, 1, 9, 10));
    for (int a = 0; a < A; a++)
        for (int b = 0; b < B; b++)
            for (int i = 0; i < 90; i++)
                r[(a * B + b) * 90 + i] = x[(a * B + b) * C];
    sg2_test_assert_close(ctx, tiled, r, A * B * 90, "repeat 9x10");
    /* reshape with inference keeps the data */
    sg2_tensor *rs = sg2_reshape(ctx, tx, 2, SHAPE(-1, 4));
    ck_assert_int_eq(rs->shape[0], 6);
    sg2_test_assert_close(ctx, rs, x, A * B * C, "reshape");
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

/* permute of [2,3,5,7] against index arithmetic: (1,0,2,3) merges into three
 * axes with runs of 35 (copy_rows, several runs a row), (3,2,1,0) does not
 * merge (the general copy_strided), (0,1,3,2) ends in a strided inner axis. */
START_TEST(test_permute_kernel_paths)
{
    static const int perms[][4] = {{1, 0, 2, 3}, {3, 2, 1, 0}, {0, 1, 3, 2}};
    static const int64_t dims[4] = {2, 3, 5, 7};
    sg2_ctx *ctx = sg2_test_ctx();
    double x[210], r[210];
    sg2_test_uniform(x, 210, -1, 1, 31);
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *tx = sg2_test_tensor(ctx, 4, dims, x);
    for (size_t p = 0; p < sizeof perms / sizeof perms[0]; p++) {
        const int *pm = perms[p];
        int64_t os[4], xst[4] = {105, 35, 7, 1};
        for (int d = 0; d < 4; d++)
            os[d] = dims[pm[d]];
        for (int i = 0; i < 210; i++) {
            int rem = i, off = 0;
            for (int d = 3; d >= 0; d--) {
                off += (int)(rem % os[d] * xst[pm[d]]);
                rem /= (int)os[d];
            }
            r[i] = x[off];
        }
        char what[32];
        snprintf(what, sizeof what, "permute %zu", p);
        sg2_test_assert_close(ctx, sg2_permute(ctx, tx, pm), r, 210, what);
    }
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

/* f(x) = sum(v * concat(slice(permute(x)), repeat(x))) exercises every layout
 * backward; it is linear, so d/dx is exact and equals a gather of v. */
typedef struct layout_user {
    int dummy;
} layout_user;

static void layout_fn(double *y, const double *x, void *user)
{
    (void)user;
    /* x[2,3,4] -> p = permute(1,0,2) [3,2,4] -> slice axis0 [1,3) -> [2,2,4]
     * q = repeat(x,(1,1,1)) reshaped [2,3,4] -> slice axis1 [0,2) -> [2,2,4]
     * y = concat(p, q) along axis 2 -> [2,2,8] */
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            for (int k = 0; k < 8; k++) {
                double val;
                if (k < 4)
                    val = x[(j * 3 + (i + 1)) * 4 + k]; /* p[i][j][k] = perm[i+1][j][k] = x[j][i+1][k] */
                else
                    val = 3.0 * x[(i * 3 + j) * 4 + (k - 4)];
                y[(i * 2 + j) * 8 + k] = val;
            }
}

START_TEST(test_layout_grad)
{
    sg2_ctx *ctx = sg2_test_ctx();
    double x[24], v[32], g[24];
    sg2_test_uniform(x, 24, -1, 1, 13);
    sg2_test_uniform(v, 32, -1, 1, 14);
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *tx = sg2_test_tensor(ctx, 3, SHAPE(2, 3, 4), x);
    sg2_tensor_set_requires_grad(tx, 1);
    sg2_tensor *p = sg2_slice(ctx, sg2_permute(ctx, tx, (const int[]){1, 0, 2}), 0, 1, 2);
    sg2_tensor *q = sg2_slice(ctx, sg2_scale(ctx, tx, 3.0f), 1, 0, 2);
    sg2_tensor *parts[2] = {p, q};
    sg2_tensor *y = sg2_concat(ctx, 2, parts, 2);
    double yr[32];
    layout_fn(yr, x, NULL);
    sg2_test_assert_close(ctx, y, yr, 32, "layout forward");
    sg2_tensor *tv = sg2_test_tensor(ctx, 3, SHAPE(2, 2, 8), v), *tg = NULL;
    ck_assert_int_eq(sg2_autograd_grad(ctx, 1, &y, &tv, 1, &tx, 0, &tg), SG2_OK);
    sg2_test_fd_vjp(layout_fn, NULL, x, 24, v, 32, g, 1e-6);
    sg2_test_assert_close(ctx, tg, g, 24, "layout grad");
    /* expand + sum_to are each other's adjoints */
    sg2_tensor *col = sg2_slice(ctx, tx, 2, 0, 1); /* [2,3,1] */
    sg2_tensor *e = sg2_expand(ctx, col, 4, SHAPE(5, 2, 3, 4));
    sg2_tensor *ge = NULL;
    ck_assert_int_eq(sg2_autograd_grad(ctx, 1, &e, NULL, 1, &col, 0, &ge), SG2_OK);
    double twenty[6] = {20, 20, 20, 20, 20, 20};
    sg2_test_assert_close(ctx, ge, twenty, 6, "expand grad");
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

/* ---- autodiff bookkeeping ---- */

START_TEST(test_grad_only_where_asked)
{
    /* y = sum(a*b): asking for d/da leaves b's side alone and gives zeros
     * for an input that does not reach the output. */
    sg2_ctx *ctx = sg2_test_ctx();
    double a[5] = {1, 2, 3, 4, 5}, b[5] = {-1, 0.5, 2, 3, -2};
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *ta = sg2_test_tensor(ctx, 1, SHAPE(5), a);
    sg2_tensor *tb = sg2_test_tensor(ctx, 1, SHAPE(5), b);
    sg2_tensor *tc = sg2_test_tensor(ctx, 1, SHAPE(5), b);
    sg2_tensor_set_requires_grad(ta, 1);
    sg2_tensor_set_requires_grad(tb, 1);
    sg2_tensor_set_requires_grad(tc, 1);
    sg2_tensor *y = sg2_sum_all(ctx, sg2_mul(ctx, ta, tb));
    sg2_tensor *in[2] = {ta, tc}, *g[2];
    ck_assert_int_eq(sg2_autograd_grad(ctx, 1, &y, NULL, 2, in, 0, g), SG2_OK);
    sg2_test_assert_close(ctx, g[0], b, 5, "d/da");
    double zero[5] = {0};
    sg2_test_assert_close(ctx, g[1], zero, 5, "unreached input");
    ck_assert_ptr_null(g[0]->grad_fn); /* create_graph off: nothing recorded */
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

START_TEST(test_shared_subexpression)
{
    /* y = sum(u*u + u) with u = x*x: gradient accumulates over both uses. */
    sg2_ctx *ctx = sg2_test_ctx();
    double x[4] = {0.5, -1.0, 1.5, 2.0}, g[4];
    for (int i = 0; i < 4; i++)
        g[i] = (2 * x[i] * x[i] + 1) * 2 * x[i];
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *tx = sg2_test_tensor(ctx, 1, SHAPE(4), x);
    sg2_tensor_set_requires_grad(tx, 1);
    sg2_tensor *u = sg2_mul(ctx, tx, tx);
    sg2_tensor *y = sg2_sum_all(ctx, sg2_add(ctx, sg2_mul(ctx, u, u), u));
    sg2_tensor *tg = NULL;
    ck_assert_int_eq(sg2_autograd_grad(ctx, 1, &y, NULL, 1, &tx, 0, &tg), SG2_OK);
    sg2_test_assert_close(ctx, tg, g, 4, "shared subexpression");
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

START_TEST(test_scope_releases_buffers)
{
    sg2_ctx *ctx = sg2_test_ctx();
    sg2_bufpool *pool = &ctx->rt->pool;
    size_t before = pool->bytes_in_use;
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *x = sg2_tensor_full(ctx, 2, SHAPE(64, 64), 1.0f), *kept = NULL;
    sg2_tensor_set_requires_grad(x, 1);
    for (int i = 0; i < 10; i++)
        kept = sg2_add_scalar(ctx, sg2_square(ctx, i ? kept : x), 0.0f);
    ck_assert_ptr_nonnull(kept);
    sg2_scope_end(ctx, mark, &kept, 1);
    /* The kept result still holds its graph (for backward) ... */
    ck_assert(pool->bytes_in_use > before);
    /* ... and ending the outer scope frees everything. */
    sg2_scope_end(ctx, mark, NULL, 0);
    ck_assert_uint_eq(pool->bytes_in_use, before);
    /* Released buffers are reused, not re-created. */
    long creates = pool->creates;
    mark = sg2_scope_begin(ctx);
    sg2_tensor_full(ctx, 2, SHAPE(64, 64), 2.0f);
    ck_assert_int_eq(pool->creates, creates);
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

/* The pool keeps a free list per size class: a released buffer comes back
 * for a request of its class and only then, whatever else is cached, and a
 * trim empties every list. */
START_TEST(test_pool_size_classes)
{
    sg2_ctx *ctx = sg2_test_ctx();
    sg2_bufpool *pool = &ctx->rt->pool;
    sg2_bufpool_trim(pool);
    /* 256 bytes; 288 (the next class); 1 MiB; 1 MiB + 1 (9/8 MiB) */
    static const size_t sizes[] = {200, 257, 1u << 20, (1u << 20) + 1};
    enum { N = sizeof sizes / sizeof sizes[0] };
    sg2_buffer *b[N], *again;
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(sg2_bufpool_get(pool, sizes[i], &b[i], &ctx->err), SG2_OK);
    ck_assert_uint_eq(b[1]->bytes, 288);
    ck_assert_uint_eq(b[3]->bytes, (1u << 20) + (1u << 17));
    for (int i = 0; i < N; i++)
        sg2_buffer_release(b[i]);
    ck_assert_int_eq(pool->n_cached, N);
    long creates = pool->creates;
    for (int i = N - 1; i >= 0; i--) {
        ck_assert_int_eq(sg2_bufpool_get(pool, sg2_bufpool_class(sizes[i]), &again, &ctx->err), SG2_OK);
        ck_assert_ptr_eq(again, b[i]);
        sg2_buffer_release(again);
    }
    ck_assert_int_eq(pool->creates, creates);
    /* a class with nothing cached: a new buffer */
    ck_assert_int_eq(sg2_bufpool_get(pool, 3u << 20, &again, &ctx->err), SG2_OK);
    ck_assert_int_eq(pool->creates, creates + 1);
    sg2_buffer_release(again);
    /* a size whose class would overflow: refused, not a small cached buffer */
    ck_assert_int_eq(sg2_bufpool_get(pool, SIZE_MAX - 10, &again, &ctx->err), SG2_ERR_NOMEM);
    sg2_ctx_clear_error(ctx);
    sg2_bufpool_trim(pool);
    ck_assert_int_eq(pool->n_cached, 0);
    ck_assert_uint_eq(pool->bytes_cached, 0);
}
END_TEST

/* Kernel lookups: the same file, name and options give the same entry, other
 * options another; every kernel of four files looked up in a runtime of its
 * own (past the index's first 16 slots, so it grows twice) and again
 * after, each to the entry it got the first time. */
START_TEST(test_kernel_lookup)
{
    sg2_runtime rt;
    sg2_error err = {0};
    ck_assert_msg(sg2_runtime_init(&rt, NULL, &err) == SG2_OK, "%s", err.msg);
    sg2_ctx own, *ctx = &own;
    sg2_ctx_init(ctx, &rt);
    const sg2_kernel_entry *a = sg2_kernel(ctx, "elementwise.cl", "ew_unary", NULL);
    const sg2_kernel_entry *b = sg2_kernel(ctx, "elementwise.cl", "ew_unary", "");
    const sg2_kernel_entry *c = sg2_kernel(ctx, "elementwise.cl", "reduce_sum", "-DEW_WG=32");
    const sg2_kernel_entry *d = sg2_kernel(ctx, "elementwise.cl", "reduce_sum", "-DEW_WG=16");
    ck_assert_msg(a && b && c && d, "%s", ctx->err.msg);
    ck_assert_ptr_eq(a, b);
    ck_assert_ptr_ne(c, d);
    ck_assert_ptr_eq(c, sg2_kernel(ctx, "elementwise.cl", "reduce_sum", "-DEW_WG=32"));
    ck_assert_str_eq(d->options, "-DEW_WG=16");
    ck_assert_ptr_null(sg2_kernel(ctx, "elementwise.cl", "no_such_kernel", NULL));
    sg2_ctx_clear_error(ctx);

    static const char *const files[] = {"elementwise.cl", "modconv.cl", "random.cl", "upfirdn2d.cl"};
    enum { MAX = 64 };
    const char *file_of[MAX];
    char names[MAX][64];
    const sg2_kernel_entry *got[MAX];
    int n = 0;
    for (int f = 0; f < 4; f++) {
        char *src = NULL;
        size_t len = 0;
        ck_assert_int_eq(sg2_kernel_source_load(files[f], &src, &len, &ctx->err), SG2_OK);
        /* "__kernel void NAME(" and "__kernel __attribute__(...)\nvoid NAME(" */
        for (char *k = strstr(src, "__kernel"); k && n < MAX; k = strstr(k + 8, "__kernel")) {
            char *v = strstr(k, "void "), *paren = v ? strchr(v, '(') : NULL;
            if (!paren || paren - v - 5 >= 64)
                continue;
            snprintf(names[n], sizeof names[n], "%.*s", (int)(paren - v - 5), v + 5);
            file_of[n] = files[f];
            /* kernels under a build option the default build leaves out are not there */
            got[n] = sg2_kernel(ctx, files[f], names[n], NULL);
            sg2_ctx_clear_error(ctx);
            n += got[n] != NULL;
        }
        free(src);
    }
    ck_assert_int_ge(n, 17);
    for (int i = 0; i < n; i++)
        ck_assert_ptr_eq(sg2_kernel(ctx, file_of[i], names[i], NULL), got[i]);
    ck_assert_int_ge(rt.index_cap, 64);
    sg2_ctx_free(ctx);
    sg2_runtime_free(&rt);
}
END_TEST

/* On a CPU device, buffers of 2 MiB and more live in memory the pool maps on
 * huge-page boundaries (the driver uses it in place); smaller ones and
 * SG2_HUGE_PAGES=0 pools take the driver's own. Data round-trips either
 * way, and a trim while kernels are queued leaves their memory mapped until
 * the driver lets go of it. */
START_TEST(test_pool_huge_pages)
{
    sg2_ctx *ctx = sg2_test_ctx();
    sg2_bufpool *pool = &ctx->rt->pool;
    int cpu = (ctx->rt->dev.type & CL_DEVICE_TYPE_CPU) != 0;
    const char *env = getenv("SG2_HUGE_PAGES");
    ck_assert_int_eq(pool->huge_pages, cpu && !(env && strcmp(env, "0") == 0));
    size_t mark = sg2_scope_begin(ctx);
    const int64_t n = 3 << 19; /* 6 MiB of floats */
    float *host = malloc((size_t)n * sizeof *host), *back = malloc((size_t)n * sizeof *back);
    ck_assert_ptr_nonnull(host);
    ck_assert_ptr_nonnull(back);
    for (int64_t i = 0; i < n; i++)
        host[i] = (float)(i % 1000) - 500.0f;
    size_t inner = sg2_scope_begin(ctx);
    sg2_tensor *big = sg2_tensor_empty(ctx, 1, SHAPE(n)), *small = sg2_tensor_empty(ctx, 1, SHAPE(1024));
    ck_assert_ptr_nonnull(big);
    ck_assert_ptr_nonnull(small);
    ck_assert_int_eq(sg2_tensor_write(ctx, big, host), SG2_OK);
    void *where = NULL;
    cl_mem_flags flags = 0;
    ck_assert_int_eq(clGetMemObjectInfo(big->buf->mem, CL_MEM_HOST_PTR, sizeof where, &where, NULL), CL_SUCCESS);
    ck_assert_int_eq(clGetMemObjectInfo(big->buf->mem, CL_MEM_FLAGS, sizeof flags, &flags, NULL), CL_SUCCESS);
    if (pool->huge_pages) {
        ck_assert(flags & CL_MEM_USE_HOST_PTR);
        ck_assert_uint_eq((uintptr_t)where % ((uintptr_t)2 << 20), 0);
    } else {
        ck_assert(!(flags & CL_MEM_USE_HOST_PTR));
    }
    ck_assert_int_eq(clGetMemObjectInfo(small->buf->mem, CL_MEM_FLAGS, sizeof flags, &flags, NULL), CL_SUCCESS);
    ck_assert(!(flags & CL_MEM_USE_HOST_PTR));
    /* y = 2 x queued, x returned to the pool and the pool trimmed before
     * the result is read */
    sg2_tensor *y = sg2_scale(ctx, big, 2.0f);
    sg2_scope_end(ctx, inner, &y, 1);
    sg2_bufpool_trim(pool);
    ck_assert_int_eq(sg2_tensor_read(ctx, y, back), SG2_OK);
    for (int64_t i = 0; i < n; i++)
        ck_assert_float_eq(back[i], 2.0f * host[i]);
    free(back);
    free(host);
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

START_TEST(test_bad_input)
{
    sg2_ctx *ctx = sg2_test_ctx();
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *a = sg2_tensor_full(ctx, 2, SHAPE(2, 3), 1.0f);
    sg2_tensor *b = sg2_tensor_full(ctx, 2, SHAPE(4, 3), 1.0f);
    ck_assert_ptr_null(sg2_add(ctx, a, b));
    ck_assert_int_eq(ctx->err.status, SG2_ERR_SHAPE);
    ck_assert_msg(strstr(ctx->err.msg, "do not broadcast") != NULL, "message: %s", ctx->err.msg);
    /* sticky: later ops return NULL without touching the device */
    ck_assert_ptr_null(sg2_square(ctx, a));
    sg2_ctx_clear_error(ctx);
    ck_assert_ptr_null(sg2_tensor_empty(ctx, 2, SHAPE(0, 3)));
    ck_assert_int_eq(ctx->err.status, SG2_ERR_SHAPE);
    sg2_ctx_clear_error(ctx);
    ck_assert_ptr_null(sg2_reshape(ctx, a, 2, SHAPE(4, 2)));
    ck_assert_int_eq(ctx->err.status, SG2_ERR_SHAPE);
    sg2_ctx_clear_error(ctx);
    ck_assert_ptr_null(sg2_slice(ctx, a, 1, 2, 2));
    ck_assert_int_eq(ctx->err.status, SG2_ERR_ARG);
    sg2_ctx_clear_error(ctx);
    ck_assert_ptr_null(sg2_permute(ctx, a, (const int[]){0, 0}));
    sg2_ctx_clear_error(ctx);
    ck_assert_ptr_null(sg2_square(ctx, NULL));
    ck_assert_int_eq(ctx->err.status, SG2_ERR_ARG);
    sg2_ctx_clear_error(ctx);
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

START_TEST(test_kernel_dir_override)
{
    /* A missing kernel file under SG2_KERNEL_DIR is a clear error naming it. */
    sg2_ctx *ctx = sg2_test_ctx();
    sg2_error err = {0};
    char *text = NULL;
    size_t len = 0;
    setenv("SG2_KERNEL_DIR", "/nonexistent-sg2", 1);
    sg2_status st = sg2_kernel_source_load("elementwise.cl", &text, &len, &err);
    unsetenv("SG2_KERNEL_DIR");
    ck_assert_int_eq(st, SG2_ERR_IO);
    ck_assert_msg(strstr(err.msg, "/nonexistent-sg2/elementwise.cl") != NULL, "message: %s", err.msg);
    sg2_error_clear(&err);
    ck_assert_int_eq(sg2_kernel_source_load("elementwise.cl", &text, &len, &err), SG2_OK);
    ck_assert_msg(len > 100 && strstr(text, "ew_binary") != NULL, "embedded source of elementwise.cl");
    (void)ctx;
    free(text);
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_binary_broadcast);
    tcase_add_test(tc, test_binary_kernel_paths);
    tcase_add_test(tc, test_binary_grad);
    tcase_add_test(tc, test_unary);
    tcase_add_test(tc, test_affine_scalar);
    tcase_add_test(tc, test_sum_mean_axes);
    tcase_add_test(tc, test_sum_rows);
    tcase_add_test(tc, test_sum_large_accuracy);
    tcase_add_test(tc, test_sum_in_parts);
    tcase_add_test(tc, test_sum_short);
    tcase_add_test(tc, test_permute_slice_concat_repeat);
    tcase_add_test(tc, test_permute_kernel_paths);
    tcase_add_test(tc, test_layout_grad);
    tcase_add_test(tc, test_grad_only_where_asked);
    tcase_add_test(tc, test_shared_subexpression);
    tcase_add_test(tc, test_scope_releases_buffers);
    tcase_add_test(tc, test_pool_huge_pages);
    tcase_add_test(tc, test_pool_size_classes);
    tcase_add_test(tc, test_kernel_lookup);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_kernel_dir_override);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return sg2_test_run(core_suite()) != 0;
}
