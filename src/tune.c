/* Workload registry and the ops' side of tuning: cached lookup, tuning on
 * first use, and the glue that lets the generic tuner (host/tuner.c) run an
 * op with candidate -D options. */
#include "src/tune.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/fnv.h"
#include "host/kernel_sources.h"

const sg2_tune_family *const sg2_tune_families[] = {
    &sg2_tune_family_upfirdn2d,
    &sg2_tune_family_bias_act,
    &sg2_tune_family_bias_act_grad,
    &sg2_tune_family_reduce_sum,
    &sg2_tune_family_conv2d,
    &sg2_tune_family_conv_transpose2d,
    &sg2_tune_family_conv2d_wgrad,
    &sg2_tune_family_gemm,
    NULL,
};

/* While a workload runs, its op must use the candidate's options, and no
 * other lookup may start a nested search. */
static struct {
    int active;
    char key[SG2_TUNE_KEY_LEN];
    const char *options;
} tuning;

/* Keys whose first-use tuning failed: not retried in this process. */
static char failed_keys[32][SG2_TUNE_KEY_LEN];
static int n_failed;

static int failed_before(const char *key)
{
    for (int i = 0; i < n_failed; i++)
        if (strcmp(failed_keys[i], key) == 0)
            return 1;
    return 0;
}

/* FNV-1a of the family's kernel source, computed once per family. */
static uint32_t source_hash(const sg2_tune_family *f)
{
    typedef struct family_hash {
        const sg2_tune_family *f;
        uint32_t h;
    } family_hash;
    static family_hash memo[32];
    static int n_memo;
    for (int i = 0; i < n_memo; i++)
        if (memo[i].f == f)
            return memo[i].h;
    uint32_t h = SG2_FNV_BASIS;
    char *src = NULL;
    size_t len = 0;
    sg2_error err = {0};
    if (f->kernel_file && sg2_kernel_source_load(f->kernel_file, &src, &len, &err) == SG2_OK) {
        h = sg2_fnv_bytes(h, src, len);
        free(src);
    }
    if (n_memo < 32)
        memo[n_memo++] = (family_hash){f, h};
    return h;
}

void sg2_tune_key(const sg2_tune_family *f, const int *dims, char *key, size_t cap)
{
    char cls[96];
    f->shape_class(dims, cls, sizeof cls);
    snprintf(key, cap, "%s/%s@%08x", f->name, cls, (unsigned)source_hash(f));
}

/* ---- a workload as the tuner sees it ------------------------------------ */

typedef struct workload {
    sg2_ctx ctx;              /* of its own, so errors stay out of the caller's */
    const sg2_tune_family *f;
    const int *dims;
    const char *key;
    sg2_tensor *in[SG2_TUNE_MAX_INPUTS];
    sg2_tensor *out;          /* of the latest launch */
    size_t mark;              /* scope position after the inputs */
} workload;

static sg2_status take_error(workload *w, sg2_error *err)
{
    sg2_status st = sg2_error_set(err, w->ctx.err.status ? w->ctx.err.status : SG2_ERR_STATE, "%s: %s", w->key,
                                  w->ctx.err.status ? w->ctx.err.msg : "no output");
    sg2_ctx_clear_error(&w->ctx);
    return st;
}

static sg2_status wl_launch(void *user, const char *options, sg2_error *err)
{
    workload *w = user;
    sg2_scope_end(&w->ctx, w->mark, NULL, 0); /* the previous output */
    w->out = NULL;
    tuning.options = options;
    w->out = w->f->run(&w->ctx, w->dims, w->in);
    tuning.options = NULL;
    return w->out ? SG2_OK : take_error(w, err);
}

static sg2_status wl_read(void *user, float *out, sg2_error *err)
{
    workload *w = user;
    if (!w->out || sg2_tensor_read(&w->ctx, w->out, out))
        return take_error(w, err);
    return SG2_OK;
}

static int space_valid(const int *values, const void *user)
{
    const workload *w = user;
    const sg2_tune_space *s = w->f->space;
    return !s->valid || s->valid(values, &w->ctx.rt->dev);
}

sg2_status sg2_tune_shape(sg2_runtime *rt, const sg2_tune_family *f, const int *dims, double budget_s,
                          sg2_tune_result *res, sg2_error *err)
{
    if (tuning.active)
        return sg2_error_set(err, SG2_ERR_STATE, "tune: a search is already running");
    char key[SG2_TUNE_KEY_LEN];
    sg2_tune_key(f, dims, key, sizeof key);
    workload w = {.f = f, .dims = dims, .key = key};
    sg2_ctx_init(&w.ctx, rt);
    w.ctx.grad_enabled = 0;
    snprintf(tuning.key, sizeof tuning.key, "%s", key);
    tuning.active = 1; /* from here on, ops take the candidate's options */
    sg2_status st = f->setup(&w.ctx, dims, w.in) ? take_error(&w, err) : SG2_OK;
    /* The space's valid() takes the device; the wrapper passes it. */
    sg2_tune_space space = *f->space;
    space.valid = space_valid;
    w.mark = sg2_scope_begin(&w.ctx);
    /* One launch with the defaults to learn the output size. */
    if (!st)
        st = wl_launch(&w, "", err);
    if (!st) {
        sg2_tune_workload tw = {.user = &w, .n_out = (size_t)w.out->numel, .launch = wl_launch, .read = wl_read};
        st = sg2_tuner_search(rt, key, &space, &w, &tw, budget_s, res, err);
    }
    tuning.active = 0;
    sg2_ctx_free(&w.ctx);
    return st;
}

/* 1 when every define of r is a macro of the space with one of its
 * candidate values and the combination passes the space's valid(): a cache
 * entry from an older kernel version, or a hand-edited one, cannot pass a
 * value the kernel was never checked with. */
static int entry_in_space(const sg2_tune_result *r, const sg2_tune_space *s, const sg2_device_info *dev)
{
    int values[SG2_TUNE_MAX_PARAMS];
    for (int j = 0; j < s->n_params; j++)
        values[j] = s->params[j].values[0];
    for (int i = 0; i < r->n_params; i++) {
        int ok = 0;
        for (int j = 0; j < s->n_params && !ok; j++)
            if (strcmp(r->names[i], s->params[j].name) == 0)
                for (int v = 0; v < s->params[j].n && !ok; v++)
                    if (s->params[j].values[v] == r->values[i]) {
                        values[j] = r->values[i];
                        ok = 1;
                    }
        if (!ok)
            return 0;
    }
    return !s->valid || s->valid(values, dev);
}

void sg2_tune_options(sg2_ctx *ctx, const sg2_tune_family *f, const int *dims, char *opts, size_t cap)
{
    opts[0] = '\0';
    if (!sg2_tuner_enabled())
        return;
    char key[SG2_TUNE_KEY_LEN];
    sg2_tune_key(f, dims, key, sizeof key);
    if (tuning.active) {
        /* Inside a search: the candidate for the key being tuned, defaults for anything else. */
        if (tuning.options && strcmp(key, tuning.key) == 0)
            snprintf(opts, cap, "%s", tuning.options);
        return;
    }
    sg2_tune_result cached;
    if (sg2_tuner_get(&ctx->rt->dev, key, &cached)) {
        if (entry_in_space(&cached, f->space, &ctx->rt->dev))
            snprintf(opts, cap, "%s", cached.options);
        return;
    }
    double budget = sg2_tuner_first_use_budget();
    if (budget <= 0 || failed_before(key))
        return;
    sg2_tune_result res;
    sg2_error err = {0};
    if (sg2_tune_shape(ctx->rt, f, dims, budget, &res, &err)) {
        fprintf(stderr, "stylegan2-cl: warning: tuning %s failed (%s); using kernel defaults\n", key, err.msg);
        if (n_failed < 32)
            snprintf(failed_keys[n_failed++], SG2_TUNE_KEY_LEN, "%s", key);
        return;
    }
    /* The result is in the in-memory table either way; a cache that cannot
     * be written only means the next process tunes again. */
    if (sg2_tuner_save(&ctx->rt->dev, &err))
        fprintf(stderr, "stylegan2-cl: warning: %s\n", err.msg);
    snprintf(opts, cap, "%s", res.options);
}

sg2_tensor *sg2_tune_random_tensor(sg2_ctx *ctx, int ndim, const int64_t *shape, unsigned seed)
{
    int64_t n = sg2_shape_numel(ndim, shape);
    float *h = malloc((size_t)n * sizeof *h);
    if (!h)
        return sg2_fail(ctx, SG2_ERR_NOMEM, "tune: out of host memory");
    uint32_t s = seed * 2654435761u + 1u;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        h[i] = (float)((double)s / 2147483648.0 - 1.0);
    }
    sg2_tensor *t = sg2_tensor_from_host(ctx, ndim, shape, h);
    free(h);
    return t;
}
