#include "src/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/network_json.h"

/* Download every tensor of a parameter store into host arrays for the writer. */
static sg2_status add_params(sg2_ctx *ctx, const sg2_params *ps, const char *prefix, sg2_st_entry *entries,
                             char **names, float **datas, int *n)
{
    for (int i = 0; i < ps->n; i++) {
        const sg2_param *p = &ps->items[i];
        size_t len = strlen(prefix) + strlen(p->name) + 1;
        char *name = malloc(len);
        float *data = malloc((size_t)(p->t->numel > 0 ? p->t->numel : 1) * sizeof *data);
        if (!name || !data) {
            free(name);
            free(data);
            return sg2_error_set(&ctx->err, SG2_ERR_NOMEM, "checkpoint: out of host memory");
        }
        snprintf(name, len, "%s%s", prefix, p->name);
        names[*n] = name;
        datas[*n] = data;
        entries[*n] = (sg2_st_entry){.name = name, .ndim = p->t->ndim, .shape = p->t->shape, .data = data};
        (*n)++;
        if (sg2_tensor_read(ctx, p->t, data))
            return ctx->err.status;
    }
    return SG2_OK;
}

sg2_status sg2_checkpoint_save(sg2_ctx *ctx, const char *path, sg2_generator *G, sg2_discriminator *D,
                               sg2_generator *G_ema, const sg2_ckpt_extra *extra, int n_extra,
                               const sg2_st_meta *meta, int n_meta)
{
    if (ctx->err.status)
        return ctx->err.status;
    int total = (G ? G->params.n : 0) + (D ? D->params.n : 0) + (G_ema ? G_ema->params.n : 0) + n_extra;
    sg2_st_entry *entries = calloc((size_t)total + 1, sizeof *entries);
    char **names = calloc((size_t)total + 1, sizeof *names);
    float **datas = calloc((size_t)total + 1, sizeof *datas);
    sg2_st_meta *all_meta = calloc((size_t)n_meta + 3, sizeof *all_meta);
    char *gj = G ? sg2_g_config_to_json(&G->cfg) : G_ema ? sg2_g_config_to_json(&G_ema->cfg) : NULL;
    char *dj = D ? sg2_d_config_to_json(&D->cfg) : NULL;
    int n = 0, nm = 0;
    sg2_status st = SG2_OK;
    if (!entries || !names || !datas || !all_meta || ((G || G_ema) && !gj) || (D && !dj))
        st = sg2_error_set(&ctx->err, SG2_ERR_NOMEM, "%s: out of host memory", path);
    if (!st && G)
        st = add_params(ctx, &G->params, "G.", entries, names, datas, &n);
    if (!st && D)
        st = add_params(ctx, &D->params, "D.", entries, names, datas, &n);
    if (!st && G_ema)
        st = add_params(ctx, &G_ema->params, "G_ema.", entries, names, datas, &n);
    for (int i = 0; i < n_extra && !st; i++) {
        sg2_params one = {.items = &(sg2_param){.t = extra[i].t}, .n = 1};
        snprintf(one.items[0].name, sizeof one.items[0].name, "%s", extra[i].name);
        st = add_params(ctx, &one, "", entries, names, datas, &n);
    }
    if (!st) {
        all_meta[nm++] = (sg2_st_meta){"format", SG2_CHECKPOINT_FORMAT};
        if (gj)
            all_meta[nm++] = (sg2_st_meta){"G_config", gj};
        if (dj)
            all_meta[nm++] = (sg2_st_meta){"D_config", dj};
        for (int i = 0; i < n_meta; i++)
            all_meta[nm++] = meta[i];
        st = sg2_safetensors_write(path, entries, n, all_meta, nm, &ctx->err);
    }
    for (int i = 0; i < n; i++) {
        free(names[i]);
        free(datas[i]);
    }
    free(entries);
    free(names);
    free(datas);
    free(all_meta);
    free(gj);
    free(dj);
    return st;
}

sg2_status sg2_params_load(sg2_ctx *ctx, sg2_params *ps, const sg2_safetensors *f, const char *prefix,
                           const char *path)
{
    if (ctx->err.status)
        return ctx->err.status;
    char name[2 * SG2_PARAM_NAME_MAX];
    size_t plen = strlen(prefix);
    /* Every tensor with the prefix must be a parameter of the network. */
    for (int i = 0; i < sg2_safetensors_count(f); i++) {
        const sg2_st_info *info = sg2_safetensors_at(f, i);
        if (strncmp(info->name, prefix, plen) == 0 && !sg2_params_find(ps, info->name + plen))
            return sg2_error_set(&ctx->err, SG2_ERR_FORMAT, "%s: tensor %s does not belong to the network configured in the file",
                                 path, info->name);
    }
    for (int i = 0; i < ps->n; i++) {
        sg2_param *p = &ps->items[i];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        if (!sg2_safetensors_find(f, name))
            return sg2_error_set(&ctx->err, SG2_ERR_FORMAT, "%s: missing tensor %s", path, name);
        float *data = malloc((size_t)(p->t->numel > 0 ? p->t->numel : 1) * sizeof *data);
        if (!data)
            return sg2_error_set(&ctx->err, SG2_ERR_NOMEM, "%s: out of host memory", path);
        sg2_status st = sg2_safetensors_read(f, name, p->t->ndim, p->t->shape, data, &ctx->err);
        if (!st)
            st = sg2_tensor_write(ctx, p->t, data);
        free(data);
        if (st)
            return st;
    }
    return SG2_OK;
}

static int is_pickle(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return 0;
    int c = fgetc(fp);
    fclose(fp);
    return c == 0x80; /* PROTO opcode: pickles of protocol 2 and later */
}

sg2_status sg2_load_generator_pkl(sg2_ctx *ctx, const char *path, const char *which, sg2_generator *g);
sg2_status sg2_load_discriminator_pkl(sg2_ctx *ctx, const char *path, sg2_discriminator *d);

sg2_status sg2_load_generator(sg2_ctx *ctx, const char *path, const char *which, sg2_generator *g)
{
    memset(g, 0, sizeof *g);
    if (ctx->err.status)
        return ctx->err.status;
    if (is_pickle(path))
        return sg2_load_generator_pkl(ctx, path, which, g);
    sg2_safetensors *f = NULL;
    if (sg2_safetensors_open(&f, path, &ctx->err))
        return ctx->err.status;
    const char *cfg_text = sg2_safetensors_meta(f, "G_config");
    sg2_g_config cfg;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%s.", which);
    /* A file without G_ema (e.g. converted from a pickle of G only) falls back to G. */
    int has_which = 0;
    for (int i = 0; i < sg2_safetensors_count(f) && !has_which; i++)
        has_which = strncmp(sg2_safetensors_at(f, i)->name, prefix, strlen(prefix)) == 0;
    if (!has_which)
        snprintf(prefix, sizeof prefix, "G.");
    sg2_status st = SG2_OK;
    if (!cfg_text)
        st = sg2_error_set(&ctx->err, SG2_ERR_FORMAT, "%s: no G_config in the metadata (not a stylegan2-cl checkpoint?)",
                           path);
    char what[1200];
    snprintf(what, sizeof what, "%s: G_config", path);
    if (!st)
        st = sg2_g_config_from_json(cfg_text, &cfg, what, &ctx->err);
    if (!st)
        st = sg2_generator_init(ctx, g, &cfg);
    if (!st)
        st = sg2_params_load(ctx, &g->params, f, prefix, path);
    sg2_safetensors_close(f);
    if (st)
        sg2_generator_free(g);
    return st;
}

sg2_status sg2_load_discriminator(sg2_ctx *ctx, const char *path, sg2_discriminator *d)
{
    memset(d, 0, sizeof *d);
    if (ctx->err.status)
        return ctx->err.status;
    if (is_pickle(path))
        return sg2_load_discriminator_pkl(ctx, path, d);
    sg2_safetensors *f = NULL;
    if (sg2_safetensors_open(&f, path, &ctx->err))
        return ctx->err.status;
    const char *cfg_text = sg2_safetensors_meta(f, "D_config");
    sg2_d_config cfg;
    sg2_status st = SG2_OK;
    char what[1200];
    snprintf(what, sizeof what, "%s: D_config", path);
    if (!cfg_text)
        st = sg2_error_set(&ctx->err, SG2_ERR_FORMAT, "%s: no D_config in the metadata", path);
    if (!st)
        st = sg2_d_config_from_json(cfg_text, &cfg, what, &ctx->err);
    if (!st)
        st = sg2_discriminator_init(ctx, d, &cfg);
    if (!st)
        st = sg2_params_load(ctx, &d->params, f, "D.", path);
    sg2_safetensors_close(f);
    if (st)
        sg2_discriminator_free(d);
    return st;
}
