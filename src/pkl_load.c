/* Networks from NVIDIA's pickles: the stylegan2-ada-pytorch / StyleGAN3
 * snapshots (tensors already under our names) and the TensorFlow StyleGAN2
 * pickles (renamed, transposed HWIO -> OIHW, up-sampling kernels flipped, 1
 * added to the modulation biases: the mapping stylegan2-ada-pytorch's
 * legacy.py documents). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/checkpoint.h"
#include "src/pkl_model.h"

/* ---- constructor arguments ---- */

static const sg2_pkl_node *kwarg2(const sg2_pkl_net *net, const char *a, const char *b)
{
    const sg2_pkl_node *v = a ? sg2_pkl_net_kwarg(net, a) : NULL;
    if ((!v || v->kind == SG2_PKL_NONE) && b)
        v = sg2_pkl_net_kwarg(net, b);
    return v && v->kind != SG2_PKL_NONE ? v : NULL;
}

static int kw_int(const sg2_pkl_net *net, const char *a, const char *b, int def)
{
    int64_t v;
    const sg2_pkl_node *n = kwarg2(net, a, b);
    return n && sg2_pkl_as_int(n, &v) ? (int)v : def;
}

static float kw_float(const sg2_pkl_net *net, const char *a, const char *b, float def)
{
    double v;
    const sg2_pkl_node *n = kwarg2(net, a, b);
    return n && sg2_pkl_as_double(n, &v) ? (float)v : def;
}

static const char *kw_str(const sg2_pkl_net *net, const char *a, const char *b, const char *def)
{
    const sg2_pkl_node *n = kwarg2(net, a, b);
    const char *s = n ? sg2_pkl_as_str(n) : NULL;
    return s ? s : def;
}

static sg2_arch arch_of(const char *s, sg2_arch def)
{
    return strcmp(s, "orig") == 0 ? SG2_ARCH_ORIG : strcmp(s, "skip") == 0 ? SG2_ARCH_SKIP
                                                 : strcmp(s, "resnet") == 0 ? SG2_ARCH_RESNET : def;
}

static sg2_g_config g_config_of(const sg2_pkl_net *net)
{
    sg2_g_config c;
    if (net->format == SG2_PKL_FORMAT_TF) {
        c = sg2_g_config_default(kw_int(net, "resolution", NULL, 1024), kw_int(net, "num_channels", NULL, 3));
        c.z_dim = kw_int(net, "latent_size", NULL, 512);
        c.w_dim = kw_int(net, "dlatent_size", NULL, 512);
        c.c_dim = kw_int(net, "label_size", NULL, 0);
        c.map_layers = kw_int(net, "mapping_layers", NULL, 8);
        c.map_lr_mul = kw_float(net, "mapping_lrmul", NULL, 0.01f);
        c.w_avg_beta = kw_float(net, "w_avg_beta", NULL, 0.995f);
        /* TF counted fmap_base per stage; the same channels need twice the base here. */
        c.channel_base = kw_int(net, "fmap_base", NULL, 16384) * 2;
        c.channel_max = kw_int(net, "fmap_max", NULL, 512);
        c.conv_clamp = kw_float(net, "conv_clamp", NULL, -1.0f);
        c.arch = arch_of(kw_str(net, "architecture", NULL, "skip"), SG2_ARCH_SKIP);
        return c;
    }
    c = sg2_g_config_default(kw_int(net, "img_resolution", NULL, 0), kw_int(net, "img_channels", NULL, 3));
    c.z_dim = kw_int(net, "z_dim", NULL, 512);
    c.w_dim = kw_int(net, "w_dim", NULL, 512);
    c.c_dim = kw_int(net, "c_dim", NULL, 0);
    c.map_layers = kw_int(net, "mapping_kwargs.num_layers", NULL, 8);
    c.map_lr_mul = kw_float(net, "mapping_kwargs.lr_multiplier", NULL, 0.01f);
    c.w_avg_beta = kw_float(net, "mapping_kwargs.w_avg_beta", NULL, 0.995f);
    /* the StyleGAN3 repository's StyleGAN2 keeps synthesis kwargs at the top level */
    c.channel_base = kw_int(net, "synthesis_kwargs.channel_base", "channel_base", 32768);
    c.channel_max = kw_int(net, "synthesis_kwargs.channel_max", "channel_max", 512);
    c.conv_clamp = kw_float(net, "synthesis_kwargs.conv_clamp", "conv_clamp", -1.0f);
    c.arch = arch_of(kw_str(net, "synthesis_kwargs.architecture", "architecture", "skip"), SG2_ARCH_SKIP);
    return c;
}

static sg2_d_config d_config_of(const sg2_pkl_net *net)
{
    sg2_d_config c;
    if (net->format == SG2_PKL_FORMAT_TF) {
        c = sg2_d_config_default(kw_int(net, "resolution", NULL, 1024), kw_int(net, "num_channels", NULL, 3));
        c.c_dim = kw_int(net, "label_size", NULL, 0);
        c.channel_base = kw_int(net, "fmap_base", NULL, 16384) * 2;
        c.channel_max = kw_int(net, "fmap_max", NULL, 512);
        c.conv_clamp = kw_float(net, "conv_clamp", NULL, -1.0f);
        c.arch = arch_of(kw_str(net, "architecture", NULL, "resnet"), SG2_ARCH_RESNET);
        c.mbstd_group = kw_int(net, "mbstd_group_size", NULL, 4);
        c.mbstd_nfeat = kw_int(net, "mbstd_num_features", NULL, 1);
        return c;
    }
    c = sg2_d_config_default(kw_int(net, "img_resolution", NULL, 0), kw_int(net, "img_channels", NULL, 3));
    c.c_dim = kw_int(net, "c_dim", NULL, 0);
    c.channel_base = kw_int(net, "channel_base", NULL, 32768);
    c.channel_max = kw_int(net, "channel_max", NULL, 512);
    c.conv_clamp = kw_float(net, "conv_clamp", NULL, -1.0f);
    c.arch = arch_of(kw_str(net, "architecture", NULL, "resnet"), SG2_ARCH_RESNET);
    c.cmap_dim = kw_int(net, "cmap_dim", NULL, 0);
    c.map_layers = kw_int(net, "mapping_kwargs.num_layers", NULL, 8);
    c.mbstd_group = kw_int(net, "epilogue_kwargs.mbstd_group_size", NULL, 4);
    c.mbstd_nfeat = kw_int(net, "epilogue_kwargs.mbstd_num_channels", NULL, 1);
    return c;
}

/* ---- TensorFlow names and layouts ---- */

typedef enum { XF_NONE, XF_T2, XF_HWIO, XF_HWIO_FLIP, XF_PLUS1, XF_FIRST } xform;

/* The TF variable and layout change that gives our parameter `ours`. */
static int tf_source_g(const char *ours, char *tf, size_t cap, xform *xf)
{
    int r, i, n = 0;
    char part[32], leaf[64];
    *xf = XF_NONE;
    if (strcmp(ours, "mapping.w_avg") == 0)
        return snprintf(tf, cap, "dlatent_avg"), 1;
    if (sscanf(ours, "mapping.embed.%63s%n", leaf, &n) == 1 && !ours[n])
        return *xf = strcmp(leaf, "weight") == 0 ? XF_T2 : XF_NONE, snprintf(tf, cap, "mapping/LabelEmbed/%s", leaf), 1;
    if (sscanf(ours, "mapping.fc%d.%63s%n", &i, leaf, &n) == 2 && !ours[n])
        return *xf = strcmp(leaf, "weight") == 0 ? XF_T2 : XF_NONE, snprintf(tf, cap, "mapping/Dense%d/%s", i, leaf), 1;
    if (strcmp(ours, "synthesis.b4.const") == 0)
        return *xf = XF_FIRST, snprintf(tf, cap, "synthesis/4x4/Const/const"), 1;
    if (sscanf(ours, "synthesis.b%d.%31[^.].%63s%n", &r, part, leaf, &n) != 3 || ours[n])
        return 0;
    const char *layer = strcmp(part, "conv0") == 0 ? "Conv0_up"
                        : strcmp(part, "conv1") == 0 ? (r == 4 ? "Conv" : "Conv1")
                        : strcmp(part, "torgb") == 0 ? "ToRGB" : strcmp(part, "skip") == 0 ? "Skip" : NULL;
    if (!layer)
        return 0;
    int lg = 0;
    while ((1 << lg) < r)
        lg++;
    if (strcmp(leaf, "noise_const") == 0) {
        int idx = r == 4 ? 0 : 2 * lg - (strcmp(part, "conv0") == 0 ? 5 : 4);
        return *xf = XF_FIRST, snprintf(tf, cap, "synthesis/noise%d", idx), 1;
    }
    const char *tf_leaf = strcmp(leaf, "affine.weight") == 0 ? "mod_weight"
                          : strcmp(leaf, "affine.bias") == 0 ? "mod_bias" : leaf;
    if (strcmp(leaf, "weight") == 0)
        *xf = strcmp(part, "conv0") == 0 || strcmp(part, "skip") == 0 ? XF_HWIO_FLIP : XF_HWIO;
    else if (strcmp(leaf, "affine.weight") == 0)
        *xf = XF_T2;
    else if (strcmp(leaf, "affine.bias") == 0)
        *xf = XF_PLUS1;
    snprintf(tf, cap, "synthesis/%dx%d/%s/%s", r, r, layer, tf_leaf);
    return 1;
}

static int tf_source_d(const char *ours, char *tf, size_t cap, xform *xf)
{
    int r, i, n = 0;
    char leaf[64];
    *xf = XF_NONE;
    if (sscanf(ours, "b%d.fromrgb.%63s%n", &r, leaf, &n) == 2 && !ours[n])
        return *xf = strcmp(leaf, "weight") == 0 ? XF_HWIO : XF_NONE, snprintf(tf, cap, "%dx%d/FromRGB/%s", r, r, leaf), 1;
    if (sscanf(ours, "b%d.conv%d.%63s%n", &r, &i, leaf, &n) == 3 && !ours[n])
        return *xf = strcmp(leaf, "weight") == 0 ? XF_HWIO : XF_NONE,
               snprintf(tf, cap, "%dx%d/Conv%d%s/%s", r, r, i, i == 1 ? "_down" : "", leaf), 1;
    if (sscanf(ours, "b%d.skip.%63s%n", &r, leaf, &n) == 2 && !ours[n])
        return *xf = XF_HWIO, snprintf(tf, cap, "%dx%d/Skip/%s", r, r, leaf), 1;
    if (sscanf(ours, "b4.conv.%63s%n", leaf, &n) == 1 && !ours[n])
        return *xf = strcmp(leaf, "weight") == 0 ? XF_HWIO : XF_NONE, snprintf(tf, cap, "4x4/Conv/%s", leaf), 1;
    if (sscanf(ours, "b4.fc.%63s%n", leaf, &n) == 1 && !ours[n])
        return *xf = strcmp(leaf, "weight") == 0 ? XF_T2 : XF_NONE, snprintf(tf, cap, "4x4/Dense0/%s", leaf), 1;
    if (sscanf(ours, "b4.out.%63s%n", leaf, &n) == 1 && !ours[n])
        return *xf = strcmp(leaf, "weight") == 0 ? XF_T2 : XF_NONE, snprintf(tf, cap, "Output/%s", leaf), 1;
    return 0;
}

/* Apply a layout change: src (TF layout) -> dst (our shape). 0 when the sizes do not fit. */
static int transform(float *dst, const sg2_pkl_array *src, const sg2_tensor *t, xform xf)
{
    size_t n = (size_t)t->numel;
    switch (xf) {
    case XF_NONE:
    case XF_PLUS1:
        if (src->numel != n)
            return 0;
        for (size_t k = 0; k < n; k++)
            dst[k] = src->data[k] + (xf == XF_PLUS1 ? 1.0f : 0.0f);
        return 1;
    case XF_FIRST: /* [1, ...] or [1, 1, ...] -> [...] */
        if (src->numel != n)
            return 0;
        memcpy(dst, src->data, n * sizeof *dst);
        return 1;
    case XF_T2: /* [in, out] -> [out, in] */
        if (src->ndim != 2 || t->ndim != 2 || src->shape[0] != t->shape[1] || src->shape[1] != t->shape[0])
            return 0;
        for (int64_t o = 0; o < t->shape[0]; o++)
            for (int64_t i = 0; i < t->shape[1]; i++)
                dst[o * t->shape[1] + i] = src->data[i * t->shape[0] + o];
        return 1;
    default: { /* [kh, kw, in, out] -> [out, in, kh, kw], optionally flipped in space */
        if (src->ndim != 4 || t->ndim != 4)
            return 0;
        int64_t kh = src->shape[0], kw = src->shape[1], ci = src->shape[2], co = src->shape[3];
        if (t->shape[0] != co || t->shape[1] != ci || t->shape[2] != kh || t->shape[3] != kw)
            return 0;
        int flip = xf == XF_HWIO_FLIP;
        for (int64_t o = 0; o < co; o++)
            for (int64_t i = 0; i < ci; i++)
                for (int64_t y = 0; y < kh; y++)
                    for (int64_t x = 0; x < kw; x++) {
                        int64_t sy = flip ? kh - 1 - y : y, sx = flip ? kw - 1 - x : x;
                        dst[((o * ci + i) * kh + y) * kw + x] = src->data[((sy * kw + sx) * ci + i) * co + o];
                    }
        return 1;
    }
    }
}

/* Fill every parameter from the pickle; every tensor of the pickle must be used. */
static sg2_status fill_params(sg2_ctx *ctx, sg2_params *ps, const sg2_pkl_net *net, int is_g, const char *path)
{
    int tf = net->format == SG2_PKL_FORMAT_TF;
    char *used = calloc(net->count + 1, 1);
    if (!used)
        return sg2_error_set(&ctx->err, SG2_ERR_NOMEM, "%s: out of memory", path);
    sg2_status st = SG2_OK;
    for (int i = 0; i < ps->n && !st; i++) {
        sg2_param *p = &ps->items[i];
        char name[256];
        xform xf = XF_NONE;
        if (tf ? !(is_g ? tf_source_g : tf_source_d)(p->name, name, sizeof name, &xf) : 0)
            st = sg2_error_set(&ctx->err, SG2_ERR_UNSUPPORTED, "%s: no TensorFlow variable known for %s", path, p->name);
        if (!tf)
            snprintf(name, sizeof name, "%s", p->name);
        const sg2_pkl_tensor *src = st ? NULL : sg2_pkl_net_find(net, name);
        if (!st && !src)
            st = sg2_error_set(&ctx->err, SG2_ERR_FORMAT, "%s: missing tensor %s (needed for %s)", path, name, p->name);
        float *buf = st ? NULL : malloc((size_t)(p->t->numel > 0 ? p->t->numel : 1) * sizeof *buf);
        if (!st && !buf)
            st = sg2_error_set(&ctx->err, SG2_ERR_NOMEM, "%s: out of memory", path);
        if (!st && !transform(buf, &src->array, p->t, xf)) {
            char shape[96];
            st = sg2_error_set(&ctx->err, SG2_ERR_FORMAT, "%s: tensor %s has %zu elements, %s needs shape %s", path,
                               name, src->array.numel, p->name, sg2_shape_str(p->t, shape, sizeof shape));
        }
        if (!st)
            st = sg2_tensor_write(ctx, p->t, buf);
        if (!st)
            used[src - net->tensors] = 1;
        free(buf);
    }
    /* Torch pickles must hold nothing the configuration does not explain. */
    for (size_t k = 0; k < net->count && !st && !tf; k++) {
        const char *nm = net->tensors[k].name;
        size_t len = strlen(nm);
        int filter = len >= 15 && strcmp(nm + len - 15, "resample_filter") == 0;
        if (!used[k] && !filter)
            st = sg2_error_set(&ctx->err, SG2_ERR_FORMAT, "%s: tensor %s does not fit the network its arguments describe",
                               path, nm);
    }
    free(used);
    return st;
}

sg2_status sg2_load_generator_pkl(sg2_ctx *ctx, const char *path, const char *which, sg2_generator *g);
sg2_status sg2_load_discriminator_pkl(sg2_ctx *ctx, const char *path, sg2_discriminator *d);

sg2_status sg2_load_generator_pkl(sg2_ctx *ctx, const char *path, const char *which, sg2_generator *g)
{
    sg2_pkl_net net;
    memset(g, 0, sizeof *g);
    if (sg2_pkl_net_load(&net, path, which, &ctx->err))
        return ctx->err.status;
    sg2_g_config cfg = g_config_of(&net);
    sg2_status st = sg2_generator_init(ctx, g, &cfg);
    if (st) {
        char msg[sizeof ctx->err.msg];
        snprintf(msg, sizeof msg, "%s", ctx->err.msg);
        sg2_error_clear(&ctx->err);
        st = sg2_error_set(&ctx->err, st, "%s: %s", path, msg);
    }
    if (!st)
        st = fill_params(ctx, &g->params, &net, 1, path);
    sg2_pkl_net_free(&net);
    if (st)
        sg2_generator_free(g);
    return st;
}

sg2_status sg2_load_discriminator_pkl(sg2_ctx *ctx, const char *path, sg2_discriminator *d)
{
    sg2_pkl_net net;
    memset(d, 0, sizeof *d);
    if (sg2_pkl_net_load(&net, path, "D", &ctx->err))
        return ctx->err.status;
    sg2_d_config cfg = d_config_of(&net);
    sg2_status st = SG2_OK;
    if (net.format == SG2_PKL_FORMAT_TF && cfg.c_dim > 0)
        st = sg2_error_set(&ctx->err, SG2_ERR_UNSUPPORTED, "%s: conditional TensorFlow discriminators are not supported",
                           path);
    if (!st && (st = sg2_discriminator_init(ctx, d, &cfg))) {
        char msg[sizeof ctx->err.msg];
        snprintf(msg, sizeof msg, "%s", ctx->err.msg);
        sg2_error_clear(&ctx->err);
        st = sg2_error_set(&ctx->err, st, "%s: %s", path, msg);
    }
    if (!st)
        st = fill_params(ctx, &d->params, &net, 0, path);
    sg2_pkl_net_free(&net);
    if (st)
        sg2_discriminator_free(d);
    return st;
}
