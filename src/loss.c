#include "src/loss.h"

#include <math.h>
#include <stdlib.h>

#include "src/autograd.h"
#include "host/splitmix.h"
#include "src/ops.h"

sg2_loss_cfg sg2_loss_cfg_default(void)
{
    return (sg2_loss_cfg){.r1_gamma = 10.0f, .pl_weight = 2.0f, .pl_decay = 0.01f, .pl_batch_shrink = 2,
                          .style_mixing_prob = 0.9f};
}

static double next_uniform(uint64_t *s)
{
    return (double)(sg2_splitmix64(s) >> 11) * 0x1.0p-53;
}

sg2_tensor *sg2_loss_run_G(sg2_ctx *ctx, sg2_loss *loss, sg2_tensor *z, sg2_tensor *c, sg2_tensor **ws_out)
{
    sg2_generator *G = loss->G;
    sg2_mapping_args m = {.truncation_psi = 1.0f, .update_w_avg = 1};
    sg2_tensor *ws = sg2_mapping_forward(ctx, G, z, c, &m);
    if (loss->cfg.style_mixing_prob > 0 && ws) {
        /* One cutoff per minibatch, uniform in [1, num_ws), used with probability p. */
        int cutoff = 1 + (int)(next_uniform(&loss->host_rng) * (G->num_ws - 1));
        if (next_uniform(&loss->host_rng) < loss->cfg.style_mixing_prob && cutoff < G->num_ws) {
            sg2_mapping_args m2 = {.truncation_psi = 1.0f, .update_w_avg = 0};
            sg2_tensor *ws2 = sg2_mapping_forward(ctx, G, sg2_rand_normal(ctx, z->ndim, z->shape), c, &m2);
            sg2_tensor *parts[2] = {sg2_slice(ctx, ws, 1, 0, cutoff), sg2_slice(ctx, ws2, 1, cutoff, G->num_ws - cutoff)};
            ws = sg2_concat(ctx, 2, parts, 1);
        }
    }
    if (ws_out)
        *ws_out = ws;
    sg2_synthesis_args s = {.noise_mode = SG2_NOISE_RANDOM, .fused_modconv = 0};
    return sg2_synthesis_forward(ctx, G, ws, &s);
}

/* Per-sample values of a [N] or [N,1] tensor into the stats. */
static void report(sg2_ctx *ctx, sg2_loss *loss, const char *name, sg2_tensor *t)
{
    if (!loss->stats || !t || ctx->err.status)
        return;
    float buf[1024];
    int n = t->numel < 1024 ? (int)t->numel : 1024;
    sg2_tensor *d = t->numel <= 1024 ? t : sg2_slice(ctx, sg2_reshape(ctx, t, 1, (const int64_t[]){t->numel}), 0, 0, 1024);
    if (d && !sg2_tensor_read(ctx, d, buf))
        sg2_stats_add(loss->stats, name, buf, n);
}

static void report_sign(sg2_ctx *ctx, sg2_loss *loss, const char *name, sg2_tensor *logits)
{
    if (!loss->stats || !logits || ctx->err.status)
        return;
    float buf[1024];
    int n = logits->numel < 1024 ? (int)logits->numel : 1024;
    if (sg2_tensor_read(ctx, logits, buf))
        return;
    for (int i = 0; i < n; i++)
        buf[i] = (float)((buf[i] > 0) - (buf[i] < 0));
    sg2_stats_add(loss->stats, name, buf, n);
}

/* d(loss)/d(params of ps) added into acc. */
static void accumulate_grads(sg2_ctx *ctx, sg2_tensor *loss_value, sg2_params *ps, sg2_tensor **acc)
{
    if (!loss_value)
        return;
    sg2_tensor **inputs = calloc((size_t)ps->n + 1, sizeof *inputs);
    sg2_tensor **grads = calloc((size_t)ps->n + 1, sizeof *grads);
    int *index = calloc((size_t)ps->n + 1, sizeof *index);
    int n = 0;
    if (!inputs || !grads || !index) {
        sg2_fail(ctx, SG2_ERR_NOMEM, "loss: out of host memory");
    } else {
        for (int i = 0; i < ps->n; i++)
            if (ps->items[i].trainable) {
                index[n] = i;
                inputs[n++] = ps->items[i].t;
            }
        if (!sg2_autograd_grad(ctx, 1, &loss_value, NULL, n, inputs, 0, grads)) {
            for (int k = 0; k < n; k++) {
                int i = index[k];
                sg2_tensor *sum = acc[i] ? sg2_add(ctx, acc[i], grads[k]) : grads[k];
                if (!sum)
                    break;
                sg2_tensor_retain(sum);
                sg2_tensor_release(acc[i]);
                acc[i] = sum;
            }
        }
    }
    free(inputs);
    free(grads);
    free(index);
}

void sg2_grads_release(sg2_tensor **acc, int n)
{
    for (int i = 0; i < n; i++) {
        sg2_tensor_release(acc[i]);
        acc[i] = NULL;
    }
}

static void phase_gmain(sg2_ctx *ctx, sg2_loss *loss, sg2_tensor *z, sg2_tensor *c, float gain, sg2_tensor **acc)
{
    sg2_tensor *img = sg2_loss_run_G(ctx, loss, z, c, NULL);
    sg2_tensor *logits = sg2_discriminator_forward(ctx, loss->D, img, c);
    sg2_tensor *per_sample = sg2_softplus(ctx, sg2_neg(ctx, logits));
    report(ctx, loss, "Loss/scores/fake", logits);
    report_sign(ctx, loss, "Loss/signs/fake", logits);
    report(ctx, loss, "Loss/G/loss", per_sample);
    accumulate_grads(ctx, sg2_scale(ctx, sg2_mean(ctx, per_sample, 0x3, 0), gain), &loss->G->params, acc);
}

/* Path length: sqrt(mean over ws of |d<img, noise>/dw|^2) per sample, pulled
 * toward its moving average. */
static void phase_greg(sg2_ctx *ctx, sg2_loss *loss, sg2_tensor *z, sg2_tensor *c, float gain, sg2_tensor **acc)
{
    if (loss->cfg.pl_weight <= 0)
        return;
    int64_t n = z->shape[0] / loss->cfg.pl_batch_shrink;
    if (n < 1)
        n = 1;
    sg2_tensor *zs = sg2_slice(ctx, z, 0, 0, n), *cs = c ? sg2_slice(ctx, c, 0, 0, n) : NULL;
    sg2_tensor *ws = NULL;
    sg2_tensor *img = sg2_loss_run_G(ctx, loss, zs, cs, &ws);
    if (!img)
        return;
    float inv = 1.0f / sqrtf((float)(img->shape[2] * img->shape[3]));
    sg2_tensor *noise = sg2_scale(ctx, sg2_rand_normal(ctx, img->ndim, img->shape), inv);
    sg2_tensor *obj = sg2_sum_all(ctx, sg2_mul(ctx, img, noise));
    sg2_tensor *g = NULL;
    if (sg2_autograd_grad(ctx, 1, &obj, NULL, 1, &ws, 1, &g))
        return;
    sg2_tensor *lengths = sg2_sqrt(ctx, sg2_mean(ctx, sg2_sum(ctx, sg2_square(ctx, g), 0x4, 0), 0x2, 0)); /* [n] */
    float mean_len = 0;
    sg2_tensor *ml = sg2_mean(ctx, sg2_detach(ctx, lengths), 0x1, 0);
    if (!ml || sg2_tensor_read(ctx, ml, &mean_len))
        return;
    loss->pl_mean += (mean_len - loss->pl_mean) * loss->cfg.pl_decay;
    sg2_tensor *penalty = sg2_square(ctx, sg2_add_scalar(ctx, lengths, -loss->pl_mean));
    report(ctx, loss, "Loss/pl_penalty", penalty);
    sg2_tensor *reg = sg2_scale(ctx, penalty, loss->cfg.pl_weight);
    report(ctx, loss, "Loss/G/reg", reg);
    accumulate_grads(ctx, sg2_scale(ctx, sg2_mean(ctx, reg, 0x1, 0), gain), &loss->G->params, acc);
}

static void phase_dmain(sg2_ctx *ctx, sg2_loss *loss, sg2_tensor *real, sg2_tensor *real_c, sg2_tensor *z,
                        sg2_tensor *gen_c, float gain, sg2_tensor **acc)
{
    /* G takes no gradient here: run it off the tape. */
    int saved = ctx->grad_enabled;
    ctx->grad_enabled = 0;
    sg2_tensor *img = sg2_loss_run_G(ctx, loss, z, gen_c, NULL);
    ctx->grad_enabled = saved;
    sg2_tensor *gen_logits = sg2_discriminator_forward(ctx, loss->D, img, gen_c);
    sg2_tensor *real_logits = sg2_discriminator_forward(ctx, loss->D, real, real_c);
    report(ctx, loss, "Loss/scores/fake", gen_logits);
    report_sign(ctx, loss, "Loss/signs/fake", gen_logits);
    report(ctx, loss, "Loss/scores/real", real_logits);
    report_sign(ctx, loss, "Loss/signs/real", real_logits);
    sg2_tensor *per_sample = sg2_add(ctx, sg2_softplus(ctx, gen_logits), sg2_softplus(ctx, sg2_neg(ctx, real_logits)));
    report(ctx, loss, "Loss/D/loss", per_sample);
    accumulate_grads(ctx, sg2_scale(ctx, sg2_mean(ctx, per_sample, 0x3, 0), gain), &loss->D->params, acc);
}

/* R1: gamma/2 |dD(x)/dx|^2 on reals; the gradient of a gradient through D. */
static void phase_dreg(sg2_ctx *ctx, sg2_loss *loss, sg2_tensor *real, sg2_tensor *real_c, float gain, sg2_tensor **acc)
{
    if (loss->cfg.r1_gamma <= 0)
        return;
    sg2_tensor *x = sg2_detach(ctx, real);
    sg2_tensor_set_requires_grad(x, 1);
    sg2_tensor *logits = sg2_discriminator_forward(ctx, loss->D, x, real_c);
    report(ctx, loss, "Loss/scores/real", logits);
    report_sign(ctx, loss, "Loss/signs/real", logits);
    sg2_tensor *s = sg2_sum_all(ctx, logits), *g = NULL;
    if (!s || sg2_autograd_grad(ctx, 1, &s, NULL, 1, &x, 1, &g))
        return;
    sg2_tensor *penalty = sg2_sum(ctx, sg2_square(ctx, g), 0xE, 0); /* [N] */
    report(ctx, loss, "Loss/r1_penalty", penalty);
    sg2_tensor *reg = sg2_scale(ctx, penalty, loss->cfg.r1_gamma / 2);
    report(ctx, loss, "Loss/D/reg", reg);
    accumulate_grads(ctx, sg2_scale(ctx, sg2_mean(ctx, reg, 0x1, 0), gain), &loss->D->params, acc);
}

sg2_status sg2_loss_phase(sg2_ctx *ctx, sg2_loss *loss, sg2_phase phase, sg2_tensor *real_img, sg2_tensor *real_c,
                          sg2_tensor *gen_z, sg2_tensor *gen_c, float gain, sg2_tensor **acc)
{
    if (ctx->err.status)
        return ctx->err.status;
    /* D's weights stay as they are from one D step to the next, through
     * Gmain, Greg and Dmain: each layer scales and transforms them once
     * (sg2_params_scaled; sg2_adam_step forgets). G's change at every phase. */
    loss->D->params.keep_scaled = 1;
    size_t mark = sg2_scope_begin(ctx);
    int saved = ctx->grad_enabled;
    ctx->grad_enabled = 1;
    switch (phase) {
    case SG2_PHASE_GMAIN: phase_gmain(ctx, loss, gen_z, gen_c, gain, acc); break;
    case SG2_PHASE_GREG: phase_greg(ctx, loss, gen_z, gen_c, gain, acc); break;
    case SG2_PHASE_DMAIN: phase_dmain(ctx, loss, real_img, real_c, gen_z, gen_c, gain, acc); break;
    case SG2_PHASE_DREG: phase_dreg(ctx, loss, real_img, real_c, gain, acc); break;
    }
    ctx->grad_enabled = saved;
    sg2_scope_end(ctx, mark, NULL, 0);
    return ctx->err.status;
}
