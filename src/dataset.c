/* The training dataset: a source (src/dataset_source.c) seen through the
 * reference's subset and mirror, served as seeded batches, optionally read
 * ahead by a background thread. */
#include "src/dataset.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "src/dataset_source.h"
#include "host/splitmix.h"
#include "src/np_random.h"

typedef struct prefetch_slot {
    long b;           /* batch index held, -1: none */
    float *images, *labels;
    sg2_status st;
    sg2_error err;
} prefetch_slot;

/* Batches base .. base + depth - 1 are wanted; the thread fills them in
 * order. A request for any other batch moves base there and bumps the
 * generation, so work in flight for the old position is dropped. */
typedef struct prefetch {
    pthread_t thread;
    pthread_cond_t cond;
    int running, stop;
    uint64_t seed;
    int n, depth;
    long base, fill;
    unsigned generation;
    prefetch_slot *slots;
} prefetch;

struct sg2_dataset {
    sg2_source src;
    pthread_mutex_t lock;  /* serialises source reads, the permutation cache and the prefetch state */
    long *raw_idx;         /* source image of each unmirrored item (subset applied) */
    long n_items;          /* unmirrored items */
    long count;            /* n_items, doubled with mirror */
    int res, channels, label_dim;
    int pad_y, pad_x;      /* IDX images sit centred in a res x res frame */
    char *name;
    long perm_epoch;       /* the cached permutation's epoch, -1: none */
    uint64_t perm_seed;
    long *perm;
    prefetch pf;
};

static int is_pow2(int v)
{
    return v > 0 && (v & (v - 1)) == 0;
}

/* numpy's legacy random_interval: a value in [0, max] by masked rejection. */
static uint32_t np_interval(sg2_np_random *r, uint32_t max)
{
    if (max == 0)
        return 0;
    uint32_t mask = max;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    uint32_t v;
    while ((v = sg2_np_random_u32(r) & mask) > max) {
    }
    return v;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* The reference's max_size: RandomState(0).shuffle(all), keep the first n, sorted. */
static void choose_subset(long *idx, long total, long keep)
{
    sg2_np_random r;
    sg2_np_random_seed(&r, 0);
    for (long i = total - 1; i > 0; i--) {
        long j = (long)np_interval(&r, (uint32_t)i);
        long t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    qsort(idx, (size_t)keep, sizeof *idx, cmp_long);
}

static char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *b = slash && slash[1] ? slash + 1 : path;
    char *name = strdup(b);
    if (!name)
        return NULL;
    size_t n = strlen(name);
    while (n > 1 && name[n - 1] == '/')
        name[--n] = '\0';
    if (n > 3 && strcmp(name + n - 3, ".gz") == 0)
        name[n -= 3] = '\0';
    char *dot = strrchr(name, '.');
    if (dot && dot != name)
        *dot = '\0';
    return name;
}

/* Training needs square power-of-two images; IDX digits are padded to one. */
static sg2_status set_geometry(sg2_dataset *ds, sg2_error *err)
{
    sg2_source *s = &ds->src;
    ds->channels = s->channels;
    if (s->kind == SG2_SOURCE_IDX) {
        int side = s->width > s->height ? s->width : s->height;
        for (ds->res = 4; ds->res < side; ds->res *= 2) {
        }
        ds->pad_y = (ds->res - s->height) / 2;
        ds->pad_x = (ds->res - s->width) / 2;
        return SG2_OK;
    }
    char name[2048];
    sg2_source_image_name(s, 0, name, sizeof name);
    if (s->width != s->height || !is_pow2(s->width) || s->width < 4)
        return sg2_error_set(err, SG2_ERR_FORMAT, "%s: image is %dx%d; training needs square images whose side is a power "
                             "of two >= 4 (prepare them with `stylegan2-cl dataset`)", name, s->width, s->height);
    ds->res = s->width;
    return SG2_OK;
}

sg2_status sg2_dataset_open(sg2_dataset **out, const char *path, const sg2_dataset_opts *opts, sg2_error *err)
{
    *out = NULL;
    sg2_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory", path);
    sg2_status st = sg2_source_open(&ds->src, path, opts->use_labels, 1, err);
    if (st) {
        free(ds);
        return st;
    }
    pthread_mutex_init(&ds->lock, NULL);
    pthread_cond_init(&ds->pf.cond, NULL);
    ds->perm_epoch = -1;
    st = set_geometry(ds, err);
    if (!st && opts->use_labels && ds->src.label_dim == 0)
        st = sg2_error_set(err, SG2_ERR_ARG, "%s: --cond needs labels, and this dataset has none (dataset.json \"labels\")",
                           path);
    ds->label_dim = opts->use_labels ? ds->src.label_dim : 0;
    long total = ds->src.n;
    ds->n_items = opts->subset > 0 && opts->subset < total ? opts->subset : total;
    ds->count = ds->n_items * (opts->mirror ? 2 : 1);
    ds->raw_idx = st ? NULL : malloc((size_t)total * sizeof *ds->raw_idx);
    ds->name = st ? NULL : base_name(path);
    if (!st && (!ds->raw_idx || !ds->name))
        st = sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory", path);
    if (st) {
        sg2_dataset_close(ds);
        return st;
    }
    for (long i = 0; i < total; i++)
        ds->raw_idx[i] = i;
    if (ds->n_items < total)
        choose_subset(ds->raw_idx, total, ds->n_items);
    *out = ds;
    return SG2_OK;
}

void sg2_dataset_close(sg2_dataset *ds)
{
    if (!ds)
        return;
    sg2_dataset_prefetch_stop(ds);
    sg2_source_close(&ds->src);
    pthread_mutex_destroy(&ds->lock);
    pthread_cond_destroy(&ds->pf.cond);
    free(ds->raw_idx);
    free(ds->perm);
    free(ds->name);
    free(ds);
}

long sg2_dataset_count(const sg2_dataset *ds) { return ds->count; }
int sg2_dataset_resolution(const sg2_dataset *ds) { return ds->res; }
int sg2_dataset_channels(const sg2_dataset *ds) { return ds->channels; }
int sg2_dataset_label_dim(const sg2_dataset *ds) { return ds->label_dim; }
const char *sg2_dataset_name(const sg2_dataset *ds) { return ds->name; }

/* Decoded HWC pixels -> CHW in the res x res frame, flipped in x on request. */
static void place(const sg2_dataset *ds, const sg2_image *img, int flip, uint8_t *chw)
{
    int R = ds->res, C = ds->channels;
    memset(chw, 0, (size_t)C * R * R);
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) {
            int ox = ds->pad_x + (flip ? img->width - 1 - x : x);
            for (int c = 0; c < C; c++)
                chw[((size_t)c * R + ds->pad_y + y) * R + ox] = img->data[((size_t)y * img->width + x) * C + c];
        }
}

/* Read image i without taking the lock (callers hold it). */
static sg2_status get_locked(sg2_dataset *ds, long i, uint8_t *pixels, float *label, sg2_error *err)
{
    if (i < 0 || i >= ds->count)
        return sg2_error_set(err, SG2_ERR_ARG, "%s: image %ld out of range [0, %ld)", ds->src.path, i, ds->count);
    long raw = ds->raw_idx[i % ds->n_items];
    if (label && ds->label_dim)
        memcpy(label, ds->src.labels + (size_t)raw * ds->label_dim, (size_t)ds->label_dim * sizeof *label);
    if (!pixels)
        return SG2_OK; /* only the label (G's conditioning draws labels of random images) */
    sg2_image img;
    sg2_status st = sg2_source_read(&ds->src, raw, &img, err);
    if (st)
        return st;
    if (img.width != ds->src.width || img.height != ds->src.height || img.channels != ds->channels) {
        char name[2048];
        sg2_source_image_name(&ds->src, raw, name, sizeof name);
        st = sg2_error_set(err, SG2_ERR_FORMAT, "%s: decodes to %dx%dx%d, its header and the dataset say %dx%dx%d", name,
                           img.width, img.height, img.channels, ds->src.width, ds->src.height, ds->channels);
    } else {
        place(ds, &img, i >= ds->n_items, pixels);
    }
    sg2_image_free(&img);
    return st;
}

sg2_status sg2_dataset_get(sg2_dataset *ds, long i, uint8_t *pixels, float *label, sg2_error *err)
{
    pthread_mutex_lock(&ds->lock);
    sg2_status st = get_locked(ds, i, pixels, label, err);
    pthread_mutex_unlock(&ds->lock);
    return st;
}

/* Fisher-Yates; each draw is unbiased (reject the few values below
 * 2^64 mod bound, as arc4random_uniform does). */
static void make_perm(long *perm, long n, uint64_t seed, long epoch)
{
    uint64_t state = seed * 0x9e3779b97f4a7c15ull ^ (uint64_t)epoch * 0xd1b54a32d192ed03ull;
    for (long i = 0; i < n; i++)
        perm[i] = i;
    for (long i = n - 1; i > 0; i--) {
        uint64_t bound = (uint64_t)i + 1, threshold = (0 - bound) % bound, r;
        do
            r = sg2_splitmix64(&state);
        while (r < threshold);
        long j = (long)(r % bound);
        long t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

static long stream_index_locked(sg2_dataset *ds, uint64_t seed, long p)
{
    long epoch = p / ds->count;
    if (!ds->perm)
        ds->perm = malloc((size_t)ds->count * sizeof *ds->perm);
    if (!ds->perm)
        return p % ds->count; /* no memory for the shuffle: sequential order, still deterministic */
    if (ds->perm_epoch != epoch || ds->perm_seed != seed) {
        make_perm(ds->perm, ds->count, seed, epoch);
        ds->perm_epoch = epoch;
        ds->perm_seed = seed;
    }
    return ds->perm[p % ds->count];
}

long sg2_dataset_stream_index(sg2_dataset *ds, uint64_t seed, long p)
{
    pthread_mutex_lock(&ds->lock);
    long i = stream_index_locked(ds, seed, p);
    pthread_mutex_unlock(&ds->lock);
    return i;
}

/* Batch b read directly (no prefetch). */
static sg2_status read_batch(sg2_dataset *ds, uint64_t seed, long b, int n, float *images, float *labels,
                             sg2_error *err)
{
    size_t img = (size_t)ds->channels * ds->res * ds->res;
    uint8_t *px = malloc(img);
    if (!px)
        return sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory", ds->src.path);
    sg2_status st = SG2_OK;
    for (int k = 0; k < n && !st; k++) {
        pthread_mutex_lock(&ds->lock);
        long i = stream_index_locked(ds, seed, b * n + k);
        st = get_locked(ds, i, px, labels ? labels + (size_t)k * ds->label_dim : NULL, err);
        pthread_mutex_unlock(&ds->lock);
        for (size_t j = 0; j < img && !st; j++)
            images[(size_t)k * img + j] = (float)px[j] / 127.5f - 1.0f;
    }
    free(px);
    return st;
}

static void *prefetch_main(void *arg)
{
    sg2_dataset *ds = arg;
    prefetch *pf = &ds->pf;
    size_t img_floats = (size_t)pf->n * ds->channels * ds->res * ds->res;
    size_t lab_floats = (size_t)pf->n * ds->label_dim;
    float *images = malloc(img_floats * sizeof *images), *labels = malloc((lab_floats + 1) * sizeof *labels);
    pthread_mutex_lock(&ds->lock);
    while (!pf->stop) {
        if (pf->fill >= pf->base + pf->depth) {
            pthread_cond_wait(&pf->cond, &ds->lock);
            continue;
        }
        long b = pf->fill;
        unsigned gen = pf->generation;
        sg2_error e = {0};
        pthread_mutex_unlock(&ds->lock);
        sg2_status st = images && labels ? read_batch(ds, pf->seed, b, pf->n, images, labels, &e)
                                         : sg2_error_set(&e, SG2_ERR_NOMEM, "%s: out of memory", ds->src.path);
        pthread_mutex_lock(&ds->lock);
        if (gen != pf->generation)
            continue; /* the consumer moved on; this batch is no longer wanted */
        prefetch_slot *s = &pf->slots[b % pf->depth];
        s->b = b;
        s->st = st;
        s->err = e;
        if (!st) {
            memcpy(s->images, images, img_floats * sizeof *images);
            memcpy(s->labels, labels, lab_floats * sizeof *labels);
        }
        pf->fill = b + 1;
        pthread_cond_broadcast(&pf->cond);
    }
    pthread_mutex_unlock(&ds->lock);
    free(images);
    free(labels);
    return NULL;
}

sg2_status sg2_dataset_batch(sg2_dataset *ds, uint64_t seed, long b, int n, float *images, float *labels,
                             sg2_error *err)
{
    prefetch *pf = &ds->pf;
    pthread_mutex_lock(&ds->lock);
    if (!pf->running || pf->seed != seed || pf->n != n) {
        pthread_mutex_unlock(&ds->lock);
        return read_batch(ds, seed, b, n, images, labels, err);
    }
    if (b != pf->base) { /* not the batch after the last one: start reading ahead from b */
        pf->base = pf->fill = b;
        pf->generation++;
        pthread_cond_broadcast(&pf->cond);
    }
    prefetch_slot *s = &pf->slots[b % pf->depth];
    while (s->b != b)
        pthread_cond_wait(&pf->cond, &ds->lock);
    sg2_status st = s->st;
    if (st)
        *err = s->err;
    else {
        memcpy(images, s->images, (size_t)n * ds->channels * ds->res * ds->res * sizeof *images);
        if (labels)
            memcpy(labels, s->labels, (size_t)n * ds->label_dim * sizeof *labels);
    }
    pf->base = b + 1;
    pthread_cond_broadcast(&pf->cond);
    pthread_mutex_unlock(&ds->lock);
    return st;
}

static void free_slots(prefetch *pf)
{
    for (int i = 0; pf->slots && i < pf->depth; i++) {
        free(pf->slots[i].images);
        free(pf->slots[i].labels);
    }
    free(pf->slots);
    pf->slots = NULL;
}

sg2_status sg2_dataset_prefetch_start(sg2_dataset *ds, uint64_t seed, int n, int depth, sg2_error *err)
{
    prefetch *pf = &ds->pf;
    sg2_dataset_prefetch_stop(ds);
    pf->slots = calloc((size_t)depth, sizeof *pf->slots);
    for (int i = 0; pf->slots && i < depth; i++) {
        pf->slots[i].b = -1;
        pf->slots[i].images = malloc((size_t)n * ds->channels * ds->res * ds->res * sizeof(float));
        pf->slots[i].labels = malloc(((size_t)n * ds->label_dim + 1) * sizeof(float));
        if (!pf->slots[i].images || !pf->slots[i].labels) {
            pf->depth = i + 1;
            free_slots(pf);
        }
    }
    if (!pf->slots)
        return sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory for %d prefetched batches", ds->src.path, depth);
    pf->seed = seed;
    pf->n = n;
    pf->depth = depth;
    pf->base = pf->fill = 0;
    pf->stop = 0;
    if (pthread_create(&pf->thread, NULL, prefetch_main, ds) != 0) {
        free_slots(pf);
        return sg2_error_set(err, SG2_ERR_OPENCL, "%s: cannot start the loader thread", ds->src.path);
    }
    pf->running = 1;
    return SG2_OK;
}

void sg2_dataset_prefetch_stop(sg2_dataset *ds)
{
    prefetch *pf = &ds->pf;
    if (!pf->running)
        return;
    pthread_mutex_lock(&ds->lock);
    pf->stop = 1;
    pthread_cond_broadcast(&pf->cond);
    pthread_mutex_unlock(&ds->lock);
    pthread_join(pf->thread, NULL);
    pf->running = 0;
    free_slots(pf);
}
