#include "src/optim.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/op_util.h"

void sg2_adam_lazy_adjust(float *lr, float *beta1, float *beta2, int reg_interval)
{
    if (reg_interval <= 0)
        return;
    double r = (double)reg_interval / (reg_interval + 1.0);
    *lr = (float)(*lr * r);
    *beta1 = (float)pow(*beta1, r);
    *beta2 = (float)pow(*beta2, r);
}

sg2_status sg2_adam_init(sg2_ctx *ctx, sg2_adam *opt, sg2_params *ps, float lr, float beta1, float beta2, float eps)
{
    memset(opt, 0, sizeof *opt);
    opt->lr = lr;
    opt->beta1 = beta1;
    opt->beta2 = beta2;
    opt->eps = eps;
    opt->ps = ps;
    opt->m = calloc((size_t)ps->n + 1, sizeof *opt->m);
    opt->v = calloc((size_t)ps->n + 1, sizeof *opt->v);
    if (!opt->m || !opt->v)
        return sg2_error_set(&ctx->err, SG2_ERR_NOMEM, "adam: out of host memory");
    size_t mark = sg2_scope_begin(ctx);
    for (int i = 0; i < ps->n && !ctx->err.status; i++) {
        if (!ps->items[i].trainable)
            continue;
        sg2_tensor *t = ps->items[i].t;
        opt->m[i] = sg2_tensor_full(ctx, t->ndim, t->shape, 0.0f);
        opt->v[i] = sg2_tensor_full(ctx, t->ndim, t->shape, 0.0f);
        sg2_tensor_retain(opt->m[i]);
        sg2_tensor_retain(opt->v[i]);
    }
    sg2_scope_end(ctx, mark, NULL, 0);
    return ctx->err.status;
}

void sg2_adam_free(sg2_adam *opt)
{
    for (int i = 0; opt->ps && i < opt->ps->n; i++) {
        sg2_tensor_release(opt->m ? opt->m[i] : NULL);
        sg2_tensor_release(opt->v ? opt->v[i] : NULL);
    }
    free(opt->m);
    free(opt->v);
    memset(opt, 0, sizeof *opt);
}

/* Elements per adam_step work-item, passed to cl/optim.cl as -DADAM_RUN. */
#define ADAM_RUN 16
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

/* Runs of consecutive elements per work-item on CPUs, interleaved elsewhere
 * (cl/optim.cl); $SG2_ADAM_RUNS = 0 or 1 forces one (tests, A/B). */
static int adam_runs(const sg2_ctx *ctx)
{
    const char *v = getenv("SG2_ADAM_RUNS");
    if (v && (strcmp(v, "0") == 0 || strcmp(v, "1") == 0))
        return v[0] == '1';
    return (ctx->rt->dev.type & CL_DEVICE_TYPE_CPU) != 0;
}

sg2_status sg2_adam_step(sg2_ctx *ctx, sg2_adam *opt, sg2_tensor **grads, long *n_sanitized)
{
    sg2_params_forget(opt->ps); /* free the kept w * gain products now: they go stale */
    if (ctx->err.status)
        return ctx->err.status;
    opt->step++;
    double bc1 = 1.0 - pow(opt->beta1, (double)opt->step), bc2 = 1.0 - pow(opt->beta2, (double)opt->step);
    float lr_over_bc1 = (float)(opt->lr / bc1), sqrt_bc2 = (float)sqrt(bc2);
    size_t mark = sg2_scope_begin(ctx);
    int saved = ctx->grad_enabled;
    ctx->grad_enabled = 0;
    /* One int the kernels count replaced gradient values in (a one-element
     * float tensor, zero bits = int 0, read back as its bits). */
    sg2_tensor *count = sg2_tensor_full(ctx, 1, (const int64_t[]){1}, 0.0f);
    const char *opts = adam_runs(ctx) ? "-DADAM_RUNS=1 -DADAM_RUN=" STRINGIFY(ADAM_RUN) : "-DADAM_RUN=" STRINGIFY(ADAM_RUN);
    for (int i = 0; i < opt->ps->n && !ctx->err.status; i++) {
        sg2_tensor *g = grads[i], *p = opt->ps->items[i].t;
        if (!g || !opt->m[i])
            continue;
        if (!sg2_shape_equal(g, p)) {
            sg2_fail(ctx, SG2_ERR_SHAPE, "adam: gradient of %s has the wrong shape", opt->ps->items[i].name);
            break;
        }
        const sg2_kernel_entry *k = sg2_kernel(ctx, "optim.cl", "adam_step", opts);
        if (!k)
            break;
        p->buf->writes++;
        sg2_args a = sg2_args_begin(k);
        sg2_args_int(&a, (int)p->numel);
        sg2_args_mem(&a, p->buf->mem);
        sg2_args_int(&a, (int)p->offset);
        sg2_args_mem(&a, g->buf->mem);
        sg2_args_int(&a, (int)g->offset);
        sg2_args_mem(&a, opt->m[i]->buf->mem);
        sg2_args_int(&a, (int)opt->m[i]->offset);
        sg2_args_mem(&a, opt->v[i]->buf->mem);
        sg2_args_int(&a, (int)opt->v[i]->offset);
        sg2_args_float(&a, lr_over_bc1);
        sg2_args_float(&a, opt->beta1);
        sg2_args_float(&a, opt->beta2);
        sg2_args_float(&a, opt->eps);
        sg2_args_float(&a, sqrt_bc2);
        sg2_args_mem(&a, count->buf->mem);
        sg2_args_int(&a, (int)count->offset);
        sg2_launch1d(ctx, &a, ((size_t)p->numel + ADAM_RUN - 1) / ADAM_RUN);
    }
    if (n_sanitized) {
        float bits = 0;
        int32_t c = 0;
        if (count && !sg2_tensor_read(ctx, count, &bits))
            memcpy(&c, &bits, sizeof c);
        *n_sanitized = c;
    }
    ctx->grad_enabled = saved;
    sg2_scope_end(ctx, mark, NULL, 0);
    return ctx->err.status;
}

double sg2_ema_beta(int batch, double ema_kimg, double rampup, double cur_nimg)
{
    double ema_nimg = ema_kimg * 1000.0;
    if (rampup > 0 && cur_nimg * rampup < ema_nimg)
        ema_nimg = cur_nimg * rampup;
    if (ema_nimg < 1e-8)
        ema_nimg = 1e-8;
    return pow(0.5, (double)batch / ema_nimg);
}

static sg2_status check_layout(sg2_ctx *ctx, sg2_params *a, const sg2_params *b, const char *what)
{
    if (a->n != b->n)
        return sg2_error_set(&ctx->err, SG2_ERR_STATE, "%s: parameter stores differ", what);
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->items[i].name, b->items[i].name) != 0 || !sg2_shape_equal(a->items[i].t, b->items[i].t))
            return sg2_error_set(&ctx->err, SG2_ERR_STATE, "%s: %s differs", what, a->items[i].name);
    return SG2_OK;
}

sg2_status sg2_params_copy(sg2_ctx *ctx, sg2_params *dst, const sg2_params *src)
{
    if (ctx->err.status || check_layout(ctx, dst, src, "params copy"))
        return ctx->err.status;
    for (int i = 0; i < dst->n; i++)
        if (sg2_tensor_copy(ctx, dst->items[i].t, src->items[i].t, dst->items[i].name))
            break;
    return ctx->err.status;
}

sg2_status sg2_ema_update(sg2_ctx *ctx, sg2_params *ema, const sg2_params *src, float beta)
{
    if (ctx->err.status || check_layout(ctx, ema, src, "ema"))
        return ctx->err.status;
    for (int i = 0; i < ema->n && !ctx->err.status; i++) {
        sg2_tensor *e = ema->items[i].t, *p = src->items[i].t;
        if (!ema->items[i].trainable) {
            sg2_tensor_copy(ctx, e, p, ema->items[i].name);
            continue;
        }
        const sg2_kernel_entry *k = sg2_kernel(ctx, "optim.cl", "ema_lerp", NULL);
        if (!k)
            break;
        e->buf->writes++;
        sg2_args a = sg2_args_begin(k);
        sg2_args_int(&a, (int)e->numel);
        sg2_args_mem(&a, e->buf->mem);
        sg2_args_int(&a, (int)e->offset);
        sg2_args_mem(&a, p->buf->mem);
        sg2_args_int(&a, (int)p->offset);
        sg2_args_float(&a, beta);
        sg2_launch1d(ctx, &a, (size_t)e->numel);
    }
    return ctx->err.status;
}
