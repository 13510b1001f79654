/* Walks a parsed network pickle into a flat list of named float32 tensors
 * (see pkl_model.h). Every step checks the class names it expects, so an
 * unexpected object (even os.system) is reported, never used. */
#include "src/pkl_model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Module trees of StyleGAN2 are 4-5 levels deep; more means a hostile cycle. */
#define MAX_DEPTH 32
#define MAX_NAME 512

typedef struct builder {
    sg2_pkl_net *net;
    size_t cap;
    sg2_pkl *doc;
    const char *file;
    const char *which; /* the network's key, for messages */
    sg2_error *err;
} builder;

static sg2_status fail(builder *b, sg2_status status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static sg2_status fail(builder *b, sg2_status status, const char *fmt, ...)
{
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return sg2_error_set(b->err, status, "%s: %s: %s", b->file, b->which, text);
}

static sg2_status add_tensor(builder *b, const char *name, const sg2_pkl_node *value, int is_buffer, int numpy)
{
    sg2_pkl_net *net = b->net;
    if (net->count == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64;
        sg2_pkl_tensor *t = realloc(net->tensors, nc * sizeof *t);
        if (!t)
            return fail(b, SG2_ERR_NOMEM, "out of memory for %zu tensors", nc);
        net->tensors = t;
        b->cap = nc;
    }
    sg2_pkl_tensor *t = &net->tensors[net->count];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name)))
        return fail(b, SG2_ERR_NOMEM, "out of memory");
    t->is_buffer = is_buffer;
    net->count++; /* counted now so sg2_pkl_net_free releases the name on failure */
    char what[MAX_NAME + 64];
    snprintf(what, sizeof what, "%s '%s' of %s", numpy ? "variable" : "tensor", name, b->which);
    return numpy ? sg2_pkl_numpy_array(&t->array, b->doc, value, what, b->err)
                 : sg2_pkl_torch_tensor(&t->array, b->doc, value, what, b->err);
}

static sg2_status join(builder *b, char *out, const char *prefix, const char *key, const char *sep)
{
    int n = snprintf(out, MAX_NAME, "%s%s%s", prefix, key, sep);
    if (n < 0 || n >= MAX_NAME)
        return fail(b, SG2_ERR_FORMAT, "name '%s%s' longer than %d bytes", prefix, key, MAX_NAME - 1);
    return SG2_OK;
}

/* ---- torch snapshots ---- */

/* The nn.Module __dict__ of a pickled module, with its class name: a
 * persistent object's meta.state, or the BUILD state of a plain module. */
static const sg2_pkl_node *module_state(const sg2_pkl_node *node, const char **class_name, int64_t *version)
{
    if (sg2_pkl_is_call(node, "torch_utils.persistence", "_reconstruct_persistent_obj")) {
        const sg2_pkl_node *meta = node->args->count == 1 ? node->args->items[0] : NULL;
        const char *type = sg2_pkl_as_str(sg2_pkl_get(meta, "type"));
        const sg2_pkl_node *state = sg2_pkl_mapping(sg2_pkl_get(meta, "state"));
        if (!type || strcmp(type, "class") || !state)
            return NULL;
        *class_name = sg2_pkl_as_str(sg2_pkl_get(meta, "class_name"));
        if (!sg2_pkl_as_int(sg2_pkl_get(meta, "version"), version))
            *version = 0;
        return state;
    }
    if (node && node->kind == SG2_PKL_OBJECT && sg2_pkl_get(node->state, "_parameters")) {
        const sg2_pkl_node *cls = node->cls;
        if (sg2_pkl_is_global(cls, "copyreg", "_reconstructor") && node->args->count >= 1)
            cls = node->args->items[0]; /* protocol 0/1 spelling of cls.__new__ */
        *class_name = cls->kind == SG2_PKL_GLOBAL ? cls->name : NULL;
        *version = 0;
        return sg2_pkl_mapping(node->state);
    }
    return NULL;
}

static int is_module(const sg2_pkl_node *node)
{
    const char *name;
    int64_t version;
    return module_state(node, &name, &version) != NULL;
}

/* Names in _non_persistent_buffers_set (a set, or builtins.set([...])). */
static int non_persistent(const sg2_pkl_node *set, const char *name)
{
    if (set && set->kind == SG2_PKL_OBJECT)
        set = set->listitems ? set->listitems : set->args->count ? set->args->items[0] : NULL;
    if (!set || (set->kind != SG2_PKL_SET && set->kind != SG2_PKL_LIST && set->kind != SG2_PKL_TUPLE))
        return 0;
    for (size_t i = 0; i < set->count; i++)
        if (sg2_pkl_as_str(set->items[i]) && !strcmp(set->items[i]->str, name))
            return 1;
    return 0;
}

static sg2_status walk_module(builder *b, const sg2_pkl_node *node, const char *prefix, int depth)
{
    char desc[160], name[MAX_NAME];
    const char *class_name;
    int64_t version;
    const sg2_pkl_node *state = module_state(node, &class_name, &version);
    if (!state) {
        sg2_pkl_describe(desc, sizeof desc, node);
        return fail(b, SG2_ERR_FORMAT, "%s%s%s is a %s, expected torch_utils.persistence._reconstruct_persistent_obj",
                    *prefix ? "module '" : "the network", prefix, *prefix ? "'" : "", desc);
    }
    if (depth > MAX_DEPTH)
        return fail(b, SG2_ERR_FORMAT, "modules nested deeper than %d at '%s'", MAX_DEPTH, prefix);
    const sg2_pkl_node *params = sg2_pkl_mapping(sg2_pkl_get(state, "_parameters"));
    const sg2_pkl_node *buffers = sg2_pkl_mapping(sg2_pkl_get(state, "_buffers"));
    const sg2_pkl_node *modules = sg2_pkl_mapping(sg2_pkl_get(state, "_modules"));
    const sg2_pkl_node *skip = sg2_pkl_get(state, "_non_persistent_buffers_set");
    if (!params)
        return fail(b, SG2_ERR_FORMAT, "module '%s' (%s) has no _parameters dict", prefix,
                    class_name ? class_name : "?");
    /* state_dict() order: parameters, persistent buffers, then children. */
    for (int pass = 0; pass < 2; pass++) {
        const sg2_pkl_node *map = pass ? buffers : params;
        for (size_t i = 0; map && i < map->count; i++) {
            const char *key = sg2_pkl_as_str(map->items[2 * i]);
            const sg2_pkl_node *value = map->items[2 * i + 1];
            if (!key)
                return fail(b, SG2_ERR_FORMAT, "module '%s': a %s name is not a string", prefix,
                            pass ? "buffer" : "parameter");
            if (value->kind == SG2_PKL_NONE || (pass && non_persistent(skip, key)))
                continue;
            sg2_status s = join(b, name, prefix, key, "");
            if (!s)
                s = add_tensor(b, name, value, pass, 0);
            if (s)
                return s;
        }
    }
    for (size_t i = 0; modules && i < modules->count; i++) {
        const char *key = sg2_pkl_as_str(modules->items[2 * i]);
        const sg2_pkl_node *child = modules->items[2 * i + 1];
        if (!key)
            return fail(b, SG2_ERR_FORMAT, "module '%s': a child name is not a string", prefix);
        if (child->kind == SG2_PKL_NONE)
            continue;
        sg2_status s = join(b, name, prefix, key, ".");
        if (!s)
            s = walk_module(b, child, name, depth + 1);
        if (s)
            return s;
    }
    return SG2_OK;
}

static void list_keys(char *out, size_t size, const sg2_pkl_node *map)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; map && i < map->count && used + 1 < size; i++) {
        const char *k = sg2_pkl_as_str(map->items[2 * i]);
        int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "", k ? k : "?");
        used += n > 0 ? (size_t)n : 0;
    }
}

static sg2_status load_torch(builder *b, const sg2_pkl_node *root)
{
    const sg2_pkl_node *node = root;
    if (!is_module(root)) {
        node = sg2_pkl_get(root, b->which);
        if (!node) {
            char keys[200];
            list_keys(keys, sizeof keys, sg2_pkl_mapping(root));
            return fail(b, SG2_ERR_FORMAT, "no such key in the pickle (keys: %s)", keys);
        }
    }
    const char *class_name = NULL;
    const sg2_pkl_node *state = module_state(node, &class_name, &b->net->version);
    if (state) {
        b->net->kwargs = sg2_pkl_get(state, "_init_kwargs");
        b->net->args = sg2_pkl_get(state, "_init_args");
        if (class_name && !(b->net->class_name = strdup(class_name)))
            return fail(b, SG2_ERR_NOMEM, "out of memory");
    }
    return walk_module(b, node, "", 0);
}

/* ---- TensorFlow pickles ---- */

static int is_tf_net(const sg2_pkl_node *node)
{
    return sg2_pkl_is_call(node, "dnnlib.tflib.network", "Network");
}

static sg2_status walk_tf(builder *b, const sg2_pkl_node *node, const char *prefix, int depth)
{
    char desc[160], name[MAX_NAME];
    if (!is_tf_net(node)) {
        sg2_pkl_describe(desc, sizeof desc, node);
        return fail(b, SG2_ERR_FORMAT, "component '%s' is a %s, expected dnnlib.tflib.network.Network", prefix, desc);
    }
    if (depth > MAX_DEPTH)
        return fail(b, SG2_ERR_FORMAT, "components nested deeper than %d at '%s'", MAX_DEPTH, prefix);
    const sg2_pkl_node *state = sg2_pkl_mapping(node->state);
    const sg2_pkl_node *vars = sg2_pkl_get(state, "variables");
    const sg2_pkl_node *comps = sg2_pkl_get(state, "components");
    if (!vars || (vars->kind != SG2_PKL_LIST && vars->kind != SG2_PKL_TUPLE))
        return fail(b, SG2_ERR_FORMAT, "network '%s' has no 'variables' list in its state", prefix);
    if (comps && comps->kind != SG2_PKL_NONE && !(comps = sg2_pkl_mapping(comps)))
        return fail(b, SG2_ERR_FORMAT, "network '%s': 'components' is not a dict", prefix);
    /* Own variables first, then components with "<key>/" prefixes (legacy.py's order). */
    for (size_t i = 0; i < vars->count; i++) {
        const sg2_pkl_node *v = vars->items[i];
        if ((v->kind != SG2_PKL_TUPLE && v->kind != SG2_PKL_LIST) || v->count != 2 || !sg2_pkl_as_str(v->items[0]))
            return fail(b, SG2_ERR_FORMAT, "network '%s': variable %zu is not a (name, array) pair", prefix, i);
        sg2_status s = join(b, name, prefix, v->items[0]->str, "");
        if (!s)
            s = add_tensor(b, name, v->items[1], 0, 1);
        if (s)
            return s;
    }
    for (size_t i = 0; comps && comps->kind == SG2_PKL_DICT && i < comps->count; i++) {
        const char *key = sg2_pkl_as_str(comps->items[2 * i]);
        if (!key)
            return fail(b, SG2_ERR_FORMAT, "network '%s': a component name is not a string", prefix);
        sg2_status s = join(b, name, prefix, key, "/");
        if (!s)
            s = walk_tf(b, comps->items[2 * i + 1], name, depth + 1);
        if (s)
            return s;
    }
    return SG2_OK;
}

static int is_tf_tuple(const sg2_pkl_node *root)
{
    return root->kind == SG2_PKL_TUPLE && root->count == 3 && is_tf_net(root->items[0]) &&
           is_tf_net(root->items[1]) && is_tf_net(root->items[2]);
}

static sg2_status load_tf(builder *b, const sg2_pkl_node *root)
{
    const sg2_pkl_node *node = root;
    if (is_tf_tuple(root)) {
        int idx = !strcmp(b->which, "G") ? 0 : !strcmp(b->which, "D") ? 1
                : !strcmp(b->which, "Gs") || !strcmp(b->which, "G_ema") ? 2 : -1;
        if (idx < 0)
            return fail(b, SG2_ERR_FORMAT, "no such network in a TensorFlow pickle (G, D, Gs)");
        node = root->items[idx];
    } else if (strcmp(b->which, "Gs") && strcmp(b->which, "G_ema")) {
        return fail(b, SG2_ERR_FORMAT, "this TensorFlow pickle holds a single network (Gs)");
    }
    const sg2_pkl_node *state = sg2_pkl_mapping(node->state);
    const char *name = sg2_pkl_as_str(sg2_pkl_get(state, "name"));
    b->net->kwargs = sg2_pkl_get(state, "static_kwargs");
    if (!sg2_pkl_as_int(sg2_pkl_get(state, "version"), &b->net->version))
        b->net->version = 0;
    if (name && !(b->net->class_name = strdup(name)))
        return fail(b, SG2_ERR_NOMEM, "out of memory");
    return walk_tf(b, node, "", 0);
}

/* ---- public ---- */

sg2_pkl_format sg2_pkl_detect(const sg2_pkl *doc)
{
    const sg2_pkl_node *root = sg2_pkl_root(doc);
    if (is_tf_net(root) || is_tf_tuple(root))
        return SG2_PKL_FORMAT_TF;
    if (is_module(root))
        return SG2_PKL_FORMAT_TORCH;
    const sg2_pkl_node *map = sg2_pkl_mapping(root);
    for (size_t i = 0; map && i < map->count; i++)
        if (is_module(map->items[2 * i + 1]))
            return SG2_PKL_FORMAT_TORCH;
    return SG2_PKL_FORMAT_UNKNOWN;
}

sg2_status sg2_pkl_net_from_doc(sg2_pkl_net *out, sg2_pkl *doc, const char *which, sg2_error *err)
{
    memset(out, 0, sizeof *out);
    out->doc = doc;
    sg2_pkl_format format = sg2_pkl_detect(doc);
    const sg2_pkl_node *root = sg2_pkl_root(doc);
    builder b = {.net = out, .doc = doc, .file = sg2_pkl_name(doc), .err = err};
    sg2_status s;
    if (format == SG2_PKL_FORMAT_TF) {
        b.which = which ? which : "Gs";
        s = load_tf(&b, root);
    } else if (format == SG2_PKL_FORMAT_TORCH || sg2_pkl_mapping(root)) {
        /* A dict without modules still gets the per-key message. */
        b.which = which ? which : "G_ema";
        s = load_torch(&b, root);
    } else {
        char desc[160];
        sg2_pkl_describe(desc, sizeof desc, root);
        s = sg2_error_set(err, SG2_ERR_FORMAT,
                          "%s: the pickle holds a %s, not a network snapshot (dict of networks or (G, D, Gs) tuple)",
                          b.file, desc);
    }
    out->format = format;
    if (s) {
        sg2_pkl_net_free(out);
        out->doc = NULL;
    }
    return s;
}

sg2_status sg2_pkl_net_load(sg2_pkl_net *out, const char *path, const char *which, sg2_error *err)
{
    sg2_pkl *doc;
    memset(out, 0, sizeof *out);
    sg2_status s = sg2_pkl_load(&doc, path, err);
    if (s)
        return s;
    s = sg2_pkl_net_from_doc(out, doc, which, err);
    if (s) {
        sg2_pkl_free(doc);
        return s;
    }
    out->owns_doc = 1;
    return SG2_OK;
}

void sg2_pkl_net_free(sg2_pkl_net *net)
{
    if (!net)
        return;
    for (size_t i = 0; i < net->count; i++) {
        free(net->tensors[i].name);
        sg2_pkl_array_free(&net->tensors[i].array);
    }
    free(net->tensors);
    free(net->class_name);
    if (net->owns_doc)
        sg2_pkl_free(net->doc);
    memset(net, 0, sizeof *net);
}

const sg2_pkl_tensor *sg2_pkl_net_find(const sg2_pkl_net *net, const char *name)
{
    for (size_t i = 0; i < net->count; i++)
        if (!strcmp(net->tensors[i].name, name))
            return &net->tensors[i];
    return NULL;
}

const sg2_pkl_node *sg2_pkl_net_kwarg(const sg2_pkl_net *net, const char *path)
{
    return net->kwargs ? sg2_pkl_lookup(net->kwargs, path) : NULL;
}
