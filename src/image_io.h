/* Images on the host: PNG files through libpng, the float-to-byte
 * conversions of the reference tools, and image grids.
 *
 * Two conversions exist because the reference uses two:
 *  - generate.py: (img * 127.5 + 128).clamp(0, 255).to(torch.uint8), i.e.
 *    float32 arithmetic, clamp, then truncation toward zero;
 *  - save_image_grid (training snapshots): (img - lo) * (255 / (hi - lo)),
 *    np.rint (round half to even), clip(0, 255), in float32.
 * Pixels in memory are row-major [height, width, channels] bytes unless a
 * comment says otherwise. */
#ifndef SG2_IMAGE_IO_H
#define SG2_IMAGE_IO_H
#include <stddef.h>
#include <stdint.h>

#include "host/status.h"

typedef struct sg2_image {
    int width, height;
    int channels;  /* 1 (gray) or 3 (RGB) */
    uint8_t *data; /* [height, width, channels], malloc'd */
} sg2_image;

/* Write an 8-bit gray (channels 1) or RGB (channels 3) PNG. The file is
 * written beside `path` under a temporary name and renamed into place, so a
 * reader never sees half an image. pixels: [height, width, channels]. */
sg2_status sg2_png_write(const char *path, const uint8_t *pixels, int width, int height, int channels,
                         sg2_error *err);
/* The same PNG into memory: *data (malloc'd, the caller frees) of *size
 * bytes; for writing images into archives. */
sg2_status sg2_png_encode_mem(const uint8_t *pixels, int width, int height, int channels, uint8_t **data,
                              size_t *size, sg2_error *err);
/* Read any PNG as 8-bit gray or RGB: alpha is dropped, palettes expanded,
 * 16-bit samples scaled to 8 bits, bit depths below 8 expanded. A file that
 * is not a PNG or is damaged gives SG2_ERR_FORMAT naming the file; a file
 * that cannot be opened gives SG2_ERR_IO. On failure *out is zeroed. */
sg2_status sg2_png_read(sg2_image *out, const char *path, sg2_error *err);
/* The same from a PNG held in memory; `name` is the file named in errors. */
sg2_status sg2_png_read_mem(sg2_image *out, const void *data, size_t size, const char *name, sg2_error *err);
/* Size and channel count (as sg2_png_read will give them) from the first
 * SG2_PNG_HEAD bytes of a PNG, without decoding; -1 if they are not a PNG
 * header. */
#define SG2_PNG_HEAD 26
int sg2_png_peek(const uint8_t *head, size_t len, int *width, int *height, int *channels);
void sg2_image_free(sg2_image *img);

/* generate.py's conversion and layout change.
 * out: [n, h, w, c] bytes; img: [n, c, h, w] floats, nominally in [-1, 1].
 * NaN becomes 0. */
void sg2_image_to_u8_hwc(uint8_t *out, const float *img, int n, int c, int h, int w);
/* save_image_grid's conversion of drange [lo, hi] to [0, 255]; the layout is
 * kept. lo and hi play the Python scalars: 255 / (hi - lo) is computed in
 * double, then the arithmetic runs in float32 as numpy does.
 * out: [count] bytes; img: [count] floats. NaN becomes 0. */
void sg2_image_to_u8_drange(uint8_t *out, const float *img, long count, double lo, double hi);
/* save_image_grid's layout: image i goes to grid row i / gw, column i % gw.
 * n may be less than gw * gh (the rest stays black).
 * out: [gh * h, gw * w, c]; imgs: [n, c, h, w] bytes. */
sg2_status sg2_image_grid(uint8_t *out, const uint8_t *imgs, int n, int c, int h, int w, int gw, int gh,
                          sg2_error *err);

#endif
