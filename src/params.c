#include "src/params.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/ops.h"

sg2_param *sg2_params_find(sg2_params *ps, const char *name)
{
    for (int i = 0; i < ps->n; i++)
        if (strcmp(ps->items[i].name, name) == 0)
            return &ps->items[i];
    return NULL;
}

sg2_tensor *sg2_params_new(sg2_ctx *ctx, sg2_params *ps, int trainable, sg2_init init, float init_value, int ndim,
                           const int64_t *shape, const char *fmt, ...)
{
    if (ctx->err.status)
        return NULL;
    char name[SG2_PARAM_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (len < 0 || len >= (int)sizeof name)
        return sg2_fail(ctx, SG2_ERR_ARG, "parameter name too long: %s...", name);
    if (sg2_params_find(ps, name))
        return sg2_fail(ctx, SG2_ERR_ARG, "parameter %s defined twice", name);
    if (ps->n == ps->cap) {
        int cap = ps->cap ? ps->cap * 2 : 64;
        sg2_param *g = realloc(ps->items, (size_t)cap * sizeof *g);
        if (!g)
            return sg2_fail(ctx, SG2_ERR_NOMEM, "out of host memory for parameters");
        ps->items = g;
        ps->cap = cap;
    }
    /* Made in a scope of their own: only the parameter itself survives. */
    size_t mark = sg2_scope_begin(ctx);
    int saved = ctx->grad_enabled;
    ctx->grad_enabled = 0;
    sg2_tensor *t;
    if (init == SG2_INIT_NORMAL)
        t = init_value == 1.0f ? sg2_rand_normal(ctx, ndim, shape)
                               : sg2_scale(ctx, sg2_rand_normal(ctx, ndim, shape), init_value);
    else
        t = sg2_tensor_full(ctx, ndim, shape, init == SG2_INIT_CONST ? init_value : 0.0f);
    ctx->grad_enabled = saved;
    if (t)
        sg2_tensor_retain(t);
    sg2_scope_end(ctx, mark, NULL, 0);
    if (!t)
        return NULL;
    sg2_param *p = &ps->items[ps->n++];
    memset(p, 0, sizeof *p);
    memcpy(p->name, name, (size_t)len + 1);
    p->t = t;
    p->trainable = trainable;
    return t;
}

int64_t sg2_params_count(const sg2_params *ps, int trainable_only)
{
    int64_t n = 0;
    for (int i = 0; i < ps->n; i++)
        if (!trainable_only || ps->items[i].trainable)
            n += ps->items[i].t->numel;
    return n;
}

void sg2_params_set_requires_grad(sg2_params *ps, int on)
{
    for (int i = 0; i < ps->n; i++)
        if (ps->items[i].trainable)
            sg2_tensor_set_requires_grad(ps->items[i].t, on);
}

sg2_tensor *sg2_params_scaled(sg2_ctx *ctx, sg2_params *ps, sg2_param *p, float gain)
{
    int taped = ctx->grad_enabled && p->t->requires_grad;
    if (ps->keep_scaled && p->scaled && p->scaled_gain == gain && p->scaled_writes == p->t->buf->writes &&
        (p->scaled->grad_fn != NULL) == taped)
        return p->scaled;
    sg2_tensor *ws = sg2_scale(ctx, p->t, gain);
    if (ps->keep_scaled && ws && ws != p->t) {
        sg2_tensor_release(p->scaled);
        sg2_tensor_retain(ws);
        sg2_tensor_mark_immutable(ws);
        p->scaled = ws;
        p->scaled_gain = gain;
        p->scaled_writes = p->t->buf->writes;
    }
    return ws;
}

void sg2_params_forget(sg2_params *ps)
{
    for (int i = 0; i < ps->n; i++) {
        sg2_tensor_release(ps->items[i].scaled);
        ps->items[i].scaled = NULL;
    }
}

void sg2_params_free(sg2_params *ps)
{
    sg2_params_forget(ps);
    for (int i = 0; i < ps->n; i++)
        sg2_tensor_release(ps->items[i].t);
    free(ps->items);
    *ps = (sg2_params){0};
}
