/* PNG files through libpng, and the reference tools' image conversions.
 *
 * libpng reports errors by calling an error function that must not return;
 * ours copies the message and longjmps back to the setjmp in the function
 * that owns the png struct. Everything that must be freed after such a jump
 * lives in a struct owned by the caller, never in locals changed after
 * setjmp (C leaves those indeterminate). */
#include "src/image_io.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Exact results need each product and sum rounded on its own (no fma):
 * GCC keeps -ffp-contract off under -std=c11; clang needs telling. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

typedef struct png_job {
    FILE *fp;
    char msg[256];     /* libpng's text, or ours, for the one-line error */
    uint8_t *data;     /* the decoded image, owned here until handed out */
    png_bytep *rows;   /* row pointers into data */
} png_job;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_job *job = png_get_error_ptr(png);
    snprintf(job->msg, sizeof job->msg, "%s", msg);
    png_longjmp(png, 1);
}

/* Warnings (an odd ancillary chunk, a CRC error in one) do not stop a read;
 * a library must not print them either. */
static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* fread with an error that says what happened, instead of "Read Error". */
static void read_fn(png_structp png, png_bytep buf, size_t len)
{
    png_job *job = png_get_io_ptr(png);
    if (fread(buf, 1, len, job->fp) != len)
        png_error(png, feof(job->fp) ? "the file ends early (truncated)" : "read failed");
}

static int png_encode(png_job *job, const uint8_t *pixels, int width, int height, int channels)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, job, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        snprintf(job->msg, sizeof job->msg, "out of memory");
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_init_io(png, job->fp);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++)
        png_write_row(png, pixels + (size_t)y * (size_t)width * (size_t)channels);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

sg2_status sg2_png_write(const char *path, const uint8_t *pixels, int width, int height, int channels,
                         sg2_error *err)
{
    if (width <= 0 || height <= 0 || (channels != 1 && channels != 3) || !pixels)
        return sg2_error_set(err, SG2_ERR_ARG, "%s: cannot write a %dx%d image with %d channels (want 1 or 3)",
                             path, width, height, channels);
    /* Same directory as the target, so rename() is atomic. */
    size_t cap = strlen(path) + 32;
    char *tmp = malloc(cap);
    if (!tmp)
        return sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid());
    png_job job = {0};
    job.fp = fopen(tmp, "wb");
    if (!job.fp) {
        sg2_status st = sg2_error_set(err, SG2_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    sg2_status st = SG2_OK;
    if (png_encode(&job, pixels, width, height, channels))
        st = sg2_error_set(err, SG2_ERR_IO, "%s: PNG encoding failed: %s", path, job.msg);
    else if (fflush(job.fp) || ferror(job.fp) || fsync(fileno(job.fp)))
        st = sg2_error_set(err, SG2_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (fclose(job.fp) && !st)
        st = sg2_error_set(err, SG2_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (!st && rename(tmp, path))
        st = sg2_error_set(err, SG2_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
    if (st)
        remove(tmp);
    free(tmp);
    return st;
}

sg2_status sg2_png_encode_mem(const uint8_t *pixels, int width, int height, int channels, uint8_t **data,
                              size_t *size, sg2_error *err)
{
    *data = NULL;
    *size = 0;
    if (width <= 0 || height <= 0 || (channels != 1 && channels != 3) || !pixels)
        return sg2_error_set(err, SG2_ERR_ARG, "PNG encoding: cannot encode a %dx%d image with %d channels (want 1 or 3)",
                             width, height, channels);
    /* A memory stream lets the file encoder serve unchanged. */
    char *buf = NULL;
    size_t len = 0;
    png_job job = {0};
    job.fp = open_memstream(&buf, &len);
    if (!job.fp)
        return sg2_error_set(err, SG2_ERR_NOMEM, "PNG encoding: cannot open a memory stream: %s", strerror(errno));
    int failed = png_encode(&job, pixels, width, height, channels);
    if (fclose(job.fp) && !failed) {
        failed = 1;
        snprintf(job.msg, sizeof job.msg, "out of memory");
    }
    if (failed) {
        free(buf);
        return sg2_error_set(err, SG2_ERR_NOMEM, "PNG encoding failed: %s", job.msg);
    }
    *data = (uint8_t *)buf;
    *size = len;
    return SG2_OK;
}

static int png_decode(png_job *job, sg2_image *out)
{
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, job, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(job->msg, sizeof job->msg, "out of memory");
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    png_set_read_fn(png, job, read_fn);
    png_set_sig_bytes(png, 8); /* the caller has read and checked them */
    png_read_info(png, info);
    png_uint_32 width, height;
    int depth, ctype;
    png_get_IHDR(png, info, &width, &height, &depth, &ctype, NULL, NULL, NULL);
    if (ctype == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16)
        png_set_scale_16(png); /* rounds, unlike png_set_strip_16 */
    if (ctype & PNG_COLOR_MASK_ALPHA)
        png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int channels = png_get_channels(png, info);
    size_t row_bytes = (size_t)width * (size_t)channels;
    if ((channels != 1 && channels != 3) || png_get_rowbytes(png, info) != row_bytes)
        png_error(png, "unexpected pixel layout after conversion to 8-bit gray or RGB");
    /* libpng's default limits keep width and height <= 1e6, so no overflow. */
    job->data = malloc(row_bytes * height);
    job->rows = malloc(sizeof *job->rows * height);
    if (!job->data || !job->rows)
        png_error(png, "out of memory for the pixels");
    for (png_uint_32 y = 0; y < height; y++)
        job->rows[y] = job->data + (size_t)y * row_bytes;
    png_read_image(png, job->rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    out->width = (int)width;
    out->height = (int)height;
    out->channels = channels;
    return 0;
}

/* Decode the PNG on fp; `name` is the file named in errors. */
static sg2_status png_read_stream(sg2_image *out, FILE *fp, const char *name, sg2_error *err)
{
    memset(out, 0, sizeof *out);
    png_job job = {0};
    job.fp = fp;
    unsigned char sig[8];
    sg2_status st = SG2_OK;
    if (fread(sig, 1, sizeof sig, job.fp) != sizeof sig || png_sig_cmp(sig, 0, sizeof sig))
        st = sg2_error_set(err, SG2_ERR_FORMAT, "%s: not a PNG file (no PNG signature)", name);
    else if (png_decode(&job, out))
        st = sg2_error_set(err, SG2_ERR_FORMAT, "%s: damaged PNG: %s", name, job.msg);
    free(job.rows);
    if (st) {
        free(job.data);
        memset(out, 0, sizeof *out);
    } else {
        out->data = job.data;
    }
    return st;
}

sg2_status sg2_png_read(sg2_image *out, const char *path, sg2_error *err)
{
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return sg2_error_set(err, SG2_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    sg2_status st = png_read_stream(out, fp, path, err);
    fclose(fp);
    return st;
}

sg2_status sg2_png_read_mem(sg2_image *out, const void *data, size_t size, const char *name, sg2_error *err)
{
    memset(out, 0, sizeof *out);
    if (size == 0)
        return sg2_error_set(err, SG2_ERR_FORMAT, "%s: empty file, not a PNG", name);
    FILE *fp = fmemopen((void *)data, size, "rb");
    if (!fp)
        return sg2_error_set(err, SG2_ERR_NOMEM, "%s: cannot open the PNG in memory: %s", name, strerror(errno));
    sg2_status st = png_read_stream(out, fp, name, err);
    fclose(fp);
    return st;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int sg2_png_peek(const uint8_t *head, size_t len, int *width, int *height, int *channels)
{
    if (len < SG2_PNG_HEAD || png_sig_cmp(head, 0, 8) || memcmp(head + 12, "IHDR", 4))
        return -1;
    uint32_t w = be32(head + 16), h = be32(head + 20);
    int ctype = head[25];
    if (w == 0 || h == 0 || w > 1000000 || h > 1000000)
        return -1;
    *width = (int)w;
    *height = (int)h;
    /* what sg2_png_read makes of each colour type: alpha dropped, palette to RGB */
    switch (ctype) {
    case PNG_COLOR_TYPE_GRAY: case PNG_COLOR_TYPE_GRAY_ALPHA: *channels = 1; return 0;
    case PNG_COLOR_TYPE_RGB: case PNG_COLOR_TYPE_RGB_ALPHA: case PNG_COLOR_TYPE_PALETTE: *channels = 3; return 0;
    default: return -1;
    }
}

void sg2_image_free(sg2_image *img)
{
    if (img) {
        free(img->data);
        memset(img, 0, sizeof *img);
    }
}

/* Clamp to [0, 255], then truncate as a float-to-uint8 cast does. */
static uint8_t clamp_to_byte(float v)
{
    if (!(v > 0.0f)) /* also NaN */
        return 0;
    if (v >= 255.0f)
        return 255;
    return (uint8_t)v;
}

void sg2_image_to_u8_hwc(uint8_t *out, const float *img, int n, int c, int h, int w)
{
    size_t plane = (size_t)h * (size_t)w;
    for (int i = 0; i < n; i++) {
        const float *src = img + (size_t)i * c * plane;
        uint8_t *dst = out + (size_t)i * c * plane;
        for (int ch = 0; ch < c; ch++)
            for (size_t p = 0; p < plane; p++) {
                /* Two statements, two float32 roundings, as torch runs two
                 * ops: a compiler may not fuse them into one fma. */
                float v = src[ch * plane + p] * 127.5f;
                v = v + 128.0f;
                dst[p * c + ch] = clamp_to_byte(v);
            }
    }
}

void sg2_image_to_u8_drange(uint8_t *out, const float *img, long count, double lo, double hi)
{
    float lo_f = (float)lo;
    float scale = (float)(255.0 / (hi - lo));
    for (long i = 0; i < count; i++) {
        float v = img[i] - lo_f;
        v = v * scale;
        /* np.rint: to nearest, ties to even (the default rounding mode). The
         * result is a whole number, so clamp_to_byte's truncation is exact. */
        out[i] = clamp_to_byte(rintf(v));
    }
}

sg2_status sg2_image_grid(uint8_t *out, const uint8_t *imgs, int n, int c, int h, int w, int gw, int gh,
                          sg2_error *err)
{
    if (n < 0 || c <= 0 || h <= 0 || w <= 0 || gw <= 0 || gh <= 0 || (long)n > (long)gw * gh)
        return sg2_error_set(err, SG2_ERR_ARG, "image grid: %d images of %dx%dx%d do not fit a %dx%d grid", n, c, h,
                             w, gw, gh);
    size_t out_w = (size_t)gw * (size_t)w;
    memset(out, 0, (size_t)gh * h * out_w * c);
    for (int i = 0; i < n; i++) {
        size_t y0 = (size_t)(i / gw) * h, x0 = (size_t)(i % gw) * w;
        const uint8_t *src = imgs + (size_t)i * c * h * w;
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    out[((y0 + y) * out_w + x0 + x) * c + ch] = src[((size_t)ch * h + y) * w + x];
    }
    return SG2_OK;
}
