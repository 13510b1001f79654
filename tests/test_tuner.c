/* The tuner: on a test-only kernel whose macros include a value that
 * computes a wrong result and one that does not compile, the search picks
 * a valid, correct candidate and rejects the others; the cache round-trips
 * through its JSON file, a damaged file is refused with one warning line
 * and defaults; SG2_TUNE=0 ignores the cache; local sizes are clamped; and
 * every candidate of every registered op family gives the default's output
 * on an odd shape (the defaults themselves are checked against the double
 * reference by test_upfirdn2d and test_bias_act). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/tuner.h"
#include "src/tune.h"
#include "tests/test_util.h"

static char cache_dir[64];

/* y = 2x + 1, TT_ITEMS per work-item; TT_BUG adds an error, TT_BROKEN does not compile. */
static const char *test_kernel =
    "#ifndef TT_ITEMS\n#define TT_ITEMS 1\n#endif\n"
    "#ifndef TT_BUG\n#define TT_BUG 0\n#endif\n"
    "#ifndef TT_BROKEN\n#define TT_BROKEN 0\n#endif\n"
    "#if TT_BROKEN\nthis does not compile\n#endif\n"
    "__kernel void tt(int n, __global const float *x, __global float *y) {\n"
    "  for (int j = 0; j < TT_ITEMS; j++) {\n"
    "    int i = get_global_id(0) * TT_ITEMS + j;\n"
    "    if (i < n) y[i] = 2.0f * x[i] + 1.0f + (TT_BUG ? 1e-2f : 0.0f);\n"
    "  }\n}\n";

#define TT_N 1000

typedef struct tt_state {
    sg2_runtime *rt;
    cl_mem x, y;
    int max_wg_launched; /* largest TT_WG any launch used */
    int launches;
} tt_state;

static sg2_status tt_launch(void *user, const char *options, sg2_error *err)
{
    tt_state *s = user;
    cl_int rc;
    cl_program prog = clCreateProgramWithSource(s->rt->context, 1, &test_kernel, NULL, &rc);
    if (sg2_cl_check(err, rc, "clCreateProgramWithSource", "tt"))
        return SG2_ERR_OPENCL;
    rc = clBuildProgram(prog, 1, &s->rt->dev.id, options, NULL, NULL);
    if (rc != CL_SUCCESS) {
        clReleaseProgram(prog);
        return sg2_error_set(err, SG2_ERR_BUILD, "tt: build failed with '%s'", options);
    }
    cl_kernel k = clCreateKernel(prog, "tt", &rc);
    int n = TT_N, items = sg2_tune_option_value(options, "TT_ITEMS", 1);
    size_t local = (size_t)sg2_tune_option_value(options, "TT_WG", 8);
    if (local > (size_t)s->max_wg_launched)
        s->max_wg_launched = (int)local;
    size_t global = ((size_t)(n + items - 1) / (size_t)items + local - 1) / local * local;
    if (rc == CL_SUCCESS) {
        clSetKernelArg(k, 0, sizeof n, &n);
        clSetKernelArg(k, 1, sizeof s->x, &s->x);
        clSetKernelArg(k, 2, sizeof s->y, &s->y);
        rc = clEnqueueNDRangeKernel(s->rt->queue, k, 1, NULL, &global, &local, 0, NULL, NULL);
        clReleaseKernel(k);
    }
    clFinish(s->rt->queue);
    clReleaseProgram(prog);
    s->launches++;
    return sg2_cl_check(err, rc, "clEnqueueNDRangeKernel", "tt");
}

static sg2_status tt_read(void *user, float *out, sg2_error *err)
{
    tt_state *s = user;
    cl_int rc = clEnqueueReadBuffer(s->rt->queue, s->y, CL_TRUE, 0, TT_N * sizeof(float), out, 0, NULL, NULL);
    return sg2_cl_check(err, rc, "clEnqueueReadBuffer", "tt");
}

static int tt_valid(const int *v, const void *user)
{
    (void)user;
    return v[0] <= 16; /* TT_WG = 32 is ruled out before it is built */
}

static const sg2_tune_space tt_space = {
    4,
    {{"TT_WG", 3, {8, 16, 32}}, {"TT_ITEMS", 2, {1, 4}}, {"TT_BUG", 2, {0, 1}}, {"TT_BROKEN", 2, {0, 1}}},
    tt_valid,
};

/* The tuned test kernel under key "tt/test": a full search of its 24 combinations. */
static sg2_tune_result run_tt_search(void)
{
    sg2_ctx *ctx = sg2_test_ctx();
    float xh[TT_N];
    for (int i = 0; i < TT_N; i++)
        xh[i] = (float)sin(0.1 * i);
    tt_state s = {.rt = ctx->rt};
    cl_int rc;
    s.x = clCreateBuffer(ctx->rt->context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof xh, xh, &rc);
    ck_assert_int_eq(rc, CL_SUCCESS);
    s.y = clCreateBuffer(ctx->rt->context, CL_MEM_READ_WRITE, sizeof xh, NULL, &rc);
    ck_assert_int_eq(rc, CL_SUCCESS);
    sg2_tune_workload w = {.user = &s, .n_out = TT_N, .launch = tt_launch, .read = tt_read};
    sg2_tune_result r;
    sg2_error err = {0};
    ck_assert_msg(sg2_tuner_search(ctx->rt, "tt/test", &tt_space, NULL, &w, 600.0, &r, &err) == SG2_OK, "%s",
                  err.msg);
    /* The default's output is the reference: check it independently. */
    float yh[TT_N];
    ck_assert_int_eq(tt_read(&s, yh, &err), SG2_OK);
    for (int i = 0; i < TT_N; i++)
        ck_assert_msg(fabs(yh[i] - (2.0 * sin(0.1 * i) + 1.0)) <= 1e-5, "y[%d] = %g", i, (double)yh[i]);
    clReleaseMemObject(s.x);
    clReleaseMemObject(s.y);
    ck_assert_int_le(s.max_wg_launched, 16);
    return r;
}

START_TEST(search_rejects_wrong_and_broken)
{
    sg2_tune_result r = run_tt_search();
    /* 24 combinations, 8 with TT_WG = 32 invalid, 1 the default: of the 15
     * others, 4 wrong (BUG only) and 8 that do not build. */
    ck_assert_int_eq(r.rejected, 4);
    ck_assert_int_eq(r.failed, 8);
    ck_assert_int_eq(r.tried, 3);
    for (int i = 0; i < r.n_params; i++) {
        if (strcmp(r.names[i], "TT_BUG") == 0 || strcmp(r.names[i], "TT_BROKEN") == 0)
            ck_assert_int_eq(r.values[i], 0);
        if (strcmp(r.names[i], "TT_WG") == 0)
            ck_assert_int_le(r.values[i], 16);
    }
    ck_assert(r.default_us > 0 && r.tuned_us > 0 && r.tuned_us <= r.default_us);
    ck_assert_str_eq(r.key, "tt/test");
}
END_TEST

/* A cached entry with chosen defines, as the search would leave it. */
static void seed_entry(void)
{
    sg2_ctx *ctx = sg2_test_ctx();
    sg2_tuner_reset();
    run_tt_search();
    sg2_error err = {0};
    ck_assert_msg(sg2_tuner_save(&ctx->rt->dev, &err) == SG2_OK, "%s", err.msg);
}

START_TEST(cache_round_trip)
{
    sg2_ctx *ctx = sg2_test_ctx();
    seed_entry();
    sg2_tune_result before, after;
    ck_assert(sg2_tuner_get(&ctx->rt->dev, "tt/test", &before));
    sg2_tuner_reset(); /* forget: the next lookup reads the file */
    ck_assert(sg2_tuner_get(&ctx->rt->dev, "tt/test", &after));
    ck_assert_str_eq(before.options, after.options);
    ck_assert_int_eq(before.n_params, after.n_params);
    ck_assert(fabs(before.default_us - after.default_us) <= 1e-6 * before.default_us);
    ck_assert(fabs(before.tuned_us - after.tuned_us) <= 1e-6 * before.tuned_us);
    char opts[SG2_TUNE_OPTS_LEN];
    ck_assert(sg2_tuner_lookup(&ctx->rt->dev, "tt/test", opts, sizeof opts));
    ck_assert_str_eq(opts, before.options);
    ck_assert(!sg2_tuner_lookup(&ctx->rt->dev, "tt/missing", opts, sizeof opts));
    setenv("SG2_TUNE", "0", 1);
    ck_assert(!sg2_tuner_lookup(&ctx->rt->dev, "tt/test", opts, sizeof opts));
    unsetenv("SG2_TUNE");
}
END_TEST

/* Write `text` as the cache file, reload, and return what stderr received. */
static void reload_damaged(const char *text, char *log, size_t cap)
{
    sg2_ctx *ctx = sg2_test_ctx();
    char path[1100], logpath[128];
    ck_assert(sg2_tuner_cache_path(&ctx->rt->dev, path, sizeof path));
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    sg2_tuner_reset();
    snprintf(logpath, sizeof logpath, "%s/stderr.txt", cache_dir);
    fflush(stderr);
    int saved = dup(fileno(stderr));
    ck_assert_ptr_nonnull(freopen(logpath, "w", stderr));
    char opts[SG2_TUNE_OPTS_LEN];
    int found = sg2_tuner_lookup(&ctx->rt->dev, "tt/test", opts, sizeof opts);
    fflush(stderr);
    dup2(saved, fileno(stderr));
    close(saved);
    ck_assert(!found);
    f = fopen(logpath, "r");
    size_t n = fread(log, 1, cap - 1, f);
    log[n] = '\0';
    fclose(f);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

START_TEST(damaged_cache_falls_back)
{
    const char *damaged[] = {
        "{\"format\": 1, \"entries\": {\"tt/test\": {\"defines\": {\"TT_WG\": 16}, \"default_us\"",
        "[1, 2, 3]",
        "{\"format\": 1, \"entries\": {\"tt/test\": {\"defines\": {\"TT_WG -cl-opt-disable\": 16},"
        " \"default_us\": 1.0, \"tuned_us\": 1.0}}}",
        "{\"format\": 1, \"entries\": {\"tt/test\": {\"defines\": {\"TT_WG\": \"16\"},"
        " \"default_us\": 1.0, \"tuned_us\": 1.0}}}",
    };
    for (size_t i = 0; i < sizeof damaged / sizeof damaged[0]; i++) {
        char log[2048];
        reload_damaged(damaged[i], log, sizeof log);
        ck_assert_msg(count_lines(log) == 1 && strstr(log, "damaged tuning cache"), "case %zu: '%s'", i, log);
    }
    char path[1100];
    ck_assert(sg2_tuner_cache_path(&sg2_test_ctx()->rt->dev, path, sizeof path));
    remove(path);
    sg2_tuner_reset();
}
END_TEST

/* A cache of 40 entries (the table's hash index grows past its first 16
 * slots while loading): each key finds its own options, a missing key none;
 * then a file whose 20 good entries are followed by a damaged one: none of
 * them is kept. */
static void write_entries(const char *path, int n, int damaged)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"format\": 1, \"entries\": {", f);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s\"tt/k%d\": {\"defines\": {\"TT_WG\": %d}, \"default_us\": 2.0, \"tuned_us\": 1.0}",
                i ? ", " : "", i, i + 1);
    if (damaged)
        fputs(", \"tt/bad\": {\"defines\": {\"TT_WG\": \"x\"}, \"default_us\": 1.0, \"tuned_us\": 1.0}", f);
    fputs("}}", f);
    fclose(f);
}

START_TEST(cache_many_entries)
{
    sg2_ctx *ctx = sg2_test_ctx();
    char path[1100], key[32], want[32], opts[SG2_TUNE_OPTS_LEN];
    ck_assert(sg2_tuner_cache_path(&ctx->rt->dev, path, sizeof path));
    write_entries(path, 40, 0);
    sg2_tuner_reset();
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "tt/k%d", i);
        snprintf(want, sizeof want, "-DTT_WG=%d", i + 1);
        ck_assert_msg(sg2_tuner_lookup(&ctx->rt->dev, key, opts, sizeof opts), "%s missing", key);
        ck_assert_str_eq(opts, want);
    }
    ck_assert(!sg2_tuner_lookup(&ctx->rt->dev, "tt/k40", opts, sizeof opts));
    write_entries(path, 20, 1);
    sg2_tuner_reset();
    fflush(stderr);
    int saved = dup(fileno(stderr));
    ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr));
    int found = sg2_tuner_lookup(&ctx->rt->dev, "tt/k3", opts, sizeof opts);
    fflush(stderr);
    dup2(saved, fileno(stderr));
    close(saved);
    ck_assert(!found);
    remove(path);
    sg2_tuner_reset();
}
END_TEST

/* Write a one-entry cache for upfirdn2d at dims and return what the op would use. */
static void options_from_cache(const char *defines, const int *dims, char *opts, size_t cap)
{
    sg2_ctx *ctx = sg2_test_ctx();
    char path[1100], key[SG2_TUNE_KEY_LEN];
    ck_assert(sg2_tuner_cache_path(&ctx->rt->dev, path, sizeof path));
    sg2_tune_key(&sg2_tune_family_upfirdn2d, dims, key, sizeof key);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "{\"format\": 1, \"entries\": {\"%s\": {\"defines\": %s, \"default_us\": 2.0,"
               " \"tuned_us\": 1.0}}}", key, defines);
    fclose(f);
    sg2_tuner_reset();
    sg2_tune_options(ctx, &sg2_tune_family_upfirdn2d, dims, opts, cap);
}

START_TEST(cached_values_outside_space_ignored)
{
    const int dims[SG2_TUNE_DIMS] = {3, 13, 11, 2, 1, 2, 1, 4};
    char opts[SG2_TUNE_OPTS_LEN];
    options_from_cache("{\"UPF_PX\": 2, \"UPF_SPEC\": 1, \"UPF_ROWS\": 0}", dims, opts, sizeof opts);
    ck_assert_str_eq(opts, "-DUPF_PX=2 -DUPF_SPEC=1 -DUPF_ROWS=0");
    /* Valid values, but not together: the rows kernel reads no UPF_PX. */
    options_from_cache("{\"UPF_PX\": 2, \"UPF_ROWS\": 8}", dims, opts, sizeof opts);
    ck_assert_str_eq(opts, "");
    options_from_cache("{\"UPF_PX\": 0}", dims, opts, sizeof opts);
    ck_assert_str_eq(opts, "");
    options_from_cache("{\"UPF_UNKNOWN\": 1}", dims, opts, sizeof opts);
    ck_assert_str_eq(opts, "");
    options_from_cache("{\"UPF_WG\": 1000000}", dims, opts, sizeof opts); /* above the device's limit */
    ck_assert_str_eq(opts, "");
    char path[1100];
    ck_assert(sg2_tuner_cache_path(&sg2_test_ctx()->rt->dev, path, sizeof path));
    remove(path);
    sg2_tuner_reset();
}
END_TEST

START_TEST(local_size_clamped)
{
    size_t l3[3] = {64, 4, 1};
    sg2_tune_clamp_local(l3, 3, 16);
    ck_assert_uint_le(l3[0] * l3[1] * l3[2], 16);
    ck_assert_uint_ge(l3[0] * l3[1] * l3[2], 8);
    size_t l1 = 256;
    sg2_tune_clamp_local(&l1, 1, 1);
    ck_assert_uint_eq(l1, 1);
    l1 = 32;
    sg2_tune_clamp_local(&l1, 1, 256);
    ck_assert_uint_eq(l1, 32);
    ck_assert_int_eq(sg2_tune_option_value("-DUPF_WG=128 -DUPF_PX=4", "UPF_PX", 1), 4);
    ck_assert_int_eq(sg2_tune_option_value("-DUPF_WG=128 -DUPF_PX=4", "UPF_WG", 64), 128);
    ck_assert_int_eq(sg2_tune_option_value("-DUPF_WGX=2", "UPF_WG", 64), 64);
    ck_assert_int_eq(sg2_tune_option_value("", "UPF_WG", 64), 64);
}
END_TEST

/* Every candidate of every family, on an odd shape, gives the default's
 * output: nothing rejected, nothing failing. Where `builds` is set, the
 * candidates must also have built programs of their own, so agreeing is not
 * merely the op ignoring its tuned options. */
START_TEST(families_agree_with_defaults)
{
    static const struct {
        const char *name;
        int dims[SG2_TUNE_DIMS];
        int builds;
    } shapes[] = {{"upfirdn2d", {3, 13, 11, 2, 1, 2, 1, 4}, 0},
                  {"upfirdn2d", {2, 17, 19, 1, 2, 1, 1, 4}, 0},
                  {"bias_act", {3, 5, 37, 1, 1}, 0},
                  {"bias_act", {3, 5, 40, 1, 1}, 0}, /* planes of whole vectors */
                  {"bias_act_grad", {1001}, 0},
                  {"bias_act_grad", {1000}, 0},
                  {"reduce_sum", {3, 7, 131}, 0},
                  {"reduce_sum", {2, 37, 5}, 0},
                  /* {N, Cin, Cout, H, W, k, stride, groups}: grouped, stride 2, 1x1 to 3 */
                  {"conv2d", {2, 10, 14, 11, 13, 3, 1, 2}, 1},
                  {"conv2d", {3, 5, 7, 13, 10, 3, 2, 1}, 0},
                  {"conv2d", {2, 6, 3, 9, 19, 1, 1, 1}, 0},
                  {"conv_transpose2d", {2, 6, 10, 7, 5, 3, 2, 2}, 1},
                  {"conv2d_wgrad", {2, 10, 14, 11, 13, 3, 1, 2}, 1},
                  {"conv2d_wgrad", {3, 5, 7, 13, 10, 3, 2, 1}, 0},
                  /* {batch, M, N, K, ta, tb} */
                  {"gemm", {1, 13, 37, 19, 0, 1}, 1},
                  {"gemm", {3, 7, 29, 33, 1, 0}, 0}};
    sg2_ctx *ctx = sg2_test_ctx();
    for (int i = 0; sg2_tune_families[i]; i++) {
        int covered = 0;
        for (size_t j = 0; j < sizeof shapes / sizeof shapes[0]; j++) {
            if (strcmp(shapes[j].name, sg2_tune_families[i]->name) != 0)
                continue;
            sg2_tune_result r;
            sg2_error err = {0};
            int programs = ctx->rt->n_programs;
            ck_assert_msg(sg2_tune_shape(ctx->rt, sg2_tune_families[i], shapes[j].dims, 600.0, &r, &err) == SG2_OK,
                          "%s", err.msg);
            ck_assert_msg(r.rejected == 0 && r.failed == 0, "%s: %d rejected, %d failed", r.key, r.rejected,
                          r.failed);
            ck_assert_int_ge(r.tried, sg2_tune_families[i]->space->n_params > 1 ? 10 : 4);
            if (shapes[j].builds)
                ck_assert_msg(ctx->rt->n_programs >= programs + 3, "%s: candidates built %d programs", r.key,
                              ctx->rt->n_programs - programs);
            covered = 1;
        }
        if (!covered)
            fprintf(stderr, "test_tuner: note: family %s has no shape here\n", sg2_tune_families[i]->name);
    }
    sg2_tuner_reset();
}
END_TEST

static Suite *tuner_suite(void)
{
    Suite *s = suite_create("tuner");
    TCase *tc = tcase_create("tuner");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, search_rejects_wrong_and_broken);
    tcase_add_test(tc, cache_round_trip);
    tcase_add_test(tc, damaged_cache_falls_back);
    tcase_add_test(tc, cache_many_entries);
    tcase_add_test(tc, cached_values_outside_space_ignored);
    tcase_add_test(tc, local_size_clamped);
    tcase_add_test(tc, families_agree_with_defaults);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    /* A private cache directory: the user's tuning results stay untouched. */
    snprintf(cache_dir, sizeof cache_dir, "/tmp/sg2-test-tuner-XXXXXX");
    if (!mkdtemp(cache_dir))
        return 1;
    setenv("SG2_CACHE_DIR", cache_dir, 1);
    setenv("SG2_TUNE_BUDGET", "0", 1);
    int failures = sg2_test_run(tuner_suite());
    sg2_test_ctx_free();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_tuner: could not remove %s\n", cache_dir);
    return failures ? 1 : 0;
}
