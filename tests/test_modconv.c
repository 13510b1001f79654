/* modconv_weight (the fused modulation/demodulation op), scale_channels and
 * channel_dot (the non-fused path's), and the modulated convolution built
 * on them: the forward pass against the double reference
 * (with and without demodulation, gains, odd sizes, rows longer and shorter
 * than a work-group); gradients with respect to the weights and the styles
 * against central differences; second-order gradients (the path-length
 * regulariser differentiates d/ds again) against nested central differences
 * of the double reference; the fused modconv against the non-fused one; bad
 * input. */
#include <stdlib.h>
#include <string.h>

#include "src/layers.h"
#include "src/ref/ref.h"
#include "tests/test_util.h"

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})

typedef struct mc_case {
    int N, Cout, Cin, kh, kw, demod;
    double gain;
    int transposed; /* output [N, Cin, Cout, kh, kw] */
} mc_case;

static const mc_case cases[] = {
    {3, 5, 7, 3, 3, 1, 1.0, 0}, {2, 3, 13, 3, 3, 1, 0.7, 0}, {1, 4, 6, 1, 1, 0, 0.5, 0},
    {2, 6, 5, 3, 3, 0, 1.0, 0}, {2, 2, 3, 1, 1, 1, 1.3, 0},  {1, 3, 75, 3, 3, 1, 1.0, 0}, /* row 675: 10.5 groups */
    {3, 5, 7, 3, 3, 1, 1.0, 1}, {2, 4, 3, 3, 3, 0, 0.8, 1},  {2, 3, 70, 3, 3, 1, 1.0, 1},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static long n_w(const mc_case *c) { return (long)c->Cout * c->Cin * c->kh * c->kw; }
static long n_s(const mc_case *c) { return (long)c->N * c->Cin; }
static long n_y(const mc_case *c) { return c->N * n_w(c); }

/* The reference with w and s packed into one vector x = [w, s], its output
 * permuted to [N, Cin, Cout, taps] for the transposed layout. */
static void ref_fn(double *y, const double *x, void *user)
{
    const mc_case *c = user;
    int taps = c->kh * c->kw;
    if (!c->transposed) {
        sg2_ref_modconv_weight(y, x, x + n_w(c), c->N, c->Cout, c->Cin, taps, c->demod, c->gain);
        return;
    }
    double *t = malloc(sizeof(double) * (size_t)n_y(c));
    sg2_ref_modconv_weight(t, x, x + n_w(c), c->N, c->Cout, c->Cin, taps, c->demod, c->gain);
    for (int n = 0; n < c->N; n++)
        for (int o = 0; o < c->Cout; o++)
            for (int i = 0; i < c->Cin; i++)
                for (int k = 0; k < taps; k++)
                    y[(((long)n * c->Cin + i) * c->Cout + o) * taps + k] =
                        t[(((long)n * c->Cout + o) * c->Cin + i) * taps + k];
    free(t);
}

/* x = [w, s]: weights of either sign, styles away from 0 as the affine
 * layers' bias of 1 keeps them. */
static double *make_inputs(const mc_case *c, uint64_t seed)
{
    double *x = malloc(sizeof(double) * (size_t)(n_w(c) + n_s(c)));
    sg2_test_uniform(x, n_w(c), -1, 1, seed);
    sg2_test_uniform(x + n_w(c), n_s(c), 0.3, 1.5, seed + 1);
    return x;
}

static sg2_tensor *w_tensor(sg2_ctx *ctx, const mc_case *c, const double *x)
{
    return sg2_test_tensor(ctx, 4, SHAPE(c->Cout, c->Cin, c->kh, c->kw), x);
}

static sg2_tensor *s_tensor(sg2_ctx *ctx, const mc_case *c, const double *x)
{
    return sg2_test_tensor(ctx, 2, SHAPE(c->N, c->Cin), x + n_w(c));
}

START_TEST(test_modconv_weight_forward)
{
    sg2_ctx *ctx = sg2_test_ctx();
    for (int i = 0; i < N_CASES; i++) {
        const mc_case *c = &cases[i];
        double *x = make_inputs(c, 100 + (uint64_t)i), *y = malloc(sizeof(double) * (size_t)n_y(c));
        ref_fn(y, x, (void *)c);
        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *ty = sg2_modconv_weight(ctx, w_tensor(ctx, c, x), s_tensor(ctx, c, x), c->demod, (float)c->gain,
                                            c->transposed);
        ck_assert_msg(ty != NULL, "case %d: %s", i, ctx->err.msg);
        ck_assert_int_eq(ty->ndim, 5);
        ck_assert_int_eq(ty->shape[0], c->N);
        ck_assert_int_eq(ty->shape[1], c->transposed ? c->Cin : c->Cout);
        char what[64];
        snprintf(what, sizeof what, "modconv_weight case %d", i);
        sg2_test_assert_close(ctx, ty, y, n_y(c), what);
        sg2_scope_end(ctx, mark, NULL, 0);
        free(x);
        free(y);
    }
}
END_TEST

START_TEST(test_modconv_weight_grad)
{
    sg2_ctx *ctx = sg2_test_ctx();
    for (int i = 0; i < N_CASES; i++) {
        const mc_case *c = &cases[i];
        long nx = n_w(c) + n_s(c);
        double *x = make_inputs(c, 200 + (uint64_t)i), *dy = malloc(sizeof(double) * (size_t)n_y(c));
        double *gx = malloc(sizeof(double) * (size_t)nx);
        sg2_test_uniform(dy, n_y(c), -1, 1, 250 + (uint64_t)i);
        sg2_test_fd_vjp(ref_fn, (void *)c, x, nx, dy, n_y(c), gx, 1e-6);
        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *tw = w_tensor(ctx, c, x), *ts = s_tensor(ctx, c, x);
        sg2_tensor_set_requires_grad(tw, 1);
        sg2_tensor_set_requires_grad(ts, 1);
        sg2_tensor *ty = sg2_modconv_weight(ctx, tw, ts, c->demod, (float)c->gain, c->transposed);
        sg2_tensor *tdy = sg2_test_tensor(ctx, 5, ty->shape, dy);
        sg2_tensor *ins[2] = {tw, ts}, *gr[2] = {NULL, NULL};
        ck_assert_msg(sg2_autograd_grad(ctx, 1, &ty, &tdy, 2, ins, 0, gr) == SG2_OK, "%s", ctx->err.msg);
        char what[64];
        snprintf(what, sizeof what, "modconv_weight d/dw case %d", i);
        sg2_test_assert_close(ctx, gr[0], gx, n_w(c), what);
        snprintf(what, sizeof what, "modconv_weight d/ds case %d", i);
        sg2_test_assert_close(ctx, gr[1], gx + n_w(c), n_s(c), what);
        sg2_scope_end(ctx, mark, NULL, 0);
        free(x);
        free(dy);
        free(gx);
    }
}
END_TEST

/* P(w, s) = <v, d/ds <dy, f(w, s)>>, the directional derivative of
 * <dy, f> along (0, v), by a central difference of the double reference. */
typedef struct second_user {
    const mc_case *c;
    const double *dy, *v;
} second_user;

static double inner_at(const second_user *u, const double *x, double step)
{
    const mc_case *c = u->c;
    long nx = n_w(c) + n_s(c);
    double *xs = malloc(sizeof(double) * (size_t)nx), *y = malloc(sizeof(double) * (size_t)n_y(c));
    memcpy(xs, x, sizeof(double) * (size_t)nx);
    for (long j = 0; j < n_s(c); j++)
        xs[n_w(c) + j] += step * u->v[j];
    ref_fn(y, xs, (void *)c);
    double r = 0;
    for (long j = 0; j < n_y(c); j++)
        r += u->dy[j] * y[j];
    free(xs);
    free(y);
    return r;
}

static void penalty_fn(double *p, const double *x, void *user)
{
    const double h = 1e-4;
    p[0] = (inner_at(user, x, h) - inner_at(user, x, -h)) / (2 * h);
}

START_TEST(test_modconv_weight_second_order)
{
    sg2_ctx *ctx = sg2_test_ctx();
    for (int i = 0; i < N_CASES; i++) {
        const mc_case *c = &cases[i];
        long nx = n_w(c) + n_s(c);
        double *x = make_inputs(c, 300 + (uint64_t)i), *dy = malloc(sizeof(double) * (size_t)n_y(c));
        double *v = malloc(sizeof(double) * (size_t)n_s(c)), *h = malloc(sizeof(double) * (size_t)nx), one = 1;
        sg2_test_uniform(dy, n_y(c), -1, 1, 350 + (uint64_t)i);
        sg2_test_uniform(v, n_s(c), -1, 1, 370 + (uint64_t)i);
        second_user u = {c, dy, v};
        sg2_test_fd_vjp(penalty_fn, &u, x, nx, &one, 1, h, 1e-4);
        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *tw = w_tensor(ctx, c, x), *ts = s_tensor(ctx, c, x);
        sg2_tensor_set_requires_grad(tw, 1);
        sg2_tensor_set_requires_grad(ts, 1);
        sg2_tensor *ty = sg2_modconv_weight(ctx, tw, ts, c->demod, (float)c->gain, c->transposed);
        sg2_tensor *tdy = sg2_test_tensor(ctx, 5, ty->shape, dy), *gs = NULL;
        ck_assert_msg(sg2_autograd_grad(ctx, 1, &ty, &tdy, 1, &ts, 1, &gs) == SG2_OK, "%s", ctx->err.msg);
        sg2_tensor *P = sg2_sum_all(ctx, sg2_mul(ctx, gs, sg2_test_tensor(ctx, 2, gs->shape, v)));
        sg2_tensor *ins[2] = {tw, ts}, *gr[2] = {NULL, NULL};
        ck_assert_msg(sg2_autograd_grad(ctx, 1, &P, NULL, 2, ins, 0, gr) == SG2_OK, "%s", ctx->err.msg);
        char what[64];
        snprintf(what, sizeof what, "d/dw <v, d/ds> case %d", i);
        sg2_test_assert_close(ctx, gr[0], h, n_w(c), what);
        snprintf(what, sizeof what, "d/ds <v, d/ds> case %d", i);
        sg2_test_assert_close(ctx, gr[1], h + n_w(c), n_s(c), what);
        sg2_scope_end(ctx, mark, NULL, 0);
        free(x);
        free(dy);
        free(v);
        free(h);
    }
}
END_TEST

/* The grouped convolution with the fused weights (pre-packed for the tiled
 * conv when nothing wants gradients, else through modconv_weight), and the
 * non-fused inference path (styles applied in the tiled conv's padding
 * copy), against the non-fused path of ops (x s, shared-weight conv, y d):
 * same function, other ops; and the same gradients with respect to the
 * weights and styles. */
START_TEST(test_modconv_fused_matches_nonfused)
{
    sg2_ctx *ctx = sg2_test_ctx();
    const int up[] = {1, 2, 1, 2}, demod[] = {1, 1, 0, 0}, k[] = {3, 3, 1, 3};
    for (int t = 0; t < 4; t++) {
        mc_case c = {2, 5, 6, k[t], k[t], demod[t], 1.0, 0};
        double *wx = make_inputs(&c, 400 + (uint64_t)t), *xin = malloc(sizeof(double) * 2 * 6 * 7 * 7);
        sg2_test_uniform(xin, 2 * 6 * 7 * 7, -1, 1, 450 + (uint64_t)t);
        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *x = sg2_test_tensor(ctx, 4, SHAPE(2, 6, 7, 7), xin);
        sg2_tensor *w = w_tensor(ctx, &c, wx), *s = s_tensor(ctx, &c, wx);
        sg2_tensor *filter = sg2_fir_filter(ctx, (const float[]){1, 3, 3, 1}, 4);
        /* without gradients the fused path packs the conv's weight panels itself */
        sg2_modconv_args a = {.up = up[t], .padding = k[t] / 2, .demodulate = demod[t], .fused = 1};
        sg2_tensor *ypp = sg2_modconv(ctx, x, w, s, NULL, filter, &a);
        /* and the non-fused one applies the styles in the conv's padding copy */
        a.fused = 0;
        sg2_tensor *ynp = sg2_modconv(ctx, x, w, s, NULL, filter, &a);
        sg2_tensor_set_requires_grad(w, 1);
        sg2_tensor_set_requires_grad(s, 1);
        a.fused = 0;
        sg2_tensor *y0 = sg2_modconv(ctx, x, w, s, NULL, filter, &a);
        a.fused = 1;
        sg2_tensor *y1 = sg2_modconv(ctx, x, w, s, NULL, filter, &a);
        ck_assert_msg(ypp && ynp && y0 && y1, "%s", ctx->err.msg);
        ck_assert(sg2_shape_equal(y0, y1) && sg2_shape_equal(y0, ypp) && sg2_shape_equal(y0, ynp));
        double *r0 = sg2_test_read(ctx, y0);
        char what[64];
        snprintf(what, sizeof what, "fused vs non-fused modconv, case %d", t);
        sg2_test_assert_close(ctx, y1, r0, y0->numel, what);
        snprintf(what, sizeof what, "fused pre-packed vs non-fused modconv, case %d", t);
        sg2_test_assert_close(ctx, ypp, r0, y0->numel, what);
        snprintf(what, sizeof what, "non-fused inference vs non-fused modconv, case %d", t);
        sg2_test_assert_close(ctx, ynp, r0, y0->numel, what);
        /* gradients of <v, y> for a fixed random v */
        double *v = malloc(sizeof(double) * (size_t)y0->numel);
        sg2_test_uniform(v, y0->numel, -1, 1, 470 + (uint64_t)t);
        sg2_tensor *tv = sg2_test_tensor(ctx, 4, y0->shape, v), *ins[2] = {w, s}, *g0[2], *g1[2];
        ck_assert_msg(sg2_autograd_grad(ctx, 1, &y0, &tv, 2, ins, 0, g0) == SG2_OK, "%s", ctx->err.msg);
        ck_assert_msg(sg2_autograd_grad(ctx, 1, &y1, &tv, 2, ins, 0, g1) == SG2_OK, "%s", ctx->err.msg);
        for (int j = 0; j < 2; j++) {
            double *r = sg2_test_read(ctx, g0[j]);
            snprintf(what, sizeof what, "fused vs non-fused d/d%s, case %d", j ? "s" : "w", t);
            sg2_test_assert_close(ctx, g1[j], r, g0[j]->numel, what);
            free(r);
        }
        sg2_scope_end(ctx, mark, NULL, 0);
        free(v);
        free(r0);
        free(wx);
        free(xin);
    }
}
END_TEST

/* A synthesis layer at inference, whose epilogue (demodulation, noise,
 * bias, activation, gain, clamp) the convolution's or the FIR's kernel
 * applies as it stores, against the same layer through ops that record
 * gradients (a separate bias_act_epilogue pass): 20 output channels (a
 * partial channel vector), odd sizes (partial pixel tiles), noise per
 * sample and shared, clamps that bind, each FIR kernel (the rows kernel
 * takes the epilogue, the tiled one leaves it to a pass), and a ToRGB-like
 * 1x1 to 3 channels whose row-vector kernel takes none; 40 channels on 9x9
 * (two channel vectors a work-item, 2 x 8 tiles) and 3 channels of a 3x3
 * (4-channel vectors, one lane unused); 6 and 13 input channels. */
typedef struct layer_case {
    int up, k, cout, hw, demod, fused, per_sample_noise;
    sg2_act act;
    float clamp;
} layer_case;

START_TEST(test_modconv_layer_epilogue)
{
    static const layer_case cases[] = {
        {1, 3, 20, 7, 1, 0, 1, SG2_ACT_LRELU, -1.0f}, {1, 3, 20, 7, 1, 1, 0, SG2_ACT_LRELU, 0.5f},
        {2, 3, 20, 5, 1, 0, 1, SG2_ACT_RELU, -1.0f},  {2, 3, 20, 5, 1, 1, 1, SG2_ACT_LRELU, 0.7f},
        {2, 3, 20, 5, 1, 0, 0, SG2_ACT_LINEAR, -1.0f}, {1, 1, 3, 16, 0, 0, 0, SG2_ACT_LINEAR, 0.3f},
        {1, 3, 40, 9, 1, 0, 1, SG2_ACT_LRELU, -1.0f},  {1, 3, 3, 5, 1, 1, 1, SG2_ACT_LRELU, 0.4f},
    };
    static const char *const fir_kernels[] = {"rows", "tiled"};
    sg2_ctx *ctx = sg2_test_ctx();
    const int n = 3;
    for (int t = 0; t < (int)(sizeof cases / sizeof cases[0]); t++) {
        const layer_case *lc = &cases[t];
        int cin = t % 2 ? 13 : 6; /* 13: the demodulation's vector sums and their tail */
        int ho = lc->hw * lc->up;
        long nx = (long)n * cin * lc->hw * lc->hw, nw = (long)lc->cout * cin * lc->k * lc->k;
        long nn = lc->per_sample_noise ? (long)n * ho * ho : (long)ho * ho;
        double *xin = malloc(sizeof(double) * (size_t)(nx + nw + n * cin + nn + lc->cout));
        sg2_test_uniform(xin, nx + nw + n * cin + nn + lc->cout, -1, 1, 600 + (uint64_t)t);
        for (int f = 0; f < 2; f++) {
            setenv("SG2_UPFIRDN2D", fir_kernels[f], 1);
            size_t mark = sg2_scope_begin(ctx);
            const double *at = xin;
            sg2_tensor *x = sg2_test_tensor(ctx, 4, SHAPE(n, cin, lc->hw, lc->hw), at);
            sg2_tensor *w = sg2_test_tensor(ctx, 4, SHAPE(lc->cout, cin, lc->k, lc->k), at += nx);
            sg2_tensor *s = sg2_test_tensor(ctx, 2, SHAPE(n, cin), at += nw);
            sg2_tensor *noise = lc->per_sample_noise ? sg2_test_tensor(ctx, 4, SHAPE(n, 1, ho, ho), at += n * cin)
                                                     : sg2_test_tensor(ctx, 2, SHAPE(ho, ho), at += n * cin);
            sg2_tensor *b = sg2_test_tensor(ctx, 1, SHAPE(lc->cout), at + nn);
            sg2_tensor *filter = sg2_fir_filter(ctx, (const float[]){1, 3, 3, 1}, 4);
            sg2_modconv_args a = {.up = lc->up, .padding = lc->k / 2, .demodulate = lc->demod, .fused = lc->fused};
            sg2_bias_act_params p = sg2_bias_act_defaults(lc->act);
            p.clamp = lc->clamp;
            sg2_tensor *got = sg2_modconv_layer(ctx, x, w, s, noise, b, filter, &a, &p);
            sg2_tensor_set_requires_grad(w, 1); /* the ops' path */
            sg2_tensor *want = sg2_modconv_layer(ctx, x, w, s, noise, b, filter, &a, &p);
            ck_assert_msg(got && want, "%s", ctx->err.msg);
            ck_assert(sg2_shape_equal(got, want) && got->shape[2] == ho);
            double *r = sg2_test_read(ctx, want);
            char what[96];
            snprintf(what, sizeof what, "layer epilogue case %d (FIR %s)", t, fir_kernels[f]);
            sg2_test_assert_close(ctx, got, r, want->numel, what);
            free(r);
            sg2_scope_end(ctx, mark, NULL, 0);
        }
        unsetenv("SG2_UPFIRDN2D");
        free(xin);
    }
}
END_TEST

/* ---- scale_channels and channel_dot ------------------------------------ */

typedef struct sc_case {
    int ndim;
    int64_t shape[4];
} sc_case;

/* 2-D (one element per row), short rows (a work-item each: 3x3 taps, 1),
 * rows longer than that and than a work-group, rows of whole vectors of 8
 * (scale_channels_vec) */
static const sc_case sc_cases[] = {{4, {3, 5, 7, 6}}, {2, {4, 9}},         {3, {2, 3, 130}}, {4, {5, 6, 3, 3}},
                                   {4, {1, 2, 1, 1}}, {4, {2, 3, 4, 8}}, {3, {3, 2, 40}},  {3, {2, 3, 31}}};
#define N_SC ((int)(sizeof sc_cases / sizeof sc_cases[0]))

static int sc_rows(const sc_case *c) { return (int)(c->shape[0] * c->shape[1]); }
static int sc_inner(const sc_case *c)
{
    int n = 1;
    for (int i = 2; i < c->ndim; i++)
        n *= (int)c->shape[i];
    return n;
}

/* x = [x, s] for scale_channels, [a, b] for channel_dot */
static void scale_fn(double *y, const double *x, void *user)
{
    const sc_case *c = user;
    sg2_ref_scale_channels(y, x, x + (long)sc_rows(c) * sc_inner(c), sc_rows(c), sc_inner(c));
}

static void dot_fn(double *d, const double *x, void *user)
{
    const sc_case *c = user;
    sg2_ref_channel_dot(d, x, x + (long)sc_rows(c) * sc_inner(c), sc_rows(c), sc_inner(c));
}

/* Forward and first-order gradients of both ops against the reference. */
START_TEST(test_scale_channels_channel_dot)
{
    sg2_ctx *ctx = sg2_test_ctx();
    for (int t = 0; t < N_SC; t++) {
        const sc_case *c = &sc_cases[t];
        long n = (long)sc_rows(c) * sc_inner(c), rows = sc_rows(c);
        double *x = malloc(sizeof(double) * (size_t)(2 * n)), *y = malloc(sizeof(double) * (size_t)n);
        double *d = malloc(sizeof(double) * (size_t)rows), *gy = malloc(sizeof(double) * (size_t)n);
        double *gd = malloc(sizeof(double) * (size_t)rows), *gx = malloc(sizeof(double) * (size_t)(2 * n));
        sg2_test_uniform(x, 2 * n, -1, 1, 500 + (uint64_t)t);
        sg2_test_uniform(gy, n, -1, 1, 520 + (uint64_t)t);
        sg2_test_uniform(gd, rows, -1, 1, 540 + (uint64_t)t);
        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *tx = sg2_test_tensor(ctx, c->ndim, c->shape, x);
        sg2_tensor *ta = sg2_test_tensor(ctx, c->ndim, c->shape, x + n);
        sg2_tensor *ts = sg2_test_tensor(ctx, 2, c->shape, x + n);
        sg2_tensor *ins[3] = {tx, ts, ta}, *gr[2];
        for (int i = 0; i < 3; i++)
            sg2_tensor_set_requires_grad(ins[i], 1);
        char what[64];
        /* scale_channels(x, s): s is the first `rows` values after x */
        sg2_tensor *ty = sg2_scale_channels(ctx, tx, ts);
        ck_assert_msg(ty != NULL, "%s", ctx->err.msg);
        scale_fn(y, x, (void *)c);
        snprintf(what, sizeof what, "scale_channels case %d", t);
        sg2_test_assert_close(ctx, ty, y, n, what);
        sg2_tensor *tgy = sg2_test_tensor(ctx, c->ndim, c->shape, gy);
        ck_assert_msg(sg2_autograd_grad(ctx, 1, &ty, &tgy, 2, ins, 0, gr) == SG2_OK, "%s", ctx->err.msg);
        sg2_test_fd_vjp(scale_fn, (void *)c, x, n + rows, gy, n, gx, 1e-6);
        snprintf(what, sizeof what, "scale_channels d/dx case %d", t);
        sg2_test_assert_close(ctx, gr[0], gx, n, what);
        snprintf(what, sizeof what, "scale_channels d/ds case %d", t);
        sg2_test_assert_close(ctx, gr[1], gx + n, rows, what);
        /* channel_dot(x, a) */
        sg2_tensor *td = sg2_channel_dot(ctx, tx, ta);
        ck_assert_msg(td != NULL, "%s", ctx->err.msg);
        dot_fn(d, x, (void *)c);
        snprintf(what, sizeof what, "channel_dot case %d", t);
        sg2_test_assert_close(ctx, td, d, rows, what);
        sg2_tensor *tgd = sg2_test_tensor(ctx, 2, c->shape, gd), *ins2[2] = {tx, ta};
        ck_assert_msg(sg2_autograd_grad(ctx, 1, &td, &tgd, 2, ins2, 0, gr) == SG2_OK, "%s", ctx->err.msg);
        sg2_test_fd_vjp(dot_fn, (void *)c, x, 2 * n, gd, rows, gx, 1e-6);
        snprintf(what, sizeof what, "channel_dot d/da case %d", t);
        sg2_test_assert_close(ctx, gr[0], gx, n, what);
        snprintf(what, sizeof what, "channel_dot d/db case %d", t);
        sg2_test_assert_close(ctx, gr[1], gx + n, n, what);
        sg2_scope_end(ctx, mark, NULL, 0);
        free(x), free(y), free(d), free(gy), free(gd), free(gx);
    }
}
END_TEST

/* Second order: L = <q, channel_dot(scale_channels(x, s), x)>, g = dL/dx
 * with the graph kept, S = sum(g^2); dS/dx and dS/ds against central
 * differences of S computed from the double references (g = 2 q s x). */
typedef struct sc_second {
    const sc_case *c;
    const double *q;
} sc_second;

static void sc_penalty(double *out, const double *x, void *user)
{
    const sc_second *u = user;
    int rows = sc_rows(u->c), inner = sc_inner(u->c);
    double *g = malloc(sizeof(double) * (size_t)rows * (size_t)inner), *qs = malloc(sizeof(double) * (size_t)rows);
    for (int r = 0; r < rows; r++)
        qs[r] = 2 * u->q[r] * x[(long)rows * inner + r];
    sg2_ref_scale_channels(g, x, qs, rows, inner);
    double acc = 0;
    for (long i = 0; i < (long)rows * inner; i++)
        acc += g[i] * g[i];
    out[0] = acc;
    free(g);
    free(qs);
}

START_TEST(test_scale_channels_second_order)
{
    sg2_ctx *ctx = sg2_test_ctx();
    for (int t = 0; t < N_SC; t++) {
        const sc_case *c = &sc_cases[t];
        long n = (long)sc_rows(c) * sc_inner(c), rows = sc_rows(c);
        double *x = malloc(sizeof(double) * (size_t)(n + rows)), *q = malloc(sizeof(double) * (size_t)rows);
        double *h = malloc(sizeof(double) * (size_t)(n + rows)), one = 1;
        sg2_test_uniform(x, n + rows, -1, 1, 600 + (uint64_t)t);
        sg2_test_uniform(q, rows, -1, 1, 620 + (uint64_t)t);
        sc_second u = {c, q};
        sg2_test_fd_vjp(sc_penalty, &u, x, n + rows, &one, 1, h, 1e-5);
        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *tx = sg2_test_tensor(ctx, c->ndim, c->shape, x), *ts = sg2_test_tensor(ctx, 2, c->shape, x + n);
        sg2_tensor *tq = sg2_test_tensor(ctx, 2, c->shape, q), *g = NULL;
        sg2_tensor_set_requires_grad(tx, 1);
        sg2_tensor_set_requires_grad(ts, 1);
        sg2_tensor *L = sg2_channel_dot(ctx, sg2_scale_channels(ctx, tx, ts), tx);
        ck_assert_msg(sg2_autograd_grad(ctx, 1, &L, &tq, 1, &tx, 1, &g) == SG2_OK, "%s", ctx->err.msg);
        sg2_tensor *S = sg2_sum_all(ctx, sg2_square(ctx, g)), *ins[2] = {tx, ts}, *gr[2];
        ck_assert_msg(sg2_autograd_grad(ctx, 1, &S, NULL, 2, ins, 0, gr) == SG2_OK, "%s", ctx->err.msg);
        char what[64];
        snprintf(what, sizeof what, "d/dx sum((dL/dx)^2) case %d", t);
        sg2_test_assert_close(ctx, gr[0], h, n, what);
        snprintf(what, sizeof what, "d/ds sum((dL/dx)^2) case %d", t);
        sg2_test_assert_close(ctx, gr[1], h + n, rows, what);
        sg2_scope_end(ctx, mark, NULL, 0);
        free(x), free(q), free(h);
    }
}
END_TEST

/* channel_sq(x) = sum of squares per row: forward against the double
 * reference, d/dx against central differences, and the second order:
 * g = d<q, channel_sq(x)>/dx = 2 q x kept on the graph, S = sum(g^2),
 * dS/dx against central differences of S. */
static void sq_fn(double *d, const double *x, void *user)
{
    const sc_case *c = user;
    sg2_ref_channel_dot(d, x, x, sc_rows(c), sc_inner(c));
}

static void sq_penalty(double *out, const double *x, void *user)
{
    const sc_second *u = user;
    int inner = sc_inner(u->c);
    double acc = 0;
    for (long i = 0; i < (long)sc_rows(u->c) * inner; i++) {
        double g = 2 * u->q[i / inner] * x[i];
        acc += g * g;
    }
    out[0] = acc;
}

START_TEST(test_channel_sq)
{
    sg2_ctx *ctx = sg2_test_ctx();
    for (int t = 0; t < N_SC; t++) {
        const sc_case *c = &sc_cases[t];
        long n = (long)sc_rows(c) * sc_inner(c), rows = sc_rows(c);
        double *x = malloc(sizeof(double) * (size_t)n), *q = malloc(sizeof(double) * (size_t)rows);
        double *gq = malloc(sizeof(double) * (size_t)rows), *h = malloc(sizeof(double) * (size_t)n), one = 1;
        sg2_test_uniform(x, n, -1, 1, 700 + (uint64_t)t);
        sg2_test_uniform(gq, rows, -1, 1, 720 + (uint64_t)t);
        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *tx = sg2_test_tensor(ctx, c->ndim, c->shape, x), *g = NULL, *gx = NULL;
        sg2_tensor_set_requires_grad(tx, 1);
        char what[64];
        sg2_tensor *tq = sg2_channel_sq(ctx, tx);
        ck_assert_msg(tq != NULL, "%s", ctx->err.msg);
        sq_fn(q, x, (void *)c);
        snprintf(what, sizeof what, "channel_sq case %d", t);
        sg2_test_assert_close(ctx, tq, q, rows, what);
        sg2_tensor *tgq = sg2_test_tensor(ctx, 2, c->shape, gq);
        ck_assert_msg(sg2_autograd_grad(ctx, 1, &tq, &tgq, 1, &tx, 1, &g) == SG2_OK, "%s", ctx->err.msg);
        sg2_test_fd_vjp(sq_fn, (void *)c, x, n, gq, rows, h, 1e-6);
        snprintf(what, sizeof what, "channel_sq d/dx case %d", t);
        sg2_test_assert_close(ctx, g, h, n, what);
        sg2_tensor *S = sg2_sum_all(ctx, sg2_square(ctx, g));
        ck_assert_msg(sg2_autograd_grad(ctx, 1, &S, NULL, 1, &tx, 0, &gx) == SG2_OK, "%s", ctx->err.msg);
        sc_second u = {c, gq};
        sg2_test_fd_vjp(sq_penalty, &u, x, n, &one, 1, h, 1e-5);
        snprintf(what, sizeof what, "d/dx sum((d<q, channel_sq>/dx)^2) case %d", t);
        sg2_test_assert_close(ctx, gx, h, n, what);
        sg2_scope_end(ctx, mark, NULL, 0);
        free(x), free(q), free(gq), free(h);
    }
}
END_TEST

START_TEST(test_modconv_weight_bad_input)
{
    sg2_ctx *ctx = sg2_test_ctx();
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *w = sg2_tensor_empty(ctx, 4, SHAPE(4, 3, 3, 3)), *s = sg2_tensor_empty(ctx, 2, SHAPE(2, 5));
    ck_assert_ptr_null(sg2_modconv_weight(ctx, w, s, 1, 1.0f, 0));
    ck_assert_int_eq(ctx->err.status, SG2_ERR_SHAPE);
    sg2_ctx_clear_error(ctx);
    ck_assert_ptr_null(sg2_modconv_weight(ctx, w, NULL, 1, 1.0f, 0));
    ck_assert_int_eq(ctx->err.status, SG2_ERR_ARG);
    sg2_ctx_clear_error(ctx);
    sg2_tensor *x = sg2_tensor_empty(ctx, 4, SHAPE(2, 4, 3, 3)), *x2 = sg2_tensor_empty(ctx, 4, SHAPE(2, 4, 3, 4));
    ck_assert_ptr_null(sg2_scale_channels(ctx, x, s));
    ck_assert_int_eq(ctx->err.status, SG2_ERR_SHAPE);
    sg2_ctx_clear_error(ctx);
    ck_assert_ptr_null(sg2_channel_dot(ctx, x, x2));
    ck_assert_int_eq(ctx->err.status, SG2_ERR_SHAPE);
    sg2_ctx_clear_error(ctx);
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("modconv");
    TCase *tc = tcase_create("modconv");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_modconv_weight_forward);
    tcase_add_test(tc, test_modconv_weight_grad);
    tcase_add_test(tc, test_modconv_weight_second_order);
    tcase_add_test(tc, test_modconv_fused_matches_nonfused);
    tcase_add_test(tc, test_modconv_layer_epilogue);
    tcase_add_test(tc, test_scale_channels_channel_dot);
    tcase_add_test(tc, test_scale_channels_second_order);
    tcase_add_test(tc, test_channel_sq);
    tcase_add_test(tc, test_modconv_weight_bad_input);
    suite_add_tcase(s, tc);
    return sg2_test_run(s) != 0;
}
