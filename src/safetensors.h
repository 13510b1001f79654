/* The safetensors file format (what checkpoints are stored in):
 *
 *   8 bytes    N, the header length, unsigned little-endian
 *   N bytes    JSON: {"__metadata__": {key: value, ...},
 *                     "<name>": {"dtype": "F32", "shape": [...],
 *                                "data_offsets": [begin, end]}, ...}
 *              padded with spaces so the data starts 8-byte aligned
 *   the rest   the tensors' bytes, little-endian, at [begin, end) counted
 *              from the end of the header
 *
 * The writer stores float32 tensors. The reader validates the whole header
 * when the file is opened, as strictly as the reference implementation
 * (tensors tile the data section with no gap, overlap or trailing bytes), and
 * reads F32, F16, BF16 and F64 tensors as float32 on request; tensors of other
 * dtypes are listed but reading them gives SG2_ERR_UNSUPPORTED. Errors are one
 * line that names the file. */
#ifndef SG2_SAFETENSORS_H
#define SG2_SAFETENSORS_H
#include <stdint.h>

#include "host/status.h"

/* Larger headers are refused as corrupt (the reference's limit, 100 MB). */
#define SG2_ST_MAX_HEADER 100000000ull
/* Tensors of more dimensions are refused as corrupt. */
#define SG2_ST_MAX_DIMS 64

/* One tensor to write. */
typedef struct sg2_st_entry {
    const char *name;      /* non-empty UTF-8, unique, not "__metadata__" */
    int ndim;              /* 0 (a scalar) .. SG2_ST_MAX_DIMS */
    const int64_t *shape;  /* [ndim] */
    const float *data;     /* [product of shape], row-major */
} sg2_st_entry;

/* One metadata string pair. */
typedef struct sg2_st_meta {
    const char *key;
    const char *value;
} sg2_st_meta;

/* A tensor as the header describes it. */
typedef struct sg2_st_info {
    const char *name;
    const char *dtype;     /* "F32", "F16", "BF16", "F64", or another safetensors dtype */
    int ndim;
    const int64_t *shape;  /* [ndim] */
    int64_t numel;
    uint64_t begin, end;   /* byte range in the data section */
} sg2_st_info;

typedef struct sg2_safetensors sg2_safetensors;

/* Write tensors in the order given (tensors[n]) and metadata (meta[n_meta],
 * may be NULL when n_meta is 0) to "<path>.tmp.<pid>", fsync it, and rename
 * it over path, so a crash leaves either the old file or the new one. */
sg2_status sg2_safetensors_write(const char *path, const sg2_st_entry *tensors, int n, const sg2_st_meta *meta,
                                 int n_meta, sg2_error *err);

/* Open and validate a file; *out is NULL on failure. The file stays open
 * for sg2_safetensors_read until sg2_safetensors_close. */
sg2_status sg2_safetensors_open(sg2_safetensors **out, const char *path, sg2_error *err);
void sg2_safetensors_close(sg2_safetensors *f);

/* Tensors in the order of their data; i in [0, count). */
int sg2_safetensors_count(const sg2_safetensors *f);
const sg2_st_info *sg2_safetensors_at(const sg2_safetensors *f, int i);
/* NULL when the file has no tensor of that name. */
const sg2_st_info *sg2_safetensors_find(const sg2_safetensors *f, const char *name);

/* Copy a tensor out as float32: out[numel]. With shape != NULL the stored
 * shape must equal shape[ndim] (else SG2_ERR_SHAPE); with shape == NULL ndim
 * is ignored and out must hold the stored numel. A missing name gives
 * SG2_ERR_FORMAT. */
sg2_status sg2_safetensors_read(const sg2_safetensors *f, const char *name, int ndim, const int64_t *shape,
                                float *out, sg2_error *err);

/* Metadata pairs in header order; i in [0, meta_count). */
int sg2_safetensors_meta_count(const sg2_safetensors *f);
const sg2_st_meta *sg2_safetensors_meta_at(const sg2_safetensors *f, int i);
/* The value for key, or NULL. */
const char *sg2_safetensors_meta(const sg2_safetensors *f, const char *key);

#endif
