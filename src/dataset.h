/* Training data: the reference's ImageFolderDataset (a folder of PNGs or a
 * dataset zip with dataset.json labels) plus IDX files (MNIST, Fashion-MNIST,
 * plain or gzipped), with --subset, --mirror and --cond as train.py has them.
 *
 * Opening reads every image's header, so a dataset whose images are not
 * square, not a power of two, not all the same size or not all the same
 * channel count is refused with one line naming the first offending file.
 * Pixels are decoded when a batch needs them; a background thread can read
 * batches ahead (sg2_dataset_prefetch_start).
 *
 * Batches are a pure function of (seed, batch index): the stream is the
 * concatenation of per-epoch permutations of the dataset, so a resumed run
 * reads exactly the images an uninterrupted one would have. */
#ifndef SG2_DATASET_H
#define SG2_DATASET_H
#include <stdint.h>

#include "host/status.h"

typedef struct sg2_dataset sg2_dataset;

typedef struct sg2_dataset_opts {
    int mirror;      /* add x-flipped copies (doubles the size) */
    long subset;     /* > 0: keep this many images, chosen as the reference does */
    int use_labels;  /* load labels (dataset.json, or the IDX labels file) */
} sg2_dataset_opts;

/* path: a directory (PNG files, recursively, sorted by relative path), a
 * .zip in the reference's dataset format, or an IDX image file
 * (*-images-idx3-ubyte[.gz]; its labels file is found by name). IDX images
 * are zero-padded to the next power of two (28 -> 32). */
sg2_status sg2_dataset_open(sg2_dataset **out, const char *path, const sg2_dataset_opts *opts, sg2_error *err);
void sg2_dataset_close(sg2_dataset *ds);

long sg2_dataset_count(const sg2_dataset *ds);       /* after subset and mirror */
int sg2_dataset_resolution(const sg2_dataset *ds);
int sg2_dataset_channels(const sg2_dataset *ds);     /* 1 or 3 */
int sg2_dataset_label_dim(const sg2_dataset *ds);    /* 0 without labels */
const char *sg2_dataset_name(const sg2_dataset *ds); /* file name without extension */

/* Image i (0 <= i < count) as uint8 [C, R, R] and its label [label_dim].
 * Either may be NULL (pixels NULL: the label only, nothing decoded). Safe to
 * call while a prefetch thread runs. */
sg2_status sg2_dataset_get(sg2_dataset *ds, long i, uint8_t *pixels, float *label, sg2_error *err);

/* Which image stream position p holds: epoch p / count is a Fisher-Yates
 * permutation seeded from (seed, epoch). */
long sg2_dataset_stream_index(sg2_dataset *ds, uint64_t seed, long p);

/* Batch b of the stream: n images as float [n, C, R, R] in [-1, 1]
 * (x / 127.5 - 1) and labels [n, label_dim] (may be NULL). Served from the
 * prefetch thread when it runs with the same seed and n. */
sg2_status sg2_dataset_batch(sg2_dataset *ds, uint64_t seed, long b, int n, float *images, float *labels,
                             sg2_error *err);

/* Read up to `depth` batches of n ahead of the last one asked for. */
sg2_status sg2_dataset_prefetch_start(sg2_dataset *ds, uint64_t seed, int n, int depth, sg2_error *err);
void sg2_dataset_prefetch_stop(sg2_dataset *ds);

#endif
