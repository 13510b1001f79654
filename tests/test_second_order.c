/* Exact second-order gradients through small networks, the way StyleGAN2's
 * regularizers need them, against nested central differences of a
 * double-precision forward pass built from the C reference ops:
 *
 *  - R1-style: P(theta) = ||dD/dx||^2 for D = <u, f(x; theta)> with f a
 *    conv + lrelu + FIR downsample + minibatch-stddev + conv + lrelu stack;
 *    dP/dtheta by autodiff (create_graph) vs FD over theta of FD over x.
 *  - path-length-style: L(theta) = sum_n (||d<img*n>/dw_n|| - a)^2 through a
 *    modulated, demodulated convolution whose styles come from w by an
 *    affine layer; dL/dtheta likewise. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "src/ref/ref.h"
#include "tests/test_util.h"

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})

/* ---------------- R1-style network ---------------- */

enum { RN = 2, RC = 3, RH = 8, RC1 = 4, RC2 = 2, RH2 = 4 };
enum { R_NX = RN * RC * RH * RH, R_NW1 = RC1 * RC * 9, R_NB1 = RC1, R_NW2 = RC2 * (RC1 + 1) * 9, R_NB2 = RC2 };
enum { R_NTHETA = R_NW1 + R_NB1 + R_NW2 + R_NB2 };
static const double fir4[4] = {1, 3, 3, 1};

typedef struct r1_net {
    double theta[R_NTHETA]; /* w1 | b1 | w2 | b2 */
    double x[R_NX];
    double u[RN * RC2 * RH2 * RH2];
    double f2[16];          /* normalised outer([1,3,3,1]) */
} r1_net;

static const float lrelu_gain = 1.41421356237f;

/* D(x; theta) in double: the same stack the device builds below. */
static double r1_forward(const r1_net *net, const double *x, const double *theta)
{
    const double *w1 = theta, *b1 = w1 + R_NW1, *w2 = b1 + R_NB1, *b2 = w2 + R_NW2;
    static double h1[RN * RC1 * RH * RH], a1[RN * RC1 * RH * RH], h2[RN * RC1 * RH2 * RH2];
    static double h3[RN * (RC1 + 1) * RH2 * RH2], h4[RN * RC2 * RH2 * RH2], a4[RN * RC2 * RH2 * RH2];
    sg2_ref_conv2d(h1, x, w1, RN, RC, RH, RH, RC1, 3, 3, 1, 1, 1, 1);
    sg2_ref_bias_act(a1, h1, b1, RN, RC1, RH * RH, SG2_REF_ACT_LRELU, 0.2, lrelu_gain, -1);
    sg2_ref_upfirdn2d(h2, a1, net->f2, RN, RC1, RH, RH, 4, 4, 1, 1, 2, 2, 1, 1, 1, 1, 0, 1.0);
    sg2_ref_mbstd(h3, h2, RN, RC1, RH2, RH2, 2, 1);
    sg2_ref_conv2d(h4, h3, w2, RN, RC1 + 1, RH2, RH2, RC2, 3, 3, 1, 1, 1, 1);
    sg2_ref_bias_act(a4, h4, b2, RN, RC2, RH2 * RH2, SG2_REF_ACT_LRELU, 0.2, lrelu_gain, -1);
    double d = 0;
    for (int i = 0; i < RN * RC2 * RH2 * RH2; i++)
        d += net->u[i] * a4[i];
    return d;
}

/* P(theta) = ||dD/dx||^2 with dD/dx by central differences. */
static double r1_penalty(const r1_net *net, const double *theta)
{
    double x[R_NX], p = 0;
    memcpy(x, net->x, sizeof x);
    for (int i = 0; i < R_NX; i++) {
        double h = 1e-5;
        x[i] = net->x[i] + h;
        double dp = r1_forward(net, x, theta);
        x[i] = net->x[i] - h;
        double dm = r1_forward(net, x, theta);
        x[i] = net->x[i];
        double g = (dp - dm) / (2 * h);
        p += g * g;
    }
    return p;
}

/* Smallest |difference| between the two samples of the mbstd group at the
 * layer mbstd reads. sqrt(d^2/4 + 1e-8) bends sharply near d = 0, where the
 * finite-difference step would straddle the bend, so inputs must keep away. */
static double r1_mbstd_gap(const r1_net *net)
{
    static double h1[RN * RC1 * RH * RH], a1[RN * RC1 * RH * RH], h2[RN * RC1 * RH2 * RH2];
    const double *th = net->theta;
    sg2_ref_conv2d(h1, net->x, th, RN, RC, RH, RH, RC1, 3, 3, 1, 1, 1, 1);
    sg2_ref_bias_act(a1, h1, th + R_NW1, RN, RC1, RH * RH, SG2_REF_ACT_LRELU, 0.2, lrelu_gain, -1);
    sg2_ref_upfirdn2d(h2, a1, net->f2, RN, RC1, RH, RH, 4, 4, 1, 1, 2, 2, 1, 1, 1, 1, 0, 1.0);
    double gap = INFINITY;
    int per = RC1 * RH2 * RH2;
    for (int i = 0; i < per; i++)
        gap = fmin(gap, fabs(h2[i] - h2[per + i]));
    return gap;
}

static void r1_init(r1_net *net)
{
    uint64_t seed = 101;
    sg2_test_uniform(net->x, R_NX, -1, 1, seed);
    sg2_test_uniform(net->theta, R_NW1, -0.35, 0.35, 102);
    sg2_test_uniform(net->theta + R_NW1, R_NB1, -0.2, 0.2, 103);
    sg2_test_uniform(net->theta + R_NW1 + R_NB1, R_NW2, -0.3, 0.3, 104);
    sg2_test_uniform(net->theta + R_NW1 + R_NB1 + R_NW2, R_NB2, -0.2, 0.2, 105);
    sg2_test_uniform(net->u, RN * RC2 * RH2 * RH2, -1, 1, 106);
    double s = 64;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            net->f2[i * 4 + j] = fir4[i] * fir4[j] / s;
    /* Draw new images until the mbstd group is well away from its kink. */
    while (r1_mbstd_gap(net) < 2e-3 && seed < 50101)
        sg2_test_uniform(net->x, R_NX, -1, 1, seed += 1000);
}

/* Compare the device's gradients gtheta[0..3] (concatenated) with central
 * differences of a double-precision penalty over the n parameters theta0. */
typedef double (*penalty_fn)(const void *net, const double *theta);

static void check_theta_grads(sg2_ctx *ctx, sg2_tensor **gtheta, penalty_fn pen, const void *net,
                              const double *theta0, int n, const char *what)
{
    double *theta = malloc((size_t)n * sizeof *theta), *want = malloc((size_t)n * sizeof *want);
    double *got = malloc((size_t)n * sizeof *got);
    ck_assert(theta && want && got);
    memcpy(theta, theta0, (size_t)n * sizeof *theta);
    for (int j = 0; j < n; j++) {
        double h2 = 1e-4;
        theta[j] = theta0[j] + h2;
        double pp = pen(net, theta);
        theta[j] = theta0[j] - h2;
        double pm = pen(net, theta);
        theta[j] = theta0[j];
        want[j] = (pp - pm) / (2 * h2);
    }
    long at = 0;
    for (int i = 0; i < 4; i++) {
        double *g = sg2_test_read(ctx, gtheta[i]);
        ck_assert(at + gtheta[i]->numel <= n);
        memcpy(got + at, g, (size_t)gtheta[i]->numel * sizeof *g);
        at += gtheta[i]->numel;
        free(g);
    }
    ck_assert_int_eq(at, n);
    sg2_test_assert_arrays(got, want, n, what);
    /* Not vacuous: the weights really move the penalty. */
    double norm = 0;
    for (int j = 0; j < n; j++)
        norm += want[j] * want[j];
    ck_assert_msg(norm > 1e-3, "%s: penalty gradient norm %g", what, norm);
    free(theta);
    free(want);
    free(got);
}

static double r1_penalty_fn(const void *net, const double *theta)
{
    return r1_penalty(net, theta);
}

START_TEST(test_r1_second_order)
{
    sg2_ctx *ctx = sg2_test_ctx();
    static r1_net net;
    r1_init(&net);
    ck_assert_msg(r1_mbstd_gap(&net) >= 2e-3, "no test input away from the mbstd kink");
    size_t mark = sg2_scope_begin(ctx);
    const double *th = net.theta;
    sg2_tensor *x = sg2_test_tensor(ctx, 4, SHAPE(RN, RC, RH, RH), net.x);
    sg2_tensor *w1 = sg2_test_tensor(ctx, 4, SHAPE(RC1, RC, 3, 3), th);
    sg2_tensor *b1 = sg2_test_tensor(ctx, 1, SHAPE(RC1), th + R_NW1);
    sg2_tensor *w2 = sg2_test_tensor(ctx, 4, SHAPE(RC2, RC1 + 1, 3, 3), th + R_NW1 + R_NB1);
    sg2_tensor *b2 = sg2_test_tensor(ctx, 1, SHAPE(RC2), th + R_NW1 + R_NB1 + R_NW2);
    sg2_tensor *u = sg2_test_tensor(ctx, 4, SHAPE(RN, RC2, RH2, RH2), net.u);
    sg2_tensor *params[4] = {w1, b1, w2, b2};
    for (int i = 0; i < 4; i++)
        sg2_tensor_set_requires_grad(params[i], 1);
    sg2_tensor_set_requires_grad(x, 1);
    const float taps[4] = {1, 3, 3, 1};
    sg2_tensor *f = sg2_fir_filter(ctx, taps, 4);
    sg2_conv_params same3 = {.stride = 1, .pad_y = 1, .pad_x = 1, .groups = 1};
    sg2_bias_act_params lrelu = sg2_bias_act_defaults(SG2_ACT_LRELU);
    sg2_upfirdn2d_params down2 = {.up_x = 1, .up_y = 1, .down_x = 2, .down_y = 2,
                                  .pad_x0 = 1, .pad_x1 = 1, .pad_y0 = 1, .pad_y1 = 1, .flip = 0, .gain = 1.0f};
    sg2_tensor *h = sg2_bias_act(ctx, sg2_conv2d(ctx, x, w1, &same3), b1, &lrelu);
    h = sg2_mbstd(ctx, sg2_upfirdn2d(ctx, h, f, &down2), 2, 1);
    h = sg2_bias_act(ctx, sg2_conv2d(ctx, h, w2, &same3), b2, &lrelu);
    sg2_tensor *d = sg2_sum_all(ctx, sg2_mul(ctx, h, u));
    ck_assert_msg(d != NULL, "forward: %s", ctx->err.msg);
    double *dval = sg2_test_read(ctx, d);
    double dref = r1_forward(&net, net.x, net.theta);
    sg2_test_assert_arrays(dval, &dref, 1, "R1 net forward");
    free(dval);

    /* The R1 recipe: gradient w.r.t. the input only, kept differentiable. */
    sg2_tensor *gx = NULL;
    ck_assert_int_eq(sg2_autograd_grad(ctx, 1, &d, NULL, 1, &x, 1, &gx), SG2_OK);
    sg2_tensor *penalty = sg2_sum_all(ctx, sg2_square(ctx, gx));
    sg2_tensor *gtheta[4];
    ck_assert_msg(sg2_autograd_grad(ctx, 1, &penalty, NULL, 4, params, 0, gtheta) == SG2_OK, "%s", ctx->err.msg);

    double *pval = sg2_test_read(ctx, penalty);
    double pref = r1_penalty(&net, net.theta);
    sg2_test_assert_arrays(pval, &pref, 1, "R1 penalty");
    free(pval);

    check_theta_grads(ctx, gtheta, r1_penalty_fn, &net, net.theta, R_NTHETA, "dR1/dtheta");
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

/* ---------------- path-length-style modulated convolution ---------------- */

enum { PN = 2, PWD = 4, PC = 3, PO = 4, PH = 6 };
enum { P_NA = PC * PWD, P_NBA = PC, P_NW = PO * PC * 9, P_NB = PO, P_NTHETA = P_NA + P_NBA + P_NW + P_NB };

typedef struct pl_net {
    double theta[P_NTHETA]; /* affine weight [PC,PWD] | affine bias [PC] | conv weight [PO,PC,3,3] | bias [PO] */
    double w[PN * PWD];     /* latents */
    double x[PN * PC * PH * PH];
    double noise[PN * PO * PH * PH];
    double pl_mean;
} pl_net;

/* img(w; theta): styles = w A^T + bA; y = conv(x * s, W) * rsqrt(sum (W s)^2 + 1e-8); lrelu(y + b). */
static void pl_image(double *img, const pl_net *net, const double *w, const double *theta)
{
    const double *A = theta, *bA = A + P_NA, *W = bA + P_NBA, *b = W + P_NW;
    static double xs[PN * PC * PH * PH], y[PN * PO * PH * PH];
    double s[PN * PC];
    for (int n = 0; n < PN; n++)
        for (int c = 0; c < PC; c++) {
            double v = bA[c];
            for (int k = 0; k < PWD; k++)
                v += w[n * PWD + k] * A[c * PWD + k];
            s[n * PC + c] = v;
        }
    for (int n = 0; n < PN; n++)
        for (int c = 0; c < PC; c++)
            for (int i = 0; i < PH * PH; i++)
                xs[(n * PC + c) * PH * PH + i] = net->x[(n * PC + c) * PH * PH + i] * s[n * PC + c];
    sg2_ref_conv2d(y, xs, W, PN, PC, PH, PH, PO, 3, 3, 1, 1, 1, 1);
    for (int n = 0; n < PN; n++)
        for (int o = 0; o < PO; o++) {
            double ss = 0;
            for (int c = 0; c < PC; c++)
                for (int k = 0; k < 9; k++) {
                    double v = W[(o * PC + c) * 9 + k] * s[n * PC + c];
                    ss += v * v;
                }
            double dm = 1.0 / sqrt(ss + 1e-8);
            for (int i = 0; i < PH * PH; i++)
                y[(n * PO + o) * PH * PH + i] *= dm;
        }
    sg2_ref_bias_act(img, y, b, PN, PO, PH * PH, SG2_REF_ACT_LRELU, 0.2, lrelu_gain, -1);
}

static double pl_objective(const pl_net *net, const double *w, const double *theta)
{
    static double img[PN * PO * PH * PH];
    pl_image(img, net, w, theta);
    double s = 0;
    for (int i = 0; i < PN * PO * PH * PH; i++)
        s += img[i] * net->noise[i];
    return s;
}

/* sum_n (||d<img, noise>/dw_n|| - pl_mean)^2, gradient by central differences. */
static double pl_penalty(const pl_net *net, const double *theta)
{
    double w[PN * PWD], g[PN * PWD];
    memcpy(w, net->w, sizeof w);
    for (int i = 0; i < PN * PWD; i++) {
        double h = 1e-5;
        w[i] = net->w[i] + h;
        double fp = pl_objective(net, w, theta);
        w[i] = net->w[i] - h;
        double fm = pl_objective(net, w, theta);
        w[i] = net->w[i];
        g[i] = (fp - fm) / (2 * h);
    }
    double pen = 0;
    for (int n = 0; n < PN; n++) {
        double sq = 0;
        for (int k = 0; k < PWD; k++)
            sq += g[n * PWD + k] * g[n * PWD + k];
        double len = sqrt(sq);
        pen += (len - net->pl_mean) * (len - net->pl_mean);
    }
    return pen;
}

static double pl_penalty_fn(const void *net, const double *theta)
{
    return pl_penalty(net, theta);
}

START_TEST(test_path_length_second_order)
{
    sg2_ctx *ctx = sg2_test_ctx();
    static pl_net net;
    sg2_test_uniform(net.theta, P_NA, -0.6, 0.6, 201);
    sg2_test_uniform(net.theta + P_NA, P_NBA, 0.8, 1.2, 202); /* style bias starts near 1 as in StyleGAN2 */
    sg2_test_uniform(net.theta + P_NA + P_NBA, P_NW, -0.5, 0.5, 203);
    sg2_test_uniform(net.theta + P_NA + P_NBA + P_NW, P_NB, -0.2, 0.2, 204);
    sg2_test_uniform(net.w, PN * PWD, -1, 1, 205);
    sg2_test_uniform(net.x, PN * PC * PH * PH, -1, 1, 206);
    sg2_test_uniform(net.noise, PN * PO * PH * PH, -1.0 / PH, 1.0 / PH, 207);
    net.pl_mean = 0.3;

    size_t mark = sg2_scope_begin(ctx);
    const double *th = net.theta;
    sg2_tensor *A = sg2_test_tensor(ctx, 2, SHAPE(PC, PWD), th);
    sg2_tensor *bA = sg2_test_tensor(ctx, 1, SHAPE(PC), th + P_NA);
    sg2_tensor *W = sg2_test_tensor(ctx, 4, SHAPE(PO, PC, 3, 3), th + P_NA + P_NBA);
    sg2_tensor *b = sg2_test_tensor(ctx, 1, SHAPE(PO), th + P_NA + P_NBA + P_NW);
    sg2_tensor *w = sg2_test_tensor(ctx, 2, SHAPE(PN, PWD), net.w);
    sg2_tensor *x = sg2_test_tensor(ctx, 4, SHAPE(PN, PC, PH, PH), net.x);
    sg2_tensor *noise = sg2_test_tensor(ctx, 4, SHAPE(PN, PO, PH, PH), net.noise);
    sg2_tensor *params[4] = {A, bA, W, b};
    for (int i = 0; i < 4; i++)
        sg2_tensor_set_requires_grad(params[i], 1);
    sg2_tensor_set_requires_grad(w, 1);

    /* styles [PN, PC] = w A^T + bA */
    sg2_tensor *s = sg2_add(ctx, sg2_matmul(ctx, w, A, 0, 1), bA);
    /* modulate the input, convolve, demodulate per output channel */
    sg2_tensor *xs = sg2_mul(ctx, x, sg2_reshape(ctx, s, 4, SHAPE(PN, PC, 1, 1)));
    sg2_conv_params same3 = {.stride = 1, .pad_y = 1, .pad_x = 1, .groups = 1};
    sg2_tensor *y = sg2_conv2d(ctx, xs, W, &same3);
    sg2_tensor *wsq = sg2_sum(ctx, sg2_square(ctx, W), 0xC, 0);                       /* [PO, PC] */
    sg2_tensor *dcoef = sg2_rsqrt(ctx, sg2_add_scalar(ctx, sg2_matmul(ctx, sg2_square(ctx, s), wsq, 0, 1), 1e-8f));
    y = sg2_mul(ctx, y, sg2_reshape(ctx, dcoef, 4, SHAPE(PN, PO, 1, 1)));
    sg2_bias_act_params lrelu = sg2_bias_act_defaults(SG2_ACT_LRELU);
    sg2_tensor *img = sg2_bias_act(ctx, y, b, &lrelu);
    ck_assert_msg(img != NULL, "forward: %s", ctx->err.msg);
    static double img_ref[PN * PO * PH * PH];
    pl_image(img_ref, &net, net.w, net.theta);
    sg2_test_assert_close(ctx, img, img_ref, PN * PO * PH * PH, "modulated conv image");

    /* The path-length recipe: d<img, noise>/dw with no weight gradients, kept differentiable. */
    sg2_tensor *obj = sg2_sum_all(ctx, sg2_mul(ctx, img, noise));
    sg2_tensor *gw = NULL;
    ck_assert_int_eq(sg2_autograd_grad(ctx, 1, &obj, NULL, 1, &w, 1, &gw), SG2_OK);
    sg2_tensor *len = sg2_sqrt(ctx, sg2_sum(ctx, sg2_square(ctx, gw), 0x2, 0)); /* [PN] */
    sg2_tensor *pen = sg2_sum_all(ctx, sg2_square(ctx, sg2_add_scalar(ctx, len, -(float)net.pl_mean)));
    sg2_tensor *gtheta[4];
    ck_assert_msg(sg2_autograd_grad(ctx, 1, &pen, NULL, 4, params, 0, gtheta) == SG2_OK, "%s", ctx->err.msg);
    double *pv = sg2_test_read(ctx, pen);
    double pref = pl_penalty(&net, net.theta);
    sg2_test_assert_arrays(pv, &pref, 1, "path-length penalty");
    free(pv);

    check_theta_grads(ctx, gtheta, pl_penalty_fn, &net, net.theta, P_NTHETA, "dPL/dtheta");
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

static Suite *second_order_suite(void)
{
    Suite *s = suite_create("second_order");
    TCase *tc = tcase_create("regularizers");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_r1_second_order);
    tcase_add_test(tc, test_path_length_second_order);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return sg2_test_run(second_order_suite()) != 0;
}
