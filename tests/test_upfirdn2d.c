/* upfirdn2d and fir_filter: the forward pass against the double reference
 * on StyleGAN2's resampling cases and on odd ones (crops, non-square and
 * asymmetric filters, both filter orientations, mixed up and down factors);
 * the gradient against central differences; the gradient of a gradient
 * against differences of a double first gradient that is built from the
 * reference's explicit matrix (so it does not rely on the op's own adjoint
 * formula); and bad input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/ref/ref.h"
#include "tests/test_util.h"

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})

typedef struct ufd_case {
    const char *name;
    int N, C, H, W;
    int fh, fw;  /* fir 1: fh = fw = 4, the [1,3,3,1] filter; 2: a random outer product; 0: random */
    int fir;
    int upx, upy, downx, downy;
    int px0, px1, py0, py1;
    int flip;
    double gain;
} ufd_case;

/* StyleGAN2's resampling calls and a spread of unusual ones. */
static const ufd_case fwd_cases[] = {
    {"upsample2d", 2, 3, 5, 7, 4, 4, 1, 2, 2, 1, 1, 2, 1, 2, 1, 0, 4.0},
    {"downsample2d", 2, 3, 8, 6, 4, 4, 1, 1, 1, 2, 2, 1, 1, 1, 1, 0, 1.0},
    {"downsample2d odd", 1, 3, 5, 7, 4, 4, 1, 1, 1, 2, 2, 1, 1, 1, 1, 0, 1.0},
    {"filter2d pad [2,1]", 1, 3, 5, 7, 4, 4, 1, 1, 1, 1, 1, 2, 1, 2, 1, 0, 1.0},
    {"filter2d pad [1,2]", 1, 3, 5, 7, 4, 4, 1, 1, 1, 1, 1, 1, 2, 1, 2, 0, 1.0},
    {"after transposed conv: pad [1,1] gain 4", 2, 5, 9, 9, 4, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 4.0},
    {"before strided conv: pad [2,2]", 2, 5, 8, 8, 4, 4, 1, 1, 1, 1, 1, 2, 2, 2, 2, 0, 1.0},
    {"1x1-conv up: up 2 pad [2,1] gain 4", 1, 6, 4, 4, 4, 4, 1, 2, 2, 1, 1, 2, 1, 2, 1, 0, 4.0},
    {"crop: up 2 pad [-1,-2] x [0,-3] y", 1, 3, 5, 7, 4, 4, 1, 2, 2, 1, 1, -1, -2, 0, -3, 0, 4.0},
    {"crop both sides, down 2", 2, 2, 9, 8, 3, 3, 0, 1, 1, 2, 2, -2, -1, -1, -2, 0, 1.3},
    {"non-square 3x5, flip 0, axes differ", 1, 3, 5, 7, 3, 5, 0, 2, 1, 1, 2, 3, 1, 0, 2, 0, 1.5},
    {"non-square 3x5, flip 1, axes differ", 1, 3, 5, 7, 3, 5, 0, 2, 1, 1, 2, 3, 1, 0, 2, 1, 1.5},
    {"up 3 down 2, 4x3 filter, flip 1", 2, 3, 4, 5, 4, 3, 0, 3, 3, 2, 2, 2, 1, 1, 3, 1, 0.7},
    {"up 3 down 2, 4x3 filter, flip 0", 2, 3, 4, 5, 4, 3, 0, 3, 3, 2, 2, 2, 1, 1, 3, 0, 0.7},
    {"1x1 filter, down 3 with remainder", 1, 2, 8, 7, 1, 1, 0, 1, 1, 3, 3, 0, 0, 0, 0, 0, 2.0},
    {"wide padding around a 1x1 image", 1, 2, 1, 1, 2, 3, 0, 1, 1, 1, 1, 3, 4, 2, 1, 1, 1.0},
    {"1-row filter", 3, 1, 6, 5, 1, 4, 0, 2, 1, 1, 1, 1, 2, 0, 0, 0, 1.0},
    /* The tiled kernel's separable path: asymmetric rank-one filters (a
     * wrong orientation shows), odd sizes, tiles split across the image
     * (more than 64 outputs a side) and a plane count that is no multiple
     * of the planes per work-group. */
    {"rank one 4x4, up 2, flip 0", 2, 3, 11, 13, 4, 4, 2, 2, 2, 1, 1, 2, 1, 2, 1, 0, 4.0},
    {"rank one 4x4, up 2, flip 1", 2, 3, 11, 13, 4, 4, 2, 2, 2, 1, 1, 2, 1, 2, 1, 1, 4.0},
    {"rank one 3x5, down 2, odd, flip 1", 1, 5, 13, 15, 3, 5, 2, 1, 1, 2, 2, 2, 1, 1, 2, 1, 1.0},
    {"rank one 5x5, up 2 down 2, crop", 1, 2, 9, 7, 5, 5, 2, 2, 2, 2, 2, 2, -1, 3, 0, 0, 1.0},
    {"rank one 2x3, up 3 x, down 2 y", 1, 2, 7, 6, 2, 3, 2, 3, 1, 1, 2, 1, 2, 0, 1, 0, 2.0},
    {"multi-tile 70x75, pad [1,1]", 1, 3, 70, 75, 4, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 4.0},
    {"multi-tile 131x67, down 2, flip 1", 1, 2, 131, 67, 4, 4, 1, 1, 1, 2, 2, 1, 1, 1, 1, 1, 1.0},
    {"multi-tile 60x70 up 2, random 3x3", 1, 1, 60, 70, 3, 3, 0, 2, 2, 1, 1, 1, 1, 2, 0, 0, 4.0},
    {"37 planes of 2x2, up 2", 1, 37, 2, 2, 4, 4, 1, 2, 2, 1, 1, 2, 1, 2, 1, 0, 4.0},
    {"rank one 9x9, down 2, tile shrunk to fit local memory", 1, 1, 150, 150, 9, 9, 2, 1, 1, 2, 2, 1, 1, 1, 1, 0, 1.0},
};

/* Small cases for the differentiation checks (FD cost grows with x's size). */
static const ufd_case grad_cases[] = {
    {"upsample2d", 1, 2, 3, 4, 4, 4, 1, 2, 2, 1, 1, 2, 1, 2, 1, 0, 4.0},
    {"downsample2d, remainder dropped", 1, 2, 7, 5, 4, 4, 1, 1, 1, 2, 2, 1, 1, 1, 1, 0, 1.0},
    {"crop, up 2", 1, 2, 4, 5, 3, 3, 0, 2, 2, 1, 1, -1, -2, 0, -3, 0, 2.0},
    {"non-square, flip 1, axes differ", 2, 1, 5, 4, 3, 5, 0, 2, 1, 1, 2, 3, 1, 0, 2, 1, 1.5},
    {"up 3 down 2, flip 0", 1, 2, 3, 4, 4, 3, 0, 3, 3, 2, 2, 2, 1, 1, 3, 0, 0.7},
    {"down 3, crop", 1, 1, 8, 9, 2, 3, 0, 1, 1, 3, 3, -1, 1, 2, -2, 1, 1.0},
};

static int out_h(const ufd_case *c) { return sg2_ref_upfirdn2d_out(c->H, c->upy, c->downy, c->py0, c->py1, c->fh); }
static int out_w(const ufd_case *c) { return sg2_ref_upfirdn2d_out(c->W, c->upx, c->downx, c->px0, c->px1, c->fw); }
static long in_count(const ufd_case *c) { return (long)c->N * c->C * c->H * c->W; }
static long out_count(const ufd_case *c) { return (long)c->N * c->C * out_h(c) * out_w(c); }

/* The case's filter in double, and on the device (through sg2_fir_filter for
 * the [1,3,3,1] cases, so its normalization is checked too). */
static double *make_filter(const ufd_case *c, uint64_t seed)
{
    double *f = malloc(sizeof(double) * (size_t)(c->fh * c->fw));
    ck_assert_ptr_nonnull(f);
    if (c->fir == 2) {
        double a[16], b[16];
        sg2_test_uniform(a, c->fh, -1, 1, seed);
        sg2_test_uniform(b, c->fw, -1, 1, seed + 1000);
        for (int i = 0; i < c->fh; i++)
            for (int j = 0; j < c->fw; j++)
                f[i * c->fw + j] = a[i] * b[j];
    } else if (c->fir) {
        static const double k[4] = {1, 3, 3, 1};
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                f[i * 4 + j] = k[i] * k[j] / 64.0;
    } else {
        /* Asymmetric, so a wrong orientation shows. */
        sg2_test_uniform(f, c->fh * c->fw, -1, 1, seed);
    }
    return f;
}

static sg2_tensor *device_filter(sg2_ctx *ctx, const ufd_case *c, const double *f)
{
    if (c->fir == 1) {
        static const float k[4] = {1, 3, 3, 1};
        sg2_tensor *t = sg2_fir_filter(ctx, k, 4);
        ck_assert_msg(t != NULL, "fir_filter: %s", ctx->err.msg);
        return t;
    }
    return sg2_test_tensor(ctx, 2, SHAPE(c->fh, c->fw), f);
}

static sg2_upfirdn2d_params params_of(const ufd_case *c)
{
    sg2_upfirdn2d_params p = {.up_x = c->upx, .up_y = c->upy, .down_x = c->downx, .down_y = c->downy,
                              .pad_x0 = c->px0, .pad_x1 = c->px1, .pad_y0 = c->py0, .pad_y1 = c->py1,
                              .flip = c->flip, .gain = (float)c->gain};
    return p;
}

typedef struct ref_user {
    const ufd_case *c;
    const double *f;
} ref_user;

static void ref_fn(double *y, const double *x, void *user)
{
    const ref_user *u = user;
    const ufd_case *c = u->c;
    sg2_ref_upfirdn2d(y, x, u->f, c->N, c->C, c->H, c->W, c->fh, c->fw, c->upx, c->upy, c->downx, c->downy, c->px0,
                      c->px1, c->py0, c->py1, c->flip, c->gain);
}

/* Each kernel, forced by $SG2_UPFIRDN2D: rows (the default for factors of
 * 1 and 2 and filters up to 8 taps; others fall back to tiled), tiled
 * (where a tile fits) and generic. */
static const char *const kernels[] = {"rows", "tiled", "generic"};

START_TEST(test_upfirdn2d_forward)
{
    sg2_ctx *ctx = sg2_test_ctx();
    setenv("SG2_UPFIRDN2D", kernels[_i], 1);
    for (size_t i = 0; i < sizeof fwd_cases / sizeof fwd_cases[0]; i++) {
        const ufd_case *c = &fwd_cases[i];
        int Ho = out_h(c), Wo = out_w(c);
        ck_assert_msg(Ho >= 1 && Wo >= 1, "%s: bad test case", c->name);
        double *x = malloc(sizeof(double) * (size_t)in_count(c));
        double *y = malloc(sizeof(double) * (size_t)out_count(c));
        double *f = make_filter(c, 100 + i);
        sg2_test_uniform(x, in_count(c), -1, 1, 200 + i);
        ref_user u = {c, f};
        ref_fn(y, x, &u);
        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *tx = sg2_test_tensor(ctx, 4, SHAPE(c->N, c->C, c->H, c->W), x);
        sg2_upfirdn2d_params p = params_of(c);
        sg2_tensor *ty = sg2_upfirdn2d(ctx, tx, device_filter(ctx, c, f), &p);
        ck_assert_msg(ty != NULL, "%s: %s", c->name, ctx->err.msg);
        ck_assert_int_eq(ty->ndim, 4);
        ck_assert_msg(ty->shape[0] == c->N && ty->shape[1] == c->C && ty->shape[2] == Ho && ty->shape[3] == Wo,
                      "%s: output [%lld, %lld, %lld, %lld], want [%d, %d, %d, %d]", c->name,
                      (long long)ty->shape[0], (long long)ty->shape[1], (long long)ty->shape[2],
                      (long long)ty->shape[3], c->N, c->C, Ho, Wo);
        ck_assert_int_eq(ty->requires_grad, 0);
        char what[160];
        snprintf(what, sizeof what, "%s (%s kernel)", c->name, kernels[_i]);
        sg2_test_assert_close(ctx, ty, y, out_count(c), what);
        sg2_scope_end(ctx, mark, NULL, 0);
        free(x);
        free(y);
        free(f);
    }
    unsetenv("SG2_UPFIRDN2D");
}
END_TEST

/* The input may be a view at an offset into a larger buffer. */
START_TEST(test_upfirdn2d_offset_input)
{
    sg2_ctx *ctx = sg2_test_ctx();
    setenv("SG2_UPFIRDN2D", kernels[_i], 1);
    const ufd_case *c = &fwd_cases[0];
    long n = in_count(c);
    double *x2 = malloc(sizeof(double) * (size_t)(2 * n)), *y = malloc(sizeof(double) * (size_t)out_count(c));
    double *f = make_filter(c, 1);
    sg2_test_uniform(x2, 2 * n, -1, 1, 77);
    ref_user u = {c, f};
    ref_fn(y, x2 + n, &u);
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *big = sg2_test_tensor(ctx, 5, SHAPE(2, c->N, c->C, c->H, c->W), x2);
    sg2_tensor *tx = sg2_reshape(ctx, sg2_slice(ctx, big, 0, 1, 1), 4, SHAPE(c->N, c->C, c->H, c->W));
    ck_assert_msg(tx != NULL, "%s", ctx->err.msg);
    sg2_upfirdn2d_params p = params_of(c);
    sg2_tensor *ty = sg2_upfirdn2d(ctx, tx, device_filter(ctx, c, f), &p);
    sg2_test_assert_close(ctx, ty, y, out_count(c), kernels[_i]);
    sg2_scope_end(ctx, mark, NULL, 0);
    unsetenv("SG2_UPFIRDN2D");
    free(x2);
    free(y);
    free(f);
}
END_TEST

START_TEST(test_fir_filter)
{
    sg2_ctx *ctx = sg2_test_ctx();
    static const float k3[3] = {1, 2, 1};
    static const float k6[6] = {1, 5, 10, 10, 5, 1};
    static const float k1[1] = {2};
    const float *ks[3] = {k3, k6, k1};
    int ns[3] = {3, 6, 1};
    for (int t = 0; t < 3; t++) {
        int n = ns[t];
        double s = 0, want[36];
        for (int i = 0; i < n; i++)
            s += ks[t][i];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                want[i * n + j] = ks[t][i] * ks[t][j] / (s * s);
        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *f = sg2_fir_filter(ctx, ks[t], n);
        ck_assert_msg(f != NULL, "%s", ctx->err.msg);
        ck_assert_int_eq(f->ndim, 2);
        ck_assert_int_eq(f->shape[0], n);
        ck_assert_int_eq(f->shape[1], n);
        ck_assert_int_eq(f->requires_grad, 0);
        sg2_test_assert_close(ctx, f, want, (long)n * n, "fir_filter");
        sg2_scope_end(ctx, mark, NULL, 0);
    }
}
END_TEST

START_TEST(test_upfirdn2d_grad)
{
    sg2_ctx *ctx = sg2_test_ctx();
    for (size_t i = 0; i < sizeof grad_cases / sizeof grad_cases[0]; i++) {
        const ufd_case *c = &grad_cases[i];
        long nx = in_count(c), ny = out_count(c);
        double *x = malloc(sizeof(double) * (size_t)nx), *g = malloc(sizeof(double) * (size_t)nx);
        double *v = malloc(sizeof(double) * (size_t)ny);
        double *f = make_filter(c, 300 + i);
        sg2_test_uniform(x, nx, -1, 1, 310 + i);
        sg2_test_uniform(v, ny, -1, 1, 320 + i);
        ref_user u = {c, f};
        sg2_test_fd_vjp(ref_fn, &u, x, nx, v, ny, g, 1e-6);

        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *tx = sg2_test_tensor(ctx, 4, SHAPE(c->N, c->C, c->H, c->W), x);
        sg2_tensor *tf = device_filter(ctx, c, f);
        sg2_tensor_set_requires_grad(tx, 1);
        /* The filter is a constant even when marked: it must get no gradient. */
        sg2_tensor_set_requires_grad(tf, 1);
        sg2_tensor *tv = sg2_test_tensor(ctx, 4, SHAPE(c->N, c->C, out_h(c), out_w(c)), v);
        sg2_upfirdn2d_params p = params_of(c);
        sg2_tensor *ty = sg2_upfirdn2d(ctx, tx, tf, &p);
        sg2_tensor *ins[2] = {tx, tf}, *gr[2] = {NULL, NULL};
        ck_assert_msg(sg2_autograd_grad(ctx, 1, &ty, &tv, 2, ins, 0, gr) == SG2_OK, "%s: %s", c->name, ctx->err.msg);
        char what[128];
        snprintf(what, sizeof what, "%s: d/dx", c->name);
        sg2_test_assert_close(ctx, gr[0], g, nx, what);
        double *gf = sg2_test_read(ctx, gr[1]);
        for (long k = 0; k < (long)c->fh * c->fw; k++)
            ck_assert_msg(gf[k] == 0.0, "%s: the filter got a gradient", c->name);
        free(gf);
        sg2_scope_end(ctx, mark, NULL, 0);
        free(x);
        free(g);
        free(v);
        free(f);
    }
}
END_TEST

/* ---- second order ----
 * L(x) = sum(v * upfirdn2d(x)^2), so dL/dx = A^T (2 v * A x) with A the op's
 * matrix, and S(x) = sum(u * dL/dx). The device computes dL/dx with
 * create_graph (an upfirdn2d of the op's own adjoint), then dS/dx through
 * that gradient (upfirdn2d once more). The double first gradient below
 * builds A column by column from the reference, so it checks the op's
 * adjoint paddings instead of repeating them. */

typedef struct so_user {
    const ufd_case *c;
    const double *A; /* [ny, nx] */
    const double *v; /* [ny] */
} so_user;

static void first_grad(double *g, const double *x, void *user)
{
    const so_user *s = user;
    long nx = in_count(s->c), ny = out_count(s->c);
    double *w = malloc(sizeof(double) * (size_t)ny);
    for (long o = 0; o < ny; o++) {
        double y = 0;
        for (long i = 0; i < nx; i++)
            y += s->A[o * nx + i] * x[i];
        w[o] = 2 * s->v[o] * y;
    }
    for (long i = 0; i < nx; i++) {
        double acc = 0;
        for (long o = 0; o < ny; o++)
            acc += s->A[o * nx + i] * w[o];
        g[i] = acc;
    }
    free(w);
}

START_TEST(test_upfirdn2d_second_order)
{
    static const ufd_case cases[] = {
        {"upsample2d", 1, 2, 3, 3, 4, 4, 1, 2, 2, 1, 1, 2, 1, 2, 1, 0, 4.0},
        {"down 2 crop, non-square flip 1", 1, 2, 5, 6, 3, 4, 0, 1, 1, 2, 2, -1, 2, 1, 0, 1, 1.5},
        {"up 3 down 2, flip 0", 2, 1, 3, 4, 4, 3, 0, 3, 2, 2, 3, 2, 1, 1, 3, 0, 0.7},
    };
    sg2_ctx *ctx = sg2_test_ctx();
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const ufd_case *c = &cases[ci];
        long nx = in_count(c), ny = out_count(c);
        double *f = make_filter(c, 500 + ci);
        double *A = malloc(sizeof(double) * (size_t)(nx * ny));
        double *e = calloc((size_t)nx, sizeof(double)), *col = malloc(sizeof(double) * (size_t)ny);
        ref_user ru = {c, f};
        for (long i = 0; i < nx; i++) {
            e[i] = 1;
            ref_fn(col, e, &ru);
            e[i] = 0;
            for (long o = 0; o < ny; o++)
                A[o * nx + i] = col[o];
        }
        double *x = malloc(sizeof(double) * (size_t)nx), *u = malloc(sizeof(double) * (size_t)nx);
        double *v = malloc(sizeof(double) * (size_t)ny);
        double *g1 = malloc(sizeof(double) * (size_t)nx), *g2 = malloc(sizeof(double) * (size_t)nx);
        sg2_test_uniform(x, nx, -1, 1, 510 + ci);
        sg2_test_uniform(u, nx, -1, 1, 520 + ci);
        sg2_test_uniform(v, ny, -1, 1, 530 + ci);
        so_user su = {c, A, v};
        first_grad(g1, x, &su);
        sg2_test_fd_vjp(first_grad, &su, x, nx, u, nx, g2, 1e-6);

        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *tx = sg2_test_tensor(ctx, 4, SHAPE(c->N, c->C, c->H, c->W), x);
        sg2_tensor_set_requires_grad(tx, 1);
        sg2_tensor *tv = sg2_test_tensor(ctx, 4, SHAPE(c->N, c->C, out_h(c), out_w(c)), v);
        sg2_tensor *tu = sg2_test_tensor(ctx, 4, SHAPE(c->N, c->C, c->H, c->W), u);
        sg2_upfirdn2d_params p = params_of(c);
        sg2_tensor *ty = sg2_upfirdn2d(ctx, tx, device_filter(ctx, c, f), &p);
        sg2_tensor *L = sg2_sum_all(ctx, sg2_mul(ctx, sg2_square(ctx, ty), tv));
        sg2_tensor *tg = NULL, *tgg = NULL;
        ck_assert_msg(sg2_autograd_grad(ctx, 1, &L, NULL, 1, &tx, 1, &tg) == SG2_OK, "%s", ctx->err.msg);
        char what[128];
        snprintf(what, sizeof what, "%s: first gradient", c->name);
        sg2_test_assert_close(ctx, tg, g1, nx, what);
        ck_assert_msg(tg->requires_grad, "%s: create_graph gave a gradient without a graph", c->name);
        sg2_tensor *S = sg2_sum_all(ctx, sg2_mul(ctx, tg, tu));
        ck_assert_msg(sg2_autograd_grad(ctx, 1, &S, NULL, 1, &tx, 0, &tgg) == SG2_OK, "%s", ctx->err.msg);
        snprintf(what, sizeof what, "%s: gradient of the gradient", c->name);
        sg2_test_assert_close(ctx, tgg, g2, nx, what);
        sg2_scope_end(ctx, mark, NULL, 0);
        free(f);
        free(A);
        free(e);
        free(col);
        free(x);
        free(u);
        free(v);
        free(g1);
        free(g2);
    }
}
END_TEST

/* Each bad call must return NULL with the status, then leave the context usable. */
static void expect_fail(sg2_ctx *ctx, sg2_tensor *t, sg2_status want, const char *what)
{
    ck_assert_msg(t == NULL, "%s: expected failure, got a tensor", what);
    ck_assert_msg(ctx->err.status == want, "%s: status %d (%s), want %d", what, (int)ctx->err.status, ctx->err.msg,
                  (int)want);
    ck_assert_msg(strstr(ctx->err.msg, "fir_filter") || strstr(ctx->err.msg, "upfirdn2d"),
                  "%s: message does not name the op: %s", what, ctx->err.msg);
    sg2_ctx_clear_error(ctx);
}

START_TEST(test_upfirdn2d_bad_input)
{
    sg2_ctx *ctx = sg2_test_ctx();
    size_t mark = sg2_scope_begin(ctx);
    static const float k4[4] = {1, 3, 3, 1}, k2[2] = {1, -1};
    sg2_tensor *x = sg2_tensor_full(ctx, 4, SHAPE(1, 2, 3, 3), 1.0f);
    sg2_tensor *x3 = sg2_tensor_full(ctx, 3, SHAPE(2, 3, 3), 1.0f);
    sg2_tensor *f = sg2_fir_filter(ctx, k4, 4);
    sg2_tensor *f1 = sg2_tensor_full(ctx, 1, SHAPE(4), 0.25f);
    sg2_tensor *f3 = sg2_tensor_full(ctx, 3, SHAPE(1, 4, 4), 0.25f);
    ck_assert_msg(x && x3 && f && f1 && f3, "%s", ctx->err.msg);
    sg2_upfirdn2d_params p = {.up_x = 1, .up_y = 1, .down_x = 1, .down_y = 1, .gain = 1.0f};

    expect_fail(ctx, sg2_upfirdn2d(ctx, x, f1, &p), SG2_ERR_SHAPE, "1-D filter");
    expect_fail(ctx, sg2_upfirdn2d(ctx, x, f3, &p), SG2_ERR_SHAPE, "3-D filter");
    expect_fail(ctx, sg2_upfirdn2d(ctx, x3, f, &p), SG2_ERR_SHAPE, "3-D input");
    /* 3 samples, no padding, 4 taps: (3 - 4) / 1 + 1 would round to 1 in C. */
    expect_fail(ctx, sg2_upfirdn2d(ctx, x, f, &p), SG2_ERR_SHAPE, "image smaller than the filter");
    sg2_upfirdn2d_params crop = p;
    crop.pad_y0 = 2;
    crop.pad_x1 = crop.pad_y1 = 1;
    crop.pad_x0 = -3; /* x: 3 - 3 + 1 columns for 4 taps */
    expect_fail(ctx, sg2_upfirdn2d(ctx, x, f, &crop), SG2_ERR_SHAPE, "crop leaves too little");
    sg2_upfirdn2d_params zero_up = p;
    zero_up.up_y = 0;
    zero_up.pad_x0 = zero_up.pad_y0 = zero_up.pad_x1 = zero_up.pad_y1 = 2;
    expect_fail(ctx, sg2_upfirdn2d(ctx, x, f, &zero_up), SG2_ERR_ARG, "up factor 0");
    sg2_upfirdn2d_params neg_down = zero_up;
    neg_down.up_y = 1;
    neg_down.down_x = -2;
    expect_fail(ctx, sg2_upfirdn2d(ctx, x, f, &neg_down), SG2_ERR_ARG, "negative down factor");
    expect_fail(ctx, sg2_fir_filter(ctx, k4, 0), SG2_ERR_ARG, "fir_filter of 0 taps");
    expect_fail(ctx, sg2_fir_filter(ctx, k2, 2), SG2_ERR_ARG, "fir_filter of taps summing to 0");
    expect_fail(ctx, sg2_fir_filter(ctx, NULL, 4), SG2_ERR_ARG, "fir_filter of NULL taps");
    ck_assert_ptr_null(sg2_upfirdn2d(ctx, NULL, f, &p));
    ck_assert_int_eq(ctx->err.status, SG2_ERR_ARG);
    sg2_ctx_clear_error(ctx);
    /* The same call with enough padding works once the error is cleared. */
    sg2_upfirdn2d_params ok = p;
    ok.pad_x0 = ok.pad_y0 = 2;
    ok.pad_x1 = ok.pad_y1 = 1;
    sg2_tensor *y = sg2_upfirdn2d(ctx, x, f, &ok);
    ck_assert_msg(y != NULL, "%s", ctx->err.msg);
    ck_assert_int_eq(y->shape[2], 3);
    ck_assert_int_eq(y->shape[3], 3);
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("upfirdn2d");
    TCase *tc = tcase_create("upfirdn2d");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_upfirdn2d_forward, 0, 3);
    tcase_add_loop_test(tc, test_upfirdn2d_offset_input, 0, 3);
    tcase_add_test(tc, test_fir_filter);
    tcase_add_test(tc, test_upfirdn2d_grad);
    tcase_add_test(tc, test_upfirdn2d_second_order);
    tcase_add_test(tc, test_upfirdn2d_bad_input);
    suite_add_tcase(s, tc);
    return sg2_test_run(s) != 0;
}
