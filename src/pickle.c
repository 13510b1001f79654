/* Pickle documents (the file bytes, the node arena, loading) and reading
 * meaning into their trees: dict lookups, class-name checks, numbers, and the
 * two array encodings found in network pickles (torch tensors with their
 * legacy torch.save storage blobs, and numpy arrays). The opcode machine
 * itself is in pickle_ops.c. */
#include "src/pickle.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- documents ---- */

#define ARENA_BLOCK ((size_t)1 << 20)

typedef struct arena_block {
    struct arena_block *next;
    size_t used, size;
    max_align_t data[]; /* aligned for any node */
} arena_block;

struct sg2_pkl {
    char *name;           /* file name for messages */
    uint8_t *buf;         /* the whole file; bytes nodes point into it */
    size_t size;
    arena_block *blocks;  /* every node, string and converted byte string */
    size_t n_nodes;
    const sg2_pkl_node *root;
};

static void *arena_alloc(sg2_pkl *p, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    arena_block *cur = p->blocks;
    if (cur && cur->size - cur->used >= n) {
        void *r = (unsigned char *)cur->data + cur->used;
        cur->used += n;
        return r;
    }
    size_t sz = n > ARENA_BLOCK ? n : ARENA_BLOCK;
    arena_block *b = malloc(sizeof *b + sz);
    if (!b)
        return NULL;
    b->size = sz;
    b->used = n;
    if (cur && n > ARENA_BLOCK / 4) {
        /* A big one-off: keep filling the current block afterwards. */
        b->next = cur->next;
        cur->next = b;
    } else {
        b->next = cur;
        p->blocks = b;
    }
    return b->data;
}

void *sg2_pkl_alloc(sg2_pkl *pkl, size_t n) { return arena_alloc(pkl, n); }

sg2_pkl_node *sg2_pkl_node_new(sg2_pkl *pkl, sg2_pkl_kind kind, size_t offset)
{
    if (pkl->n_nodes >= SG2_PKL_MAX_NODES)
        return NULL;
    sg2_pkl_node *n = arena_alloc(pkl, sizeof *n);
    if (!n)
        return NULL;
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->offset = offset;
    pkl->n_nodes++;
    return n;
}

const uint8_t *sg2_pkl_bytes(const sg2_pkl *pkl, size_t *size)
{
    *size = pkl->size;
    return pkl->buf;
}


/* Take ownership of buf (even on failure) and unpickle it. */
static sg2_status adopt(sg2_pkl **out, uint8_t *buf, size_t size, const char *name, sg2_error *err)
{
    sg2_pkl *p = calloc(1, sizeof *p);
    if (!p || !(p->name = strdup(name))) {
        free(p);
        free(buf);
        return sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory", name);
    }
    p->buf = buf;
    p->size = size;
    size_t pos = 0;
    const sg2_pkl_node *root;
    sg2_status s = sg2_pkl_parse(p, p->buf, p->size, &pos, NULL, &root, err);
    if (s) {
        sg2_pkl_free(p);
        return s;
    }
    p->root = root;
    *out = p;
    return SG2_OK;
}

sg2_status sg2_pkl_load_mem(sg2_pkl **out, const void *data, size_t size, const char *name, sg2_error *err)
{
    *out = NULL;
    name = name ? name : "<memory>";
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory for %zu bytes", name, size);
    if (size)
        memcpy(buf, data, size);
    return adopt(out, buf, size, name, err);
}

sg2_status sg2_pkl_load(sg2_pkl **out, const char *path, sg2_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sg2_error_set(err, SG2_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t *buf = NULL;
    size_t size = 0, cap = 0, got = 1;
    while (got) {
        if (size == cap) {
            size_t nc = cap ? cap * 2 : (size_t)1 << 16;
            uint8_t *nb = realloc(buf, nc);
            if (!nb) {
                free(buf);
                fclose(f);
                return sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory after %zu bytes", path, size);
            }
            buf = nb;
            cap = nc;
        }
        got = fread(buf + size, 1, cap - size, f);
        size += got;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return sg2_error_set(err, SG2_ERR_IO, "%s: read error", path);
    }
    return adopt(out, buf, size, path, err);
}

void sg2_pkl_free(sg2_pkl *pkl)
{
    if (!pkl)
        return;
    for (arena_block *b = pkl->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(pkl->buf);
    free(pkl->name);
    free(pkl);
}

const sg2_pkl_node *sg2_pkl_root(const sg2_pkl *pkl) { return pkl->root; }
const char *sg2_pkl_name(const sg2_pkl *pkl) { return pkl->name; }

/* ---- nodes ---- */

const char *sg2_pkl_kind_name(sg2_pkl_kind kind)
{
    switch (kind) {
    case SG2_PKL_NONE: return "None";
    case SG2_PKL_BOOL: return "bool";
    case SG2_PKL_INT: return "int";
    case SG2_PKL_BIGINT: return "big int";
    case SG2_PKL_FLOAT: return "float";
    case SG2_PKL_STR: return "str";
    case SG2_PKL_BYTES: return "bytes";
    case SG2_PKL_TUPLE: return "tuple";
    case SG2_PKL_LIST: return "list";
    case SG2_PKL_SET: return "set";
    case SG2_PKL_DICT: return "dict";
    case SG2_PKL_GLOBAL: return "global";
    case SG2_PKL_OBJECT: return "object";
    case SG2_PKL_PERSID: return "persistent id";
    }
    return "?";
}

int sg2_pkl_is_global(const sg2_pkl_node *node, const char *module, const char *name)
{
    return node && node->kind == SG2_PKL_GLOBAL && !strcmp(node->str, module) && !strcmp(node->name, name);
}

int sg2_pkl_is_call(const sg2_pkl_node *node, const char *module, const char *name)
{
    return node && node->kind == SG2_PKL_OBJECT && sg2_pkl_is_global(node->cls, module, name);
}

/* Classes whose instances are plain mappings once their SETITEMS are in. */
static int dict_class(const sg2_pkl_node *cls)
{
    return sg2_pkl_is_global(cls, "collections", "OrderedDict") || sg2_pkl_is_global(cls, "builtins", "dict") ||
           sg2_pkl_is_global(cls, "dnnlib.util", "EasyDict") || sg2_pkl_is_global(cls, "dnnlib", "EasyDict");
}

const sg2_pkl_node *sg2_pkl_mapping(const sg2_pkl_node *node)
{
    static const sg2_pkl_node empty = {.kind = SG2_PKL_DICT};
    if (!node)
        return NULL;
    if (node->kind == SG2_PKL_DICT)
        return node;
    if (node->kind == SG2_PKL_OBJECT && (node->dictitems || dict_class(node->cls)))
        return node->dictitems ? node->dictitems : &empty;
    return NULL;
}

const sg2_pkl_node *sg2_pkl_get(const sg2_pkl_node *map, const char *key)
{
    map = sg2_pkl_mapping(map);
    if (!map)
        return NULL;
    for (size_t i = map->count; i-- > 0;) { /* the last of duplicate keys wins */
        const sg2_pkl_node *k = map->items[2 * i];
        if (k->kind == SG2_PKL_STR && !strcmp(k->str, key))
            return map->items[2 * i + 1];
    }
    return NULL;
}

const sg2_pkl_node *sg2_pkl_lookup(const sg2_pkl_node *map, const char *path)
{
    char key[256];
    while (map && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof key)
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        map = sg2_pkl_get(map, key);
        path += dot ? n + 1 : n;
    }
    return map;
}

const char *sg2_pkl_as_str(const sg2_pkl_node *node)
{
    return node && node->kind == SG2_PKL_STR ? node->str : NULL;
}

void sg2_pkl_describe(char *buf, size_t size, const sg2_pkl_node *node)
{
    if (!node) {
        snprintf(buf, size, "nothing");
        return;
    }
    switch (node->kind) {
    case SG2_PKL_INT: snprintf(buf, size, "int %lld", (long long)node->ival); break;
    case SG2_PKL_STR: snprintf(buf, size, "str '%.40s%s'", node->str, node->len > 40 ? "..." : ""); break;
    case SG2_PKL_GLOBAL: snprintf(buf, size, "global %s.%s", node->str, node->name); break;
    case SG2_PKL_OBJECT:
        if (node->cls->kind == SG2_PKL_GLOBAL)
            snprintf(buf, size, "%s.%s object", node->cls->str, node->cls->name);
        else
            snprintf(buf, size, "object made by a %s", sg2_pkl_kind_name(node->cls->kind));
        break;
    default: snprintf(buf, size, "%s", sg2_pkl_kind_name(node->kind)); break;
    }
}

/* ---- element types ---- */

typedef enum { E_F16, E_BF16, E_F32, E_F64, E_BOOL, E_I8, E_U8, E_I16, E_U16, E_I32, E_U32, E_I64, E_U64 } etype;

typedef struct elem_type {
    const char *name;
    int size;
    etype t;
} elem_type;

static const elem_type elem_types[] = {
    {"float16", 2, E_F16}, {"bfloat16", 2, E_BF16}, {"float32", 4, E_F32}, {"float64", 8, E_F64},
    {"bool", 1, E_BOOL},   {"int8", 1, E_I8},       {"uint8", 1, E_U8},    {"int16", 2, E_I16},
    {"uint16", 2, E_U16},  {"int32", 4, E_I32},     {"uint32", 4, E_U32},  {"int64", 8, E_I64},
    {"uint64", 8, E_U64},
};

static const elem_type *elem_by_kind(char kind, int size)
{
    for (size_t i = 0; i < sizeof elem_types / sizeof elem_types[0]; i++) {
        const elem_type *e = &elem_types[i];
        char k = e->t == E_BOOL ? 'b' : e->name[0] == 'f' ? 'f' : e->name[0] == 'u' ? 'u' : 'i';
        if (e->t != E_BF16 && k == kind && e->size == size)
            return e;
    }
    return NULL;
}

static float half_to_float(uint16_t h)
{
    int exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    float v = exp == 0    ? ldexpf((float)man, -24) /* subnormal */
              : exp == 31 ? (man ? NAN : INFINITY)
                          : ldexpf((float)(man | 0x400), exp - 25);
    return (h & 0x8000) ? -v : v;
}

/* One element at p (little-endian unless swap) as a double. */
static double elem_value(const uint8_t *p, const elem_type *e, int swap)
{
    uint64_t u = 0;
    for (int i = 0; i < e->size; i++)
        u |= (uint64_t)p[swap ? e->size - 1 - i : i] << (8 * i);
    switch (e->t) {
    case E_F16: return half_to_float((uint16_t)u);
    case E_BF16: {
        uint32_t bits = (uint32_t)u << 16;
        float f;
        memcpy(&f, &bits, 4);
        return f;
    }
    case E_F32: {
        uint32_t bits = (uint32_t)u;
        float f;
        memcpy(&f, &bits, 4);
        return f;
    }
    case E_F64: {
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    case E_BOOL: return u != 0;
    case E_I8: return (int8_t)u;
    case E_U8: return (uint8_t)u;
    case E_I16: return (int16_t)u;
    case E_U16: return (uint16_t)u;
    case E_I32: return (int32_t)u;
    case E_U32: return (uint32_t)u;
    case E_I64: return (double)(int64_t)u;
    case E_U64: return (double)u;
    }
    return 0;
}

/* Copy a strided view out of raw[0..raw_numel) into a fresh row-major float
 * array. shape/strides/offset are in elements. */
static sg2_status gather(sg2_pkl_array *out, const uint8_t *raw, int64_t raw_numel, const elem_type *e, int swap,
                         int64_t offset, int ndim, const int64_t *shape, const int64_t *strides, const char *file,
                         const char *what, sg2_error *err)
{
    memset(out, 0, sizeof *out);
    int64_t numel = 1, last = offset;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || strides[d] < 0 || shape[d] > SG2_PKL_MAX_ELEMS || strides[d] > SG2_PKL_MAX_ELEMS)
            return sg2_error_set(err, SG2_ERR_FORMAT, "%s: %s: bad size %lld or stride %lld in dim %d", file, what,
                                 (long long)shape[d], (long long)strides[d], d);
        numel *= shape[d];
        if (numel > SG2_PKL_MAX_ELEMS)
            return sg2_error_set(err, SG2_ERR_FORMAT, "%s: %s: more than 2^31 elements", file, what);
    }
    if (numel > 0) {
        for (int d = 0; d < ndim; d++)
            last += (shape[d] - 1) * strides[d]; /* sizes multiply to <= 2^31, strides <= 2^31: fits */
        if (offset < 0 || last >= raw_numel)
            return sg2_error_set(err, SG2_ERR_FORMAT,
                                 "%s: %s: view (offset %lld, last element %lld) outside its storage of %lld elements",
                                 file, what, (long long)offset, (long long)last, (long long)raw_numel);
    }
    out->ndim = ndim;
    memcpy(out->shape, shape, (size_t)ndim * sizeof *shape);
    out->numel = (size_t)numel;
    out->dtype = e->name;
    if (numel == 0)
        return SG2_OK;
    if (!(out->data = malloc((size_t)numel * sizeof *out->data)))
        return sg2_error_set(err, SG2_ERR_NOMEM, "%s: %s: out of memory for %lld floats", file, what, (long long)numel);
    int64_t idx[SG2_PKL_MAX_DIMS] = {0}, src = offset;
    for (int64_t i = 0; i < numel; i++) {
        out->data[i] = (float)elem_value(raw + (size_t)src * (size_t)e->size, e, swap);
        for (int d = ndim - 1; d >= 0; d--) { /* odometer over the index, last dim fastest */
            src += strides[d];
            if (++idx[d] < shape[d])
                break;
            src -= strides[d] * shape[d];
            idx[d] = 0;
        }
    }
    return SG2_OK;
}

void sg2_pkl_array_free(sg2_pkl_array *array)
{
    if (array) {
        free(array->data);
        memset(array, 0, sizeof *array);
    }
}

/* Read a tuple of non-negative ints (sizes, strides). */
static int int_tuple(const sg2_pkl_node *t, int64_t *out, int *n)
{
    if (!t || (t->kind != SG2_PKL_TUPLE && t->kind != SG2_PKL_LIST) || t->count > SG2_PKL_MAX_DIMS)
        return 0;
    for (size_t i = 0; i < t->count; i++)
        if (!sg2_pkl_as_int(t->items[i], &out[i]) || out[i] < 0)
            return 0;
    *n = (int)t->count;
    return 1;
}

/* ---- torch tensors ---- */

static const struct {
    const char *name;
    const char *dtype;
} torch_storages[] = {
    {"FloatStorage", "float32"}, {"HalfStorage", "float16"}, {"BFloat16Storage", "bfloat16"},
    {"DoubleStorage", "float64"}, {"LongStorage", "int64"},  {"IntStorage", "int32"},
    {"ShortStorage", "int16"},   {"CharStorage", "int8"},    {"ByteStorage", "uint8"},
    {"BoolStorage", "bool"},
};

static const elem_type *elem_by_name(const char *dtype)
{
    for (size_t i = 0; i < sizeof elem_types / sizeof elem_types[0]; i++)
        if (!strcmp(elem_types[i].name, dtype))
            return &elem_types[i];
    return NULL;
}

/* torch.save's legacy magic number 0x1950a86a20f9469cfc6c, little-endian. */
static const uint8_t torch_magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

typedef struct torch_storage {
    const elem_type *e;
    const uint8_t *raw;
    int64_t numel;
} torch_storage;

/* torch.storage._load_from_bytes(blob): blob is a legacy torch.save stream of
 * five pickles (magic number, protocol 1001, sys info, the storage as a
 * persistent id ('storage', torch.XStorage, key, location, numel[, view]),
 * the list of keys), then per key an int64 element count and the raw data. */
static sg2_status load_storage(torch_storage *st, sg2_pkl *pkl, const sg2_pkl_node *node, const char *what,
                               sg2_error *err)
{
    const char *file = sg2_pkl_name(pkl);
    char desc[160];
    if (!sg2_pkl_is_call(node, "torch.storage", "_load_from_bytes") || node->args->count != 1 ||
        node->args->items[0]->kind != SG2_PKL_BYTES) {
        sg2_pkl_describe(desc, sizeof desc, node);
        return sg2_error_set(err, SG2_ERR_FORMAT,
                             "%s: %s: storage is a %s, expected torch.storage._load_from_bytes(bytes)", file, what,
                             desc);
    }
    const sg2_pkl_node *blob = node->args->items[0];
    char where[300];
    snprintf(where, sizeof where, "storage of %s at byte %zu", what, blob->offset);
    const sg2_pkl_node *part[5];
    size_t pos = 0;
    for (int i = 0; i < 5; i++) {
        sg2_status s = sg2_pkl_parse(pkl, blob->bytes, blob->len, &pos, where, &part[i], err);
        if (s)
            return s;
    }
    int64_t proto = 0;
    const sg2_pkl_node *pid = part[3]->args, *keys = part[4];
    if (part[0]->kind != SG2_PKL_BIGINT || part[0]->len != sizeof torch_magic ||
        memcmp(part[0]->bytes, torch_magic, sizeof torch_magic) || !sg2_pkl_as_int(part[1], &proto) ||
        proto != 1001)
        return sg2_error_set(err, SG2_ERR_FORMAT, "%s (%s): not a legacy torch.save stream (magic or protocol)", file,
                             where);
    const sg2_pkl_node *le = sg2_pkl_get(part[2], "little_endian");
    if (le && le->kind == SG2_PKL_BOOL && !le->ival)
        return sg2_error_set(err, SG2_ERR_UNSUPPORTED, "%s (%s): big-endian storage", file, where);
    if (part[3]->kind != SG2_PKL_PERSID || pid->kind != SG2_PKL_TUPLE || pid->count < 5 || pid->count > 6 ||
        !sg2_pkl_as_str(pid->items[0]) || strcmp(pid->items[0]->str, "storage") ||
        pid->items[1]->kind != SG2_PKL_GLOBAL || strcmp(pid->items[1]->str, "torch") ||
        !sg2_pkl_as_str(pid->items[2]) || !sg2_pkl_as_int(pid->items[4], &st->numel) || st->numel < 0 ||
        (pid->count == 6 && pid->items[5]->kind != SG2_PKL_NONE))
        return sg2_error_set(err, SG2_ERR_FORMAT,
                             "%s (%s): expected persistent id ('storage', torch.<Type>Storage, key, location, numel)",
                             file, where);
    st->e = NULL;
    for (size_t i = 0; i < sizeof torch_storages / sizeof torch_storages[0]; i++)
        if (!strcmp(pid->items[1]->name, torch_storages[i].name))
            st->e = elem_by_name(torch_storages[i].dtype);
    if (!st->e)
        return sg2_error_set(err, SG2_ERR_UNSUPPORTED, "%s (%s): storage type torch.%s is not supported", file, where,
                             pid->items[1]->name);
    /* One storage per blob: its key comes first in the key list. */
    if (keys->kind != SG2_PKL_LIST || keys->count < 1 || !sg2_pkl_as_str(keys->items[0]) ||
        strcmp(keys->items[0]->str, pid->items[2]->str))
        return sg2_error_set(err, SG2_ERR_FORMAT, "%s (%s): storage key '%s' is not first in the key list", file, where,
                             pid->items[2]->str);
    if (blob->len - pos < 8)
        return sg2_error_set(err, SG2_ERR_FORMAT, "%s (%s): truncated before the element count", file, where);
    uint64_t count = 0;
    for (int i = 7; i >= 0; i--)
        count = (count << 8) | blob->bytes[pos + (size_t)i];
    pos += 8;
    if (count != (uint64_t)st->numel || st->numel > SG2_PKL_MAX_ELEMS)
        return sg2_error_set(err, SG2_ERR_FORMAT, "%s (%s): element count %llu, expected %lld (at most 2^31)", file,
                             where, (unsigned long long)count, (long long)st->numel);
    if ((uint64_t)(blob->len - pos) < count * (uint64_t)st->e->size)
        return sg2_error_set(err, SG2_ERR_FORMAT, "%s (%s): truncated: %llu %s elements need %llu bytes, %zu left",
                             file, where, (unsigned long long)count, st->e->name,
                             (unsigned long long)(count * (uint64_t)st->e->size), blob->len - pos);
    st->raw = blob->bytes + pos;
    return SG2_OK;
}

static int is_rebuild_tensor(const sg2_pkl_node *n)
{
    return sg2_pkl_is_call(n, "torch._utils", "_rebuild_tensor_v2") ||
           sg2_pkl_is_call(n, "torch._utils", "_rebuild_tensor");
}

static int is_rebuild_parameter(const sg2_pkl_node *n)
{
    return sg2_pkl_is_call(n, "torch._utils", "_rebuild_parameter") ||
           sg2_pkl_is_call(n, "torch._utils", "_rebuild_parameter_with_state");
}

int sg2_pkl_is_torch_tensor(const sg2_pkl_node *node)
{
    if (is_rebuild_parameter(node) && node->args->count >= 1)
        node = node->args->items[0];
    return is_rebuild_tensor(node);
}

sg2_status sg2_pkl_torch_tensor(sg2_pkl_array *out, sg2_pkl *pkl, const sg2_pkl_node *node, const char *what,
                                sg2_error *err)
{
    const char *file = sg2_pkl_name(pkl);
    memset(out, 0, sizeof *out);
    if (!sg2_pkl_is_torch_tensor(node)) {
        char desc[160];
        sg2_pkl_describe(desc, sizeof desc, node);
        return sg2_error_set(err, SG2_ERR_FORMAT, "%s: %s is a %s, expected a torch tensor (torch._utils._rebuild_tensor_v2)",
                             file, what, desc);
    }
    if (is_rebuild_parameter(node))
        node = node->args->items[0];
    const sg2_pkl_node *a = node->args;
    int64_t offset, shape[SG2_PKL_MAX_DIMS], strides[SG2_PKL_MAX_DIMS];
    int ndim = 0, nstride = -1;
    if (a->count < 4 || !sg2_pkl_as_int(a->items[1], &offset) || offset < 0 || !int_tuple(a->items[2], shape, &ndim) ||
        !int_tuple(a->items[3], strides, &nstride) || nstride != ndim)
        return sg2_error_set(err, SG2_ERR_FORMAT,
                             "%s: %s: bad _rebuild_tensor arguments (expected storage, offset, size, stride; at most %d dims)",
                             file, what, SG2_PKL_MAX_DIMS);
    torch_storage st;
    sg2_status s = load_storage(&st, pkl, a->items[0], what, err);
    if (s)
        return s;
    return gather(out, st.raw, st.numel, st.e, 0, offset, ndim, shape, strides, file, what, err);
}

/* ---- numpy arrays ---- */

static int numpy_call(const sg2_pkl_node *n, const char *submodule, const char *name)
{
    char a[64], b[64];
    snprintf(a, sizeof a, "numpy.core.%s", submodule);
    snprintf(b, sizeof b, "numpy._core.%s", submodule);
    return sg2_pkl_is_call(n, a, name) || sg2_pkl_is_call(n, b, name);
}

/* numpy.dtype('f4', False, True) with BUILD state (3, '<', ...). */
static const elem_type *numpy_dtype(const sg2_pkl_node *d, int *swap)
{
    if (!sg2_pkl_is_call(d, "numpy", "dtype") || d->args->count < 1 || !sg2_pkl_as_str(d->args->items[0]))
        return NULL;
    const char *code = d->args->items[0]->str;
    char *end;
    long size = strtol(code + 1, &end, 10);
    if (!code[0] || *end || size <= 0 || size > 8)
        return NULL;
    *swap = 0;
    if (d->state && d->state->kind == SG2_PKL_TUPLE && d->state->count >= 2) {
        const char *order = sg2_pkl_as_str(d->state->items[1]);
        if (order && !strcmp(order, ">"))
            *swap = 1; /* pickles record '<', '>' or '|' (no order) */
    }
    return elem_by_kind(code[0], (int)size);
}

int sg2_pkl_is_numpy_array(const sg2_pkl_node *node)
{
    return numpy_call(node, "multiarray", "_reconstruct") || numpy_call(node, "numeric", "_frombuffer") ||
           numpy_call(node, "multiarray", "scalar");
}

sg2_status sg2_pkl_numpy_array(sg2_pkl_array *out, sg2_pkl *pkl, const sg2_pkl_node *node, const char *what,
                               sg2_error *err)
{
    static const sg2_pkl_node no_dims = {.kind = SG2_PKL_TUPLE};
    const char *file = sg2_pkl_name(pkl);
    memset(out, 0, sizeof *out);
    const sg2_pkl_node *dtype, *shape_t, *data;
    int fortran = 0;
    if (numpy_call(node, "multiarray", "_reconstruct")) {
        /* BUILD state: (version, shape, dtype, is_fortran, data), or without version. */
        const sg2_pkl_node *st = node->state;
        if (!st || st->kind != SG2_PKL_TUPLE || st->count < 4 || st->count > 5)
            return sg2_error_set(err, SG2_ERR_FORMAT, "%s: %s: numpy array without its (shape, dtype, data) state",
                                 file, what);
        size_t k = st->count - 4;
        int64_t f = 0;
        shape_t = st->items[k];
        dtype = st->items[k + 1];
        if (!sg2_pkl_as_int(st->items[k + 2], &f))
            return sg2_error_set(err, SG2_ERR_FORMAT, "%s: %s: bad numpy order flag", file, what);
        fortran = f != 0;
        data = st->items[k + 3];
    } else if (numpy_call(node, "numeric", "_frombuffer")) {
        /* _frombuffer(buffer, dtype, shape, order) */
        const sg2_pkl_node *a = node->args;
        if (a->count != 4 || !sg2_pkl_as_str(a->items[3]))
            return sg2_error_set(err, SG2_ERR_FORMAT, "%s: %s: bad numpy _frombuffer arguments", file, what);
        data = a->items[0];
        dtype = a->items[1];
        shape_t = a->items[2];
        fortran = !strcmp(a->items[3]->str, "F");
    } else if (numpy_call(node, "multiarray", "scalar") && node->args->count == 2) {
        /* A numpy number (TF's session.run gives np.float32 for 0-d variables): a 0-d array. */
        dtype = node->args->items[0];
        data = node->args->items[1];
        shape_t = &no_dims;
    } else {
        char desc[160];
        sg2_pkl_describe(desc, sizeof desc, node);
        return sg2_error_set(err, SG2_ERR_FORMAT, "%s: %s is a %s, expected a numpy array", file, what, desc);
    }
    int swap = 0, ndim = 0;
    const elem_type *e = numpy_dtype(dtype, &swap);
    if (!e) {
        const char *code = dtype && dtype->kind == SG2_PKL_OBJECT && dtype->args->count ? sg2_pkl_as_str(dtype->args->items[0]) : NULL;
        return sg2_error_set(err, SG2_ERR_UNSUPPORTED, "%s: %s: numpy dtype '%s' is not supported", file, what,
                             code ? code : "?");
    }
    int64_t shape[SG2_PKL_MAX_DIMS], strides[SG2_PKL_MAX_DIMS];
    if (!int_tuple(shape_t, shape, &ndim))
        return sg2_error_set(err, SG2_ERR_FORMAT, "%s: %s: bad numpy shape (at most %d dims)", file, what,
                             SG2_PKL_MAX_DIMS);
    if (!data || data->kind != SG2_PKL_BYTES)
        return sg2_error_set(err, SG2_ERR_UNSUPPORTED, "%s: %s: numpy data is a %s, not raw bytes (object array?)",
                             file, what, data ? sg2_pkl_kind_name(data->kind) : "nothing");
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        numel *= shape[d];
        if (shape[d] > SG2_PKL_MAX_ELEMS || numel > SG2_PKL_MAX_ELEMS)
            return sg2_error_set(err, SG2_ERR_FORMAT, "%s: %s: more than 2^31 elements", file, what);
    }
    if ((uint64_t)data->len != (uint64_t)numel * (uint64_t)e->size)
        return sg2_error_set(err, SG2_ERR_FORMAT, "%s: %s: %zu data bytes for %lld %s elements", file, what,
                             data->len, (long long)numel, e->name);
    int64_t step = 1;
    for (int i = 0; i < ndim; i++) { /* element strides of C or Fortran order */
        int d = fortran ? i : ndim - 1 - i;
        strides[d] = step;
        step *= shape[d];
    }
    return gather(out, data->bytes, numel, e, swap, 0, ndim, shape, strides, file, what, err);
}

/* ---- numbers ---- */

/* numpy.core.multiarray.scalar(dtype, bytes): a numpy number such as
 * np.float64(0.5). Integers are also given exactly in *ival. */
static int numpy_scalar(const sg2_pkl_node *n, double *out, int64_t *ival, int *is_int)
{
    int swap;
    const elem_type *e;
    if (!numpy_call(n, "multiarray", "scalar") || n->args->count != 2 ||
        !(e = numpy_dtype(n->args->items[0], &swap)) || n->args->items[1]->kind != SG2_PKL_BYTES ||
        n->args->items[1]->len != (size_t)e->size)
        return 0;
    const uint8_t *p = n->args->items[1]->bytes;
    *out = elem_value(p, e, swap);
    *is_int = e->t != E_F16 && e->t != E_BF16 && e->t != E_F32 && e->t != E_F64;
    if (*is_int) {
        uint64_t u = 0;
        for (int i = 0; i < e->size; i++)
            u |= (uint64_t)p[swap ? e->size - 1 - i : i] << (8 * i);
        int sign = e->t == E_I8 || e->t == E_I16 || e->t == E_I32 || e->t == E_I64;
        if (sign && e->size < 8 && (u >> (8 * e->size - 1)) & 1)
            u |= ~(uint64_t)0 << (8 * e->size); /* sign-extend */
        if (!sign && e->size == 8 && u > (uint64_t)INT64_MAX)
            return 0;
        *ival = (int64_t)u;
    }
    return 1;
}

int sg2_pkl_as_int(const sg2_pkl_node *node, int64_t *out)
{
    double d;
    int is_int;
    if (node && (node->kind == SG2_PKL_INT || node->kind == SG2_PKL_BOOL)) {
        *out = node->ival;
        return 1;
    }
    return numpy_scalar(node, &d, out, &is_int) && is_int;
}

int sg2_pkl_as_double(const sg2_pkl_node *node, double *out)
{
    int is_int;
    if (node && (node->kind == SG2_PKL_INT || node->kind == SG2_PKL_BOOL)) {
        *out = (double)node->ival;
        return 1;
    }
    if (node && node->kind == SG2_PKL_FLOAT) {
        *out = node->fval;
        return 1;
    }
    int64_t ival;
    return numpy_scalar(node, out, &ival, &is_int);
}
