/* Network configurations as JSON (checkpoint metadata, training options):
 * flat keys named after the reference's constructor arguments. */
#include <jansson.h>
#include <stddef.h>
#include <string.h>

#include "src/network.h"
#include "src/network_json.h"

static const char *arch_name(sg2_arch a)
{
    return a == SG2_ARCH_ORIG ? "orig" : a == SG2_ARCH_RESNET ? "resnet" : "skip";
}

sg2_status sg2_arch_parse(const char *s, sg2_arch *out, sg2_error *err)
{
    if (s && strcmp(s, "orig") == 0)
        *out = SG2_ARCH_ORIG;
    else if (s && strcmp(s, "skip") == 0)
        *out = SG2_ARCH_SKIP;
    else if (s && strcmp(s, "resnet") == 0)
        *out = SG2_ARCH_RESNET;
    else
        return sg2_error_set(err, SG2_ERR_ARG, "architecture '%s' (orig, skip or resnet)", s ? s : "");
    return SG2_OK;
}

char *sg2_g_config_to_json(const sg2_g_config *c)
{
    json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:i, s:i, s:f, s:s}", "z_dim", c->z_dim, "w_dim",
                          c->w_dim, "c_dim", c->c_dim, "img_resolution", c->img_resolution, "img_channels",
                          c->img_channels, "map_layers", c->map_layers, "map_lr_mul", (double)c->map_lr_mul,
                          "w_avg_beta", (double)c->w_avg_beta, "channel_base", c->channel_base, "channel_max",
                          c->channel_max, "conv_clamp", (double)c->conv_clamp, "architecture", arch_name(c->arch));
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return s;
}

char *sg2_d_config_to_json(const sg2_d_config *c)
{
    json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:i, s:f, s:s, s:i, s:i, s:i, s:i}", "c_dim", c->c_dim,
                          "img_resolution", c->img_resolution, "img_channels", c->img_channels, "channel_base",
                          c->channel_base, "channel_max", c->channel_max, "conv_clamp", (double)c->conv_clamp,
                          "architecture", arch_name(c->arch), "mbstd_group", c->mbstd_group, "mbstd_nfeat",
                          c->mbstd_nfeat, "cmap_dim", c->cmap_dim, "map_layers", c->map_layers);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return s;
}

/* Optional keys keep their defaults; present keys must have the right type. */
static sg2_status get_int(json_t *o, const char *key, int *out, const char *what, sg2_error *err)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return SG2_OK;
    if (!json_is_integer(v))
        return sg2_error_set(err, SG2_ERR_FORMAT, "%s: '%s' must be an integer", what, key);
    *out = (int)json_integer_value(v);
    return SG2_OK;
}

static sg2_status get_float(json_t *o, const char *key, float *out, const char *what, sg2_error *err)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return SG2_OK;
    if (!json_is_number(v))
        return sg2_error_set(err, SG2_ERR_FORMAT, "%s: '%s' must be a number", what, key);
    *out = (float)json_number_value(v);
    return SG2_OK;
}

static sg2_status get_arch(json_t *o, sg2_arch *out, const char *what, sg2_error *err)
{
    json_t *v = json_object_get(o, "architecture");
    if (!v)
        return SG2_OK;
    if (!json_is_string(v) || sg2_arch_parse(json_string_value(v), out, NULL))
        return sg2_error_set(err, SG2_ERR_FORMAT, "%s: bad 'architecture'", what);
    return SG2_OK;
}

static json_t *parse(const char *text, const char *what, sg2_error *err)
{
    json_error_t je;
    json_t *o = json_loads(text ? text : "", 0, &je);
    if (!o || !json_is_object(o)) {
        sg2_error_set(err, SG2_ERR_FORMAT, "%s: not a JSON object (%s, line %d column %d)", what,
                      o ? "wrong type" : je.text, je.line, je.column);
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The configuration fields JSON may set, by key, offset and type. */
typedef struct field {
    const char *key;
    size_t offset;
    char type; /* 'i' int, 'f' float */
} field;

static const field g_fields[] = {
    {"z_dim", offsetof(sg2_g_config, z_dim), 'i'},
    {"w_dim", offsetof(sg2_g_config, w_dim), 'i'},
    {"c_dim", offsetof(sg2_g_config, c_dim), 'i'},
    {"map_layers", offsetof(sg2_g_config, map_layers), 'i'},
    {"map_lr_mul", offsetof(sg2_g_config, map_lr_mul), 'f'},
    {"w_avg_beta", offsetof(sg2_g_config, w_avg_beta), 'f'},
    {"channel_base", offsetof(sg2_g_config, channel_base), 'i'},
    {"channel_max", offsetof(sg2_g_config, channel_max), 'i'},
    {"conv_clamp", offsetof(sg2_g_config, conv_clamp), 'f'},
};

static const field d_fields[] = {
    {"c_dim", offsetof(sg2_d_config, c_dim), 'i'},
    {"channel_base", offsetof(sg2_d_config, channel_base), 'i'},
    {"channel_max", offsetof(sg2_d_config, channel_max), 'i'},
    {"conv_clamp", offsetof(sg2_d_config, conv_clamp), 'f'},
    {"mbstd_group", offsetof(sg2_d_config, mbstd_group), 'i'},
    {"mbstd_nfeat", offsetof(sg2_d_config, mbstd_nfeat), 'i'},
    {"cmap_dim", offsetof(sg2_d_config, cmap_dim), 'i'},
    {"map_layers", offsetof(sg2_d_config, map_layers), 'i'},
};

static sg2_status read_fields(json_t *o, void *cfg, const field *fs, size_t n, sg2_arch *arch, const char *what,
                              sg2_error *err)
{
    sg2_status st = SG2_OK;
    for (size_t i = 0; i < n && !st; i++) {
        char *at = (char *)cfg + fs[i].offset;
        st = fs[i].type == 'i' ? get_int(o, fs[i].key, (int *)(void *)at, what, err)
                               : get_float(o, fs[i].key, (float *)(void *)at, what, err);
    }
    return st ? st : get_arch(o, arch, what, err);
}

/* Parse, and read the image size that picks the defaults. */
static json_t *parse_with_size(const char *text, const char *what, int *res, int *ch, sg2_error *err)
{
    json_t *o = parse(text, what, err);
    *res = 0;
    *ch = 3;
    if (o) {
        get_int(o, "img_resolution", res, what, NULL);
        get_int(o, "img_channels", ch, what, NULL);
    }
    return o;
}

sg2_status sg2_g_config_from_json(const char *text, sg2_g_config *c, const char *what, sg2_error *err)
{
    int res, ch;
    json_t *o = parse_with_size(text, what, &res, &ch, err);
    if (!o)
        return SG2_ERR_FORMAT;
    *c = sg2_g_config_default(res, ch);
    sg2_status st = read_fields(o, c, g_fields, sizeof g_fields / sizeof g_fields[0], &c->arch, what, err);
    json_decref(o);
    return st ? st : sg2_g_config_check(c, err);
}

sg2_status sg2_d_config_from_json(const char *text, sg2_d_config *c, const char *what, sg2_error *err)
{
    int res, ch;
    json_t *o = parse_with_size(text, what, &res, &ch, err);
    if (!o)
        return SG2_ERR_FORMAT;
    *c = sg2_d_config_default(res, ch);
    sg2_status st = read_fields(o, c, d_fields, sizeof d_fields / sizeof d_fields[0], &c->arch, what, err);
    json_decref(o);
    return st ? st : sg2_d_config_check(c, err);
}
