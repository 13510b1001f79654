/* Dataset loaders, no OpenCL: PNG folders, dataset zips with dataset.json
 * labels and IDX files (plain and gzipped) built here with known pixels,
 * read back through the dataset API; the reference's subset selection
 * against numbers numpy printed; mirror; the seeded stream with and without
 * the prefetch thread; and one clear error per kind of bad input. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>
#include <zlib.h>

#include "src/dataset.h"
#include "src/image_io.h"
#include "tests/test_util.h"

static char g_dir[256];

static const char *tmp_path(char *buf, size_t cap, const char *name)
{
    if (!g_dir[0]) {
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(g_dir, sizeof g_dir, "%s/sg2-test-dataset-XXXXXX", base);
        ck_assert_msg(mkdtemp(g_dir) != NULL, "cannot make a temporary directory under %s", base);
    }
    snprintf(buf, cap, "%s/%s", g_dir, name);
    return buf;
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char child[1024];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        remove_tree(child);
    }
    closedir(d);
    rmdir(path);
}

/* Image k of the synthetic sets: pixel (c, y, x) = (k * 16 + c * 5 + y * 3 + x) mod 256,
 * so every image, channel and position differs. */
static uint8_t pixel(int k, int c, int y, int x)
{
    return (uint8_t)((k * 16 + c * 5 + y * 3 + x) & 255);
}

static void write_png(const char *path, int k, int w, int h, int ch)
{
    uint8_t *hwc = malloc((size_t)w * h * ch);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < ch; c++)
                hwc[((size_t)y * w + x) * ch + c] = pixel(k, c, y, x);
    sg2_error err = {0};
    ck_assert_msg(sg2_png_write(path, hwc, w, h, ch, &err) == SG2_OK, "%s", err.msg);
    free(hwc);
}

/* A folder of n PNGs named so that sorted order differs from creation order,
 * some in a subfolder: image k is written to the k-th name in sorted order. */
static const char *make_folder(char *dir, size_t cap, const char *name, int n, int side, int ch)
{
    tmp_path(dir, cap, name);
    mkdir(dir, 0755);
    char sub[600];
    snprintf(sub, sizeof sub, "%s/b", dir);
    mkdir(sub, 0755);
    for (int k = n - 1; k >= 0; k--) {
        char p[700];
        if (k < n / 2)
            snprintf(p, sizeof p, "%s/a%02d.png", dir, k);
        else
            snprintf(p, sizeof p, "%s/b/img%02d.PNG", dir, k);
        write_png(p, k, side, side, ch);
    }
    return dir;
}

static void expect_image(sg2_dataset *ds, long i, int k, int flip)
{
    int R = sg2_dataset_resolution(ds), C = sg2_dataset_channels(ds);
    uint8_t *px = malloc((size_t)C * R * R);
    sg2_error err = {0};
    ck_assert_msg(sg2_dataset_get(ds, i, px, NULL, &err) == SG2_OK, "%s", err.msg);
    for (int c = 0; c < C; c++)
        for (int y = 0; y < R; y++)
            for (int x = 0; x < R; x++) {
                int sx = flip ? R - 1 - x : x;
                ck_assert_msg(px[((size_t)c * R + y) * R + x] == pixel(k, c, y, sx),
                              "item %ld (image %d%s) pixel c%d y%d x%d", i, k, flip ? ", flipped" : "", c, y, x);
            }
    free(px);
}

static sg2_dataset *open_ok(const char *path, sg2_dataset_opts opts)
{
    sg2_dataset *ds = NULL;
    sg2_error err = {0};
    ck_assert_msg(sg2_dataset_open(&ds, path, &opts, &err) == SG2_OK, "%s", err.msg);
    return ds;
}

/* Opening must fail with a message containing each of the given fragments. */
static void expect_open_error(const char *path, sg2_dataset_opts opts, const char *frag1, const char *frag2)
{
    sg2_dataset *ds = NULL;
    sg2_error err = {0};
    sg2_status st = sg2_dataset_open(&ds, path, &opts, &err);
    ck_assert_msg(st != SG2_OK, "%s opened, expected an error about '%s'", path, frag1);
    ck_assert_ptr_null(ds);
    ck_assert_msg(strstr(err.msg, frag1) != NULL, "error '%s' lacks '%s'", err.msg, frag1);
    ck_assert_msg(!frag2 || strstr(err.msg, frag2) != NULL, "error '%s' lacks '%s'", err.msg, frag2);
    ck_assert_msg(strchr(err.msg, '\n') == NULL, "error is not one line: '%s'", err.msg);
}

START_TEST(test_folder_sorted_recursive)
{
    char dir[512];
    make_folder(dir, sizeof dir, "folder", 6, 8, 3);
    sg2_dataset *ds = open_ok(dir, (sg2_dataset_opts){0});
    ck_assert_int_eq(sg2_dataset_count(ds), 6);
    ck_assert_int_eq(sg2_dataset_resolution(ds), 8);
    ck_assert_int_eq(sg2_dataset_channels(ds), 3);
    ck_assert_int_eq(sg2_dataset_label_dim(ds), 0);
    ck_assert_str_eq(sg2_dataset_name(ds), "folder");
    for (int k = 0; k < 6; k++)
        expect_image(ds, k, k, 0);
    sg2_dataset_close(ds);
}
END_TEST

START_TEST(test_mirror_and_batch_values)
{
    char dir[512];
    make_folder(dir, sizeof dir, "mirror", 4, 4, 1);
    sg2_dataset *ds = open_ok(dir, (sg2_dataset_opts){.mirror = 1});
    ck_assert_int_eq(sg2_dataset_count(ds), 8);
    for (int i = 0; i < 8; i++)
        expect_image(ds, i, i % 4, i >= 4);
    /* a batch holds x / 127.5 - 1 of the stream's images */
    float images[3 * 16];
    sg2_error err = {0};
    ck_assert_msg(sg2_dataset_batch(ds, 7, 2, 3, images, NULL, &err) == SG2_OK, "%s", err.msg);
    for (int k = 0; k < 3; k++) {
        long i = sg2_dataset_stream_index(ds, 7, 2 * 3 + k);
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++) {
                int sx = i >= 4 ? 3 - x : x;
                double want = pixel((int)(i % 4), 0, y, sx) / 127.5 - 1.0;
                ck_assert_double_eq_tol(images[k * 16 + y * 4 + x], want, 1e-6);
            }
    }
    sg2_dataset_close(ds);
}
END_TEST

/* Every epoch of the stream is a permutation; different seeds and epochs differ. */
START_TEST(test_stream_permutations)
{
    char dir[512];
    make_folder(dir, sizeof dir, "stream", 10, 4, 1);
    sg2_dataset *ds = open_ok(dir, (sg2_dataset_opts){0});
    long seen[10], first[2][10];
    for (int seed = 0; seed < 2; seed++)
        for (int epoch = 0; epoch < 3; epoch++) {
            memset(seen, 0, sizeof seen);
            for (long p = 0; p < 10; p++) {
                long i = sg2_dataset_stream_index(ds, (uint64_t)seed, epoch * 10 + p);
                ck_assert(i >= 0 && i < 10);
                seen[i]++;
                if (epoch == 0)
                    first[seed][p] = i;
            }
            for (int i = 0; i < 10; i++)
                ck_assert_int_eq(seen[i], 1);
        }
    ck_assert_msg(memcmp(first[0], first[1], sizeof first[0]) != 0, "seeds 0 and 1 give the same order");
    sg2_dataset_close(ds);
}
END_TEST

/* Batches served by the prefetch thread equal batches read directly, in
 * order, after a jump (a resume) and back. */
START_TEST(test_prefetch_matches_direct)
{
    char dir[512];
    make_folder(dir, sizeof dir, "prefetch", 7, 4, 1);
    sg2_dataset *ds = open_ok(dir, (sg2_dataset_opts){.mirror = 1});
    enum { N = 3, F = N * 16 };
    static const long order[] = {0, 1, 2, 3, 17, 18, 5, 6, 40};
    float direct[F], fetched[F];
    sg2_error err = {0};
    ck_assert_msg(sg2_dataset_prefetch_start(ds, 11, N, 4, &err) == SG2_OK, "%s", err.msg);
    for (size_t j = 0; j < sizeof order / sizeof *order; j++) {
        ck_assert_msg(sg2_dataset_batch(ds, 11, order[j], N, fetched, NULL, &err) == SG2_OK, "%s", err.msg);
        ck_assert_msg(sg2_dataset_batch(ds, 12, order[j], N, direct, NULL, &err) == SG2_OK, "%s", err.msg);
        float direct11[F];
        sg2_dataset_prefetch_stop(ds);
        ck_assert_msg(sg2_dataset_batch(ds, 11, order[j], N, direct11, NULL, &err) == SG2_OK, "%s", err.msg);
        ck_assert_msg(memcmp(direct11, fetched, sizeof fetched) == 0, "batch %ld differs with prefetch", order[j]);
        ck_assert_msg(sg2_dataset_prefetch_start(ds, 11, N, 4, &err) == SG2_OK, "%s", err.msg);
    }
    sg2_dataset_close(ds);
}
END_TEST

/* --subset N keeps what RandomState(0).shuffle(arange(n))[:N], sorted, keeps
 * (numpy 2.4 printed [2, 4, 8, 9] for n = 10, N = 4). */
START_TEST(test_subset_like_reference)
{
    char dir[512];
    make_folder(dir, sizeof dir, "subset", 10, 4, 1);
    sg2_dataset *ds = open_ok(dir, (sg2_dataset_opts){.subset = 4, .mirror = 1});
    ck_assert_int_eq(sg2_dataset_count(ds), 8);
    static const int want[] = {2, 4, 8, 9};
    for (int i = 0; i < 8; i++)
        expect_image(ds, i, want[i % 4], i >= 4);
    sg2_dataset_close(ds);
}
END_TEST

static void zip_add_file(zip_t *z, const char *name, const char *src_path)
{
    zip_source_t *s = zip_source_file(z, src_path, 0, -1);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_ge(zip_file_add(z, name, s, ZIP_FL_OVERWRITE), 0);
}

static void zip_add_text(zip_t *z, const char *name, const char *text)
{
    zip_source_t *s = zip_source_buffer(z, text, strlen(text), 0);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_ge(zip_file_add(z, name, s, ZIP_FL_OVERWRITE), 0);
}

/* A zip in the reference's layout, entries added out of order. */
static const char *make_zip(char *path, size_t cap, const char *name, int n, const char *labels_json)
{
    char pngs[512];
    make_folder(pngs, sizeof pngs, "zip-src", n, 4, 3);
    tmp_path(path, cap, name);
    int code;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &code);
    ck_assert_ptr_nonnull(z);
    for (int k = n - 1; k >= 0; k--) {
        char src[700], entry[64];
        if (k < n / 2)
            snprintf(src, sizeof src, "%s/a%02d.png", pngs, k);
        else
            snprintf(src, sizeof src, "%s/b/img%02d.PNG", pngs, k);
        snprintf(entry, sizeof entry, "00000/img%08d.png", k);
        zip_add_file(z, entry, src);
    }
    if (labels_json)
        zip_add_text(z, "dataset.json", labels_json);
    ck_assert_int_eq(zip_close(z), 0);
    return path;
}

START_TEST(test_zip_with_class_labels)
{
    char path[512];
    make_zip(path, sizeof path, "classes.zip", 4,
             "{\"labels\": [[\"00000/img00000003.png\", 0], [\"00000/img00000000.png\", 2],"
             " [\"00000/img00000001.png\", 4], [\"00000/img00000002.png\", 1]]}");
    sg2_dataset *ds = open_ok(path, (sg2_dataset_opts){.use_labels = 1});
    ck_assert_int_eq(sg2_dataset_count(ds), 4);
    ck_assert_int_eq(sg2_dataset_label_dim(ds), 5);
    static const int cls[] = {2, 4, 1, 0};
    for (int k = 0; k < 4; k++) {
        expect_image(ds, k, k, 0);
        uint8_t px[3 * 16];
        float lab[5];
        sg2_error err = {0};
        ck_assert_msg(sg2_dataset_get(ds, k, px, lab, &err) == SG2_OK, "%s", err.msg);
        for (int j = 0; j < 5; j++)
            ck_assert_float_eq(lab[j], j == cls[k] ? 1.0f : 0.0f);
        /* the label alone, as G's conditioning asks for it */
        float only[5] = {-1, -1, -1, -1, -1};
        ck_assert_msg(sg2_dataset_get(ds, k, NULL, only, &err) == SG2_OK, "%s", err.msg);
        ck_assert_mem_eq(only, lab, sizeof lab);
    }
    sg2_dataset_close(ds);
    /* without --cond the labels are not used */
    ds = open_ok(path, (sg2_dataset_opts){0});
    ck_assert_int_eq(sg2_dataset_label_dim(ds), 0);
    sg2_dataset_close(ds);
}
END_TEST

START_TEST(test_zip_with_vector_labels)
{
    char path[512];
    make_zip(path, sizeof path, "vectors.zip", 2,
             "{\"labels\": [[\"00000/img00000000.png\", [0.5, -1]], [\"00000/img00000001.png\", [2, 3.25]]]}");
    sg2_dataset *ds = open_ok(path, (sg2_dataset_opts){.use_labels = 1});
    ck_assert_int_eq(sg2_dataset_label_dim(ds), 2);
    float lab[2];
    uint8_t px[3 * 16];
    sg2_error err = {0};
    ck_assert(sg2_dataset_get(ds, 1, px, lab, &err) == SG2_OK);
    ck_assert_float_eq(lab[0], 2.0f);
    ck_assert_float_eq(lab[1], 3.25f);
    sg2_dataset_close(ds);
}
END_TEST

START_TEST(test_cond_without_labels)
{
    char path[512];
    make_zip(path, sizeof path, "nolabels.zip", 2, "{\"labels\": null}");
    expect_open_error(path, (sg2_dataset_opts){.use_labels = 1}, "nolabels.zip", "--cond needs labels");
}
END_TEST

static void write_idx(const char *path, int gz, uint32_t magic, const uint32_t *dims, int ndims, const uint8_t *data,
                      size_t n, size_t cut)
{
    uint8_t head[16];
    for (int i = 0; i < 4; i++)
        head[i] = (uint8_t)(magic >> (24 - 8 * i));
    for (int d = 0; d < ndims; d++)
        for (int i = 0; i < 4; i++)
            head[4 + 4 * d + i] = (uint8_t)(dims[d] >> (24 - 8 * i));
    size_t hl = 4 + 4 * (size_t)ndims;
    if (gz) {
        gzFile f = gzopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        gzwrite(f, head, (unsigned)hl);
        gzwrite(f, data, (unsigned)(n - cut));
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        fwrite(head, 1, hl, f);
        fwrite(data, 1, n - cut, f);
        fclose(f);
    }
}

/* 28x28 digits land centred in 32x32 with a zero border of 2. */
static void check_idx(int gz)
{
    enum { N = 3, S = 28 };
    uint8_t *img = malloc((size_t)N * S * S);
    for (int k = 0; k < N; k++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                img[((size_t)k * S + y) * S + x] = (uint8_t)(1 + (k * 7 + y * 3 + x) % 250);
    uint8_t labels[N] = {3, 0, 9};
    char ipath[512], lpath[512];
    tmp_path(ipath, sizeof ipath, gz ? "t-images-idx3-ubyte.gz" : "t-images-idx3-ubyte");
    tmp_path(lpath, sizeof lpath, gz ? "t-labels-idx1-ubyte.gz" : "t-labels-idx1-ubyte");
    write_idx(ipath, gz, 0x803, (uint32_t[]){N, S, S}, 3, img, (size_t)N * S * S, 0);
    write_idx(lpath, gz, 0x801, (uint32_t[]){N}, 1, labels, N, 0);
    sg2_dataset *ds = open_ok(ipath, (sg2_dataset_opts){.use_labels = 1});
    ck_assert_int_eq(sg2_dataset_count(ds), N);
    ck_assert_int_eq(sg2_dataset_resolution(ds), 32);
    ck_assert_int_eq(sg2_dataset_channels(ds), 1);
    ck_assert_int_eq(sg2_dataset_label_dim(ds), 10);
    for (int k = 0; k < N; k++) {
        uint8_t px[32 * 32];
        float lab[10];
        sg2_error err = {0};
        ck_assert_msg(sg2_dataset_get(ds, k, px, lab, &err) == SG2_OK, "%s", err.msg);
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) {
                int in = y >= 2 && y < 30 && x >= 2 && x < 30;
                uint8_t want = in ? img[((size_t)k * S + y - 2) * S + x - 2] : 0;
                ck_assert_msg(px[y * 32 + x] == want, "image %d y%d x%d: %d, want %d", k, y, x, px[y * 32 + x], want);
            }
        for (int j = 0; j < 10; j++)
            ck_assert_float_eq(lab[j], j == labels[k] ? 1.0f : 0.0f);
    }
    sg2_dataset_close(ds);
    /* a truncated file */
    write_idx(ipath, gz, 0x803, (uint32_t[]){N, S, S}, 3, img, (size_t)N * S * S, 100);
    expect_open_error(ipath, (sg2_dataset_opts){0}, ipath, "truncated");
    /* labels (magic 0x801) given where images are expected */
    expect_open_error(lpath, (sg2_dataset_opts){0}, lpath, "magic");
    free(img);
}

START_TEST(test_idx_plain) { check_idx(0); }
END_TEST

START_TEST(test_idx_gzip) { check_idx(1); }
END_TEST

START_TEST(test_bad_wrong_size)
{
    char dir[512], odd[700];
    make_folder(dir, sizeof dir, "wrongsize", 4, 8, 1);
    snprintf(odd, sizeof odd, "%s/b/img02.PNG", dir);
    write_png(odd, 2, 16, 16, 1);
    expect_open_error(dir, (sg2_dataset_opts){0}, "b/img02.PNG", "16x16 but the first image is 8x8");
}
END_TEST

START_TEST(test_bad_channels)
{
    char dir[512], odd[700];
    make_folder(dir, sizeof dir, "channels", 4, 8, 3);
    snprintf(odd, sizeof odd, "%s/a01.png", dir);
    write_png(odd, 1, 8, 8, 1);
    expect_open_error(dir, (sg2_dataset_opts){0}, "a01.png", "1 channels but the first image has 3");
}
END_TEST

START_TEST(test_bad_not_power_of_two)
{
    char dir[512];
    make_folder(dir, sizeof dir, "npot", 2, 6, 1);
    expect_open_error(dir, (sg2_dataset_opts){0}, "a00.png", "power of two");
    char dir2[512], p[700];
    tmp_path(dir2, sizeof dir2, "nonsquare");
    mkdir(dir2, 0755);
    snprintf(p, sizeof p, "%s/x.png", dir2);
    write_png(p, 0, 8, 4, 1);
    expect_open_error(dir2, (sg2_dataset_opts){0}, "x.png", "8x4");
}
END_TEST

/* A PNG cut short keeps a valid header, so it opens; reading it names the file. */
START_TEST(test_bad_truncated_png)
{
    char dir[512], p[700];
    make_folder(dir, sizeof dir, "truncated", 4, 8, 3);
    snprintf(p, sizeof p, "%s/a01.png", dir);
    struct stat sb;
    ck_assert_int_eq(stat(p, &sb), 0);
    ck_assert_int_eq(truncate(p, sb.st_size / 2), 0);
    sg2_dataset *ds = open_ok(dir, (sg2_dataset_opts){0});
    uint8_t px[3 * 64];
    sg2_error err = {0};
    ck_assert(sg2_dataset_get(ds, 0, px, NULL, &err) == SG2_OK);
    ck_assert(sg2_dataset_get(ds, 1, px, NULL, &err) != SG2_OK);
    ck_assert_msg(strstr(err.msg, "a01.png") && strstr(err.msg, "truncated"), "error: %s", err.msg);
    /* the same error reaches the trainer through a prefetched batch */
    float images[4 * 3 * 64];
    memset(&err, 0, sizeof err);
    ck_assert(sg2_dataset_prefetch_start(ds, 0, 4, 2, &err) == SG2_OK);
    ck_assert(sg2_dataset_batch(ds, 0, 0, 4, images, NULL, &err) != SG2_OK);
    ck_assert_msg(strstr(err.msg, "a01.png") != NULL, "error: %s", err.msg);
    sg2_dataset_close(ds);
    /* a header cut short is refused at open */
    ck_assert_int_eq(truncate(p, 20), 0);
    expect_open_error(dir, (sg2_dataset_opts){0}, "a01.png", "not a PNG");
}
END_TEST

START_TEST(test_bad_corrupt_zip)
{
    char path[512], bad[512];
    make_zip(path, sizeof path, "good.zip", 3, NULL);
    tmp_path(bad, sizeof bad, "corrupt.zip");
    FILE *in = fopen(path, "rb"), *out = fopen(bad, "wb");
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    memset(buf + n - 30, 0xA5, 30); /* damage the central directory's end record */
    fwrite(buf, 1, n, out);
    fclose(out);
    expect_open_error(bad, (sg2_dataset_opts){0}, "corrupt.zip", "zip");
    out = fopen(bad, "wb");
    fputs("this is not a zip", out);
    fclose(out);
    expect_open_error(bad, (sg2_dataset_opts){0}, "corrupt.zip", "zip");
}
END_TEST

START_TEST(test_bad_labels_json)
{
    char path[512];
    make_zip(path, sizeof path, "badjson.zip", 2, "{\"labels\": [[\"00000/img00000000.png\", 1]");
    expect_open_error(path, (sg2_dataset_opts){.use_labels = 1}, "badjson.zip:dataset.json", "invalid JSON");
    make_zip(path, sizeof path, "missing.zip", 2, "{\"labels\": [[\"00000/img00000000.png\", 1]]}");
    expect_open_error(path, (sg2_dataset_opts){.use_labels = 1}, "missing.zip", "no label for image 00000/img00000001.png");
}
END_TEST

START_TEST(test_bad_paths)
{
    char p[700], dir[512];
    expect_open_error(tmp_path(p, sizeof p, "does-not-exist"), (sg2_dataset_opts){0}, "does-not-exist", "cannot open");
    tmp_path(dir, sizeof dir, "empty");
    mkdir(dir, 0755);
    expect_open_error(dir, (sg2_dataset_opts){0}, "empty", "no PNG images");
    snprintf(p, sizeof p, "%s/photo.jpg", dir);
    FILE *f = fopen(p, "wb");
    fputs("x", f);
    fclose(f);
    expect_open_error(dir, (sg2_dataset_opts){0}, "photo.jpg", "only PNG");
}
END_TEST

static Suite *dataset_suite(void)
{
    Suite *s = suite_create("dataset");
    TCase *tc = tcase_create("dataset");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_folder_sorted_recursive);
    tcase_add_test(tc, test_mirror_and_batch_values);
    tcase_add_test(tc, test_stream_permutations);
    tcase_add_test(tc, test_prefetch_matches_direct);
    tcase_add_test(tc, test_subset_like_reference);
    tcase_add_test(tc, test_zip_with_class_labels);
    tcase_add_test(tc, test_zip_with_vector_labels);
    tcase_add_test(tc, test_cond_without_labels);
    tcase_add_test(tc, test_idx_plain);
    tcase_add_test(tc, test_idx_gzip);
    tcase_add_test(tc, test_bad_wrong_size);
    tcase_add_test(tc, test_bad_channels);
    tcase_add_test(tc, test_bad_not_power_of_two);
    tcase_add_test(tc, test_bad_truncated_png);
    tcase_add_test(tc, test_bad_corrupt_zip);
    tcase_add_test(tc, test_bad_labels_json);
    tcase_add_test(tc, test_bad_paths);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = sg2_test_run(dataset_suite());
    if (g_dir[0])
        remove_tree(g_dir);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
