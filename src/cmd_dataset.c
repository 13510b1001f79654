/* dataset: turn a folder of PNGs, a dataset zip or an IDX file into a
 * training dataset in the reference's format (what stylegan2-ada-pytorch's
 * dataset_tool.py writes): PNGs named "%05d/img%08d.png", 1000 to a folder,
 * and dataset.json {"labels": [[name, label], ...]} or {"labels": null}, in
 * a zip (entries stored: PNG is already deflated) or a directory. Images are
 * cropped and resized as the reference's --transform options do. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "src/cli_util.h"
#include "src/commands.h"
#include "src/dataset_source.h"
#include "src/image_io.h"
#include "src/resize.h"

typedef enum { XFORM_NONE, XFORM_CENTER_CROP, XFORM_CENTER_CROP_WIDE } xform_kind;

typedef struct ds_opts {
    const char *source, *dest;
    long resolution;     /* 0: keep the size */
    xform_kind xform;
    sg2_resize_filter filter;
    long max_images;     /* 0: all */
} ds_opts;

/* Where the images go: a zip being written under a temporary name, or a
 * directory. */
typedef struct ds_dest {
    const char *path;
    char *tmp;           /* zip: the name written until the final rename */
    zip_t *zip;
    size_t pending;      /* zip: bytes held in memory by libzip until zip_close */
    int last_dir;        /* directory: the last "%05d" folder made */
} ds_dest;

/* libzip keeps added buffers until zip_close; closing and reopening now and
 * then bounds the memory a large dataset needs. */
#ifndef ZIP_FLUSH_BYTES
#define ZIP_FLUSH_BYTES ((size_t)256 << 20)
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: stylegan2-cl dataset --source S --dest D [--resolution R]\n"
            "           [--transform center-crop|center-crop-wide] [--resize-filter box|lanczos] [--max-images N]\n"
            "Write a training dataset as the reference's dataset_tool.py does: PNGs \"00000/img00000000.png\"...\n"
            "and dataset.json with the labels, into D (a .zip, or a directory that is new or empty).\n"
            "  --source S        folder of PNGs, dataset .zip, or IDX file (*-images-idx3-ubyte[.gz]); labels\n"
            "                    (dataset.json, or the matching IDX labels file) are carried over\n"
            "  --resolution R    resize to R x R (IDX 28x28 images are first padded to 32x32)\n"
            "  --transform       center-crop: the largest centred square, then R x R;\n"
            "                    center-crop-wide: a centred R:R/2 band, letterboxed into R x R\n"
            "  --resize-filter   box (area average, default) or lanczos (a = 3)\n"
            "  --max-images N    read at most the first N images\n"
            "Images must end square, with a power-of-two side, all of one size and channel count.\n");
}

static sg2_status parse_args(int argc, char **argv, ds_opts *o, sg2_error *err)
{
    memset(o, 0, sizeof *o);
    o->filter = SG2_RESIZE_BOX;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return sg2_error_set(err, SG2_ERR_ARG, "%s: missing value (see --help)", a);
        i++;
        if (strcmp(a, "--source") == 0)
            o->source = v;
        else if (strcmp(a, "--dest") == 0)
            o->dest = v;
        else if (strcmp(a, "--resolution") == 0) {
            if (sg2_parse_long(v, 1, 1 << 16, "--resolution", &o->resolution, err))
                return err->status;
        } else if (strcmp(a, "--max-images") == 0) {
            if (sg2_parse_long(v, 1, 1L << 30, "--max-images", &o->max_images, err))
                return err->status;
        } else if (strcmp(a, "--transform") == 0) {
            if (strcmp(v, "center-crop") == 0)
                o->xform = XFORM_CENTER_CROP;
            else if (strcmp(v, "center-crop-wide") == 0)
                o->xform = XFORM_CENTER_CROP_WIDE;
            else
                return sg2_error_set(err, SG2_ERR_ARG, "--transform: '%s' is not center-crop or center-crop-wide", v);
        } else if (strcmp(a, "--resize-filter") == 0) {
            if (strcmp(v, "box") == 0)
                o->filter = SG2_RESIZE_BOX;
            else if (strcmp(v, "lanczos") == 0)
                o->filter = SG2_RESIZE_LANCZOS;
            else
                return sg2_error_set(err, SG2_ERR_ARG, "--resize-filter: '%s' is not box or lanczos", v);
        } else {
            return sg2_error_set(err, SG2_ERR_ARG, "unknown option '%s' (see --help)", a);
        }
    }
    if (!o->source || !o->dest || !o->dest[0])
        return sg2_error_set(err, SG2_ERR_ARG, "--source and --dest are required (see --help)");
    if (o->xform != XFORM_NONE && !o->resolution)
        return sg2_error_set(err, SG2_ERR_ARG, "--transform %s needs --resolution",
                             o->xform == XFORM_CENTER_CROP ? "center-crop" : "center-crop-wide");
    return SG2_OK;
}

/* ---- transforms: each replaces img by a new image ---- */

static sg2_status replace(sg2_image *img, int w, int h, uint8_t *data, sg2_error *err)
{
    if (!data)
        return sg2_error_set(err, SG2_ERR_NOMEM, "out of memory for a %dx%d image", w, h);
    free(img->data);
    img->data = data;
    img->width = w;
    img->height = h;
    return SG2_OK;
}

static sg2_status crop(sg2_image *img, int x0, int y0, int w, int h, sg2_error *err)
{
    int c = img->channels;
    uint8_t *out = malloc((size_t)w * h * c);
    for (int y = 0; out && y < h; y++)
        memcpy(out + (size_t)y * w * c, img->data + ((size_t)(y0 + y) * img->width + x0) * c, (size_t)w * c);
    return replace(img, w, h, out, err);
}

static sg2_status resize(sg2_image *img, int w, int h, sg2_resize_filter filter, sg2_error *err)
{
    if (img->width == w && img->height == h)
        return SG2_OK;
    uint8_t *out = malloc((size_t)w * h * img->channels);
    if (out && sg2_resize(out, w, h, img->data, img->width, img->height, img->channels, filter, err)) {
        free(out);
        return err->status;
    }
    return replace(img, w, h, out, err);
}

/* img at (x0, y0) on a black canvas of w x h. */
static sg2_status place(sg2_image *img, int w, int h, int x0, int y0, sg2_error *err)
{
    int c = img->channels;
    uint8_t *out = calloc((size_t)w * h * c, 1);
    for (int y = 0; out && y < img->height; y++)
        memcpy(out + ((size_t)(y0 + y) * w + x0) * c, img->data + (size_t)y * img->width * c, (size_t)img->width * c);
    return replace(img, w, h, out, err);
}

/* The reference's center-crop-wide with width R and height R/2: keep a band
 * of round(R * h / w) rows (ties to even, as np.round) across the full width,
 * resize it to R x R/2 and centre that on a black R x R canvas. Images
 * narrower than R or whose band would be thinner than R/2 are skipped. */
static sg2_status crop_wide(sg2_image *img, int r, sg2_resize_filter filter, int *skip, sg2_error *err)
{
    int half = r / 2;
    int band = (int)nearbyint((double)r * img->height / img->width);
    if (img->width < r || band < half) {
        *skip = 1;
        return SG2_OK;
    }
    sg2_status st = crop(img, 0, (img->height - band) / 2, img->width, band, err);
    if (!st)
        st = resize(img, r, half, filter, err);
    if (!st)
        st = place(img, r, r, 0, (r - half) / 2, err);
    return st;
}

static sg2_status transform(const ds_opts *o, const sg2_source *src, sg2_image *img, int *skip, sg2_error *err)
{
    *skip = 0;
    sg2_status st = SG2_OK;
    /* The reference's MNIST path pads 28x28 digits to 32x32 before anything else. */
    if (src->kind == SG2_SOURCE_IDX && img->width == 28 && img->height == 28)
        st = place(img, 32, 32, 2, 2, err);
    int r = (int)o->resolution;
    if (st || !r)
        return st;
    if (o->xform == XFORM_CENTER_CROP) {
        int side = img->width < img->height ? img->width : img->height;
        st = crop(img, (img->width - side) / 2, (img->height - side) / 2, side, side, err);
        return st ? st : resize(img, r, r, o->filter, err);
    }
    if (o->xform == XFORM_CENTER_CROP_WIDE)
        return crop_wide(img, r, o->filter, skip, err);
    return resize(img, r, r, o->filter, err);
}

/* The reference's rules for the result: the first image square with a
 * power-of-two side, every other one of the same size and channel count. */
static sg2_status check_image(const sg2_image *img, const sg2_image *first, const char *name, sg2_error *err)
{
    if (first)
        return img->width == first->width && img->height == first->height && img->channels == first->channels
                   ? SG2_OK
                   : sg2_error_set(err, SG2_ERR_FORMAT,
                                   "%s: %dx%d with %d channel(s) after the transform, but the first image is %dx%d "
                                   "with %d (all must match; use --resolution)", name, img->width, img->height,
                                   img->channels, first->width, first->height, first->channels);
    if (img->width != img->height)
        return sg2_error_set(err, SG2_ERR_FORMAT, "%s: %dx%d after the transform, not square (use --resolution or "
                             "--transform center-crop)", name, img->width, img->height);
    if (img->width & (img->width - 1))
        return sg2_error_set(err, SG2_ERR_FORMAT, "%s: side %d after the transform is not a power of two (give "
                             "--resolution a power of two)", name, img->width);
    return SG2_OK;
}

/* ---- destination ---- */

static int has_zip_ext(const char *path)
{
    size_t n = strlen(path);
    return n > 4 && strcmp(path + n - 4, ".zip") == 0;
}

static sg2_status zip_open_tmp(ds_dest *d, int flags, sg2_error *err)
{
    int code = 0;
    d->zip = zip_open(d->tmp, flags, &code);
    if (d->zip)
        return SG2_OK;
    zip_error_t ze;
    zip_error_init_with_code(&ze, code);
    sg2_status st = sg2_error_set(err, SG2_ERR_IO, "%s: cannot create the zip: %s", d->tmp, zip_error_strerror(&ze));
    zip_error_fini(&ze);
    return st;
}

static sg2_status zip_flush(ds_dest *d, sg2_error *err)
{
    if (zip_close(d->zip) != 0) {
        sg2_status st = sg2_error_set(err, SG2_ERR_IO, "%s: cannot write the zip: %s", d->tmp, zip_strerror(d->zip));
        zip_discard(d->zip);
        d->zip = NULL;
        return st;
    }
    d->zip = NULL;
    d->pending = 0;
    return SG2_OK;
}

static sg2_status dest_open(ds_dest *d, const char *path, sg2_error *err)
{
    memset(d, 0, sizeof *d);
    d->path = path;
    d->last_dir = -1;
    if (has_zip_ext(path)) {
        size_t cap = strlen(path) + 32;
        d->tmp = malloc(cap);
        if (!d->tmp)
            return sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory", path);
        snprintf(d->tmp, cap, "%s.tmp.%ld.zip", path, (long)getpid());
        return zip_open_tmp(d, ZIP_CREATE | ZIP_TRUNCATE, err);
    }
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return sg2_error_set(err, SG2_ERR_IO, "%s: cannot create the directory: %s", path, strerror(errno));
    sg2_source probe;
    if (sg2_source_open(&probe, path, 0, 0, NULL) == SG2_OK) {
        sg2_source_close(&probe);
        return sg2_error_set(err, SG2_ERR_ARG, "%s: --dest directory already holds images; it must be new or empty",
                             path);
    }
    return SG2_OK;
}

/* Write one file (name relative to the dataset root); data is malloc'd and
 * taken over. */
static sg2_status dest_add(ds_dest *d, const char *name, uint8_t *data, size_t size, sg2_error *err)
{
    if (!d->zip) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", d->path, name);
        FILE *fp = fopen(path, "wb");
        sg2_status st = SG2_OK;
        if (!fp || fwrite(data, 1, size, fp) != size)
            st = sg2_error_set(err, SG2_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        if (fp && fclose(fp) && !st)
            st = sg2_error_set(err, SG2_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        free(data);
        return st;
    }
    zip_source_t *zs = zip_source_buffer(d->zip, data, size, 1);
    if (!zs) {
        free(data);
        return sg2_error_set(err, SG2_ERR_NOMEM, "%s: %s: %s", d->tmp, name, zip_strerror(d->zip));
    }
    zip_int64_t idx = zip_file_add(d->zip, name, zs, ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE);
    if (idx < 0) {
        zip_source_free(zs);
        return sg2_error_set(err, SG2_ERR_IO, "%s: cannot add %s: %s", d->tmp, name, zip_strerror(d->zip));
    }
    if (zip_set_file_compression(d->zip, (zip_uint64_t)idx, ZIP_CM_STORE, 0) != 0)
        return sg2_error_set(err, SG2_ERR_IO, "%s: %s: %s", d->tmp, name, zip_strerror(d->zip));
    d->pending += size;
    if (d->pending >= ZIP_FLUSH_BYTES) {
        sg2_status st = zip_flush(d, err);
        return st ? st : zip_open_tmp(d, 0, err);
    }
    return SG2_OK;
}

static sg2_status dest_add_image(ds_dest *d, long index, const sg2_image *img, char *name, size_t cap,
                                 sg2_error *err)
{
    int folder = (int)(index / 1000);
    snprintf(name, cap, "%05d/img%08ld.png", folder, index);
    if (!d->zip && folder != d->last_dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%05d", d->path, folder);
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return sg2_error_set(err, SG2_ERR_IO, "%s: cannot create the directory: %s", path, strerror(errno));
        d->last_dir = folder;
    }
    if (!d->zip) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", d->path, name);
        return sg2_png_write(path, img->data, img->width, img->height, img->channels, err);
    }
    uint8_t *png;
    size_t size;
    sg2_status st = sg2_png_encode_mem(img->data, img->width, img->height, img->channels, &png, &size, err);
    return st ? st : dest_add(d, name, png, size, err);
}

/* Close the zip and rename it into place; on failure (or abort) remove it. */
static sg2_status dest_close(ds_dest *d, int abort, sg2_error *err)
{
    sg2_status st = SG2_OK;
    if (d->zip && abort)
        zip_discard(d->zip);
    else if (d->zip)
        st = zip_flush(d, err);
    if (d->tmp && !abort && !st && rename(d->tmp, d->path) != 0)
        st = sg2_error_set(err, SG2_ERR_IO, "%s: cannot rename %s into place: %s", d->path, d->tmp, strerror(errno));
    if (d->tmp && (abort || st))
        remove(d->tmp);
    free(d->tmp);
    d->tmp = NULL;
    d->zip = NULL;
    return st;
}

/* ---- labels ---- */

/* The class of a one-hot row, or -1 if the row is not one-hot. */
static int one_hot_class(const float *row, int dim)
{
    int cls = -1;
    for (int j = 0; j < dim; j++) {
        if (row[j] == 1.0f && cls < 0)
            cls = j;
        else if (row[j] != 0.0f)
            return -1;
    }
    return cls;
}

/* dataset.json for images 0..n-1 taken from source rows rows[0..n-1]: class
 * indices when every row is one-hot (the reference's integer labels), else
 * lists of numbers; null without labels. */
static sg2_status write_labels(ds_dest *d, const sg2_source *src, const long *rows, long n, sg2_error *err)
{
    int dim = src->label_dim, ints = 1;
    for (long i = 0; dim && i < n && ints; i++)
        ints = one_hot_class(src->labels + (size_t)rows[i] * dim, dim) >= 0;
    json_t *labels = dim ? json_array() : json_null();
    for (long i = 0; dim && labels && i < n; i++) {
        const float *row = src->labels + (size_t)rows[i] * dim;
        char name[64];
        snprintf(name, sizeof name, "%05ld/img%08ld.png", i / 1000, i);
        json_t *lab = ints ? json_integer(one_hot_class(row, dim)) : json_array();
        for (int j = 0; !ints && lab && j < dim; j++)
            json_array_append_new(lab, json_real(row[j]));
        json_array_append_new(labels, json_pack("[so]", name, lab));
    }
    json_t *root = labels ? json_pack("{so}", "labels", labels) : NULL;
    char *text = root ? json_dumps(root, 0) : NULL;
    json_decref(root);
    if (!text)
        return sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory for dataset.json", d->path);
    return dest_add(d, "dataset.json", (uint8_t *)text, strlen(text), err);
}

/* ---- the command ---- */

/* Whether labels can be asked for: an IDX images file without its labels
 * file beside it is an unlabelled dataset, not an error. Folders and zips
 * without dataset.json open fine either way. */
static int labels_present(const char *path)
{
    const char *hit = strstr(path, "images-idx3");
    struct stat sb;
    if (!hit || stat(path, &sb) != 0 || S_ISDIR(sb.st_mode))
        return 1;
    char lpath[4096];
    snprintf(lpath, sizeof lpath, "%.*slabels-idx1%s", (int)(hit - path), path, hit + 11);
    return access(lpath, F_OK) == 0;
}

static sg2_status convert(const ds_opts *o, long *written, sg2_image *first, sg2_error *err)
{
    sg2_source src;
    sg2_status st = sg2_source_open(&src, o->source, labels_present(o->source), 0, err);
    if (st)
        return st;
    long n = o->max_images && o->max_images < src.n ? o->max_images : src.n;
    long *rows = malloc(sizeof *rows * (size_t)n);
    ds_dest d = {0};
    st = rows ? dest_open(&d, o->dest, err) : sg2_error_set(err, SG2_ERR_NOMEM, "out of memory");
    char name[4096], out_name[64];
    for (long i = 0; !st && i < n; i++) {
        sg2_image img;
        int skip = 0;
        sg2_source_image_name(&src, i, name, sizeof name);
        st = sg2_source_read(&src, i, &img, err);
        if (!st)
            st = transform(o, &src, &img, &skip, err);
        if (!st && !skip)
            st = check_image(&img, *written ? first : NULL, name, err);
        if (!st && !skip)
            st = dest_add_image(&d, *written, &img, out_name, sizeof out_name, err);
        if (!st && !skip) {
            if (!*written)
                *first = (sg2_image){img.width, img.height, img.channels, NULL};
            rows[(*written)++] = i;
        }
        sg2_image_free(&img);
    }
    if (!st && *written == 0)
        st = sg2_error_set(err, SG2_ERR_FORMAT, "%s: every image was skipped by --transform center-crop-wide (narrower "
                           "than %ld or too flat)", o->source, o->resolution);
    if (!st)
        st = write_labels(&d, &src, rows, *written, err);
    st = dest_close(&d, st != SG2_OK, err) ? err->status : st;
    free(rows);
    sg2_source_close(&src);
    return st;
}

int sg2_cmd_dataset(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
    ds_opts o;
    sg2_error err = {0};
    if (parse_args(argc, argv, &o, &err)) {
        fprintf(stderr, "stylegan2-cl dataset: %s\n", err.msg);
        return 2;
    }
    long written = 0;
    sg2_image first = {0};
    if (convert(&o, &written, &first, &err)) {
        fprintf(stderr, "stylegan2-cl dataset: %s\n", err.msg);
        return 1;
    }
    printf("wrote %ld images %dx%d %d channel(s) to %s\n", written, first.width, first.height, first.channels, o.dest);
    return 0;
}
