/* Network configurations as JSON (checkpoint metadata, training options):
 * flat keys named after the reference's constructor arguments. */
#include <jansson.h>
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

sg2_status sg2_g_config_from_json(const char *text, sg2_g_config *c, const char *what, sg2_error *err)
{
    json_t *o = parse(text, what, err);
    if (!o)
        return SG2_ERR_FORMAT;
    int res = 0, ch = 3;
    get_int(o, "img_resolution", &res, what, NULL);
    get_int(o, "img_channels", &ch, what, NULL);
    *c = sg2_g_config_default(res, ch);
    sg2_status st = SG2_OK;
    if (!st) st = get_int(o, "z_dim", &c->z_dim, what, err);
    if (!st) st = get_int(o, "w_dim", &c->w_dim, what, err);
    if (!st) st = get_int(o, "c_dim", &c->c_dim, what, err);
    if (!st) st = get_int(o, "img_resolution", &c->img_resolution, what, err);
    if (!st) st = get_int(o, "img_channels", &c->img_channels, what, err);
    if (!st) st = get_int(o, "map_layers", &c->map_layers, what, err);
    if (!st) st = get_float(o, "map_lr_mul", &c->map_lr_mul, what, err);
    if (!st) st = get_float(o, "w_avg_beta", &c->w_avg_beta, what, err);
    if (!st) st = get_int(o, "channel_base", &c->channel_base, what, err);
    if (!st) st = get_int(o, "channel_max", &c->channel_max, what, err);
    if (!st) st = get_float(o, "conv_clamp", &c->conv_clamp, what, err);
    if (!st) st = get_arch(o, &c->arch, what, err);
    json_decref(o);
    return st ? st : sg2_g_config_check(c, err);
}

sg2_status sg2_d_config_from_json(const char *text, sg2_d_config *c, const char *what, sg2_error *err)
{
    json_t *o = parse(text, what, err);
    if (!o)
        return SG2_ERR_FORMAT;
    int res = 0, ch = 3;
    get_int(o, "img_resolution", &res, what, NULL);
    get_int(o, "img_channels", &ch, what, NULL);
    *c = sg2_d_config_default(res, ch);
    sg2_status st = SG2_OK;
    if (!st) st = get_int(o, "c_dim", &c->c_dim, what, err);
    if (!st) st = get_int(o, "channel_base", &c->channel_base, what, err);
    if (!st) st = get_int(o, "channel_max", &c->channel_max, what, err);
    if (!st) st = get_float(o, "conv_clamp", &c->conv_clamp, what, err);
    if (!st) st = get_arch(o, &c->arch, what, err);
    if (!st) st = get_int(o, "mbstd_group", &c->mbstd_group, what, err);
    if (!st) st = get_int(o, "mbstd_nfeat", &c->mbstd_nfeat, what, err);
    if (!st) st = get_int(o, "cmap_dim", &c->cmap_dim, what, err);
    if (!st) st = get_int(o, "map_layers", &c->map_layers, what, err);
    json_decref(o);
    return st ? st : sg2_d_config_check(c, err);
}
