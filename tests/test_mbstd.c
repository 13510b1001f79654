/* mbstd: minibatch standard deviation against the double reference
 * (several group/feature splits, odd H and W, a group larger than the
 * batch), its gradient against central differences, its second derivative
 * against differences of a hand-derived double gradient, and bad input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "src/ref/ref.h"
#include "tests/test_util.h"

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})

typedef struct mb_case {
    int N, C, H, W, group, nfeat;
} mb_case;

static long in_count(const mb_case *c) { return (long)c->N * c->C * c->H * c->W; }
static long out_count(const mb_case *c) { return (long)c->N * (c->C + c->nfeat) * c->H * c->W; }

static void mb_fn(double *y, const double *x, void *user)
{
    const mb_case *c = user;
    sg2_ref_mbstd(y, x, c->N, c->C, c->H, c->W, c->group, c->nfeat);
}

START_TEST(test_mbstd_forward)
{
    static const mb_case cases[] = {
        {4, 3, 3, 5, 2, 1},  /* N=4, G=2, F=1 */
        {8, 6, 2, 3, 4, 2},  /* N=8, G=4, F=2, C=6 */
        {2, 2, 5, 3, 4, 1},  /* group 4 > N=2: G=2 */
        {3, 5, 1, 1, 1, 1},  /* G=1: no spread, sqrt(1e-8) */
        {6, 4, 7, 1, 3, 4},  /* one channel per feature */
    };
    sg2_ctx *ctx = sg2_test_ctx();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const mb_case *c = &cases[i];
        double *x = malloc(sizeof(double) * (size_t)in_count(c));
        double *y = malloc(sizeof(double) * (size_t)out_count(c));
        sg2_test_uniform(x, in_count(c), -1, 1, 300 + i);
        mb_fn(y, x, (void *)c);
        char what[96];
        snprintf(what, sizeof what, "mbstd N %d C %d H %d W %d group %d nfeat %d", c->N, c->C, c->H, c->W, c->group,
                 c->nfeat);
        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *tx = sg2_test_tensor(ctx, 4, SHAPE(c->N, c->C, c->H, c->W), x);
        sg2_tensor *ty = sg2_mbstd(ctx, tx, c->group, c->nfeat);
        ck_assert_msg(ty != NULL, "%s: %s", what, ctx->err.msg);
        ck_assert_int_eq(ty->ndim, 4);
        ck_assert_int_eq(ty->shape[1], c->C + c->nfeat);
        sg2_test_assert_close(ctx, ty, y, out_count(c), what);
        sg2_scope_end(ctx, mark, NULL, 0);
        free(x);
        free(y);
    }
}
END_TEST

START_TEST(test_mbstd_grad)
{
    static const mb_case cases[] = {{4, 4, 3, 5, 2, 2}, {4, 3, 1, 3, 4, 1}, {2, 2, 3, 1, 4, 1}};
    sg2_ctx *ctx = sg2_test_ctx();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const mb_case *c = &cases[i];
        long nx = in_count(c), ny = out_count(c);
        double *x = malloc(sizeof(double) * (size_t)nx), *g = malloc(sizeof(double) * (size_t)nx);
        double *v = malloc(sizeof(double) * (size_t)ny);
        sg2_test_uniform(x, nx, -1, 1, 400 + i);
        sg2_test_uniform(v, ny, -1, 1, 410 + i);
        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *tx = sg2_test_tensor(ctx, 4, SHAPE(c->N, c->C, c->H, c->W), x);
        sg2_tensor_set_requires_grad(tx, 1);
        sg2_tensor *tv = sg2_test_tensor(ctx, 4, SHAPE(c->N, c->C + c->nfeat, c->H, c->W), v);
        sg2_tensor *ty = sg2_mbstd(ctx, tx, c->group, c->nfeat), *tg = NULL;
        ck_assert_int_eq(sg2_autograd_grad(ctx, 1, &ty, &tv, 1, &tx, 0, &tg), SG2_OK);
        sg2_test_fd_vjp(mb_fn, (void *)c, x, nx, v, ny, g, 1e-6);
        sg2_test_assert_close(ctx, tg, g, nx, "mbstd d/dx");
        sg2_scope_end(ctx, mark, NULL, 0);
        free(x);
        free(g);
        free(v);
    }
}
END_TEST

/* ---- second order ----
 * L(x) = sum(mbstd(x) * v). With n = g M + r (M = N/G), CF = C/F, block
 * f = c / CF, mu and s the mean and sqrt(var + 1e-8) over g of x[gM+r,c,h,w],
 * and Z[r,f] = sum over g,h,w of v[gM+r, C+f, h, w]:
 *   dL/dx[n,c,h,w] = v[n,c,h,w] + Z[r,f] (x - mu) / (CF H W G s).
 * (The mean's own derivative cancels because the deviations sum to zero.)
 * The test checks this formula against differences of the reference first,
 * then d/dx sum((dL/dx)^2) against differences of it. */

typedef struct so_user {
    mb_case c;
    const double *v; /* [N, C+F, H, W] */
} so_user;

static void grad_by_hand(double *gx, const double *x, const so_user *u)
{
    const mb_case *c = &u->c;
    int G = c->group < c->N ? c->group : c->N, M = c->N / G, CF = c->C / c->nfeat, HW = c->H * c->W;
    int CO = c->C + c->nfeat;
    for (int r = 0; r < M; r++)
        for (int ch = 0; ch < c->C; ch++) {
            int f = ch / CF;
            double Z = 0;
            for (int g = 0; g < G; g++)
                for (int p = 0; p < HW; p++)
                    Z += u->v[((long)(g * M + r) * CO + c->C + f) * HW + p];
            for (int p = 0; p < HW; p++) {
                double mu = 0, var = 0;
                for (int g = 0; g < G; g++)
                    mu += x[((long)(g * M + r) * c->C + ch) * HW + p];
                mu /= G;
                for (int g = 0; g < G; g++) {
                    double d = x[((long)(g * M + r) * c->C + ch) * HW + p] - mu;
                    var += d * d;
                }
                double s = sqrt(var / G + 1e-8);
                for (int g = 0; g < G; g++) {
                    long i = ((long)(g * M + r) * c->C + ch) * HW + p;
                    long o = ((long)(g * M + r) * CO + ch) * HW + p;
                    gx[i] = u->v[o] + Z * (x[i] - mu) / ((double)CF * HW * G * s);
                }
            }
        }
}

static void so_fn(double *y, const double *x, void *user)
{
    const so_user *u = user;
    long n = in_count(&u->c);
    double *g = malloc(sizeof(double) * (size_t)n);
    grad_by_hand(g, x, u);
    double h = 0;
    for (long i = 0; i < n; i++)
        h += g[i] * g[i];
    free(g);
    y[0] = h;
}

START_TEST(test_mbstd_second_order)
{
    static const mb_case cases[] = {{4, 2, 3, 3, 2, 1}, {4, 4, 1, 3, 4, 2}};
    sg2_ctx *ctx = sg2_test_ctx();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const mb_case *c = &cases[i];
        long nx = in_count(c), ny = out_count(c);
        double *x = malloc(sizeof(double) * (size_t)nx), *v = malloc(sizeof(double) * (size_t)ny);
        double *g = malloc(sizeof(double) * (size_t)nx), *g_fd = malloc(sizeof(double) * (size_t)nx);
        double *gg = malloc(sizeof(double) * (size_t)nx), one = 1.0;
        sg2_test_uniform(x, nx, -1, 1, 500 + i);
        sg2_test_uniform(v, ny, -1, 1, 510 + i);
        so_user u = {*c, v};
        /* the hand-derived gradient agrees with the reference's differences */
        grad_by_hand(g, x, &u);
        sg2_test_fd_vjp(mb_fn, (void *)c, x, nx, v, ny, g_fd, 1e-6);
        sg2_test_assert_arrays(g, g_fd, nx, "hand-derived dL/dx");
        sg2_test_fd_vjp(so_fn, &u, x, nx, &one, 1, gg, 1e-6);

        size_t mark = sg2_scope_begin(ctx);
        sg2_tensor *tx = sg2_test_tensor(ctx, 4, SHAPE(c->N, c->C, c->H, c->W), x);
        sg2_tensor_set_requires_grad(tx, 1);
        sg2_tensor *tv = sg2_test_tensor(ctx, 4, SHAPE(c->N, c->C + c->nfeat, c->H, c->W), v);
        sg2_tensor *L = sg2_sum_all(ctx, sg2_mul(ctx, sg2_mbstd(ctx, tx, c->group, c->nfeat), tv));
        sg2_tensor *tg = NULL, *tgg = NULL;
        ck_assert_int_eq(sg2_autograd_grad(ctx, 1, &L, NULL, 1, &tx, 1, &tg), SG2_OK);
        sg2_test_assert_close(ctx, tg, g, nx, "mbstd dL/dx (create_graph)");
        sg2_tensor *h = sg2_sum_all(ctx, sg2_square(ctx, tg));
        ck_assert_int_eq(sg2_autograd_grad(ctx, 1, &h, NULL, 1, &tx, 0, &tgg), SG2_OK);
        sg2_test_assert_close(ctx, tgg, gg, nx, "mbstd d/dx sum((dL/dx)^2)");
        sg2_scope_end(ctx, mark, NULL, 0);
        free(x);
        free(v);
        free(g);
        free(g_fd);
        free(gg);
    }
}
END_TEST

START_TEST(test_mbstd_bad_input)
{
    sg2_ctx *ctx = sg2_test_ctx();
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *x6 = sg2_tensor_full(ctx, 4, SHAPE(6, 4, 2, 2), 1.0f);
    sg2_tensor *x3d = sg2_tensor_full(ctx, 3, SHAPE(4, 2, 2), 1.0f);
    struct {
        sg2_tensor *x;
        int group, nfeat;
        sg2_status want;
        const char *what;
    } cases[] = {
        {x6, 4, 1, SG2_ERR_SHAPE, "N 6 not divisible by group 4"},
        {x6, 2, 3, SG2_ERR_SHAPE, "C 4 not divisible by nfeat 3"},
        {x3d, 2, 1, SG2_ERR_SHAPE, "3-D input"},
        {x6, 0, 1, SG2_ERR_ARG, "group 0"},
        {x6, 2, 0, SG2_ERR_ARG, "nfeat 0"},
        {NULL, 2, 1, SG2_ERR_ARG, "NULL input"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_msg(sg2_mbstd(ctx, cases[i].x, cases[i].group, cases[i].nfeat) == NULL, "%s: expected failure",
                      cases[i].what);
        ck_assert_msg(sg2_ctx_status(ctx) == cases[i].want, "%s: status %d (%s)", cases[i].what,
                      (int)sg2_ctx_status(ctx), ctx->err.msg);
        ck_assert_msg(strstr(ctx->err.msg, "mbstd") != NULL, "%s: message names the op: %s", cases[i].what,
                      ctx->err.msg);
        sg2_ctx_clear_error(ctx);
    }
    /* group 3 divides 6 */
    ck_assert_msg(sg2_mbstd(ctx, x6, 3, 2) != NULL, "group 3 of 6: %s", ctx->err.msg);
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

static Suite *mbstd_suite(void)
{
    Suite *s = suite_create("mbstd");
    TCase *tc = tcase_create("mbstd");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_mbstd_forward);
    tcase_add_test(tc, test_mbstd_grad);
    tcase_add_test(tc, test_mbstd_second_order);
    tcase_add_test(tc, test_mbstd_bad_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return sg2_test_run(mbstd_suite()) != 0;
}
