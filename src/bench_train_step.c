/* End-to-end training workloads of the benchmark suite: the phases of one
 * training iteration as src/train.c runs them (sg2_loss_phase, Adam with
 * the lazy-regularization adjustment, G EMA), on synthetic reals, without
 * the loop's data loading, statistics and snapshots.
 *
 * Two workloads per resolution, because the reference's schedule mixes
 * them: "train_main" is the iteration every step runs (Gmain, Dmain, both
 * Adam steps, EMA); "train_reg" the lazy regularization (Greg: path length,
 * every 4 iterations; Dreg: R1, every 16), both phases with their interval
 * as gain. The mean iteration costs main + Greg/4 + Dreg/16.
 *
 * The model is bench/bench_train's default (the auto config at channel_max
 * 256, 2 mapping layers, batch 8), smaller than auto's cmax 512 / batch 32
 * so that a CPU device finishes a run in seconds.
 *
 * Validation: one run from the fixed initialisation must produce finite
 * gradients (Adam reports none sanitised) and change every module it
 * trains, with every parameter finite afterwards. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "src/bench_suite.h"
#include "src/loss.h"
#include "src/network.h"
#include "src/ops.h"
#include "src/optim.h"

enum { MASK_MAIN = 1, MASK_REG = 2 };
enum { REG_G = 4, REG_D = 16 }; /* the reference's lazy intervals */

typedef struct train_state {
    sg2_generator G, G_ema;
    sg2_discriminator D;
    sg2_adam G_opt, D_opt;
    sg2_loss loss;
    sg2_tensor *reals; /* [batch, 3, R, R] in [-1, 1) */
    float *host_reals;
    long sanitized;    /* gradient values Adam replaced in the last run */
    int nets, opts;
} train_state;

/* d = {resolution, channel_base, channel_max, map_layers, batch, mask} */
static void configs(const int *d, sg2_g_config *gc, sg2_d_config *dc)
{
    *gc = sg2_g_config_default(d[0], 3);
    gc->channel_base = d[1], gc->channel_max = d[2], gc->map_layers = d[3];
    *dc = sg2_d_config_default(d[0], 3);
    dc->channel_base = d[1], dc->channel_max = d[2];
    dc->mbstd_group = d[4] < 4 ? d[4] : 4;
}

static sg2_status build(sg2_ctx *ctx, const int *d, train_state *s)
{
    sg2_g_config gc;
    sg2_d_config dc;
    configs(d, &gc, &dc);
    sg2_random_seed(ctx, 0);
    if (sg2_generator_init(ctx, &s->G, &gc))
        return ctx->err.status;
    if (sg2_discriminator_init(ctx, &s->D, &dc) || sg2_generator_init(ctx, &s->G_ema, &gc)) {
        sg2_generator_free(&s->G);
        return ctx->err.status;
    }
    s->nets = 1;
    if (sg2_params_copy(ctx, &s->G_ema.params, &s->G.params))
        return ctx->err.status;
    sg2_params_set_requires_grad(&s->G.params, 1);
    sg2_params_set_requires_grad(&s->D.params, 1);
    float lr = 0.0025f, b1 = 0.0f, b2 = 0.99f;
    sg2_adam_lazy_adjust(&lr, &b1, &b2, REG_G);
    if (sg2_adam_init(ctx, &s->G_opt, &s->G.params, lr, b1, b2, 1e-8f))
        return ctx->err.status;
    lr = 0.0025f, b1 = 0.0f, b2 = 0.99f;
    sg2_adam_lazy_adjust(&lr, &b1, &b2, REG_D);
    if (sg2_adam_init(ctx, &s->D_opt, &s->D.params, lr, b1, b2, 1e-8f)) {
        sg2_adam_free(&s->G_opt);
        return ctx->err.status;
    }
    s->opts = 1;
    s->loss.cfg = sg2_loss_cfg_default();
    s->loss.cfg.r1_gamma = 0.0002f * (float)d[0] * (float)d[0] / (float)d[4]; /* auto's gamma */
    s->loss.G = &s->G;
    s->loss.D = &s->D;
    return SG2_OK;
}

static sg2_status train_setup(sg2_ctx *ctx, const int *d, void **state)
{
    train_state *s = calloc(1, sizeof *s);
    if (!s)
        return SG2_ERR_NOMEM;
    *state = s;
    long n = (long)d[4] * 3 * d[0] * d[0];
    if (!(s->host_reals = malloc(sizeof(float) * (size_t)n)))
        return SG2_ERR_NOMEM;
    sg2_bench_fill(s->host_reals, n, 4321u);
    s->reals = sg2_tensor_from_host(ctx, 4, (const int64_t[]){d[4], 3, d[0], d[0]}, s->host_reals);
    return ctx->err.status ? ctx->err.status : build(ctx, d, s);
}

/* One phase over the whole batch with its gain, then its Adam step. */
static sg2_status phase(sg2_ctx *ctx, train_state *s, sg2_phase p, float gain, sg2_tensor *z)
{
    sg2_adam *opt = p == SG2_PHASE_GMAIN || p == SG2_PHASE_GREG ? &s->G_opt : &s->D_opt;
    sg2_tensor **acc = calloc((size_t)opt->ps->n + 1, sizeof *acc);
    if (!acc)
        return sg2_error_set(&ctx->err, SG2_ERR_NOMEM, "bench: out of memory");
    long sanitized = 0;
    if (!sg2_loss_phase(ctx, &s->loss, p, s->reals, NULL, z, NULL, gain, acc))
        sg2_adam_step(ctx, opt, acc, &sanitized);
    s->sanitized += sanitized;
    sg2_grads_release(acc, opt->ps->n);
    free(acc);
    return ctx->err.status;
}

static sg2_status train_run(sg2_ctx *ctx, const int *d, void *state)
{
    train_state *s = state;
    int saved = ctx->grad_enabled, batch = d[4];
    ctx->grad_enabled = 1;
    s->sanitized = 0;
    sg2_tensor *z = sg2_rand_normal(ctx, 2, (const int64_t[]){2 * batch, s->G.cfg.z_dim});
    sg2_tensor *z0 = sg2_slice(ctx, z, 0, 0, batch), *z1 = sg2_slice(ctx, z, 0, batch, batch);
    if (d[5] == MASK_MAIN) {
        if (!phase(ctx, s, SG2_PHASE_GMAIN, 1.0f, z0) && !phase(ctx, s, SG2_PHASE_DMAIN, 1.0f, z1))
            sg2_ema_update(ctx, &s->G_ema.params, &s->G.params,
                           (float)sg2_ema_beta(batch, batch * 10.0 / 32.0, 0, 1e9));
    } else if (!phase(ctx, s, SG2_PHASE_GREG, (float)REG_G, z0)) {
        phase(ctx, s, SG2_PHASE_DREG, (float)REG_D, z1);
    }
    ctx->grad_enabled = saved;
    return ctx->err.status;
}

/* Trainable parameters of ps to the host, concatenated; *n their count. */
static float *read_params(sg2_ctx *ctx, const sg2_params *ps, long *n)
{
    long total = (long)sg2_params_count(ps, 1), at = 0;
    float *h = malloc(sizeof(float) * (size_t)(total > 0 ? total : 1));
    for (int i = 0; h && i < ps->n && !ctx->err.status; i++)
        if (ps->items[i].trainable) {
            sg2_tensor_read(ctx, ps->items[i].t, h + at);
            at += (long)ps->items[i].t->numel;
        }
    *n = total;
    return h;
}

/* 1 when every value is finite and at least one differs from before. */
static int stepped(const float *before, const float *after, long n)
{
    int changed = 0;
    for (long i = 0; i < n; i++) {
        if (!isfinite(after[i]))
            return 0;
        changed |= after[i] != before[i];
    }
    return changed;
}

static sg2_status train_validate(sg2_ctx *ctx, const int *d, void *state, sg2_bench_check *out)
{
    train_state *s = state;
    long ng = 0, nd = 0;
    float *g0 = read_params(ctx, &s->G.params, &ng), *d0 = read_params(ctx, &s->D.params, &nd);
    size_t mark = sg2_scope_begin(ctx);
    sg2_status st = g0 && d0 ? train_run(ctx, d, state) : SG2_ERR_NOMEM;
    sg2_scope_end(ctx, mark, NULL, 0);
    float *g1 = st ? NULL : read_params(ctx, &s->G.params, &ng), *d1 = st ? NULL : read_params(ctx, &s->D.params, &nd);
    int ok = g1 && d1 && !ctx->err.status && s->sanitized == 0 && stepped(g0, g1, ng) && stepped(d0, d1, nd);
    out->passed = ok;
    out->rel_err = ok ? 0 : INFINITY;
    out->tolerance = 0;
    snprintf(out->method, sizeof out->method,
             "one run from a fixed init: gradients finite (%ld sanitised), every G and D parameter finite "
             "after Adam and both changed",
             s->sanitized);
    free(g0), free(d0), free(g1), free(d1);
    return ctx->err.status ? ctx->err.status : st;
}

static void train_free(void *state)
{
    train_state *s = state;
    if (!s)
        return;
    if (s->opts) {
        sg2_adam_free(&s->G_opt);
        sg2_adam_free(&s->D_opt);
    }
    if (s->nets) {
        sg2_generator_free(&s->G);
        sg2_generator_free(&s->G_ema);
        sg2_discriminator_free(&s->D);
    }
    free(s->host_reals);
    free(s);
}

/* Estimated for the main phases: a differentiated pass costs 3 forwards
 * (forward, input and weight gradients). Gmain: G and D forward and
 * backward, 3(g + d); Dmain: G forward without gradients, D on fakes and on
 * reals with backward, g + 6d. Per image, times the batch. The
 * regularization phases (double backward) are not counted. */
static double train_flop(const int *d)
{
    sg2_g_config gc;
    sg2_d_config dc;
    configs(d, &gc, &dc);
    double g = sg2_bench_generator_gflop(d[0], d[1], d[2], d[3], gc.z_dim, gc.w_dim, 3);
    double dd = sg2_bench_discriminator_gflop(d[0], 3, d[1], d[2]);
    return d[5] == MASK_MAIN ? 1e9 * d[4] * (4 * g + 9 * dd) : 0;
}

#define TRAIN(name, shape, ...)                                                                        \
    {name, SG2_BENCH_E2E, shape, {__VA_ARGS__}, train_flop, NULL, train_setup, train_validate, train_run, train_free}

const sg2_bench_workload sg2_bench_train[] = {
    TRAIN("train_main_32", "Gmain+Dmain+Adam+EMA, 32^2 cbase 16384 cmax 256 map 2, batch 8", 32, 16384, 256, 2, 8,
          MASK_MAIN),
    TRAIN("train_reg_32", "Greg(PL)+Dreg(R1)+Adam, 32^2 cbase 16384 cmax 256 map 2, batch 8", 32, 16384, 256, 2, 8,
          MASK_REG),
    TRAIN("train_main_64", "Gmain+Dmain+Adam+EMA, 64^2 cbase 16384 cmax 256 map 2, batch 8", 64, 16384, 256, 2, 8,
          MASK_MAIN),
    TRAIN("train_reg_64", "Greg(PL)+Dreg(R1)+Adam, 64^2 cbase 16384 cmax 256 map 2, batch 8", 64, 16384, 256, 2, 8,
          MASK_REG),
};
const int sg2_bench_n_train = (int)(sizeof sg2_bench_train / sizeof sg2_bench_train[0]);
