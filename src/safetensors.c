/* safetensors reading and writing (format in safetensors.h).
 *
 * The reader keeps the parsed JSON alive and points names, dtypes and
 * metadata into it; tensor bytes are read with pread() on demand, so a large
 * checkpoint is never held in memory twice. */
#include "src/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sg2_safetensors {
    char *path;
    int fd;
    json_t *root;          /* owns the strings below */
    uint64_t data_start;   /* 8 + header length */
    uint64_t data_len;
    int n;
    sg2_st_info *t;        /* [n], sorted by begin */
    int64_t *shapes;       /* all shapes, back to back */
    const sg2_st_info **by_name; /* [n] pointers into t, sorted by name */
    int n_meta;
    sg2_st_meta *meta;     /* [n_meta] */
};

static const struct { const char *name; int size; } dtypes[] = {
    {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F64", 8}, {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E5M2", 1},
    {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"I32", 4}, {"U32", 4}, {"I64", 8}, {"U64", 8},
};

static int dtype_size(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(name, dtypes[i].name) == 0)
            return dtypes[i].size;
    return 0;
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static uint64_t load_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static float half_to_float(uint32_t h)
{
    uint32_t sign = (h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) { /* zero or subnormal: mant * 2^-24, exact in float */
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    if (exp == 31)
        bits = sign | 0x7f800000u | (mant << 13);
    else
        bits = sign | ((exp + 112) << 23) | (mant << 13); /* rebias 15 -> 127 */
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float decode_one(const unsigned char *p, const char *dtype)
{
    if (strcmp(dtype, "F16") == 0)
        return half_to_float((uint32_t)load_le(p, 2));
    if (strcmp(dtype, "BF16") == 0 || strcmp(dtype, "F32") == 0) {
        uint32_t bits = dtype[0] == 'B' ? (uint32_t)load_le(p, 2) << 16 : (uint32_t)load_le(p, 4);
        float f;
        memcpy(&f, &bits, 4);
        return f;
    }
    uint64_t bits = load_le(p, 8);
    double d;
    memcpy(&d, &bits, 8);
    return (float)d;
}

/* ---- writing ---------------------------------------------------------- */

/* Element count, or -1 for a negative size or more than INT64_MAX / 8
 * elements (so byte counts of any dtype fit in 64 bits). */
static int64_t shape_numel(int ndim, const int64_t *shape)
{
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (shape[d] > 0 && numel > INT64_MAX / 8 / shape[d]))
            return -1;
        numel *= shape[d];
    }
    return numel;
}

static sg2_status build_header(json_t **out, const char *path, const sg2_st_entry *t, int n, const sg2_st_meta *meta,
                               int n_meta, sg2_error *err)
{
    json_t *root = json_object();
    if (!root)
        return sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory", path);
    *out = root;
    if (n_meta > 0) {
        json_t *m = json_object();
        if (!m || json_object_set_new(root, "__metadata__", m))
            return sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory", path);
        for (int i = 0; i < n_meta; i++) {
            if (!meta[i].key || !meta[i].value || json_object_get(m, meta[i].key))
                return sg2_error_set(err, SG2_ERR_ARG, "%s: metadata key %d ('%s') is missing or repeated", path, i,
                                     meta[i].key ? meta[i].key : "");
            if (json_object_set_new(m, meta[i].key, json_string(meta[i].value)))
                return sg2_error_set(err, SG2_ERR_ARG, "%s: metadata '%s' is not valid UTF-8", path, meta[i].key);
        }
    }
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        const char *name = t[i].name;
        if (!name || !*name || strcmp(name, "__metadata__") == 0 || json_object_get(root, name))
            return sg2_error_set(err, SG2_ERR_ARG, "%s: tensor %d's name '%s' is empty, reserved or repeated", path, i,
                                 name ? name : "");
        if (t[i].ndim < 0 || t[i].ndim > SG2_ST_MAX_DIMS || (t[i].ndim > 0 && !t[i].shape))
            return sg2_error_set(err, SG2_ERR_ARG, "%s: tensor '%s' has %d dimensions", path, name, t[i].ndim);
        int64_t numel = shape_numel(t[i].ndim, t[i].shape);
        if (numel < 0 || (numel > 0 && !t[i].data) || 4 * (uint64_t)numel > (uint64_t)INT64_MAX - offset)
            return sg2_error_set(err, SG2_ERR_ARG, "%s: tensor '%s' has a bad shape or no data", path, name);
        json_t *shape = json_array();
        for (int d = 0; d < t[i].ndim; d++)
            json_array_append_new(shape, json_integer(t[i].shape[d]));
        /* "o" hands the shape array to the new object. */
        json_t *info = json_pack("{s:s, s:o, s:[I, I]}", "dtype", "F32", "shape", shape, "data_offsets",
                                 (json_int_t)offset, (json_int_t)(offset + 4 * (uint64_t)numel));
        if (!info || json_object_set_new(root, name, info))
            return sg2_error_set(err, SG2_ERR_ARG, "%s: tensor name '%s' is not valid UTF-8", path, name);
        offset += 4 * (uint64_t)numel;
    }
    return SG2_OK;
}

static int write_all(FILE *fp, const void *p, size_t len)
{
    return len == 0 || fwrite(p, 1, len, fp) == len ? 0 : -1;
}

/* float32 data in little-endian byte order, converting in pieces if needed. */
static int write_floats(FILE *fp, const float *data, int64_t n)
{
    if (host_is_little_endian())
        return write_all(fp, data, (size_t)n * 4);
    unsigned char buf[4096];
    for (int64_t i = 0; i < n;) {
        size_t k = 0;
        for (; k + 4 <= sizeof buf && i < n; k += 4, i++) {
            uint32_t b;
            memcpy(&b, &data[i], 4);
            for (int j = 0; j < 4; j++)
                buf[k + j] = (unsigned char)(b >> (8 * j));
        }
        if (write_all(fp, buf, k))
            return -1;
    }
    return 0;
}

/* fsync the directory so the rename itself survives a crash (best effort). */
static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    int fd = dir ? open(dir, O_RDONLY) : -1;
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

sg2_status sg2_safetensors_write(const char *path, const sg2_st_entry *tensors, int n, const sg2_st_meta *meta,
                                 int n_meta, sg2_error *err)
{
    if (n < 0 || n_meta < 0 || (n > 0 && !tensors) || (n_meta > 0 && !meta))
        return sg2_error_set(err, SG2_ERR_ARG, "%s: bad tensor or metadata list", path);
    json_t *root = NULL;
    sg2_status st = build_header(&root, path, tensors, n, meta, n_meta, err);
    char *text = st ? NULL : json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (st)
        return st;
    if (!text)
        return sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory", path);
    size_t len = strlen(text), padded = (len + 7) / 8 * 8;
    unsigned char lenbuf[8];
    for (int j = 0; j < 8; j++)
        lenbuf[j] = (unsigned char)((uint64_t)padded >> (8 * j));
    size_t cap = strlen(path) + 32;
    char *tmp = malloc(cap);
    FILE *fp = NULL;
    if (tmp) {
        snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid());
        fp = fopen(tmp, "wb");
    }
    if (!fp) {
        st = tmp ? sg2_error_set(err, SG2_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno))
                 : sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory", path);
        free(tmp);
        free(text);
        return st;
    }
    int bad = write_all(fp, lenbuf, 8) || write_all(fp, text, len) || write_all(fp, "       ", padded - len);
    for (int i = 0; i < n && !bad; i++)
        bad = write_floats(fp, tensors[i].data, shape_numel(tensors[i].ndim, tensors[i].shape));
    free(text);
    if (bad || fflush(fp) || fsync(fileno(fp)))
        st = sg2_error_set(err, SG2_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (fclose(fp) && !st)
        st = sg2_error_set(err, SG2_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (!st && rename(tmp, path))
        st = sg2_error_set(err, SG2_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
    if (st)
        remove(tmp);
    else
        sync_parent_dir(path);
    free(tmp);
    return st;
}

/* ---- reading ---------------------------------------------------------- */

/* Each check names the file; the first failure is the one reported. */
#define BAD(...) sg2_error_set(err, SG2_ERR_FORMAT, __VA_ARGS__)

/* A JSON integer in [0, INT64_MAX]. */
static int get_u64(json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static char *shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (k < cap)
        snprintf(buf + k, cap - k, "]");
    return buf;
}

static sg2_status parse_metadata(sg2_safetensors *f, json_t *m, sg2_error *err)
{
    if (!json_is_object(m))
        return BAD("%s: __metadata__ is not an object", f->path);
    f->meta = calloc(json_object_size(m) + 1, sizeof *f->meta);
    if (!f->meta)
        return sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory", f->path);
    const char *key;
    json_t *v;
    json_object_foreach (m, key, v) {
        if (!json_is_string(v))
            return BAD("%s: __metadata__ value of '%s' is not a string", f->path, key);
        f->meta[f->n_meta].key = key;
        f->meta[f->n_meta++].value = json_string_value(v);
    }
    return SG2_OK;
}

/* One tensor entry: dtype, shape, offsets, and that they agree. */
static sg2_status parse_tensor(sg2_safetensors *f, sg2_st_info *t, int64_t *shape, const char *name, json_t *v,
                               sg2_error *err)
{
    const char *path = f->path;
    if (!json_is_object(v))
        return BAD("%s: header entry '%s' is not an object", path, name);
    json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"),
           *off = json_object_get(v, "data_offsets");
    if (!json_is_string(dt))
        return BAD("%s: tensor '%s' has no dtype string", path, name);
    int size = dtype_size(json_string_value(dt));
    if (!size)
        return BAD("%s: tensor '%s' has unknown dtype '%s'", path, name, json_string_value(dt));
    if (!json_is_array(sh) || json_array_size(sh) > SG2_ST_MAX_DIMS)
        return BAD("%s: tensor '%s' has no shape array (of at most %d sizes)", path, name, SG2_ST_MAX_DIMS);
    t->name = name;
    t->dtype = json_string_value(dt);
    t->ndim = (int)json_array_size(sh);
    t->shape = shape;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t s;
        if (get_u64(json_array_get(sh, (size_t)d), &s))
            return BAD("%s: tensor '%s' shape entry %d is not a non-negative integer", path, name, d);
        shape[d] = (int64_t)s;
    }
    t->numel = shape_numel(t->ndim, shape);
    if (t->numel < 0)
        return BAD("%s: tensor '%s' shape is too large", path, name);
    if (!json_is_array(off) || json_array_size(off) != 2 || get_u64(json_array_get(off, 0), &t->begin) ||
        get_u64(json_array_get(off, 1), &t->end))
        return BAD("%s: tensor '%s' data_offsets is not a pair of non-negative integers", path, name);
    char buf[256];
    if (t->end < t->begin)
        return BAD("%s: tensor '%s' data_offsets [%llu, %llu] end before they begin", path, name,
                   (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end - t->begin != (uint64_t)t->numel * (uint64_t)size)
        return BAD("%s: tensor '%s' of shape %s and dtype %s needs %llu bytes but data_offsets [%llu, %llu] hold %llu",
                   path, name, shape_str(buf, sizeof buf, t->ndim, shape), t->dtype,
                   (unsigned long long)t->numel * (unsigned long long)size, (unsigned long long)t->begin,
                   (unsigned long long)t->end, (unsigned long long)(t->end - t->begin));
    if (t->end > f->data_len)
        return BAD("%s: tensor '%s' data_offsets [%llu, %llu] run past the end of the data (%llu bytes): "
                   "out of bounds, or the file is truncated",
                   path, name, (unsigned long long)t->begin, (unsigned long long)t->end,
                   (unsigned long long)f->data_len);
    return SG2_OK;
}

static int by_begin(const void *a, const void *b)
{
    const sg2_st_info *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const sg2_st_info *const *)a)->name, (*(const sg2_st_info *const *)b)->name);
}

/* Tensors must tile the data section exactly, as the reference requires. */
static sg2_status check_layout(sg2_safetensors *f, sg2_error *err)
{
    qsort(f->t, (size_t)f->n, sizeof *f->t, by_begin);
    uint64_t pos = 0;
    for (int i = 0; i < f->n; i++) {
        const sg2_st_info *t = &f->t[i];
        if (t->begin < pos)
            return BAD("%s: tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap", f->path, f->t[i - 1].name,
                       (unsigned long long)f->t[i - 1].begin, (unsigned long long)f->t[i - 1].end, t->name,
                       (unsigned long long)t->begin, (unsigned long long)t->end);
        if (t->begin > pos)
            return BAD("%s: %llu unused bytes before tensor '%s' at data offset %llu", f->path,
                       (unsigned long long)(t->begin - pos), t->name, (unsigned long long)pos);
        pos = t->end;
    }
    if (pos != f->data_len)
        return BAD("%s: %llu bytes after the last tensor's data (the header describes %llu of %llu)", f->path,
                   (unsigned long long)(f->data_len - pos), (unsigned long long)pos,
                   (unsigned long long)f->data_len);
    return SG2_OK;
}

static sg2_status parse_header(sg2_safetensors *f, const char *text, size_t len, sg2_error *err)
{
    json_error_t je;
    f->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!f->root) {
        if (strstr(je.text, "duplicate object key"))
            return BAD("%s: header repeats a name (%s, line %d, column %d)", f->path, je.text, je.line, je.column);
        return BAD("%s: header is not valid JSON: %s (line %d, column %d)", f->path, je.text, je.line, je.column);
    }
    if (!json_is_object(f->root))
        return BAD("%s: header is not a JSON object", f->path);
    size_t cap = json_object_size(f->root);
    size_t n_dims = 0;
    const char *name;
    json_t *v;
    json_object_foreach (f->root, name, v)
        if (json_is_object(v) && json_is_array(json_object_get(v, "shape")))
            n_dims += json_array_size(json_object_get(v, "shape"));
    f->t = calloc(cap + 1, sizeof *f->t);
    f->shapes = calloc(n_dims + 1, sizeof *f->shapes);
    f->by_name = calloc(cap + 1, sizeof *f->by_name);
    if (!f->t || !f->shapes || !f->by_name)
        return sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory", f->path);
    size_t used = 0;
    json_object_foreach (f->root, name, v) {
        sg2_status st = strcmp(name, "__metadata__") == 0
                            ? parse_metadata(f, v, err)
                            : parse_tensor(f, &f->t[f->n], f->shapes + used, name, v, err);
        if (st)
            return st;
        if (strcmp(name, "__metadata__") != 0)
            used += (size_t)f->t[f->n++].ndim;
    }
    sg2_status st = check_layout(f, err);
    if (st)
        return st;
    for (int i = 0; i < f->n; i++)
        f->by_name[i] = &f->t[i];
    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, by_name);
    return SG2_OK;
}

static sg2_status read_at(const sg2_safetensors *f, void *buf, size_t len, uint64_t pos, const char *what,
                          sg2_error *err)
{
    size_t done = 0;
    while (done < len) {
        ssize_t got = pread(f->fd, (char *)buf + done, len - done, (off_t)(pos + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return sg2_error_set(err, SG2_ERR_IO, "%s: reading %s: %s", f->path, what, strerror(errno));
        if (got == 0)
            return BAD("%s: the file ends early while reading %s (truncated)", f->path, what);
        done += (size_t)got;
    }
    return SG2_OK;
}

sg2_status sg2_safetensors_open(sg2_safetensors **out, const char *path, sg2_error *err)
{
    *out = NULL;
    sg2_safetensors *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory", path);
    }
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (f->fd < 0 || fstat(f->fd, &sb)) {
        sg2_status st = sg2_error_set(err, SG2_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        sg2_safetensors_close(f);
        return st;
    }
    uint64_t size = (uint64_t)sb.st_size;
    unsigned char lenbuf[8];
    char *text = NULL;
    sg2_status st = SG2_OK;
    if (size < 8)
        st = BAD("%s: %llu bytes is too short for a safetensors file", path, (unsigned long long)size);
    if (!st)
        st = read_at(f, lenbuf, 8, 0, "the header length", err);
    uint64_t hlen = st ? 0 : load_le(lenbuf, 8);
    if (!st && hlen > SG2_ST_MAX_HEADER)
        st = BAD("%s: header length %llu is absurd (limit %llu): not a safetensors file?", path,
                 (unsigned long long)hlen, SG2_ST_MAX_HEADER);
    if (!st && hlen > size - 8)
        st = BAD("%s: header length %llu is larger than the rest of the file (%llu bytes)", path,
                 (unsigned long long)hlen, (unsigned long long)(size - 8));
    if (!st && hlen < 2)
        st = BAD("%s: header length %llu is too small for a JSON object", path, (unsigned long long)hlen);
    if (!st && !(text = malloc(hlen)))
        st = sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory for a %llu-byte header", path,
                           (unsigned long long)hlen);
    if (!st)
        st = read_at(f, text, hlen, 8, "the header", err);
    if (!st) {
        f->data_start = 8 + hlen;
        f->data_len = size - 8 - hlen;
        st = parse_header(f, text, hlen, err);
    }
    free(text);
    if (st) {
        sg2_safetensors_close(f);
        return st;
    }
    *out = f;
    return SG2_OK;
}

void sg2_safetensors_close(sg2_safetensors *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    json_decref(f->root);
    free(f->t);
    free(f->shapes);
    free(f->by_name);
    free(f->meta);
    free(f->path);
    free(f);
}

int sg2_safetensors_count(const sg2_safetensors *f) { return f->n; }

const sg2_st_info *sg2_safetensors_at(const sg2_safetensors *f, int i)
{
    return i >= 0 && i < f->n ? &f->t[i] : NULL;
}

const sg2_st_info *sg2_safetensors_find(const sg2_safetensors *f, const char *name)
{
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(name, f->by_name[mid]->name);
        if (c == 0)
            return f->by_name[mid];
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

int sg2_safetensors_meta_count(const sg2_safetensors *f) { return f->n_meta; }

const sg2_st_meta *sg2_safetensors_meta_at(const sg2_safetensors *f, int i)
{
    return i >= 0 && i < f->n_meta ? &f->meta[i] : NULL;
}

const char *sg2_safetensors_meta(const sg2_safetensors *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, key) == 0)
            return f->meta[i].value;
    return NULL;
}

sg2_status sg2_safetensors_read(const sg2_safetensors *f, const char *name, int ndim, const int64_t *shape,
                                float *out, sg2_error *err)
{
    const sg2_st_info *t = sg2_safetensors_find(f, name);
    if (!t)
        return BAD("%s: no tensor named '%s'", f->path, name);
    if (shape && (ndim != t->ndim || memcmp(shape, t->shape, (size_t)ndim * sizeof *shape) != 0)) {
        char have[256], want[256];
        return sg2_error_set(err, SG2_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected %s", f->path, name,
                             shape_str(have, sizeof have, t->ndim, t->shape), shape_str(want, sizeof want, ndim, shape));
    }
    int size = dtype_size(t->dtype);
    int is_f32 = strcmp(t->dtype, "F32") == 0;
    if (!is_f32 && strcmp(t->dtype, "F16") != 0 && strcmp(t->dtype, "BF16") != 0 && strcmp(t->dtype, "F64") != 0)
        return sg2_error_set(err, SG2_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s, which does not convert to float32",
                             f->path, name, t->dtype);
    if (is_f32 && host_is_little_endian())
        return read_at(f, out, (size_t)t->numel * 4, f->data_start + t->begin, name, err);
    /* Convert in pieces: the raw bytes never sit in memory all at once. */
    unsigned char buf[1 << 16];
    int64_t per = (int64_t)sizeof buf / size;
    for (int64_t i = 0; i < t->numel; i += per) {
        int64_t k = t->numel - i < per ? t->numel - i : per;
        sg2_status st = read_at(f, buf, (size_t)(k * size), f->data_start + t->begin + (uint64_t)(i * size), name, err);
        if (st)
            return st;
        for (int64_t j = 0; j < k; j++)
            out[i + j] = decode_one(buf + j * size, t->dtype);
    }
    return SG2_OK;
}
