/* matmul: op(a) @ op(b) for all four transpose combinations, 2-D and batched,
 * on odd sizes, with every backend (CLBlast, SG2_GEMM=own, own-local and small), against the
 * double reference; first gradients against central differences; a
 * second-order case against differences of a hand-derived double gradient;
 * bad shapes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "src/ref/ref.h"
#include "tests/test_util.h"

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})

static const char *const backend_names[] = {"clblast", "own", "own-local", "small"};

/* Select a backend for the calls that follow (read by sg2_matmul per call):
 * an index into backend_names. */
static void use_backend(int which)
{
    if (which)
        setenv("SG2_GEMM", backend_names[which], 1);
    else
        unsetenv("SG2_GEMM");
}

/* Stored shapes of a and b for op(a) [M,K] and op(b) [K,N]. */
static void stored_dims(int M, int N, int K, int ta, int tb, int64_t *a2, int64_t *b2)
{
    a2[0] = ta ? K : M;
    a2[1] = ta ? M : K;
    b2[0] = tb ? N : K;
    b2[1] = tb ? K : N;
}

/* c[batch][M][N] = op(a[batch]) op(b[batch]) with the double reference. */
static void ref_batched(double *c, const double *a, const double *b, int batch, int M, int N, int K, int ta, int tb)
{
    for (int i = 0; i < batch; i++)
        sg2_ref_matmul(c + (long)i * M * N, a + (long)i * M * K, b + (long)i * K * N, M, N, K, ta, tb);
}

/* Upload operands (wanting gradients when grad) and compute op(a) @ op(b);
 * batch 0 means 2-D. */
static sg2_tensor *run_matmul(sg2_ctx *ctx, const double *a, const double *b, int batch, int M, int N, int K, int ta,
                              int tb, int grad, sg2_tensor **ta_out, sg2_tensor **tb_out)
{
    int64_t a2[2], b2[2];
    stored_dims(M, N, K, ta, tb, a2, b2);
    sg2_tensor *xa, *xb;
    if (batch) {
        xa = sg2_test_tensor(ctx, 3, SHAPE(batch, a2[0], a2[1]), a);
        xb = sg2_test_tensor(ctx, 3, SHAPE(batch, b2[0], b2[1]), b);
    } else {
        xa = sg2_test_tensor(ctx, 2, a2, a);
        xb = sg2_test_tensor(ctx, 2, b2, b);
    }
    sg2_tensor_set_requires_grad(xa, grad);
    sg2_tensor_set_requires_grad(xb, grad);
    if (ta_out)
        *ta_out = xa;
    if (tb_out)
        *tb_out = xb;
    return sg2_matmul(ctx, xa, xb, ta, tb);
}

/* ---- forward ---- */

static void check_forward(int own)
{
    /* the last three: wide enough that the small-product kernel takes 8, 2
     * and 4 rows per work-item unbatched (gemm_small_rows; 8 at batch 3),
     * each with a partial row block */
    static const int sizes[][3] = {{7, 5, 3},     {1, 1, 13},    {33, 17, 65}, {1, 9, 4},
                                   {6, 1, 1},     {11, 2100, 7}, {11, 520, 9}, {11, 720, 5}};
    sg2_ctx *ctx = sg2_test_ctx();
    use_backend(own);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
        /* batch 0: 2-D; 1: 3-D served by Sgemm; 3: SgemmStridedBatched */
        for (int batch = 0; batch <= 3; batch += batch == 1 ? 2 : 1) {
            int nb = batch ? batch : 1;
            double *a = malloc(sizeof(double) * (size_t)(nb * M * K));
            double *b = malloc(sizeof(double) * (size_t)(nb * K * N));
            double *c = malloc(sizeof(double) * (size_t)(nb * M * N));
            sg2_test_uniform(a, nb * M * K, -1, 1, 100 + s);
            sg2_test_uniform(b, nb * K * N, -1, 1, 200 + s);
            for (int combo = 0; combo < 4; combo++) {
                int ta = combo & 1, tb = combo >> 1;
                char what[128];
                snprintf(what, sizeof what, "%s matmul %dx%dx%d batch %d ta %d tb %d", backend_names[own], M, N, K,
                         batch, ta, tb);
                size_t mark = sg2_scope_begin(ctx);
                sg2_tensor *tc = run_matmul(ctx, a, b, batch, M, N, K, ta, tb, 0, NULL, NULL);
                ck_assert_msg(tc != NULL, "%s: %s", what, ctx->err.msg);
                ck_assert_int_eq(tc->ndim, batch ? 3 : 2);
                ck_assert_int_eq(tc->shape[tc->ndim - 2], M);
                ck_assert_int_eq(tc->shape[tc->ndim - 1], N);
                ref_batched(c, a, b, nb, M, N, K, ta, tb);
                sg2_test_assert_close(ctx, tc, c, nb * M * N, what);
                sg2_scope_end(ctx, mark, NULL, 0);
            }
            free(a);
            free(b);
            free(c);
        }
    }
    use_backend(0);
}

START_TEST(test_matmul_forward_clblast) { check_forward(0); }
END_TEST

START_TEST(test_matmul_forward_own) { check_forward(1); }
END_TEST

/* the local-memory tiled kernel (for GPUs) */
START_TEST(test_matmul_forward_own_local) { check_forward(2); }
END_TEST
START_TEST(test_matmul_forward_small) { check_forward(3); }
END_TEST

START_TEST(test_matmul_backends_agree)
{
    /* A size past several tiles of both kernels, batched, transposed: the
     * two backends match each other as well as the reference. */
    enum { B = 2, M = 70, N = 45, K = 100 };
    sg2_ctx *ctx = sg2_test_ctx();
    double *a = malloc(sizeof(double) * B * M * K), *b = malloc(sizeof(double) * B * K * N);
    double *c = malloc(sizeof(double) * B * M * N);
    sg2_test_uniform(a, B * M * K, -1, 1, 31);
    sg2_test_uniform(b, B * K * N, -1, 1, 32);
    ref_batched(c, a, b, B, M, N, K, 1, 0);
    size_t mark = sg2_scope_begin(ctx);
    for (int own = 0; own < 2; own++) {
        use_backend(own);
        sg2_test_assert_close(ctx, run_matmul(ctx, a, b, B, M, N, K, 1, 0, 0, NULL, NULL), c, B * M * N,
                              backend_names[own]);
    }
    use_backend(0);
    sg2_scope_end(ctx, mark, NULL, 0);
    free(a);
    free(b);
    free(c);
}
END_TEST

/* ---- first-order gradients ---- */

typedef struct mm_user {
    int batch, M, N, K, ta, tb;
    int wrt_b;            /* 0: x is a, 1: x is b */
    const double *other;  /* the operand held fixed */
} mm_user;

static void mm_fn(double *y, const double *x, void *user)
{
    const mm_user *u = user;
    int nb = u->batch ? u->batch : 1;
    if (u->wrt_b)
        ref_batched(y, u->other, x, nb, u->M, u->N, u->K, u->ta, u->tb);
    else
        ref_batched(y, x, u->other, nb, u->M, u->N, u->K, u->ta, u->tb);
}

static void check_grad(int own)
{
    enum { M = 5, N = 4, K = 3 };
    sg2_ctx *ctx = sg2_test_ctx();
    use_backend(own);
    double a[2 * M * K], b[2 * K * N], v[2 * M * N], ga[2 * M * K], gb[2 * K * N];
    for (int batch = 0; batch <= 2; batch += 2) {
        int nb = batch ? batch : 1;
        sg2_test_uniform(a, nb * M * K, -1, 1, 41);
        sg2_test_uniform(b, nb * K * N, -1, 1, 42);
        sg2_test_uniform(v, nb * M * N, -1, 1, 43);
        for (int combo = 0; combo < 4; combo++) {
            int ta = combo & 1, tb = combo >> 1;
            char what[128];
            size_t mark = sg2_scope_begin(ctx);
            sg2_tensor *xa, *xb;
            sg2_tensor *tc = run_matmul(ctx, a, b, batch, M, N, K, ta, tb, 1, &xa, &xb);
            sg2_tensor *tv = batch ? sg2_test_tensor(ctx, 3, SHAPE(batch, M, N), v)
                                   : sg2_test_tensor(ctx, 2, SHAPE(M, N), v);
            sg2_tensor *in[2] = {xa, xb}, *g[2] = {NULL, NULL};
            ck_assert_int_eq(sg2_autograd_grad(ctx, 1, &tc, &tv, 2, in, 0, g), SG2_OK);
            mm_user ua = {batch, M, N, K, ta, tb, 0, b}, ub = {batch, M, N, K, ta, tb, 1, a};
            sg2_test_fd_vjp(mm_fn, &ua, a, nb * M * K, v, nb * M * N, ga, 1e-6);
            sg2_test_fd_vjp(mm_fn, &ub, b, nb * K * N, v, nb * M * N, gb, 1e-6);
            ck_assert_int_eq(g[0]->ndim, xa->ndim);
            ck_assert(sg2_shape_equal(g[0], xa) && sg2_shape_equal(g[1], xb));
            snprintf(what, sizeof what, "%s d/da batch %d ta %d tb %d", backend_names[own], batch, ta, tb);
            sg2_test_assert_close(ctx, g[0], ga, nb * M * K, what);
            snprintf(what, sizeof what, "%s d/db batch %d ta %d tb %d", backend_names[own], batch, ta, tb);
            sg2_test_assert_close(ctx, g[1], gb, nb * K * N, what);
            sg2_scope_end(ctx, mark, NULL, 0);
        }
    }
    use_backend(0);
}

START_TEST(test_matmul_grad_clblast) { check_grad(0); }
END_TEST

START_TEST(test_matmul_grad_own) { check_grad(1); }
END_TEST

/* ---- second order ----
 * f(a, b) = sum(C * V), C = op(a) op(b). Its gradient with respect to b is
 * derived by hand below (index by index, not with the backward rule under
 * test): d f / d op(b)[k][n] = sum_m op(a)[m][k] V[m][n]. Then
 * h(a) = sum((df/db)^2) and d h / d a comes from central differences of h. */

typedef struct so_user {
    int batch, M, N, K, ta, tb;
    const double *v; /* [batch, M, N] */
} so_user;

static void grad_b_by_hand(double *gb, const double *a, const so_user *u)
{
    int nb = u->batch ? u->batch : 1, M = u->M, N = u->N, K = u->K;
    for (int i = 0; i < nb; i++) {
        const double *ai = a + (long)i * M * K, *vi = u->v + (long)i * M * N;
        double *gi = gb + (long)i * K * N;
        for (int k = 0; k < K; k++)
            for (int n = 0; n < N; n++) {
                double s = 0;
                for (int m = 0; m < M; m++)
                    s += (u->ta ? ai[k * M + m] : ai[m * K + k]) * vi[m * N + n];
                /* stored b is [K,N], or [N,K] when transposed */
                gi[u->tb ? n * K + k : k * N + n] = s;
            }
    }
}

static void so_fn(double *y, const double *a, void *user)
{
    const so_user *u = user;
    int nb = u->batch ? u->batch : 1;
    double gb[2 * 4 * 5];
    grad_b_by_hand(gb, a, u);
    double h = 0;
    for (int i = 0; i < nb * u->K * u->N; i++)
        h += gb[i] * gb[i];
    y[0] = h;
}

static void check_second_order(int own)
{
    enum { M = 3, N = 4, K = 5 };
    sg2_ctx *ctx = sg2_test_ctx();
    double a[2 * M * K], b[2 * K * N], v[2 * M * N], gb_ref[2 * K * N], gga[2 * M * K], one = 1.0;
    use_backend(own);
    for (int batch = 0; batch <= 2; batch += 2) {
        int nb = batch ? batch : 1;
        sg2_test_uniform(a, nb * M * K, -1, 1, 51);
        sg2_test_uniform(b, nb * K * N, -1, 1, 52);
        sg2_test_uniform(v, nb * M * N, -1, 1, 53);
        for (int combo = 0; combo < 4; combo++) {
            int ta = combo & 1, tb = combo >> 1;
            char what[128];
            size_t mark = sg2_scope_begin(ctx);
            sg2_tensor *xa, *xb;
            sg2_tensor *tc = run_matmul(ctx, a, b, batch, M, N, K, ta, tb, 1, &xa, &xb);
            sg2_tensor *tv = batch ? sg2_test_tensor(ctx, 3, SHAPE(batch, M, N), v)
                                   : sg2_test_tensor(ctx, 2, SHAPE(M, N), v);
            sg2_tensor *f = sg2_sum_all(ctx, sg2_mul(ctx, tc, tv));
            sg2_tensor *gb = NULL, *gga_t = NULL;
            ck_assert_int_eq(sg2_autograd_grad(ctx, 1, &f, NULL, 1, &xb, 1, &gb), SG2_OK);
            so_user u = {batch, M, N, K, ta, tb, v};
            grad_b_by_hand(gb_ref, a, &u);
            snprintf(what, sizeof what, "%s df/db batch %d ta %d tb %d", backend_names[own], batch, ta, tb);
            sg2_test_assert_close(ctx, gb, gb_ref, nb * K * N, what);
            sg2_tensor *h = sg2_sum_all(ctx, sg2_square(ctx, gb));
            ck_assert_int_eq(sg2_autograd_grad(ctx, 1, &h, NULL, 1, &xa, 0, &gga_t), SG2_OK);
            sg2_test_fd_vjp(so_fn, &u, a, nb * M * K, &one, 1, gga, 1e-6);
            snprintf(what, sizeof what, "%s d/da sum((df/db)^2) batch %d ta %d tb %d", backend_names[own], batch, ta,
                     tb);
            sg2_test_assert_close(ctx, gga_t, gga, nb * M * K, what);
            sg2_scope_end(ctx, mark, NULL, 0);
        }
    }
    use_backend(0);
}

START_TEST(test_matmul_second_order_clblast) { check_second_order(0); }
END_TEST

START_TEST(test_matmul_second_order_own) { check_second_order(1); }
END_TEST

/* ---- bad input ---- */

START_TEST(test_matmul_bad_shapes)
{
    sg2_ctx *ctx = sg2_test_ctx();
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *a23 = sg2_tensor_full(ctx, 2, SHAPE(2, 3), 1.0f);
    sg2_tensor *b43 = sg2_tensor_full(ctx, 2, SHAPE(4, 3), 1.0f);
    sg2_tensor *a223 = sg2_tensor_full(ctx, 3, SHAPE(2, 2, 3), 1.0f);
    sg2_tensor *b334 = sg2_tensor_full(ctx, 3, SHAPE(3, 3, 4), 1.0f);
    sg2_tensor *v3 = sg2_tensor_full(ctx, 1, SHAPE(3), 1.0f);
    struct {
        sg2_tensor *a, *b;
        int ta, tb;
        const char *what;
    } cases[] = {
        {a23, b43, 0, 0, "inner sizes 3 vs 4"},
        {a23, b43, 1, 1, "inner sizes 2 vs 3 (both transposed)"},
        {a23, a223, 0, 0, "2-D with 3-D"},
        {a223, b334, 0, 0, "batch 2 vs 3"},
        {v3, v3, 0, 0, "1-D operands"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sg2_tensor *c = sg2_matmul(ctx, cases[i].a, cases[i].b, cases[i].ta, cases[i].tb);
        ck_assert_msg(c == NULL, "%s: expected failure", cases[i].what);
        ck_assert_msg(sg2_ctx_status(ctx) == SG2_ERR_SHAPE, "%s: status %d (%s)", cases[i].what,
                      (int)sg2_ctx_status(ctx), ctx->err.msg);
        ck_assert_msg(strstr(ctx->err.msg, "matmul") != NULL, "%s: message names the op: %s", cases[i].what,
                      ctx->err.msg);
        sg2_ctx_clear_error(ctx);
    }
    /* the same operands fit with b transposed: [2,3] @ [4,3]^T is [2,4] */
    sg2_tensor *ok = sg2_matmul(ctx, a23, b43, 0, 1);
    ck_assert_msg(ok != NULL, "a @ b^T: %s", ctx->err.msg);
    ck_assert_int_eq(ok->shape[0], 2);
    ck_assert_int_eq(ok->shape[1], 4);
    /* NULL input and a bad backend name */
    ck_assert_ptr_null(sg2_matmul(ctx, NULL, b43, 0, 0));
    ck_assert_int_eq(sg2_ctx_status(ctx), SG2_ERR_ARG);
    sg2_ctx_clear_error(ctx);
    setenv("SG2_GEMM", "fastest", 1);
    ck_assert_ptr_null(sg2_matmul(ctx, a23, b43, 0, 1));
    ck_assert_int_eq(sg2_ctx_status(ctx), SG2_ERR_ARG);
    use_backend(0);
    sg2_ctx_clear_error(ctx);
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

static Suite *matmul_suite(void)
{
    Suite *s = suite_create("matmul");
    TCase *tc = tcase_create("matmul");
    tcase_set_timeout(tc, 120); /* CLBlast's first compile takes 10-30 s on PoCL */
    tcase_add_test(tc, test_matmul_forward_clblast);
    tcase_add_test(tc, test_matmul_forward_own);
    tcase_add_test(tc, test_matmul_forward_own_local);
    tcase_add_test(tc, test_matmul_forward_small);
    tcase_add_test(tc, test_matmul_backends_agree);
    tcase_add_test(tc, test_matmul_grad_clblast);
    tcase_add_test(tc, test_matmul_grad_own);
    tcase_add_test(tc, test_matmul_second_order_clblast);
    tcase_add_test(tc, test_matmul_second_order_own);
    tcase_add_test(tc, test_matmul_bad_shapes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return sg2_test_run(matmul_suite()) != 0;
}
