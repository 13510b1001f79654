/* Where a dataset's images live: a folder of PNGs, a dataset zip, or IDX
 * files. A source lists its images and their labels at open (checking every
 * header) and decodes one image on request. Used by src/dataset.c and the
 * dataset tool; not thread-safe (the caller serialises reads). */
#ifndef SG2_DATASET_SOURCE_H
#define SG2_DATASET_SOURCE_H
#include <stdint.h>
#include <zip.h>

#include "host/status.h"
#include "src/image_io.h"

typedef enum sg2_source_kind { SG2_SOURCE_FOLDER, SG2_SOURCE_ZIP, SG2_SOURCE_IDX } sg2_source_kind;

typedef struct sg2_source {
    sg2_source_kind kind;
    char *path;
    long n;               /* images */
    char **names;         /* folder and zip: relative names, sorted */
    zip_t *zip;
    zip_uint64_t *zip_index; /* entry of each image in the zip */
    uint8_t *idx_pixels;  /* IDX: [n, idx_h, idx_w] */
    int idx_h, idx_w;
    int width, height, channels; /* of every image (before any padding) */
    int label_dim;        /* 0: no labels */
    float *labels;        /* [n, label_dim] */
} sg2_source;

/* Open and list. require_uniform: every image must share the first one's
 * size and channel count (the training loader); the dataset tool, which
 * resizes, passes 0 and gets width/height of the first image only.
 * want_labels: load dataset.json (folder, zip) or the IDX labels file. */
sg2_status sg2_source_open(sg2_source *src, const char *path, int want_labels, int require_uniform, sg2_error *err);
void sg2_source_close(sg2_source *src);

/* Decode image i as 8-bit gray or RGB, its own size. */
sg2_status sg2_source_read(sg2_source *src, long i, sg2_image *img, sg2_error *err);

/* The name a user would recognise for image i, for error messages:
 * "path/rel.png", "data.zip:00000/img00000000.png" or "file.gz[17]". */
void sg2_source_image_name(const sg2_source *src, long i, char *buf, size_t cap);

#endif
