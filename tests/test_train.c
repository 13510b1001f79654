/* Training at tiny sizes: one Adam step and one EMA step against their
 * formulas, the lazy-regularization arithmetic, the R1 and path-length
 * phases' parameter gradients against finite differences of their
 * penalties, and resume identity (interrupted + resumed == uninterrupted). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/checkpoint.h"
#include "src/optim.h"
#include "src/train.h"
#include "tests/test_util.h"

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})

START_TEST(test_lazy_ratio)
{
    float lr = 0.002f, b1 = 0.0f, b2 = 0.99f;
    sg2_adam_lazy_adjust(&lr, &b1, &b2, 4);
    ck_assert_float_eq_tol(lr, 0.0016f, 1e-9f);
    ck_assert_float_eq(b1, 0.0f);
    ck_assert_float_eq_tol(b2, (float)pow(0.99, 0.8), 1e-7f);
    ck_assert_float_eq_tol(b2, 0.991992f, 1e-6f); /* the value the reference's table gives */
    lr = 0.0025f, b2 = 0.99f;
    sg2_adam_lazy_adjust(&lr, &b1, &b2, 16);
    ck_assert_float_eq_tol(lr, 0.0025f * 16.0f / 17.0f, 1e-9f);
    ck_assert_float_eq_tol(b2, 0.990585f, 1e-6f);
    ck_assert_float_eq_tol((float)sg2_ema_beta(32, 10, 0, 1e9), 0.997784f, 1e-6f);
    /* ramp-up: ema_nimg = min(10000, 1000 * 0.05) = 50 */
    ck_assert_float_eq_tol((float)sg2_ema_beta(32, 10, 0.05, 1000), (float)pow(0.5, 32.0 / 50.0), 1e-7f);
}
END_TEST

/* _i = 0: Adam's interleaved layout (GPUs), 1: runs per work-item (CPUs). */
START_TEST(test_adam_and_ema_steps)
{
    setenv("SG2_ADAM_RUNS", _i ? "1" : "0", 1);
    sg2_ctx *ctx = sg2_test_ctx();
    size_t mark = sg2_scope_begin(ctx);
    sg2_params ps = {0};
    /* 1037 elements: many runs and a short last one (runs layout), and
     * more elements than work-items (interleaved layout); replaced values
     * in several runs, two in one, -inf both in a whole run and in the
     * tail. */
    enum { NE = 1037 };
    sg2_tensor *p = sg2_params_new(ctx, &ps, 1, SG2_INIT_CONST, 0.5f, 1, SHAPE(NE), "w");
    ck_assert_ptr_nonnull(p);
    sg2_adam opt;
    ck_assert(sg2_adam_init(ctx, &opt, &ps, 0.01f, 0.5f, 0.9f, 1e-8f) == SG2_OK);
    double g1[NE], g2[NE];
    sg2_test_uniform(g1, NE, -2, 2, 11);
    sg2_test_uniform(g2, NE, -3, 3, 12);
    g1[3] = NAN, g1[5] = NAN, g1[16] = INFINITY, g1[700] = NAN, g1[701] = -INFINITY, g1[1036] = -INFINITY;
    double m[NE] = {0}, v[NE] = {0}, want[NE];
    for (int i = 0; i < NE; i++)
        want[i] = 0.5;
    for (int step = 1; step <= 2; step++) {
        double *g = step == 1 ? g1 : g2;
        sg2_tensor *tg = sg2_test_tensor(ctx, 1, SHAPE(NE), g);
        long sanitized = -1;
        ck_assert(sg2_adam_step(ctx, &opt, &tg, &sanitized) == SG2_OK);
        ck_assert_int_eq(sanitized, step == 1 ? 6 : 0);
        for (int i = 0; i < NE; i++) {
            double gi = isnan(g[i]) ? 0.0 : isinf(g[i]) ? (g[i] > 0 ? 1e5 : -1e5) : g[i];
            m[i] = 0.5 * m[i] + 0.5 * gi;
            v[i] = 0.9 * v[i] + 0.1 * gi * gi;
            double bc1 = 1 - pow(0.5, step), bc2 = 1 - pow(0.9, step);
            want[i] -= 0.01 / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + 1e-8);
        }
        sg2_test_assert_close(ctx, p, want, NE, "adam");
    }
    /* EMA: e = p + beta (e - p) for trainable tensors, buffers copied */
    sg2_params ema = {0};
    sg2_tensor *e = sg2_params_new(ctx, &ema, 1, SG2_INIT_CONST, 2.0f, 1, SHAPE(NE), "w");
    ck_assert(sg2_ema_update(ctx, &ema, &ps, 0.75f) == SG2_OK);
    for (int i = 0; i < NE; i++)
        want[i] = want[i] + 0.75 * (2.0 - want[i]);
    sg2_test_assert_close(ctx, e, want, NE, "ema");
    sg2_adam_free(&opt);
    sg2_params_free(&ps);
    sg2_params_free(&ema);
    sg2_scope_end(ctx, mark, NULL, 0);
    unsetenv("SG2_ADAM_RUNS");
}
END_TEST

/* ---- tiny networks for the phases ---- */

enum { RES = 8, NB = 4 };

static void tiny_nets(sg2_ctx *ctx, sg2_generator *g, sg2_discriminator *d)
{
    sg2_g_config gc = sg2_g_config_default(RES, 1);
    gc.z_dim = gc.w_dim = 8;
    gc.map_layers = 2;
    gc.channel_base = 64;
    gc.channel_max = 8;
    sg2_d_config dc = sg2_d_config_default(RES, 1);
    dc.channel_base = 64;
    dc.channel_max = 8;
    dc.mbstd_group = 2;
    sg2_random_seed(ctx, 7);
    ck_assert_msg(sg2_generator_init(ctx, g, &gc) == SG2_OK, "%s", ctx->err.msg);
    ck_assert_msg(sg2_discriminator_init(ctx, d, &dc) == SG2_OK, "%s", ctx->err.msg);
    /* nonzero noise strengths and biases so every path carries signal */
    for (int i = 0; i < g->params.n; i++) {
        sg2_param *p = &g->params.items[i];
        if (strstr(p->name, "noise_strength") || strstr(p->name, ".bias")) {
            double v[64];
            sg2_test_uniform(v, p->t->numel, -0.3, 0.3, 100 + (uint64_t)i);
            float f[64];
            for (int k = 0; k < p->t->numel; k++)
                f[k] = (float)v[k] + (strstr(p->name, "affine.bias") ? 1.0f : 0.0f);
            sg2_tensor_write(ctx, p->t, f);
        }
    }
    sg2_params_set_requires_grad(&g->params, 1);
    sg2_params_set_requires_grad(&d->params, 1);
}

/* Value of the phase's reported regularizer mean, and its gradients in acc. */
static double run_phase(sg2_ctx *ctx, sg2_loss *loss, sg2_phase ph, sg2_tensor *reals, sg2_tensor *z, sg2_tensor **acc,
                        const char *stat)
{
    sg2_stats stats = {0};
    loss->stats = &stats;
    uint64_t off = ctx->rng_offset;
    ck_assert_msg(sg2_loss_phase(ctx, loss, ph, reals, NULL, z, NULL, 1.0f, acc) == SG2_OK, "%s", ctx->err.msg);
    ctx->rng_offset = off; /* every evaluation sees the same noise */
    loss->stats = NULL;
    return sg2_stats_mean(&stats, stat);
}

/* Directional derivative of the penalty along a random direction of some of
 * the module's parameters, against the phase's gradient. The direction moves
 * only layers after the last lrelu (or with linear outputs): the penalties
 * are gradients of piecewise-linear networks, so a step that flips an
 * activation's sign would jump, and finite differences would measure the
 * jump instead of the derivative. */
static int in_direction(const char *name, const char *const *moved)
{
    if (!moved)
        return 1; /* every parameter (first-order losses: kinks are crossed only by chance) */
    for (; *moved; moved++)
        if (strcmp(name, *moved) == 0)
            return 1;
    return 0;
}

static void check_phase_grad(sg2_phase ph, const char *stat, const char *const *moved)
{
    sg2_ctx *ctx = sg2_test_ctx();
    sg2_generator g;
    sg2_discriminator d;
    tiny_nets(ctx, &g, &d);
    size_t mark = sg2_scope_begin(ctx);
    sg2_loss loss = {.cfg = sg2_loss_cfg_default(), .G = &g, .D = &d, .pl_mean = 0.05f};
    loss.cfg.style_mixing_prob = 0;
    loss.cfg.pl_decay = 0; /* hold pl_mean: the gradient treats it as a constant */
    loss.cfg.r1_gamma = 1.0f;
    double rv[NB * RES * RES];
    sg2_test_uniform(rv, NB * RES * RES, -1, 1, 5);
    sg2_tensor *reals = sg2_test_tensor(ctx, 4, SHAPE(NB, 1, RES, RES), rv);
    sg2_tensor *z = sg2_rand_normal(ctx, 2, SHAPE(NB, 8));
    sg2_params *ps = ph == SG2_PHASE_DREG || ph == SG2_PHASE_DMAIN ? &d.params : &g.params;
    sg2_tensor **acc = calloc((size_t)ps->n, sizeof *acc);
    double p0 = run_phase(ctx, &loss, ph, reals, z, acc, stat);
    ck_assert_msg(isfinite(p0) && p0 > 0, "penalty %g", p0);
    /* direction: random, scaled to each tensor's size; dot with the gradient */
    double dot = 0;
    float **dirs = calloc((size_t)ps->n, sizeof *dirs), **orig = calloc((size_t)ps->n, sizeof *orig);
    for (int i = 0; i < ps->n; i++) {
        if (!acc[i] || !in_direction(ps->items[i].name, moved))
            continue;
        long n = (long)ps->items[i].t->numel;
        double *r = malloc((size_t)n * sizeof *r), *gr = sg2_test_read(ctx, acc[i]);
        dirs[i] = malloc((size_t)n * sizeof **dirs);
        orig[i] = malloc((size_t)n * sizeof **orig);
        sg2_tensor_read(ctx, ps->items[i].t, orig[i]);
        sg2_test_uniform(r, n, -1, 1, 900 + (uint64_t)i);
        for (long k = 0; k < n; k++) {
            dirs[i][k] = (float)r[k];
            dot += r[k] * gr[k];
        }
        free(r);
        free(gr);
    }
    sg2_grads_release(acc, ps->n);
    double h = 1e-3, vals[2];
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < ps->n; i++) {
            if (!dirs[i])
                continue;
            long n = (long)ps->items[i].t->numel;
            float *buf = malloc((size_t)n * sizeof *buf);
            for (long k = 0; k < n; k++)
                buf[k] = orig[i][k] + (float)((s ? -h : h) * dirs[i][k]);
            sg2_tensor_write(ctx, ps->items[i].t, buf);
            free(buf);
        }
        vals[s] = run_phase(ctx, &loss, ph, reals, z, acc, stat);
        sg2_grads_release(acc, ps->n);
    }
    double fd = (vals[0] - vals[1]) / (2 * h);
    ck_assert_msg(fabs(fd - dot) <= 2e-2 * fabs(dot) + 1e-5, "%s: directional derivative %.6g, finite difference %.6g",
                  stat, dot, fd);
    ck_assert_msg(fabs(dot) > 1e-4, "%s: gradient vanishes (%g), the check would be empty", stat, dot);
    for (int i = 0; i < ps->n; i++) {
        free(dirs[i]);
        free(orig[i]);
    }
    free(dirs);
    free(orig);
    free(acc);
    sg2_scope_end(ctx, mark, NULL, 0);
    sg2_generator_free(&g);
    sg2_discriminator_free(&d);
}

static const char *const r1_moved[] = {"b4.out.weight", "b4.out.bias", NULL};
static const char *const pl_moved[] = {"synthesis.b8.torgb.weight", "synthesis.b8.torgb.affine.weight",
                                       "synthesis.b8.torgb.affine.bias", NULL};

START_TEST(test_r1_phase_grad) { check_phase_grad(SG2_PHASE_DREG, "Loss/D/reg", r1_moved); }
END_TEST
START_TEST(test_pl_phase_grad) { check_phase_grad(SG2_PHASE_GREG, "Loss/G/reg", pl_moved); }
END_TEST
/* The main losses through both networks: G's gradient through D, D's on reals and fakes. */
START_TEST(test_gmain_phase_grad) { check_phase_grad(SG2_PHASE_GMAIN, "Loss/G/loss", NULL); }
END_TEST
START_TEST(test_dmain_phase_grad) { check_phase_grad(SG2_PHASE_DMAIN, "Loss/D/loss", NULL); }
END_TEST

/* ---- resume identity ---- */

typedef struct synth {
    int dummy;
} synth;

/* Deterministic images: a function of (image index, pixel). */
static void synth_image(long idx, float *out)
{
    for (int y = 0; y < RES; y++)
        for (int x = 0; x < RES; x++)
            out[y * RES + x] = (float)sin(0.7 * x + 0.3 * y + 0.91 * (double)idx);
}

static sg2_status synth_next(void *user, long batch_index, int n, float *images, float *labels, sg2_error *err)
{
    (void)user, (void)labels, (void)err;
    for (int i = 0; i < n; i++)
        synth_image((batch_index * n + i) % 64, images + (size_t)i * RES * RES);
    return SG2_OK;
}

static sg2_status synth_get(void *user, long i, uint8_t *pixels, float *label, sg2_error *err)
{
    (void)user, (void)label, (void)err;
    float f[RES * RES];
    synth_image(i, f);
    for (int k = 0; pixels && k < RES * RES; k++)
        pixels[k] = (uint8_t)(f[k] * 127.5f + 128);
    return SG2_OK;
}

static void tiny_opts(sg2_train_opts *o, const char *outdir)
{
    sg2_error err = {0};
    ck_assert(sg2_train_preset(o, "auto", RES, &err) == SG2_OK);
    o->outdir = outdir;
    o->batch = o->batch_gpu = NB;
    o->mbstd_group = 2;
    o->map_layers = 2;
    o->cbase = 64;
    o->cmax = 8;
    o->kimg = 1000;
    o->snap = 1000;
    o->seed = 3;
    o->grid_max = 4;
    o->quiet = 1;
    o->g_reg_interval = 2; /* regularizers run within the few iterations of the test */
    o->d_reg_interval = 3;
}

static void read_ckpt(const char *path, const char *name, float *out, long n)
{
    sg2_safetensors *f = NULL;
    sg2_error err = {0};
    ck_assert_msg(sg2_safetensors_open(&f, path, &err) == SG2_OK, "%s", err.msg);
    const sg2_st_info *info = sg2_safetensors_find(f, name);
    ck_assert_msg(info && info->numel == n, "%s: %s", path, name);
    ck_assert(sg2_safetensors_read(f, name, 0, NULL, out, &err) == SG2_OK);
    sg2_safetensors_close(f);
}

/* D's logits for x, read back (NB values). */
static double *d_logits(sg2_ctx *ctx, sg2_discriminator *d, sg2_tensor *x)
{
    size_t mark = sg2_scope_begin(ctx);
    double *v = sg2_test_read(ctx, sg2_discriminator_forward(ctx, d, x, NULL));
    sg2_scope_end(ctx, mark, NULL, 0);
    ck_assert_msg(v != NULL, "%s", ctx->err.msg);
    return v;
}

static void assert_same(const double *a, const double *b, int n, int expect_same, const char *what)
{
    int same = 1;
    for (int i = 0; i < n; i++)
        same &= a[i] == b[i];
    ck_assert_msg(same == expect_same, "%s: logits %s", what, expect_same ? "differ" : "did not change");
}

/* dD(x)/dw summed over the batch for one weight, read back. */
static double *d_weight_grad(sg2_ctx *ctx, sg2_discriminator *d, sg2_tensor *x, sg2_param *p)
{
    size_t mark = sg2_scope_begin(ctx);
    sg2_tensor *s = sg2_sum_all(ctx, sg2_discriminator_forward(ctx, d, x, NULL)), *g = NULL;
    ck_assert_int_eq(sg2_autograd_grad(ctx, 1, &s, NULL, 1, &p->t, 0, &g), SG2_OK);
    double *v = sg2_test_read(ctx, g);
    sg2_scope_end(ctx, mark, NULL, 0);
    return v;
}

/* D's conv layers keep w * gain between D steps (sg2_params_scaled), and
 * the convolutions keep their packed and Winograd forms of it (forced on
 * here). A second forward reuses the kept product and gives the same
 * logits; after an in-place write to a weight the logits are those of a D
 * that keeps nothing; a product made off the tape is not reused on it (the
 * weight's gradient is a kept-nothing D's); Adam's step drops them. */
START_TEST(test_kept_scaled_weights)
{
    setenv("SG2_WINOGRAD", "1", 1);
    sg2_ctx *ctx = sg2_test_ctx();
    sg2_generator g;
    sg2_discriminator d;
    tiny_nets(ctx, &g, &d);
    size_t mark = sg2_scope_begin(ctx);
    double rv[NB * RES * RES];
    sg2_test_uniform(rv, NB * RES * RES, -1, 1, 11);
    sg2_tensor *reals = sg2_test_tensor(ctx, 4, SHAPE(NB, 1, RES, RES), rv);
    sg2_param *w = NULL;
    for (int i = 0; i < d.params.n && !w; i++)
        if (strstr(d.params.items[i].name, "conv0.weight") && d.params.items[i].t->shape[2] == 3)
            w = &d.params.items[i];
    ck_assert_ptr_nonnull(w);
    sg2_params_set_requires_grad(&d.params, 1);

    d.params.keep_scaled = 1;
    double *first = d_logits(ctx, &d, reals);
    sg2_tensor *kept = w->scaled;
    ck_assert_ptr_nonnull(kept);
    double *again = d_logits(ctx, &d, reals);
    ck_assert_ptr_eq(w->scaled, kept);
    assert_same(first, again, NB, 1, "the kept product");

    float *vals = malloc((size_t)w->t->numel * sizeof *vals);
    ck_assert_int_eq(sg2_tensor_read(ctx, w->t, vals), SG2_OK);
    for (int64_t k = 0; k < w->t->numel; k++)
        vals[k] *= -1.5f;
    ck_assert_int_eq(sg2_tensor_write(ctx, w->t, vals), SG2_OK);
    double *kept_after = d_logits(ctx, &d, reals);
    d.params.keep_scaled = 0;
    sg2_params_forget(&d.params);
    double *fresh = d_logits(ctx, &d, reals);
    assert_same(kept_after, fresh, NB, 1, "after an in-place write");
    assert_same(kept_after, first, NB, 0, "the weight's write");
    double *g_fresh = d_weight_grad(ctx, &d, reals, w);

    d.params.keep_scaled = 1;
    ctx->grad_enabled = 0;
    free(d_logits(ctx, &d, reals)); /* keeps an off-tape product */
    ctx->grad_enabled = 1;
    double *g_kept = d_weight_grad(ctx, &d, reals, w);
    double norm = 0;
    for (int64_t k = 0; k < w->t->numel; k++) {
        ck_assert_msg(g_kept[k] == g_fresh[k], "weight gradient %ld: %g kept, %g fresh", (long)k, g_kept[k],
                      g_fresh[k]);
        norm += fabs(g_fresh[k]);
    }
    ck_assert(norm > 0);
    ck_assert_ptr_nonnull(w->scaled);

    sg2_adam opt;
    ck_assert_int_eq(sg2_adam_init(ctx, &opt, &d.params, 1e-3f, 0.0f, 0.99f, 1e-8f), SG2_OK);
    sg2_tensor **grads = calloc((size_t)d.params.n, sizeof *grads);
    ck_assert_int_eq(sg2_adam_step(ctx, &opt, grads, NULL), SG2_OK);
    for (int i = 0; i < d.params.n; i++)
        ck_assert_ptr_null(d.params.items[i].scaled);
    free(grads);
    sg2_adam_free(&opt);
    free(first);
    free(again);
    free(kept_after);
    free(fresh);
    free(g_fresh);
    free(g_kept);
    free(vals);
    sg2_scope_end(ctx, mark, NULL, 0);
    sg2_discriminator_free(&d);
    sg2_generator_free(&g);
    unsetenv("SG2_WINOGRAD");
}
END_TEST

START_TEST(test_resume_identity)
{
    sg2_ctx *ctx = sg2_test_ctx();
    char outdir[] = "/tmp/sg2-test-train-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(outdir));
    sg2_reals reals = {.user = NULL, .resolution = RES, .channels = 1, .c_dim = 0, .count = 64, .name = "synth",
                       .next = synth_next, .get = synth_get};
    sg2_train_opts o;
    tiny_opts(&o, outdir);
    char run_full[2048], run_a[2048], run_b[2048], ck_full[2300], ck_a[2300], ck_b[2300];
    o.max_iters = 6;
    ck_assert_msg(sg2_train(ctx, &o, &reals, run_full, sizeof run_full) == SG2_OK, "%s", ctx->err.msg);
    o.max_iters = 4;
    ck_assert_msg(sg2_train(ctx, &o, &reals, run_a, sizeof run_a) == SG2_OK, "%s", ctx->err.msg);
    snprintf(ck_a, sizeof ck_a, "%s/network-snapshot-000000.safetensors", run_a);
    o.resume = ck_a;
    o.max_iters = 2;
    ck_assert_msg(sg2_train(ctx, &o, &reals, run_b, sizeof run_b) == SG2_OK, "%s", ctx->err.msg);
    snprintf(ck_full, sizeof ck_full, "%s/network-snapshot-000000.safetensors", run_full);
    snprintf(ck_b, sizeof ck_b, "%s/network-snapshot-000000.safetensors", run_b);
    /* Every tensor of the final checkpoints is bit-identical. */
    sg2_safetensors *f = NULL;
    sg2_error err = {0};
    ck_assert(sg2_safetensors_open(&f, ck_full, &err) == SG2_OK);
    int n = sg2_safetensors_count(f), compared = 0;
    for (int i = 0; i < n; i++) {
        const sg2_st_info *info = sg2_safetensors_at(f, i);
        float *a = malloc((size_t)info->numel * sizeof *a + 4), *b = malloc((size_t)info->numel * sizeof *b + 4);
        read_ckpt(ck_full, info->name, a, (long)info->numel);
        read_ckpt(ck_b, info->name, b, (long)info->numel);
        ck_assert_msg(memcmp(a, b, (size_t)info->numel * sizeof *a) == 0, "%s differs after resume", info->name);
        compared++;
        free(a);
        free(b);
    }
    sg2_safetensors_close(f);
    ck_assert_int_gt(compared, 50);
    /* and training moved the weights (the comparison is not of two untouched inits) */
    float w0[8 * 8 * 9], w1[8 * 8 * 9];
    read_ckpt(ck_a, "G.synthesis.b8.conv1.weight", w0, 8 * 8 * 9);
    read_ckpt(ck_full, "G.synthesis.b8.conv1.weight", w1, 8 * 8 * 9);
    ck_assert(memcmp(w0, w1, sizeof w0) != 0);
    char cmd[2300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", outdir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *train_suite(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_lazy_ratio);
    tcase_add_loop_test(tc, test_adam_and_ema_steps, 0, 2);
    tcase_add_test(tc, test_r1_phase_grad);
    tcase_add_test(tc, test_pl_phase_grad);
    tcase_add_test(tc, test_gmain_phase_grad);
    tcase_add_test(tc, test_dmain_phase_grad);
    tcase_add_test(tc, test_resume_identity);
    tcase_add_test(tc, test_kept_scaled_weights);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return sg2_test_run(train_suite()) != 0;
}
