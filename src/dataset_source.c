/* Dataset sources: a folder of PNGs, a zip in the reference's dataset format
 * (PNG entries + optional dataset.json {"labels": [[name, label], ...]}),
 * and IDX files (MNIST's format: big-endian magic 0x00000803 then n, rows,
 * cols and the pixels; labels 0x00000801 then n and one byte each). */
#include "src/dataset_source.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <zlib.h>

static int has_ext(const char *name, const char *ext)
{
    size_t n = strlen(name), e = strlen(ext);
    return n > e && strcasecmp(name + n - e, ext) == 0;
}

static int is_other_image(const char *name)
{
    static const char *exts[] = {".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"};
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++)
        if (has_ext(name, exts[i]))
            return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 2);
    if (s) {
        memcpy(s, a, na);
        s[na] = '/';
        memcpy(s + na + 1, b, nb + 1);
    }
    return s;
}

static sg2_status push_name(sg2_source *src, long *cap, char *name, sg2_error *err)
{
    if (!name)
        return sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory listing images", src->path);
    if (src->n == *cap) {
        long nc = *cap ? *cap * 2 : 256;
        char **nn = realloc(src->names, (size_t)nc * sizeof *nn);
        if (!nn) {
            free(name);
            return sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory listing images", src->path);
        }
        src->names = nn;
        *cap = nc;
    }
    src->names[src->n++] = name;
    return SG2_OK;
}

/* Relative paths of the PNGs under root/rel, recursively. */
static sg2_status list_folder(sg2_source *src, const char *rel, long *cap, sg2_error *err)
{
    char *dir_path = rel ? join(src->path, rel) : strdup(src->path);
    DIR *d = dir_path ? opendir(dir_path) : NULL;
    if (!d) {
        sg2_status st = sg2_error_set(err, SG2_ERR_IO, "%s: cannot open directory: %s", dir_path ? dir_path : src->path,
                                      strerror(errno));
        free(dir_path);
        return st;
    }
    sg2_status st = SG2_OK;
    struct dirent *e;
    while (!st && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *full = join(dir_path, e->d_name);
        char *child = rel ? join(rel, e->d_name) : strdup(e->d_name);
        struct stat sb;
        if (!full || !child)
            st = sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory listing images", src->path);
        else if (stat(full, &sb) != 0)
            st = sg2_error_set(err, SG2_ERR_IO, "%s: cannot stat: %s", full, strerror(errno));
        else if (S_ISDIR(sb.st_mode))
            st = list_folder(src, child, cap, err);
        else if (has_ext(e->d_name, ".png")) {
            st = push_name(src, cap, child, err);
            child = NULL;
        } else if (is_other_image(e->d_name))
            st = sg2_error_set(err, SG2_ERR_FORMAT,
                               "%s: only PNG images are read; convert the dataset to PNG (e.g. with ImageMagick)", full);
        free(full);
        free(child);
    }
    closedir(d);
    free(dir_path);
    return st;
}

typedef struct zip_name {
    char *name;
    zip_uint64_t index;
} zip_name;

static int cmp_zip_name(const void *a, const void *b)
{
    return strcmp(((const zip_name *)a)->name, ((const zip_name *)b)->name);
}

static sg2_status list_zip(sg2_source *src, sg2_error *err)
{
    int code = 0;
    src->zip = zip_open(src->path, ZIP_RDONLY | ZIP_CHECKCONS, &code);
    if (!src->zip) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, code);
        sg2_status st = sg2_error_set(err, code == ZIP_ER_OPEN ? SG2_ERR_IO : SG2_ERR_FORMAT,
                                      "%s: cannot open as a zip: %s", src->path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return st;
    }
    zip_int64_t entries = zip_get_num_entries(src->zip, 0);
    zip_name *list = calloc((size_t)(entries > 0 ? entries : 1), sizeof *list);
    if (!list)
        return sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory listing images", src->path);
    long n = 0;
    sg2_status st = SG2_OK;
    for (zip_int64_t i = 0; i < entries && !st; i++) {
        const char *name = zip_get_name(src->zip, (zip_uint64_t)i, 0);
        if (!name)
            st = sg2_error_set(err, SG2_ERR_FORMAT, "%s: damaged zip directory (entry %lld)", src->path, (long long)i);
        else if (has_ext(name, ".png"))
            list[n++] = (zip_name){strdup(name), (zip_uint64_t)i};
        else if (is_other_image(name))
            st = sg2_error_set(err, SG2_ERR_FORMAT, "%s:%s: only PNG images are read", src->path, name);
    }
    qsort(list, (size_t)n, sizeof *list, cmp_zip_name);
    src->names = calloc((size_t)n + 1, sizeof *src->names);
    src->zip_index = calloc((size_t)n + 1, sizeof *src->zip_index);
    if (!st && (!src->names || !src->zip_index))
        st = sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory listing images", src->path);
    for (long i = 0; i < n; i++) {
        if (!st && !list[i].name)
            st = sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory listing images", src->path);
        if (src->names) {
            src->names[i] = list[i].name;
            src->zip_index[i] = list[i].index;
            src->n = i + 1;
        } else {
            free(list[i].name);
        }
    }
    free(list);
    return st;
}

/* A whole zip entry in memory. */
static sg2_status zip_entry(sg2_source *src, zip_uint64_t index, const char *name, uint8_t **data, size_t *size,
                            sg2_error *err)
{
    zip_stat_t zs;
    if (zip_stat_index(src->zip, index, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE))
        return sg2_error_set(err, SG2_ERR_FORMAT, "%s:%s: cannot read the zip entry: %s", src->path, name,
                             zip_strerror(src->zip));
    zip_file_t *f = zip_fopen_index(src->zip, index, 0);
    if (!f)
        return sg2_error_set(err, SG2_ERR_FORMAT, "%s:%s: cannot read the zip entry: %s", src->path, name,
                             zip_strerror(src->zip));
    *data = malloc(zs.size + 1);
    zip_int64_t got = *data ? zip_fread(f, *data, zs.size) : -1;
    sg2_status st = SG2_OK;
    if (!*data)
        st = sg2_error_set(err, SG2_ERR_NOMEM, "%s:%s: out of memory", src->path, name);
    else if (got < 0 || (zip_uint64_t)got != zs.size)
        st = sg2_error_set(err, SG2_ERR_FORMAT, "%s:%s: damaged zip entry: %s", src->path, name, zip_file_strerror(f));
    zip_fclose(f);
    if (st) {
        free(*data);
        *data = NULL;
    }
    *size = (size_t)zs.size;
    return st;
}

/* The first SG2_PNG_HEAD bytes of image i (fewer if the file is shorter). */
static sg2_status read_head(sg2_source *src, long i, uint8_t *head, size_t *len, sg2_error *err)
{
    if (src->kind == SG2_SOURCE_FOLDER) {
        char *full = join(src->path, src->names[i]);
        FILE *fp = full ? fopen(full, "rb") : NULL;
        sg2_status st = SG2_OK;
        if (!fp)
            st = sg2_error_set(err, SG2_ERR_IO, "%s: cannot open: %s", full ? full : src->path, strerror(errno));
        else
            *len = fread(head, 1, SG2_PNG_HEAD, fp);
        if (fp)
            fclose(fp);
        free(full);
        return st;
    }
    zip_file_t *f = zip_fopen_index(src->zip, src->zip_index[i], 0);
    zip_int64_t got = f ? zip_fread(f, head, SG2_PNG_HEAD) : -1;
    if (f)
        zip_fclose(f);
    if (got < 0)
        return sg2_error_set(err, SG2_ERR_FORMAT, "%s:%s: damaged zip entry: %s", src->path, src->names[i],
                             zip_strerror(src->zip));
    *len = (size_t)got;
    return SG2_OK;
}

void sg2_source_image_name(const sg2_source *src, long i, char *buf, size_t cap)
{
    if (src->kind == SG2_SOURCE_FOLDER)
        snprintf(buf, cap, "%s/%s", src->path, src->names[i]);
    else if (src->kind == SG2_SOURCE_ZIP)
        snprintf(buf, cap, "%s:%s", src->path, src->names[i]);
    else
        snprintf(buf, cap, "%s[%ld]", src->path, i);
}

/* Every image's header: a PNG of the first image's size and channels. */
static sg2_status check_headers(sg2_source *src, int require_uniform, sg2_error *err)
{
    char name[2048];
    for (long i = 0; i < src->n; i++) {
        uint8_t head[SG2_PNG_HEAD];
        size_t len = 0;
        sg2_status st = read_head(src, i, head, &len, err);
        if (st)
            return st;
        int w, h, c;
        sg2_source_image_name(src, i, name, sizeof name);
        if (sg2_png_peek(head, len, &w, &h, &c))
            return sg2_error_set(err, SG2_ERR_FORMAT, "%s: not a PNG file (bad or missing header)", name);
        if (i == 0) {
            src->width = w;
            src->height = h;
            src->channels = c;
            if (!require_uniform)
                return SG2_OK;
        } else if (w != src->width || h != src->height) {
            return sg2_error_set(err, SG2_ERR_FORMAT, "%s: image is %dx%d but the first image is %dx%d (all must match; "
                                 "see `stylegan2-cl dataset`)", name, w, h, src->width, src->height);
        } else if (c != src->channels) {
            return sg2_error_set(err, SG2_ERR_FORMAT, "%s: image has %d channels but the first image has %d", name, c,
                                 src->channels);
        }
    }
    return SG2_OK;
}

typedef struct label_key {
    const char *name;
    json_t *value;
} label_key;

static int cmp_label_key(const void *a, const void *b)
{
    return strcmp(((const label_key *)a)->name, ((const label_key *)b)->name);
}

/* dataset.json's labels, in image order: integers become one-hot vectors of
 * max + 1 classes, number arrays are taken as they are (the reference). */
static sg2_status parse_labels(sg2_source *src, const char *text, size_t len, const char *where, sg2_error *err)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    if (!root)
        return sg2_error_set(err, SG2_ERR_FORMAT, "%s: invalid JSON at line %d: %s", where, je.line, je.text);
    sg2_status st = SG2_OK;
    json_t *labels = json_object_get(root, "labels");
    if (!labels || json_is_null(labels)) {
        json_decref(root);
        return SG2_OK; /* an unlabelled dataset */
    }
    size_t m = json_is_array(labels) ? json_array_size(labels) : 0;
    label_key *keys = calloc(m + 1, sizeof *keys);
    if (!json_is_array(labels))
        st = sg2_error_set(err, SG2_ERR_FORMAT, "%s: \"labels\" must be a list of [name, label] pairs", where);
    else if (!keys)
        st = sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory", where);
    int dim = 0, one_hot = 0;
    for (size_t k = 0; k < m && !st; k++) {
        json_t *pair = json_array_get(labels, k), *lab = json_array_get(pair, 1);
        const char *name = json_string_value(json_array_get(pair, 0));
        int d = json_is_integer(lab) ? (int)json_integer_value(lab) + 1 : json_is_array(lab) ? (int)json_array_size(lab) : -1;
        if (!name || d <= 0 || (k > 0 && one_hot != json_is_integer(lab)))
            st = sg2_error_set(err, SG2_ERR_FORMAT, "%s: label %zu is not [name, class] or [name, [numbers]]", where, k);
        else if (!json_is_integer(lab) && k > 0 && d != dim)
            st = sg2_error_set(err, SG2_ERR_FORMAT, "%s: label %zu has %d values, label 0 has %d", where, k, d, dim);
        one_hot = json_is_integer(lab);
        dim = one_hot ? (d > dim ? d : dim) : d;
        if (!st)
            keys[k] = (label_key){name, lab};
    }
    if (!st)
        qsort(keys, m, sizeof *keys, cmp_label_key);
    src->labels = st ? NULL : calloc((size_t)src->n * (size_t)dim + 1, sizeof *src->labels);
    if (!st && !src->labels)
        st = sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory", where);
    for (long i = 0; i < src->n && !st; i++) {
        label_key want = {src->names[i], NULL};
        const label_key *hit = bsearch(&want, keys, m, sizeof *keys, cmp_label_key);
        if (!hit) {
            st = sg2_error_set(err, SG2_ERR_FORMAT, "%s: no label for image %s", where, src->names[i]);
            break;
        }
        json_t *lab = hit->value;
        float *row = src->labels + (size_t)i * dim;
        if (one_hot)
            row[json_integer_value(lab)] = 1.0f;
        else
            for (int j = 0; j < dim; j++)
                row[j] = (float)json_number_value(json_array_get(lab, (size_t)j));
    }
    src->label_dim = st ? 0 : dim;
    free(keys);
    json_decref(root);
    return st;
}

static sg2_status load_labels(sg2_source *src, sg2_error *err)
{
    char where[2048];
    if (src->kind == SG2_SOURCE_ZIP) {
        zip_int64_t idx = zip_name_locate(src->zip, "dataset.json", 0);
        if (idx < 0)
            return SG2_OK;
        snprintf(where, sizeof where, "%s:dataset.json", src->path);
        uint8_t *data;
        size_t size;
        sg2_status st = zip_entry(src, (zip_uint64_t)idx, "dataset.json", &data, &size, err);
        if (!st)
            st = parse_labels(src, (const char *)data, size, where, err);
        free(data);
        return st;
    }
    snprintf(where, sizeof where, "%s/dataset.json", src->path);
    FILE *fp = fopen(where, "rb");
    if (!fp)
        return SG2_OK;
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            char *t = realloc(text, cap = cap ? 2 * cap : 65536);
            if (!t)
                break;
            text = t;
        }
        size_t got = fread(text + len, 1, cap - len, fp);
        len += got;
        if (got == 0)
            break;
    }
    fclose(fp);
    sg2_status st = text ? parse_labels(src, text, len, where, err)
                         : sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory", where);
    free(text);
    return st;
}

/* An IDX file, plain or gzipped (zlib reads both), whole. */
static sg2_status read_idx(const char *path, uint32_t want_magic, uint32_t *dims, int ndims, uint8_t **data,
                           sg2_error *err)
{
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return sg2_error_set(err, SG2_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t head[16];
    size_t dims_len = 4 * (size_t)ndims;
    sg2_status st = SG2_OK;
    if (gzread(gz, head, 4) != 4)
        st = sg2_error_set(err, SG2_ERR_FORMAT, "%s: not a directory, .zip or IDX file (too short)", path);
    uint32_t magic = st ? 0 : (uint32_t)head[0] << 24 | (uint32_t)head[1] << 16 | (uint32_t)head[2] << 8 | head[3];
    if (!st && magic != want_magic)
        st = sg2_error_set(err, SG2_ERR_FORMAT, "%s: not a directory, .zip or IDX file of %s (magic 0x%08x, expected 0x%08x)",
                           path, want_magic == 0x803 ? "images" : "labels", magic, want_magic);
    if (!st && gzread(gz, head + 4, (unsigned)dims_len) != (int)dims_len)
        st = sg2_error_set(err, SG2_ERR_FORMAT, "%s: IDX header is truncated", path);
    size_t total = 1;
    for (int d = 0; d < ndims && !st; d++) {
        const uint8_t *p = head + 4 + 4 * d;
        dims[d] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (dims[d] == 0 || dims[d] > (1u << 28))
            st = sg2_error_set(err, SG2_ERR_FORMAT, "%s: IDX dimension %d is %u", path, d, dims[d]);
        total *= dims[d];
    }
    if (!st && total > ((size_t)1 << 34))
        st = sg2_error_set(err, SG2_ERR_FORMAT, "%s: IDX data of %zu bytes is too large", path, total);
    *data = st ? NULL : malloc(total);
    if (!st && !*data)
        st = sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory for %zu bytes", path, total);
    for (size_t done = 0; !st && done < total;) {
        unsigned chunk = total - done > (1u << 30) ? (1u << 30) : (unsigned)(total - done);
        int got = gzread(gz, *data + done, chunk);
        if (got <= 0) {
            int zerr;
            const char *msg = gzerror(gz, &zerr);
            st = sg2_error_set(err, SG2_ERR_FORMAT, "%s: %s after %zu of %zu data bytes", path,
                               got < 0 || zerr ? msg : "file ends early (truncated)", done, total);
        }
        done += got > 0 ? (size_t)got : 0;
    }
    gzclose(gz);
    if (st) {
        free(*data);
        *data = NULL;
    }
    return st;
}

/* train-images-idx3-ubyte.gz -> train-labels-idx1-ubyte.gz */
static char *idx_labels_path(const char *path)
{
    const char *hit = strstr(path, "images-idx3");
    if (!hit)
        return NULL;
    size_t pre = (size_t)(hit - path), n = strlen(path);
    char *out = malloc(n + 1);
    if (out) {
        memcpy(out, path, pre);
        memcpy(out + pre, "labels-idx1", 11);
        memcpy(out + pre + 11, hit + 11, n - pre - 11 + 1);
    }
    return out;
}

static sg2_status open_idx(sg2_source *src, int want_labels, sg2_error *err)
{
    uint32_t dims[3];
    sg2_status st = read_idx(src->path, 0x803, dims, 3, &src->idx_pixels, err);
    if (st)
        return st;
    src->n = dims[0];
    src->idx_h = src->height = (int)dims[1];
    src->idx_w = src->width = (int)dims[2];
    src->channels = 1;
    if (!want_labels)
        return SG2_OK;
    char *lpath = idx_labels_path(src->path);
    if (!lpath)
        return sg2_error_set(err, SG2_ERR_ARG, "%s: labels wanted but the labels file cannot be named from this file name "
                             "(expected *-images-idx3-ubyte*)", src->path);
    uint8_t *lab = NULL;
    st = read_idx(lpath, 0x801, dims, 1, &lab, err);
    if (!st && dims[0] != (uint32_t)src->n)
        st = sg2_error_set(err, SG2_ERR_FORMAT, "%s: %u labels for %ld images", lpath, dims[0], src->n);
    int classes = 0;
    for (long i = 0; !st && i < src->n; i++)
        classes = lab[i] + 1 > classes ? lab[i] + 1 : classes;
    src->labels = st ? NULL : calloc((size_t)src->n * classes, sizeof *src->labels);
    if (!st && !src->labels)
        st = sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory", lpath);
    for (long i = 0; !st && i < src->n; i++)
        src->labels[(size_t)i * classes + lab[i]] = 1.0f;
    src->label_dim = st ? 0 : classes;
    free(lab);
    free(lpath);
    return st;
}

sg2_status sg2_source_open(sg2_source *src, const char *path, int want_labels, int require_uniform, sg2_error *err)
{
    memset(src, 0, sizeof *src);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return sg2_error_set(err, SG2_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    src->path = strdup(path);
    if (!src->path)
        return sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory", path);
    sg2_status st;
    if (S_ISDIR(sb.st_mode)) {
        src->kind = SG2_SOURCE_FOLDER;
        long cap = 0;
        st = list_folder(src, NULL, &cap, err);
        if (!st)
            qsort(src->names, (size_t)src->n, sizeof *src->names, cmp_str);
    } else if (has_ext(path, ".zip")) {
        src->kind = SG2_SOURCE_ZIP;
        st = list_zip(src, err);
    } else { /* IDX, plain or gzipped, recognised by its magic number */
        src->kind = SG2_SOURCE_IDX;
        st = open_idx(src, want_labels, err);
    }
    if (!st && src->n == 0)
        st = sg2_error_set(err, SG2_ERR_FORMAT, "%s: no PNG images found", path);
    if (!st && src->kind != SG2_SOURCE_IDX)
        st = check_headers(src, require_uniform, err);
    if (!st && want_labels && src->kind != SG2_SOURCE_IDX)
        st = load_labels(src, err);
    if (st)
        sg2_source_close(src);
    return st;
}

void sg2_source_close(sg2_source *src)
{
    for (long i = 0; src->names && i < src->n; i++)
        free(src->names[i]);
    free(src->names);
    if (src->zip)
        zip_discard(src->zip);
    free(src->zip_index);
    free(src->idx_pixels);
    free(src->labels);
    free(src->path);
    memset(src, 0, sizeof *src);
}

sg2_status sg2_source_read(sg2_source *src, long i, sg2_image *img, sg2_error *err)
{
    memset(img, 0, sizeof *img);
    if (src->kind == SG2_SOURCE_IDX) {
        size_t sz = (size_t)src->idx_h * src->idx_w;
        img->data = malloc(sz);
        if (!img->data)
            return sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory", src->path);
        memcpy(img->data, src->idx_pixels + (size_t)i * sz, sz);
        img->width = src->idx_w;
        img->height = src->idx_h;
        img->channels = 1;
        return SG2_OK;
    }
    char name[2048];
    sg2_source_image_name(src, i, name, sizeof name);
    if (src->kind == SG2_SOURCE_FOLDER) {
        char *full = join(src->path, src->names[i]);
        sg2_status st = full ? sg2_png_read(img, full, err) : sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory", name);
        free(full);
        return st;
    }
    uint8_t *data;
    size_t size;
    sg2_status st = zip_entry(src, src->zip_index[i], src->names[i], &data, &size, err);
    if (!st)
        st = sg2_png_read_mem(img, data, size, name, err);
    free(data);
    return st;
}
