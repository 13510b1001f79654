/* bias_act and bias_act_grad: the forward pass against the double reference
 * for every activation, with and without bias and clamp, on 2-D (dense) and
 * 4-D (conv) shapes; gradients with respect to x and b against central
 * differences; the gradient of a gradient through bias_act_grad against
 * differences of a double first gradient; the defaults; no leaked buffers
 * (the saved output must not form a reference cycle); the synthesis
 * layer's epilogue (a per-channel scale and noise in the same pass) with its
 * gradients; and bad input.
 *
 * Inputs are kept at least GAP away from the kinks of the activation and
 * from the clamp edge, where the op is not differentiable. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/ref/ref.h"
#include "tests/test_util.h"

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define GAP 0.05

static const char *const act_names[] = {"linear", "lrelu", "relu"};

/* A test configuration: x[outer, C, inner] viewed as ndim axes `shape`. */
typedef struct ba_case {
    int ndim;
    int64_t shape[4];
    int act;
    int has_bias;
    double clamp;
    double alpha, gain; /* 0 gain: the defaults for act */
} ba_case;

typedef struct ba_dims {
    int outer, C, inner;
    long n;
} ba_dims;

static ba_dims dims_of(const ba_case *c)
{
    ba_dims d = {(int)c->shape[0], (int)c->shape[1], 1, 0};
    for (int i = 2; i < c->ndim; i++)
        d.inner *= (int)c->shape[i];
    d.n = (long)d.outer * d.C * d.inner;
    return d;
}

static sg2_bias_act_params params_of(const ba_case *c)
{
    sg2_bias_act_params p = sg2_bias_act_defaults((sg2_act)c->act);
    if (c->gain != 0) {
        p.alpha = (float)c->alpha;
        p.gain = (float)c->gain;
    }
    p.clamp = (float)c->clamp;
    return p;
}

static double act_ref(double v, const sg2_bias_act_params *p)
{
    if (p->act == SG2_ACT_LRELU)
        return v > 0 ? v : p->alpha * v;
    if (p->act == SG2_ACT_RELU)
        return v > 0 ? v : 0;
    return v;
}

/* Random x and b with each pre-activation x + b[c] at least GAP from 0 and
 * each unclamped output at least GAP from the clamp. Returns how many
 * outputs are clamped. */
static long make_inputs(double *x, double *b, const ba_case *c, const sg2_bias_act_params *p, uint64_t seed)
{
    ba_dims d = dims_of(c);
    sg2_test_uniform(x, d.n, -2, 2, seed);
    sg2_test_uniform(b, d.C, -1, 1, seed + 1);
    if (!c->has_bias)
        memset(b, 0, sizeof(double) * (size_t)d.C);
    long clamped = 0;
    for (long i = 0; i < d.n; i++) {
        double bias = b[(i / d.inner) % d.C];
        double v = x[i] + bias;
        sg2_test_avoid_zero(&v, 1, GAP);
        double y = act_ref(v, p) * p->gain;
        /* y is proportional to v on each side of 0, so scaling v moves |y| off the edge. */
        if (c->clamp >= 0 && y != 0 && fabs(fabs(y) - c->clamp) < GAP)
            v *= (c->clamp + 2 * GAP) / fabs(y);
        if (c->clamp >= 0 && fabs(act_ref(v, p) * p->gain) >= c->clamp)
            clamped++;
        x[i] = v - bias;
    }
    return clamped;
}

static void describe(char *buf, size_t cap, const ba_case *c, const char *what)
{
    snprintf(buf, cap, "%s %s, %d-D, %s, clamp %g", what, act_names[c->act], c->ndim,
             c->has_bias ? "bias" : "no bias", c->clamp);
}

/* The forward and gradient cases: every activation, bias or not, clamp or
 * not, dense and conv shapes (odd sizes, C not a multiple of 4). */
static int all_cases(ba_case *out, int dense_n, int conv_n)
{
    int n = 0;
    for (int act = 0; act < 3; act++)
        for (int bias = 0; bias < 2; bias++)
            for (int cl = 0; cl < 2; cl++)
                for (int nd = 0; nd < 2; nd++) {
                    ba_case c = {0};
                    if (nd == 0) {
                        c.ndim = 2;
                        c.shape[0] = dense_n;
                        c.shape[1] = 7;
                    } else {
                        c.ndim = 4;
                        c.shape[0] = conv_n;
                        c.shape[1] = 3;
                        c.shape[2] = 5;
                        c.shape[3] = conv_n == 1 ? 3 : 7;
                    }
                    c.act = act;
                    c.has_bias = bias;
                    c.clamp = cl ? 0.8 : -1;
                    out[n++] = c;
                }
    /* Non-default slope and gain, and a 3-D shape. */
    out[n++] = (ba_case){3, {2, 5, 4}, SG2_ACT_LRELU, 1, 1.1, 0.3, 1.7};
    out[n++] = (ba_case){3, {3, 2, 3}, SG2_ACT_LINEAR, 1, 0.5, 0.0, -0.6};
    return n;
}

typedef struct fwd_user {
    const ba_case *c;
    sg2_bias_act_params p;
    const double *x, *b; /* the one not being varied */
    int vary_b;
} fwd_user;

static void fwd_fn(double *y, const double *v, void *user)
{
    const fwd_user *u = user;
    ba_dims d = dims_of(u->c);
    const double *x = u->vary_b ? u->x : v, *b = u->vary_b ? v : u->b;
    sg2_ref_bias_act(y, x, u->c->has_bias ? b : NULL, d.outer, d.C, d.inner, u->p.act, u->p.alpha, u->p.gain,
                     u->p.clamp);
}

START_TEST(test_bias_act_forward)
{
    sg2_ctx *ctx = sg2_test_ctx();
    ba_case cases[32];
    int nc = all_cases(cases, 5, 2);
    for (int i = 0; i < nc; i++) {
        const ba_case *c = &cases[i];
        ba_dims d = dims_of(c);
        sg2_bias_act_params p = params_of(c);
        double *x = malloc(sizeof(double) * (size_t)d.n), *y = malloc(sizeof(double) * (size_t)d.n);
        double *b = malloc(sizeof(double) * (size_t)d.C);
        long clamped = make_inputs(x, b, c, &p, 1000 + (uint64_t)i * 7);
        char what[128];
        describe(what, sizeof what, c, "bias_act");
        if (c->clamp >= 0)
            ck_assert_msg(clamped > 0 && clamped < d.n, "%s: the case clamps %ld of %ld", what, clamped, d.n);
        fwd_user u = {c, p, x, b, 0};
        fwd_fn(y, x, &u);
        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *tx = sg2_test_tensor(ctx, c->ndim, c->shape, x);
        sg2_tensor *tb = c->has_bias ? sg2_test_tensor(ctx, 1, SHAPE(d.C), b) : NULL;
        sg2_tensor *ty = sg2_bias_act(ctx, tx, tb, &p);
        ck_assert_msg(ty != NULL, "%s: %s", what, ctx->err.msg);
        ck_assert_msg(sg2_shape_equal(ty, tx), "%s: output shape differs from the input's", what);
        sg2_test_assert_close(ctx, ty, y, d.n, what);
        sg2_scope_end(ctx, mark, NULL, 0);
        free(x);
        free(y);
        free(b);
    }
}
END_TEST

/* bias_act_grad on its own, with y from the reference forward pass. */
START_TEST(test_bias_act_grad_forward)
{
    sg2_ctx *ctx = sg2_test_ctx();
    ba_case cases[32];
    int nc = all_cases(cases, 4, 1);
    for (int i = 0; i < nc; i++) {
        const ba_case *c = &cases[i];
        ba_dims d = dims_of(c);
        sg2_bias_act_params p = params_of(c);
        double *x = malloc(sizeof(double) * (size_t)d.n), *y = malloc(sizeof(double) * (size_t)d.n);
        double *dy = malloc(sizeof(double) * (size_t)d.n), *dx = malloc(sizeof(double) * (size_t)d.n);
        double *b = malloc(sizeof(double) * (size_t)d.C);
        make_inputs(x, b, c, &p, 2000 + (uint64_t)i * 7);
        sg2_test_uniform(dy, d.n, -1, 1, 2500 + (uint64_t)i);
        fwd_user u = {c, p, x, b, 0};
        fwd_fn(y, x, &u);
        sg2_ref_bias_act_grad(dx, dy, y, d.n, p.act, p.alpha, p.gain, p.clamp);
        char what[128];
        describe(what, sizeof what, c, "bias_act_grad");
        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *tdy = sg2_test_tensor(ctx, c->ndim, c->shape, dy);
        sg2_tensor *ty = sg2_test_tensor(ctx, c->ndim, c->shape, y);
        sg2_test_assert_close(ctx, sg2_bias_act_grad(ctx, tdy, ty, &p), dx, d.n, what);
        sg2_scope_end(ctx, mark, NULL, 0);
        free(x);
        free(y);
        free(dy);
        free(dx);
        free(b);
    }
}
END_TEST

START_TEST(test_bias_act_grad)
{
    sg2_ctx *ctx = sg2_test_ctx();
    ba_case cases[32];
    int nc = all_cases(cases, 3, 1);
    for (int i = 0; i < nc; i++) {
        const ba_case *c = &cases[i];
        ba_dims d = dims_of(c);
        sg2_bias_act_params p = params_of(c);
        double *x = malloc(sizeof(double) * (size_t)d.n), *v = malloc(sizeof(double) * (size_t)d.n);
        double *gx = malloc(sizeof(double) * (size_t)d.n), *b = malloc(sizeof(double) * (size_t)d.C);
        double *gb = malloc(sizeof(double) * (size_t)d.C);
        make_inputs(x, b, c, &p, 3000 + (uint64_t)i * 7);
        sg2_test_uniform(v, d.n, -1, 1, 3500 + (uint64_t)i);
        fwd_user ux = {c, p, x, b, 0}, ub = {c, p, x, b, 1};
        sg2_test_fd_vjp(fwd_fn, &ux, x, d.n, v, d.n, gx, 1e-6);
        sg2_test_fd_vjp(fwd_fn, &ub, b, d.C, v, d.n, gb, 1e-6);

        char what[128];
        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *tx = sg2_test_tensor(ctx, c->ndim, c->shape, x);
        sg2_tensor *tb = c->has_bias ? sg2_test_tensor(ctx, 1, SHAPE(d.C), b) : NULL;
        sg2_tensor *tv = sg2_test_tensor(ctx, c->ndim, c->shape, v);
        sg2_tensor_set_requires_grad(tx, 1);
        sg2_tensor_set_requires_grad(tb, 1);
        sg2_tensor *ty = sg2_bias_act(ctx, tx, tb, &p);
        sg2_tensor *ins[2] = {tx, tb}, *gr[2] = {NULL, NULL};
        ck_assert_msg(sg2_autograd_grad(ctx, 1, &ty, &tv, c->has_bias ? 2 : 1, ins, 0, gr) == SG2_OK, "%s",
                      ctx->err.msg);
        describe(what, sizeof what, c, "bias_act d/dx");
        sg2_test_assert_close(ctx, gr[0], gx, d.n, what);
        if (c->has_bias) {
            describe(what, sizeof what, c, "bias_act d/db");
            sg2_test_assert_close(ctx, gr[1], gb, d.C, what);
        }
        sg2_scope_end(ctx, mark, NULL, 0);
        free(x);
        free(v);
        free(gx);
        free(b);
        free(gb);
    }
}
END_TEST

/* ---- second order ----
 * With y = bias_act(x, b) and L = sum(v * y^2), the first gradient is
 * g = dL/dx = bias_act_grad(2 v y, y): it depends on x through the incoming
 * gradient 2 v y (the slope is piecewise constant). The device builds g with
 * create_graph, then differentiates S = sum(g^2) with respect to x and b,
 * which runs bias_act_grad's own backward and bias_act's again. The double
 * side is S as a function of (x, b) through the reference, differenced. */

typedef struct so_user {
    const ba_case *c;
    sg2_bias_act_params p;
    const double *x, *b, *v;
    int vary_b;
} so_user;

static void so_fn(double *s_out, const double *w, void *user)
{
    const so_user *u = user;
    ba_dims d = dims_of(u->c);
    const double *x = u->vary_b ? u->x : w, *b = u->vary_b ? w : u->b;
    double *y = malloc(sizeof(double) * (size_t)d.n), *dy = malloc(sizeof(double) * (size_t)d.n);
    double *g = malloc(sizeof(double) * (size_t)d.n);
    sg2_ref_bias_act(y, x, u->c->has_bias ? b : NULL, d.outer, d.C, d.inner, u->p.act, u->p.alpha, u->p.gain,
                     u->p.clamp);
    for (long i = 0; i < d.n; i++)
        dy[i] = 2 * u->v[i] * y[i];
    sg2_ref_bias_act_grad(g, dy, y, d.n, u->p.act, u->p.alpha, u->p.gain, u->p.clamp);
    double s = 0;
    for (long i = 0; i < d.n; i++)
        s += g[i] * g[i];
    s_out[0] = s;
    free(y);
    free(dy);
    free(g);
}

START_TEST(test_bias_act_second_order)
{
    static const ba_case cases[] = {
        {4, {2, 3, 3, 5}, SG2_ACT_LRELU, 1, -1, 0, 0},
        {4, {2, 3, 3, 5}, SG2_ACT_LRELU, 1, 0.8, 0, 0},
        {4, {1, 5, 2, 3}, SG2_ACT_RELU, 1, -1, 0, 0},
        {2, {4, 7}, SG2_ACT_LINEAR, 1, 0.9, 0, 0},
        {3, {2, 5, 4}, SG2_ACT_LRELU, 1, 1.1, 0.3, 1.7},
    };
    sg2_ctx *ctx = sg2_test_ctx();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const ba_case *c = &cases[i];
        ba_dims d = dims_of(c);
        sg2_bias_act_params p = params_of(c);
        double *x = malloc(sizeof(double) * (size_t)d.n), *v = malloc(sizeof(double) * (size_t)d.n);
        double *hx = malloc(sizeof(double) * (size_t)d.n), *b = malloc(sizeof(double) * (size_t)d.C);
        double *hb = malloc(sizeof(double) * (size_t)d.C), one = 1.0;
        make_inputs(x, b, c, &p, 4000 + (uint64_t)i * 7);
        sg2_test_uniform(v, d.n, -1, 1, 4500 + (uint64_t)i);
        so_user ux = {c, p, x, b, v, 0}, ub = {c, p, x, b, v, 1};
        sg2_test_fd_vjp(so_fn, &ux, x, d.n, &one, 1, hx, 1e-6);
        sg2_test_fd_vjp(so_fn, &ub, b, d.C, &one, 1, hb, 1e-6);
        /* A vanishing second derivative would make the check vacuous. */
        double norm = 0;
        for (long k = 0; k < d.n; k++)
            norm += fabs(hx[k]);
        ck_assert_msg(norm > 1e-3, "case %zu: second derivative is zero", i);

        char what[128];
        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *tx = sg2_test_tensor(ctx, c->ndim, c->shape, x);
        sg2_tensor *tb = sg2_test_tensor(ctx, 1, SHAPE(d.C), b);
        sg2_tensor *tv = sg2_test_tensor(ctx, c->ndim, c->shape, v);
        sg2_tensor_set_requires_grad(tx, 1);
        sg2_tensor_set_requires_grad(tb, 1);
        sg2_tensor *ty = sg2_bias_act(ctx, tx, tb, &p);
        sg2_tensor *L = sg2_sum_all(ctx, sg2_mul(ctx, tv, sg2_square(ctx, ty)));
        sg2_tensor *g = NULL;
        ck_assert_msg(sg2_autograd_grad(ctx, 1, &L, NULL, 1, &tx, 1, &g) == SG2_OK, "%s", ctx->err.msg);
        sg2_tensor *S = sg2_sum_all(ctx, sg2_square(ctx, g));
        sg2_tensor *ins[2] = {tx, tb}, *gr[2] = {NULL, NULL};
        ck_assert_msg(sg2_autograd_grad(ctx, 1, &S, NULL, 2, ins, 0, gr) == SG2_OK, "%s", ctx->err.msg);
        describe(what, sizeof what, c, "d/dx sum((dL/dx)^2)");
        sg2_test_assert_close(ctx, gr[0], hx, d.n, what);
        describe(what, sizeof what, c, "d/db sum((dL/dx)^2)");
        sg2_test_assert_close(ctx, gr[1], hb, d.C, what);
        sg2_scope_end(ctx, mark, NULL, 0);
        free(x);
        free(v);
        free(hx);
        free(b);
        free(hb);
    }
}
END_TEST

/* bias_act_grad is linear in dy and takes no gradient for y: d/d(dy) of
 * sum(w * bias_act_grad(dy, y)) is bias_act_grad(w, y), and d/dy is zero. */
START_TEST(test_bias_act_grad_linear_in_dy)
{
    sg2_ctx *ctx = sg2_test_ctx();
    const ba_case c = {4, {2, 3, 2, 5}, SG2_ACT_LRELU, 1, 0.9, 0, 0};
    ba_dims d = dims_of(&c);
    sg2_bias_act_params p = params_of(&c);
    double *x = malloc(sizeof(double) * (size_t)d.n), *y = malloc(sizeof(double) * (size_t)d.n);
    double *w = malloc(sizeof(double) * (size_t)d.n), *dy = malloc(sizeof(double) * (size_t)d.n);
    double *want = malloc(sizeof(double) * (size_t)d.n), *b = malloc(sizeof(double) * (size_t)d.C);
    make_inputs(x, b, &c, &p, 5000);
    fwd_user u = {&c, p, x, b, 0};
    fwd_fn(y, x, &u);
    sg2_test_uniform(w, d.n, -1, 1, 5100);
    sg2_test_uniform(dy, d.n, -1, 1, 5200);
    sg2_ref_bias_act_grad(want, w, y, d.n, p.act, p.alpha, p.gain, p.clamp);
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *tdy = sg2_test_tensor(ctx, 4, c.shape, dy), *ty = sg2_test_tensor(ctx, 4, c.shape, y);
    sg2_tensor *tw = sg2_test_tensor(ctx, 4, c.shape, w);
    sg2_tensor_set_requires_grad(tdy, 1);
    sg2_tensor_set_requires_grad(ty, 1);
    sg2_tensor *dx = sg2_bias_act_grad(ctx, tdy, ty, &p);
    sg2_tensor *ins[2] = {tdy, ty}, *gr[2] = {NULL, NULL};
    ck_assert_msg(sg2_autograd_grad(ctx, 1, &dx, &tw, 2, ins, 0, gr) == SG2_OK, "%s", ctx->err.msg);
    sg2_test_assert_close(ctx, gr[0], want, d.n, "bias_act_grad d/d(dy)");
    double *gy = sg2_test_read(ctx, gr[1]);
    for (long i = 0; i < d.n; i++)
        ck_assert_msg(gy[i] == 0.0, "bias_act_grad passed a gradient to y");
    free(gy);
    sg2_scope_end(ctx, mark, NULL, 0);
    free(x);
    free(y);
    free(w);
    free(dy);
    free(want);
    free(b);
}
END_TEST

START_TEST(test_bias_act_defaults)
{
    sg2_bias_act_params l = sg2_bias_act_defaults(SG2_ACT_LRELU);
    sg2_bias_act_params r = sg2_bias_act_defaults(SG2_ACT_RELU);
    sg2_bias_act_params n = sg2_bias_act_defaults(SG2_ACT_LINEAR);
    ck_assert_int_eq(l.act, SG2_ACT_LRELU);
    ck_assert_float_eq_tol(l.alpha, 0.2f, 1e-7f);
    ck_assert_float_eq_tol(l.gain, (float)sqrt(2.0), 1e-6f);
    ck_assert_int_eq(r.act, SG2_ACT_RELU);
    ck_assert_float_eq_tol(r.gain, (float)sqrt(2.0), 1e-6f);
    ck_assert_int_eq(n.act, SG2_ACT_LINEAR);
    ck_assert_float_eq_tol(n.gain, 1.0f, 1e-7f);
    ck_assert(l.clamp < 0 && r.clamp < 0 && n.clamp < 0);
    /* The enums of the op set and the reference agree. */
    ck_assert_int_eq(SG2_ACT_LINEAR, SG2_REF_ACT_LINEAR);
    ck_assert_int_eq(SG2_ACT_LRELU, SG2_REF_ACT_LRELU);
    ck_assert_int_eq(SG2_ACT_RELU, SG2_REF_ACT_RELU);
}
END_TEST

/* ---- the synthesis layer's epilogue ----
 * bias_act_epilogue(x, scale, noise, b) = bias_act(x * scale[n, c] + noise, b)
 * with the noise plane shared by all samples ([H, W]) or one per sample
 * ([N, 1, H, W]), with and without the scale: forward and the gradients in
 * x, noise, b and scale against the double reference and central
 * differences. */

typedef struct epi_user {
    int N, C, H, W, per_sample, use_scale;
    sg2_bias_act_params p;
    const double *at[4]; /* x, noise, b, scale */
    int vary;
} epi_user;

static void epi_fn(double *y, const double *v, void *user)
{
    const epi_user *u = user;
    const double *in[4];
    for (int k = 0; k < 4; k++)
        in[k] = u->vary == k ? v : u->at[k];
    long inner = (long)u->H * u->W, n = (long)u->N * u->C * inner;
    double *pre = malloc(sizeof(double) * (size_t)n);
    for (long i = 0; i < n; i++)
        pre[i] = in[0][i] * (u->use_scale ? in[3][i / inner] : 1.0) +
                 in[1][(u->per_sample ? i / (u->C * inner) * inner : 0) + i % inner];
    sg2_ref_bias_act(y, pre, in[2], u->N, u->C, (int)inner, u->p.act, u->p.alpha, u->p.gain, u->p.clamp);
    free(pre);
}

START_TEST(test_bias_act_epilogue)
{
    sg2_ctx *ctx = sg2_test_ctx();
    /* planes of 5x3 (the element kernel) and 5x8 (the vector kernels) */
    for (int run = 0; run < 4; run++) {
        int variant = run & 1;
        epi_user u = {3, 4, 5, run & 2 ? 8 : 3, variant, variant, sg2_bias_act_defaults(SG2_ACT_LRELU), {NULL}, 0};
        long inner = (long)u.H * u.W, n = (long)u.N * u.C * inner;
        long sizes[4] = {n, variant ? u.N * inner : inner, u.C, (long)u.N * u.C};
        double *in[4], *g[4], *y = malloc(sizeof(double) * (size_t)n), *v = malloc(sizeof(double) * (size_t)n);
        for (int k = 0; k < 4; k++) {
            in[k] = malloc(sizeof(double) * (size_t)sizes[k]);
            g[k] = malloc(sizeof(double) * (size_t)sizes[k]);
            sg2_test_uniform(in[k], sizes[k], k == 3 ? 0.5 : -1, k == 3 ? 1.5 : 1, 7000 + 10 * (uint64_t)k + run);
            u.at[k] = in[k];
        }
        sg2_test_uniform(v, n, -1, 1, 7300 + (uint64_t)run);
        /* keep every pre-activation GAP away from the lrelu kink */
        for (long i = 0; i < n; i++) {
            double d = variant ? in[3][i / inner] : 1.0;
            double shift = in[1][(variant ? i / (u.C * inner) * inner : 0) + i % inner] + in[2][(i / inner) % u.C];
            double pre = 2 * in[0][i] + shift;
            sg2_test_avoid_zero(&pre, 1, GAP);
            in[0][i] = (pre - shift) / d;
        }
        epi_fn(y, in[0], &u);
        int n_in = variant ? 4 : 3;
        for (int k = 0; k < n_in; k++) {
            u.vary = k;
            sg2_test_fd_vjp(epi_fn, &u, in[k], sizes[k], v, n, g[k], 1e-6);
        }
        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *t[4];
        t[0] = sg2_test_tensor(ctx, 4, SHAPE(u.N, u.C, u.H, u.W), in[0]);
        t[1] = variant ? sg2_test_tensor(ctx, 4, SHAPE(u.N, 1, u.H, u.W), in[1])
                       : sg2_test_tensor(ctx, 2, SHAPE(u.H, u.W), in[1]);
        t[2] = sg2_test_tensor(ctx, 1, SHAPE(u.C), in[2]);
        t[3] = sg2_test_tensor(ctx, 2, SHAPE(u.N, u.C), in[3]);
        sg2_tensor *tv = sg2_test_tensor(ctx, 4, t[0]->shape, v), *gr[4] = {NULL, NULL, NULL, NULL};
        for (int k = 0; k < 4; k++)
            sg2_tensor_set_requires_grad(t[k], 1);
        sg2_tensor *ty = sg2_bias_act_epilogue(ctx, t[0], variant ? t[3] : NULL, t[1], t[2], &u.p);
        char what[96];
        snprintf(what, sizeof what, "bias_act_epilogue %dx%d, %s", u.H, u.W,
                 variant ? "scale and noise per sample" : "shared noise");
        sg2_test_assert_close(ctx, ty, y, n, what);
        ck_assert_msg(sg2_autograd_grad(ctx, 1, &ty, &tv, n_in, t, 0, gr) == SG2_OK, "%s", ctx->err.msg);
        ck_assert_msg(sg2_shape_equal(gr[1], t[1]), "%s: the noise gradient has another shape", what);
        const char *names[4] = {"d/dx", "d/dnoise", "d/db", "d/dscale"};
        for (int k = 0; k < n_in; k++) {
            char w[128];
            snprintf(w, sizeof w, "%s %s", what, names[k]);
            sg2_test_assert_close(ctx, gr[k], g[k], sizes[k], w);
        }
        sg2_scope_end(ctx, mark, NULL, 0);
        for (int k = 0; k < 4; k++) {
            free(in[k]);
            free(g[k]);
        }
        free(y);
        free(v);
    }
}
END_TEST

/* A first and a second derivative through bias_act, then the scope ends:
 * every buffer must return to the pool. Keeping the output itself on its
 * own node (instead of a detached copy) would leak it through a cycle. */
START_TEST(test_bias_act_no_leak)
{
    sg2_ctx *ctx = sg2_test_ctx();
    sg2_bufpool *pool = &ctx->rt->pool;
    size_t before = pool->bytes_in_use;
    size_t mark = sg2_scope_begin(ctx);
    sg2_bias_act_params p = sg2_bias_act_defaults(SG2_ACT_LRELU);
    p.clamp = 256;
    sg2_tensor *x = sg2_tensor_full(ctx, 4, SHAPE(2, 3, 4, 4), 0.5f);
    sg2_tensor *b = sg2_tensor_full(ctx, 1, SHAPE(3), -0.1f);
    sg2_tensor_set_requires_grad(x, 1);
    sg2_tensor_set_requires_grad(b, 1);
    sg2_tensor *y = sg2_bias_act(ctx, x, b, &p);
    sg2_tensor *L = sg2_sum_all(ctx, sg2_square(ctx, y));
    sg2_tensor *g = NULL, *ins[2] = {x, b}, *gr[2] = {NULL, NULL};
    ck_assert_int_eq(sg2_autograd_grad(ctx, 1, &L, NULL, 1, &x, 1, &g), SG2_OK);
    sg2_tensor *S = sg2_sum_all(ctx, sg2_square(ctx, g));
    ck_assert_int_eq(sg2_autograd_grad(ctx, 1, &S, NULL, 2, ins, 1, gr), SG2_OK);
    ck_assert(pool->bytes_in_use > before);
    sg2_scope_end(ctx, mark, NULL, 0);
    ck_assert_uint_eq(pool->bytes_in_use, before);
}
END_TEST

static void expect_fail(sg2_ctx *ctx, sg2_tensor *t, sg2_status want, const char *what)
{
    ck_assert_msg(t == NULL, "%s: expected failure, got a tensor", what);
    ck_assert_msg(ctx->err.status == want, "%s: status %d (%s), want %d", what, (int)ctx->err.status, ctx->err.msg,
                  (int)want);
    ck_assert_msg(strstr(ctx->err.msg, "bias_act"), "%s: message does not name the op: %s", what, ctx->err.msg);
    sg2_ctx_clear_error(ctx);
}

START_TEST(test_bias_act_bad_input)
{
    sg2_ctx *ctx = sg2_test_ctx();
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *x = sg2_tensor_full(ctx, 4, SHAPE(2, 3, 2, 2), 1.0f);
    sg2_tensor *x1 = sg2_tensor_full(ctx, 1, SHAPE(3), 1.0f);
    sg2_tensor *b4 = sg2_tensor_full(ctx, 1, SHAPE(4), 0.0f);
    sg2_tensor *b2d = sg2_tensor_full(ctx, 2, SHAPE(1, 3), 0.0f);
    sg2_tensor *b3 = sg2_tensor_full(ctx, 1, SHAPE(3), 0.0f);
    sg2_tensor *y = sg2_tensor_full(ctx, 4, SHAPE(2, 3, 2, 3), 1.0f);
    ck_assert_msg(x && x1 && b4 && b2d && b3 && y, "%s", ctx->err.msg);
    sg2_bias_act_params p = sg2_bias_act_defaults(SG2_ACT_LRELU);

    expect_fail(ctx, sg2_bias_act(ctx, x, b4, &p), SG2_ERR_SHAPE, "bias length 4 for 3 channels");
    expect_fail(ctx, sg2_bias_act(ctx, x, b2d, &p), SG2_ERR_SHAPE, "2-D bias");
    expect_fail(ctx, sg2_bias_act(ctx, x1, NULL, &p), SG2_ERR_SHAPE, "1-D input");
    expect_fail(ctx, sg2_bias_act_epilogue(ctx, x, NULL, b3, b3, &p), SG2_ERR_SHAPE, "noise of 3 for 2x2 planes");
    expect_fail(ctx, sg2_bias_act_epilogue(ctx, x, b3, NULL, b3, &p), SG2_ERR_SHAPE, "scale of 3 for 2 x 3");
    expect_fail(ctx, sg2_bias_act_grad(ctx, x, y, &p), SG2_ERR_SHAPE, "bias_act_grad dy and y differ");
    sg2_bias_act_params bad = p;
    bad.act = (sg2_act)7;
    expect_fail(ctx, sg2_bias_act(ctx, x, b3, &bad), SG2_ERR_ARG, "unknown activation");
    bad = p;
    bad.gain = -1.0f;
    expect_fail(ctx, sg2_bias_act(ctx, x, b3, &bad), SG2_ERR_ARG, "negative gain for lrelu");
    bad = p;
    bad.clamp = NAN;
    expect_fail(ctx, sg2_bias_act_grad(ctx, x, x, &bad), SG2_ERR_ARG, "NaN clamp");
    ck_assert_ptr_null(sg2_bias_act(ctx, NULL, b3, &p));
    ck_assert_int_eq(ctx->err.status, SG2_ERR_ARG);
    sg2_ctx_clear_error(ctx);
    ck_assert_msg(sg2_bias_act(ctx, x, b3, &p) != NULL, "%s", ctx->err.msg);
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bias_act");
    TCase *tc = tcase_create("bias_act");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_bias_act_defaults);
    tcase_add_test(tc, test_bias_act_forward);
    tcase_add_test(tc, test_bias_act_grad_forward);
    tcase_add_test(tc, test_bias_act_grad);
    tcase_add_test(tc, test_bias_act_grad_linear_in_dy);
    tcase_add_test(tc, test_bias_act_second_order);
    tcase_add_test(tc, test_bias_act_epilogue);
    tcase_add_test(tc, test_bias_act_no_leak);
    tcase_add_test(tc, test_bias_act_bad_input);
    suite_add_tcase(s, tc);
    return sg2_test_run(s) != 0;
}
