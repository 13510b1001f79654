/* Random streams: Philox known answers through the uniform stream, uniform
 * values bit-equal to the reference (they are exact multiples of 2^-24),
 * normal values within the tolerance policy, the stream's continuation
 * across calls, seeds, 64-bit counters and seeds, moments over 1e5 samples,
 * no gradients, bad shapes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "src/ref/ref.h"
#include "tests/test_util.h"

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})

/* Device values must equal the reference exactly. */
static void assert_exact(sg2_ctx *ctx, const sg2_tensor *t, const double *ref, long n, const char *what)
{
    ck_assert_msg(t != NULL, "%s: %s", what, ctx->err.msg);
    ck_assert_int_eq(t->numel, n);
    double *got = sg2_test_read(ctx, t);
    for (long i = 0; i < n; i++)
        ck_assert_msg(got[i] == (double)(float)ref[i], "%s: [%ld] got %.9g want %.9g", what, i, got[i], ref[i]);
    free(got);
}

START_TEST(test_random_philox_known_answers)
{
    /* Random123's kat_vectors for philox4x32_10: counter 0, key 0. Uniform
     * element j of seed 0 is word j of block 0, so the first four uniforms
     * are those words >> 8, times 2^-24. */
    static const uint32_t kat[4] = {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u};
    static const uint32_t ctr[4] = {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u};
    static const uint32_t key[2] = {0xa4093822u, 0x299f31d0u};
    static const uint32_t kat2[4] = {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u};
    uint32_t out[4];
    sg2_ref_philox4x32_10(out, ctr, key);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(out[i] == kat2[i], "reference philox word %d: %08x want %08x", i, out[i], kat2[i]);
    sg2_ctx *ctx = sg2_test_ctx();
    size_t mark = sg2_scope_begin(ctx);
    sg2_random_seed(ctx, 0);
    double want[4];
    for (int i = 0; i < 4; i++)
        want[i] = (double)(kat[i] >> 8) / 16777216.0;
    assert_exact(ctx, sg2_rand_uniform(ctx, 1, SHAPE(4)), want, 4, "philox(0, 0) through rand_uniform");
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

START_TEST(test_random_uniform_reference)
{
    sg2_ctx *ctx = sg2_test_ctx();
    enum { A = 3, B = 5, C = 7, D = 101 };
    double ref[A * B * C];
    size_t mark = sg2_scope_begin(ctx);
    sg2_random_seed(ctx, 1234);
    sg2_tensor *t = sg2_rand_uniform(ctx, 3, SHAPE(A, B, C));
    ck_assert_int_eq(t->ndim, 3);
    ck_assert_int_eq(t->shape[2], C);
    sg2_ref_rand_uniform(ref, A * B * C, 1234, 0);
    assert_exact(ctx, t, ref, A * B * C, "uniform [3,5,7]");
    ck_assert(ctx->rng_offset == A * B * C);
    /* the next call starts mid-block (105 % 4 = 1) */
    sg2_ref_rand_uniform(ref, D, 1234, A * B * C);
    assert_exact(ctx, sg2_rand_uniform(ctx, 1, SHAPE(D)), ref, D, "uniform at offset 105");
    /* a 0-d tensor is one number */
    sg2_ref_rand_uniform(ref, 1, 1234, A * B * C + D);
    assert_exact(ctx, sg2_rand_uniform(ctx, 0, NULL), ref, 1, "uniform scalar");
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

START_TEST(test_random_uniform_continues)
{
    /* n then m numbers equal n + m numbers at once; the two calls differ. */
    enum { N1 = 13, N2 = 29 };
    sg2_ctx *ctx = sg2_test_ctx();
    size_t mark = sg2_scope_begin(ctx);
    sg2_random_seed(ctx, 99);
    double *a = sg2_test_read(ctx, sg2_rand_uniform(ctx, 1, SHAPE(N1)));
    double *b = sg2_test_read(ctx, sg2_rand_uniform(ctx, 2, SHAPE(N2, 1)));
    sg2_random_seed(ctx, 99);
    double *all = sg2_test_read(ctx, sg2_rand_uniform(ctx, 1, SHAPE(N1 + N2)));
    for (int i = 0; i < N1; i++)
        ck_assert_msg(a[i] == all[i], "first call [%d]: %.9g vs %.9g", i, a[i], all[i]);
    for (int i = 0; i < N2; i++)
        ck_assert_msg(b[i] == all[N1 + i], "second call [%d]: %.9g vs %.9g", i, b[i], all[N1 + i]);
    int same = 0;
    for (int i = 0; i < N1; i++)
        same += a[i] == b[i];
    ck_assert_msg(same < 2, "successive calls repeat %d numbers", same);
    free(a);
    free(b);
    free(all);
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

START_TEST(test_random_seeds)
{
    enum { N = 64 };
    sg2_ctx *ctx = sg2_test_ctx();
    size_t mark = sg2_scope_begin(ctx);
    double *x[3], *z[3];
    const uint64_t seeds[3] = {7, 7, 8};
    for (int s = 0; s < 3; s++) {
        sg2_random_seed(ctx, seeds[s]);
        x[s] = sg2_test_read(ctx, sg2_rand_uniform(ctx, 1, SHAPE(N)));
        z[s] = sg2_test_read(ctx, sg2_rand_normal(ctx, 1, SHAPE(N)));
    }
    ck_assert(memcmp(x[0], x[1], sizeof(double) * N) == 0);
    ck_assert(memcmp(z[0], z[1], sizeof(double) * N) == 0);
    int same_u = 0, same_n = 0;
    for (int i = 0; i < N; i++) {
        same_u += x[0][i] == x[2][i];
        same_n += z[0][i] == z[2][i];
    }
    ck_assert_msg(same_u < 2 && same_n < 2, "seeds 7 and 8 share %d uniforms, %d normals", same_u, same_n);
    for (int s = 0; s < 3; s++) {
        free(x[s]);
        free(z[s]);
    }
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

START_TEST(test_random_normal_reference)
{
    enum { N1 = 1001, N2 = 10, N3 = 7 };
    sg2_ctx *ctx = sg2_test_ctx();
    double ref[N1];
    size_t mark = sg2_scope_begin(ctx);
    sg2_random_seed(ctx, 2024);
    sg2_ref_rand_normal(ref, N1, 2024, 0);
    sg2_test_assert_close(ctx, sg2_rand_normal(ctx, 1, SHAPE(N1)), ref, N1, "normal 1001");
    /* an odd count rounds the position up to whole pairs */
    ck_assert(ctx->rng_offset == N1 + 1);
    sg2_ref_rand_normal(ref, N2, 2024, N1 + 1);
    sg2_test_assert_close(ctx, sg2_rand_normal(ctx, 2, SHAPE(2, 5)), ref, N2, "normal after 1001");
    /* after an odd number of uniforms a normal draw starts on the next pair */
    sg2_rand_uniform(ctx, 1, SHAPE(3));
    ck_assert(ctx->rng_offset == N1 + 1 + N2 + 3);
    sg2_ref_rand_normal(ref, N3, 2024, N1 + 1 + N2 + 4);
    sg2_test_assert_close(ctx, sg2_rand_normal(ctx, 1, SHAPE(N3)), ref, N3, "normal after 3 uniforms");
    ck_assert(ctx->rng_offset == N1 + 1 + N2 + 4 + N3 + 1);
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

START_TEST(test_random_64bit_counters)
{
    /* A seed using both key words, and a position whose block counter
     * crosses 2^32 within the call (carry into ctr1). */
    enum { N = 40 };
    const uint64_t seed = 0x0123456789abcdefull;
    const uint64_t offset = 4 * (((uint64_t)1 << 32) - 3) + 1;
    sg2_ctx *ctx = sg2_test_ctx();
    double ref[N];
    size_t mark = sg2_scope_begin(ctx);
    sg2_random_seed(ctx, seed);
    ctx->rng_offset = offset;
    sg2_ref_rand_uniform(ref, N, seed, offset);
    assert_exact(ctx, sg2_rand_uniform(ctx, 1, SHAPE(N)), ref, N, "uniform across 2^32 blocks");
    ctx->rng_offset = offset + 1; /* even: the normal draw starts right there */
    sg2_ref_rand_normal(ref, N, seed, offset + 1);
    sg2_test_assert_close(ctx, sg2_rand_normal(ctx, 1, SHAPE(N)), ref, N, "normal across 2^32 blocks");
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

START_TEST(test_random_moments)
{
    /* 1e5 samples: mean and variance within 5 standard errors. */
    enum { N = 100000 };
    sg2_ctx *ctx = sg2_test_ctx();
    size_t mark = sg2_scope_begin(ctx);
    sg2_random_seed(ctx, 31337);
    double *u = sg2_test_read(ctx, sg2_rand_uniform(ctx, 2, SHAPE(100, 1000)));
    double *z = sg2_test_read(ctx, sg2_rand_normal(ctx, 2, SHAPE(1000, 100)));
    double um = 0, uv = 0, zm = 0, zv = 0;
    for (long i = 0; i < N; i++) {
        ck_assert_msg(u[i] >= 0.0 && u[i] < 1.0, "uniform [%ld] = %.9g outside [0, 1)", i, u[i]);
        ck_assert_msg(isfinite(z[i]), "normal [%ld] = %g", i, z[i]);
        um += u[i];
        zm += z[i];
    }
    um /= N;
    zm /= N;
    for (long i = 0; i < N; i++) {
        uv += (u[i] - um) * (u[i] - um);
        zv += (z[i] - zm) * (z[i] - zm);
    }
    uv /= N - 1;
    zv /= N - 1;
    double se = 1.0 / sqrt((double)N);
    ck_assert_msg(fabs(um - 0.5) < 5 * se * sqrt(1.0 / 12), "uniform mean %.5f", um);
    ck_assert_msg(fabs(uv - 1.0 / 12) < 5 * se * sqrt(1.0 / 180), "uniform variance %.5f", uv);
    ck_assert_msg(fabs(zm) < 5 * se, "normal mean %.5f", zm);
    ck_assert_msg(fabs(zv - 1.0) < 5 * se * sqrt(2.0), "normal variance %.5f", zv);
    free(u);
    free(z);
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

START_TEST(test_random_no_grad_and_bad_shape)
{
    sg2_ctx *ctx = sg2_test_ctx();
    size_t mark = sg2_scope_begin(ctx);
    ck_assert(ctx->grad_enabled);
    sg2_tensor *u = sg2_rand_uniform(ctx, 1, SHAPE(5)), *z = sg2_rand_normal(ctx, 1, SHAPE(5));
    ck_assert(u && z);
    ck_assert(!u->requires_grad && !u->grad_fn && !z->requires_grad && !z->grad_fn);
    /* a failed draw leaves the stream where it was */
    uint64_t before = ctx->rng_offset;
    ck_assert_ptr_null(sg2_rand_uniform(ctx, 2, SHAPE(3, 0)));
    ck_assert_int_eq(sg2_ctx_status(ctx), SG2_ERR_SHAPE);
    sg2_ctx_clear_error(ctx);
    ck_assert_ptr_null(sg2_rand_normal(ctx, 7, SHAPE(1, 1, 1, 1, 1, 1, 1)));
    ck_assert_int_eq(sg2_ctx_status(ctx), SG2_ERR_SHAPE);
    sg2_ctx_clear_error(ctx);
    ck_assert_ptr_null(sg2_rand_uniform(ctx, 2, NULL));
    ck_assert_int_eq(sg2_ctx_status(ctx), SG2_ERR_ARG);
    sg2_ctx_clear_error(ctx);
    ck_assert(ctx->rng_offset == before);
    sg2_scope_end(ctx, mark, NULL, 0);
}
END_TEST

static Suite *random_suite(void)
{
    Suite *s = suite_create("random");
    TCase *tc = tcase_create("random");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_random_philox_known_answers);
    tcase_add_test(tc, test_random_uniform_reference);
    tcase_add_test(tc, test_random_uniform_continues);
    tcase_add_test(tc, test_random_seeds);
    tcase_add_test(tc, test_random_normal_reference);
    tcase_add_test(tc, test_random_64bit_counters);
    tcase_add_test(tc, test_random_moments);
    tcase_add_test(tc, test_random_no_grad_and_bad_shape);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return sg2_test_run(random_suite()) != 0;
}
