/* File and number utilities, no OpenCL: numpy's legacy random stream against
 * numbers numpy printed (tests/vectors/np_random.txt); PNG round trips,
 * conversions of other PNG kinds and damaged files; the reference tools'
 * float-to-byte conversions and image grid; safetensors round trips, a file
 * written by Python's safetensors package, and one case per kind of damage. */
#include <dirent.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/image_io.h"
#include "src/np_random.h"
#include "src/safetensors.h"
#include "tests/test_util.h"

#ifndef SG2_TEST_VECTORS
#define SG2_TEST_VECTORS "tests/vectors"
#endif

/* All files go to one fresh directory, removed at the end. */
static char g_dir[256];

static const char *tmp_path(char *buf, size_t cap, const char *name)
{
    if (!g_dir[0]) {
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(g_dir, sizeof g_dir, "%s/sg2-test-io-XXXXXX", base);
        ck_assert_msg(mkdtemp(g_dir) != NULL, "cannot make a temporary directory under %s", base);
    }
    snprintf(buf, cap, "%s/%s", g_dir, name);
    return buf;
}

static void remove_tmp_dir(void)
{
    DIR *d = g_dir[0] ? opendir(g_dir) : NULL;
    if (!d)
        return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            remove(tmp_path(p, sizeof p, e->d_name));
    closedir(d);
    rmdir(g_dir);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    *len = (size_t)ftell(fp);
    rewind(fp);
    unsigned char *buf = malloc(*len + 1);
    ck_assert(buf && fread(buf, 1, *len, fp) == *len);
    fclose(fp);
    buf[*len] = 0;
    return buf;
}

static void spill(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_msg(fp && fwrite(data, 1, len, fp) == len && fclose(fp) == 0, "cannot write %s", path);
}

/* The failure was the expected kind and its message names the file and says `what`. */
static void assert_fails(sg2_status got, const sg2_error *err, sg2_status want, const char *path, const char *what)
{
    ck_assert_msg(got == want, "%s: status %d (%s), want %d; message: %s", path, (int)got, sg2_status_str(got),
                  (int)want, err->msg);
    ck_assert_msg(strstr(err->msg, path) != NULL, "message does not name %s: %s", path, err->msg);
    ck_assert_msg(strstr(err->msg, what) != NULL, "message lacks '%s': %s", what, err->msg);
    ck_assert_msg(strchr(err->msg, '\n') == NULL, "message is not one line: %s", err->msg);
}

/* ---- numpy's legacy RandomState ---- */

START_TEST(test_np_random_known_answers)
{
    /* The 10000th output of MT19937 seeded 5489 (a C++11 requirement). */
    sg2_np_random r;
    sg2_np_random_seed(&r, 5489);
    uint32_t v = 0;
    for (int i = 0; i < 10000; i++)
        v = sg2_np_random_u32(&r);
    ck_assert_uint_eq(v, 4123659995u);
    /* np.random.RandomState(0).random_sample() and .randn(), well known. */
    sg2_np_random_seed(&r, 0);
    ck_assert(sg2_np_random_sample(&r) == 0.5488135039273248);
    sg2_np_random_seed(&r, 0);
    ck_assert(sg2_np_random_gauss(&r) == 1.764052345967664);
    /* Reseeding forgets the cached second normal. */
    sg2_np_random_seed(&r, 0);
    double first = sg2_np_random_gauss(&r);
    sg2_np_random_seed(&r, 0);
    ck_assert(sg2_np_random_gauss(&r) == first);
}
END_TEST

/* Each "%.17g" token of `line` must equal our value printed the same way
 * (and so have the same bits, which the parse checks too). */
static void assert_tokens(char *line, const double *got, int k, const char *what, long seed)
{
    char *save = NULL, buf[64];
    int i = 0;
    for (char *tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save), i++) {
        ck_assert_msg(i < k, "seed %ld %s: more values in the file than expected", seed, what);
        snprintf(buf, sizeof buf, "%.17g", got[i]);
        ck_assert_msg(strcmp(buf, tok) == 0 && strtod(tok, NULL) == got[i], "seed %ld %s[%d]: got %s, numpy %s", seed,
                      what, i, buf, tok);
    }
    ck_assert_msg(i == k, "seed %ld %s: %d values in the file, want %d", seed, what, i, k);
}

START_TEST(test_np_random_matches_numpy)
{
    const char *path = SG2_TEST_VECTORS "/np_random.txt";
    FILE *fp = fopen(path, "r");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    char line[8192];
    ck_assert_msg(fgets(line, sizeof line, fp) && strcmp(line, "sg2-np-random 1\n") == 0,
                  "%s: not version 1 of the vectors; regenerate with tests/vectors/make_np_random.py", path);
    enum { N = 512 };
    double z[N], v[16];
    long seed = -1;
    int blocks = 0, records = 0;
    sg2_np_random r;
    while (fgets(line, sizeof line, fp)) {
        int n = 0, k = 0, off = 0;
        char part[8];
        if (line[0] == '#')
            continue;
        if (sscanf(line, "seed %ld", &seed) == 1) {
            blocks++;
            sg2_np_random_seed(&r, (uint32_t)seed);
            sg2_np_random_randn(&r, z, N);
        } else if (sscanf(line, "sample %d %n", &k, &off) == 1) {
            sg2_np_random_seed(&r, (uint32_t)seed);
            for (int i = 0; i < k && i < 16; i++)
                v[i] = sg2_np_random_sample(&r);
            assert_tokens(line + off, v, k, "random_sample", seed);
            records++;
        } else if (sscanf(line, "randn %d sum %n", &n, &off) == 1 && off > 0 && n == N) {
            double sum = 0;
            for (int i = 0; i < N; i++)
                sum += z[i];
            assert_tokens(line + off, &sum, 1, "sum", seed);
            records++;
        } else if (sscanf(line, "randn %d %7s %d %n", &n, part, &k, &off) == 3 && n == N && k <= N &&
                   (strcmp(part, "head") == 0 || strcmp(part, "tail") == 0)) {
            assert_tokens(line + off, part[0] == 'h' ? z : z + N - k, k, part, seed);
            records++;
        } else if (sscanf(line, "mixed %n", &off) == 0 && off > 0) {
            /* randn(3), random_sample(), randn(2): the cached normal survives the uniform draw. */
            sg2_np_random_seed(&r, (uint32_t)seed);
            sg2_np_random_randn(&r, v, 3);
            v[3] = sg2_np_random_sample(&r);
            sg2_np_random_randn(&r, v + 4, 2);
            assert_tokens(line + off, v, 6, "mixed", seed);
            records++;
        } else {
            ck_abort_msg("%s: cannot parse line: %s", path, line);
        }
    }
    fclose(fp);
    ck_assert_msg(blocks == 5 && records == 5 * 5, "%s: %d seeds and %d records, want 5 and 25", path, blocks, records);
}
END_TEST

/* ---- PNG ---- */

static void fill_bytes(uint8_t *p, size_t n, uint64_t seed)
{
    double *u = malloc(n * sizeof *u);
    sg2_test_uniform(u, (long)n, 0, 256, seed);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)u[i];
    free(u);
}

START_TEST(test_png_round_trip)
{
    static const int sizes[][3] = {{7, 5, 1}, {5, 3, 3}, {1, 1, 3}, {33, 2, 1}};
    char path[512];
    for (int t = 0; t < 4; t++) {
        int w = sizes[t][0], h = sizes[t][1], c = sizes[t][2];
        uint8_t px[33 * 5 * 3];
        fill_bytes(px, (size_t)w * h * c, 100 + t);
        sg2_error err = {0};
        tmp_path(path, sizeof path, "round.png");
        ck_assert_msg(sg2_png_write(path, px, w, h, c, &err) == SG2_OK, "%s", err.msg);
        sg2_image img;
        ck_assert_msg(sg2_png_read(&img, path, &err) == SG2_OK, "%s", err.msg);
        ck_assert_int_eq(img.width, w);
        ck_assert_int_eq(img.height, h);
        ck_assert_int_eq(img.channels, c);
        ck_assert_msg(memcmp(img.data, px, (size_t)w * h * c) == 0, "pixels differ for %dx%dx%d", w, h, c);
        sg2_image_free(&img);
    }
}
END_TEST

/* Write a PNG of any kind with libpng directly. rows: [h][rowbytes]. */
static void write_png_kind(const char *path, int w, int h, int ctype, int depth, int interlace, const uint8_t *rows,
                           size_t rowbytes, const png_color *pal, int n_pal)
{
    FILE *fp = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    ck_assert(fp && png && info);
    ck_assert(setjmp(png_jmpbuf(png)) == 0);
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ctype, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (pal)
        png_set_PLTE(png, info, pal, n_pal);
    png_write_info(png, info);
    int passes = png_set_interlace_handling(png);
    for (int p = 0; p < passes; p++)
        for (int y = 0; y < h; y++)
            png_write_row(png, rows + (size_t)y * rowbytes);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(fp);
}

static void read_expect(const char *path, int w, int h, int c, const uint8_t *want, const char *what)
{
    sg2_image img;
    sg2_error err = {0};
    ck_assert_msg(sg2_png_read(&img, path, &err) == SG2_OK, "%s: %s", what, err.msg);
    ck_assert_msg(img.width == w && img.height == h && img.channels == c, "%s: got %dx%dx%d", what, img.width,
                  img.height, img.channels);
    for (int i = 0; i < w * h * c; i++)
        ck_assert_msg(img.data[i] == want[i], "%s: byte %d is %d, want %d", what, i, img.data[i], want[i]);
    sg2_image_free(&img);
}

START_TEST(test_png_reads_other_kinds)
{
    char path[512];
    tmp_path(path, sizeof path, "kind.png");
    /* Gray + alpha and RGBA: the alpha is dropped. */
    const uint8_t ga[] = {10, 255, 20, 0, 30, 128}, ga_want[] = {10, 20, 30};
    write_png_kind(path, 3, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, ga, 6, NULL, 0);
    read_expect(path, 3, 1, 1, ga_want, "gray+alpha");
    const uint8_t rgba[] = {1, 2, 3, 4, 5, 6, 7, 8}, rgba_want[] = {1, 2, 3, 5, 6, 7};
    write_png_kind(path, 1, 2, PNG_COLOR_TYPE_RGBA, 8, PNG_INTERLACE_NONE, rgba, 4, NULL, 0);
    read_expect(path, 1, 2, 3, rgba_want, "RGBA");
    /* A 4-bit palette image (two pixels a byte) becomes RGB. */
    const png_color pal[3] = {{200, 0, 0}, {0, 100, 0}, {1, 2, 250}};
    const uint8_t idx[] = {0x01, 0x20}, pal_want[] = {200, 0, 0, 0, 100, 0, 1, 2, 250};
    write_png_kind(path, 3, 1, PNG_COLOR_TYPE_PALETTE, 4, PNG_INTERLACE_NONE, idx, 2, pal, 3);
    read_expect(path, 3, 1, 3, pal_want, "palette");
    /* 16-bit gray, big-endian samples, scaled to 8 bits: k * 257 -> k. */
    const uint8_t g16[] = {0x00, 0x00, 0xff, 0xff, 0x80, 0x80, 0x01, 0x01}, g16_want[] = {0, 255, 128, 1};
    write_png_kind(path, 4, 1, PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE, g16, 8, NULL, 0);
    read_expect(path, 4, 1, 1, g16_want, "16-bit gray");
    const uint8_t rgb16[] = {0x12, 0x12, 0xfe, 0xfe, 0x00, 0x00}, rgb16_want[] = {0x12, 0xfe, 0};
    write_png_kind(path, 1, 1, PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE, rgb16, 6, NULL, 0);
    read_expect(path, 1, 1, 3, rgb16_want, "16-bit RGB");
    /* 1-bit gray expands to 0 and 255. */
    const uint8_t bits[] = {0xa0}, bits_want[] = {255, 0, 255};
    write_png_kind(path, 3, 1, PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, bits, 1, NULL, 0);
    read_expect(path, 3, 1, 1, bits_want, "1-bit gray");
    /* Adam7 interlacing. */
    uint8_t px[9 * 7 * 3];
    fill_bytes(px, sizeof px, 7);
    write_png_kind(path, 9, 7, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7, px, 27, NULL, 0);
    read_expect(path, 9, 7, 3, px, "interlaced RGB");
}
END_TEST

START_TEST(test_png_damaged_files)
{
    char good[512], bad[512];
    sg2_error err = {0};
    sg2_image img;
    uint8_t px[32 * 32 * 3];
    fill_bytes(px, sizeof px, 9); /* random bytes do not compress: the IDAT is long */
    tmp_path(good, sizeof good, "good.png");
    ck_assert_msg(sg2_png_write(good, px, 32, 32, 3, &err) == SG2_OK, "%s", err.msg);
    size_t len;
    unsigned char *bytes = slurp(good, &len);
    ck_assert_uint_gt(len, 3000);
    /* Cut in the middle of the image data. */
    tmp_path(bad, sizeof bad, "truncated.png");
    spill(bad, bytes, len / 2);
    assert_fails(sg2_png_read(&img, bad, &err), &err, SG2_ERR_FORMAT, bad, "truncated");
    ck_assert_ptr_null(img.data);
    /* A damaged IHDR (its CRC no longer matches). */
    bytes[17] ^= 0x40;
    tmp_path(bad, sizeof bad, "crc.png");
    spill(bad, bytes, len);
    sg2_error_clear(&err);
    assert_fails(sg2_png_read(&img, bad, &err), &err, SG2_ERR_FORMAT, bad, "damaged PNG");
    free(bytes);
    /* Not a PNG at all, and an empty file. */
    tmp_path(bad, sizeof bad, "text.png");
    spill(bad, "hello, this is not an image\n", 28);
    sg2_error_clear(&err);
    assert_fails(sg2_png_read(&img, bad, &err), &err, SG2_ERR_FORMAT, bad, "not a PNG");
    tmp_path(bad, sizeof bad, "empty.png");
    spill(bad, "", 0);
    sg2_error_clear(&err);
    assert_fails(sg2_png_read(&img, bad, &err), &err, SG2_ERR_FORMAT, bad, "not a PNG");
    /* Missing file: an I/O error, not a format error. */
    tmp_path(bad, sizeof bad, "missing.png");
    sg2_error_clear(&err);
    assert_fails(sg2_png_read(&img, bad, &err), &err, SG2_ERR_IO, bad, "cannot open");
}
END_TEST

/* Files in the test directory whose names contain `part`. */
static int count_files(const char *part)
{
    DIR *d = opendir(g_dir);
    ck_assert(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strstr(e->d_name, part) != NULL;
    closedir(d);
    return n;
}

START_TEST(test_png_write_atomic_and_errors)
{
    char path[512], nodir[600];
    sg2_error err = {0};
    uint8_t a[4 * 4] = {0}, b[4 * 4];
    memset(b, 77, sizeof b);
    tmp_path(path, sizeof path, "replace.png");
    ck_assert(sg2_png_write(path, a, 4, 4, 1, &err) == SG2_OK);
    ck_assert(sg2_png_write(path, b, 4, 4, 1, &err) == SG2_OK);
    read_expect(path, 4, 4, 1, b, "overwritten");
    ck_assert_int_eq(count_files(".tmp."), 0);
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/x.png", g_dir);
    assert_fails(sg2_png_write(nodir, a, 4, 4, 1, &err), &err, SG2_ERR_IO, nodir, "cannot create");
    sg2_error_clear(&err);
    assert_fails(sg2_png_write(path, a, 4, 4, 2, &err), &err, SG2_ERR_ARG, path, "channels");
    sg2_error_clear(&err);
    assert_fails(sg2_png_write(path, a, 0, 4, 1, &err), &err, SG2_ERR_ARG, path, "0x4");
    read_expect(path, 4, 4, 1, b, "left alone by failed writes");
}
END_TEST

/* ---- float images to bytes, and grids ---- */

START_TEST(test_image_to_u8_generate_rule)
{
    /* (x * 127.5 + 128).clamp(0, 255) then truncation toward zero. */
    static const float x[] = {-1.0f, 1.0f, 0.0f, -2.0f, 3.0f, 0.5f, -0.5f, 0.99f, -0.996f, -0.9999f, -1.0f / 127.5f};
    static const uint8_t want[] = {0, 255, 128, 0, 255, 191, 64, 254, 1, 0, 127};
    int n = (int)(sizeof x / sizeof x[0]);
    uint8_t got[16];
    sg2_image_to_u8_hwc(got, x, 1, 1, 1, n);
    for (int i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "x=%.9g: got %d want %d", (double)x[i], got[i], want[i]);
    float nan = NAN;
    sg2_image_to_u8_hwc(got, &nan, 1, 1, 1, 1);
    ck_assert_int_eq(got[0], 0);
    /* Layout: [n, c, h, w] -> [n, h, w, c]; value v -> v * 127.5 + 128 exactly for these. */
    enum { N = 2, C = 3, H = 2, W = 5 };
    float img[N * C * H * W];
    for (int i = 0; i < N * C * H * W; i++)
        img[i] = ((float)(i % 100) - 50.0f) / 127.5f * 0.9921875f;
    uint8_t out[N * H * W * C];
    sg2_image_to_u8_hwc(out, img, N, C, H, W);
    for (int i = 0; i < N; i++)
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++)
                for (int x2 = 0; x2 < W; x2++) {
                    float v = img[((i * C + c) * H + y) * W + x2] * 127.5f;
                    v = v + 128.0f;
                    ck_assert_int_eq(out[((i * H + y) * W + x2) * C + c], (uint8_t)v);
                }
}
END_TEST

START_TEST(test_image_to_u8_drange_rule)
{
    /* drange [0, 255]: np.rint rounds halves to even, then clip. */
    static const float x[] = {126.5f, 127.5f, 0.5f, 1.5f, -3.0f, 300.0f, 254.6f, 254.4f};
    static const uint8_t want[] = {126, 128, 0, 2, 0, 255, 255, 254};
    uint8_t got[8];
    sg2_image_to_u8_drange(got, x, 8, 0, 255);
    for (int i = 0; i < 8; i++)
        ck_assert_msg(got[i] == want[i], "x=%g: got %d want %d", (double)x[i], got[i], want[i]);
    /* drange [-1, 1]: (x + 1) * 127.5. */
    static const float y[] = {-1.0f, 1.0f, 0.0f, -0.2f};
    static const uint8_t want_y[] = {0, 255, 128, 102}; /* 127.5 -> 128 (even); 0.8 * 127.5 = 102 */
    sg2_image_to_u8_drange(got, y, 4, -1, 1);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(got[i] == want_y[i], "y=%g: got %d want %d", (double)y[i], got[i], want_y[i]);
}
END_TEST

START_TEST(test_image_grid_layout)
{
    enum { N = 5, C = 3, H = 2, W = 3, GW = 3, GH = 2 };
    uint8_t imgs[N * C * H * W], out[GH * H * GW * W * C];
    for (int i = 0; i < N * C * H * W; i++)
        imgs[i] = (uint8_t)(i + 1);
    sg2_error err = {0};
    memset(out, 0xee, sizeof out);
    ck_assert(sg2_image_grid(out, imgs, N, C, H, W, GW, GH, &err) == SG2_OK);
    /* Every output pixel, from the reference's reshape/transpose:
     * out[gy*H + y, gx*W + x, c] = imgs[gy*GW + gx, c, y, x]; missing images are black. */
    for (int gy = 0; gy < GH; gy++)
        for (int y = 0; y < H; y++)
            for (int gx = 0; gx < GW; gx++)
                for (int x = 0; x < W; x++)
                    for (int c = 0; c < C; c++) {
                        int n = gy * GW + gx;
                        int want = n < N ? imgs[((n * C + c) * H + y) * W + x] : 0;
                        int got = out[((gy * H + y) * (GW * W) + gx * W + x) * C + c];
                        ck_assert_msg(got == want, "grid (%d,%d) pixel (%d,%d,%d): %d want %d", gx, gy, y, x, c, got,
                                      want);
                    }
    ck_assert_int_eq(sg2_image_grid(out, imgs, 7, C, H, W, GW, GH, &err), SG2_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "3x2 grid"));
}
END_TEST

/* ---- safetensors ---- */

static float pattern(long i, int t) { return (float)((double)(i * 37 % 101) * 0.0625 - 3.0 + t); }

START_TEST(test_st_round_trip)
{
    char path[512];
    tmp_path(path, sizeof path, "round.safetensors");
    const int64_t s0[] = {3, 1, 5, 7}, s2[] = {0, 4}, s3[] = {11};
    float d0[105], d1[1] = {-0.0f}, d3[11];
    for (int i = 0; i < 105; i++)
        d0[i] = pattern(i, 0);
    for (int i = 0; i < 11; i++)
        d3[i] = i == 3 ? INFINITY : pattern(i, 3);
    const sg2_st_entry t[] = {
        {"synthesis.b8.conv0.weight", 4, s0, d0}, {"scalar", 0, NULL, d1}, {"empty", 2, s2, NULL}, {"z", 1, s3, d3}};
    const sg2_st_meta meta[] = {{"format", "sg2"}, {"json", "{\"a\": [1, 2], \"quote\": \"\\\"\"}"}};
    sg2_error err = {0};
    ck_assert_msg(sg2_safetensors_write(path, t, 4, meta, 2, &err) == SG2_OK, "%s", err.msg);
    ck_assert_int_eq(count_files(".tmp."), 0);
    /* The data section starts 8-byte aligned. */
    size_t len;
    unsigned char *raw = slurp(path, &len);
    uint64_t hlen = 0;
    for (int j = 7; j >= 0; j--)
        hlen = hlen << 8 | raw[j];
    ck_assert_uint_eq(hlen % 8, 0);
    ck_assert_uint_eq(len, 8 + hlen + 4 * (105 + 1 + 11));
    free(raw);

    sg2_safetensors *f = NULL;
    ck_assert_msg(sg2_safetensors_open(&f, path, &err) == SG2_OK, "%s", err.msg);
    ck_assert_int_eq(sg2_safetensors_count(f), 4);
    ck_assert_str_eq(sg2_safetensors_at(f, 0)->name, "synthesis.b8.conv0.weight"); /* data order */
    ck_assert_str_eq(sg2_safetensors_at(f, 3)->name, "z");
    ck_assert_ptr_null(sg2_safetensors_at(f, 4));
    for (int i = 0; i < 4; i++) {
        const sg2_st_info *info = sg2_safetensors_find(f, t[i].name);
        ck_assert_msg(info != NULL, "%s not found", t[i].name);
        ck_assert_int_eq(info->ndim, t[i].ndim);
        ck_assert_str_eq(info->dtype, "F32");
        for (int d = 0; d < t[i].ndim; d++)
            ck_assert_int_eq(info->shape[d], t[i].shape[d]);
        float got[128];
        ck_assert_msg(sg2_safetensors_read(f, t[i].name, t[i].ndim, t[i].shape, got, &err) == SG2_OK, "%s", err.msg);
        ck_assert_msg(info->numel == 0 || memcmp(got, t[i].data, (size_t)info->numel * 4) == 0, "%s differs",
                      t[i].name);
    }
    ck_assert_ptr_null(sg2_safetensors_find(f, "nope"));
    ck_assert_int_eq(sg2_safetensors_meta_count(f), 2);
    ck_assert_str_eq(sg2_safetensors_meta(f, "json"), meta[1].value);
    ck_assert_str_eq(sg2_safetensors_meta_at(f, 0)->key, "format");
    ck_assert_ptr_null(sg2_safetensors_meta(f, "nope"));
    /* Asking for the wrong shape or a missing name fails with a clear line. */
    float buf[128];
    const int64_t wrong[] = {3, 5, 7};
    assert_fails(sg2_safetensors_read(f, t[0].name, 3, wrong, buf, &err), &err, SG2_ERR_SHAPE, path,
                 "has shape [3, 1, 5, 7], expected [3, 5, 7]");
    sg2_error_clear(&err);
    assert_fails(sg2_safetensors_read(f, "nope", 0, NULL, buf, &err), &err, SG2_ERR_FORMAT, path, "no tensor named");
    sg2_safetensors_close(f);
    /* Writer argument errors. */
    const sg2_st_entry dup[] = {{"a", 1, s3, d3}, {"a", 1, s3, d3}};
    sg2_error_clear(&err);
    assert_fails(sg2_safetensors_write(path, dup, 2, NULL, 0, &err), &err, SG2_ERR_ARG, path, "repeated");
    const sg2_st_entry reserved[] = {{"__metadata__", 1, s3, d3}};
    sg2_error_clear(&err);
    assert_fails(sg2_safetensors_write(path, reserved, 1, NULL, 0, &err), &err, SG2_ERR_ARG, path, "reserved");
    const int64_t neg[] = {-2};
    const sg2_st_entry negative[] = {{"n", 1, neg, d3}};
    sg2_error_clear(&err);
    assert_fails(sg2_safetensors_write(path, negative, 1, NULL, 0, &err), &err, SG2_ERR_ARG, path, "bad shape");
}
END_TEST

START_TEST(test_st_python_file)
{
    /* Written by Python's safetensors (check_safetensors.py make): 'c' F64
     * comes first in its data, then 'a' F32 and 'b' F16. */
    const char *path = SG2_TEST_VECTORS "/st_python.safetensors";
    sg2_safetensors *f = NULL;
    sg2_error err = {0};
    ck_assert_msg(sg2_safetensors_open(&f, path, &err) == SG2_OK, "%s", err.msg);
    ck_assert_int_eq(sg2_safetensors_count(f), 3);
    ck_assert_str_eq(sg2_safetensors_meta(f, "format"), "pt");
    ck_assert_str_eq(sg2_safetensors_meta(f, "note"), "made by check_safetensors.py");
    float a[6], b[6], c[3];
    ck_assert_msg(sg2_safetensors_read(f, "a", 2, (const int64_t[]){2, 3}, a, &err) == SG2_OK, "%s", err.msg);
    for (int i = 0; i < 6; i++)
        ck_assert_msg(a[i] == (float)((double)i * 0.1 - 0.25), "a[%d] = %.9g", i, (double)a[i]);
    ck_assert_str_eq(sg2_safetensors_find(f, "b")->dtype, "F16");
    ck_assert_msg(sg2_safetensors_read(f, "b", 1, (const int64_t[]){6}, b, &err) == SG2_OK, "%s", err.msg);
    /* float16(1/3) = 0x3555 = 1365/4096; 2^-24 is the smallest subnormal. */
    const float b_want[6] = {-2.5f, 0.0f, 1365.0f / 4096.0f, 65504.0f, 0x1p-24f, -INFINITY};
    for (int i = 0; i < 6; i++)
        ck_assert_msg(b[i] == b_want[i], "b[%d] = %.9g want %.9g", i, (double)b[i], (double)b_want[i]);
    ck_assert_msg(sg2_safetensors_read(f, "c", 0, NULL, c, &err) == SG2_OK, "%s", err.msg);
    ck_assert(c[0] == (float)(1.0 / 3.0) && c[1] == (float)1e-40 && c[2] == -INFINITY);
    ck_assert_str_eq(sg2_safetensors_at(f, 0)->name, "c");
    sg2_safetensors_close(f);
}
END_TEST

START_TEST(test_st_python_reads_ours)
{
    /* The file check_safetensors.py check expects; SG2_TEST_IO_OUT keeps it. */
    char tmp[512];
    const char *keep = getenv("SG2_TEST_IO_OUT");
    const char *path = keep && *keep ? keep : tmp_path(tmp, sizeof tmp, "ours.safetensors");
    float w[60], s = 42.5f, avg[5];
    for (int i = 0; i < 60; i++)
        w[i] = (float)((double)i * 0.01 - 0.3);
    for (int i = 0; i < 5; i++)
        avg[i] = (float)((double)(i * i) * 1.5);
    const sg2_st_entry t[] = {{"synthesis.b4.conv1.weight", 3, (const int64_t[]){3, 4, 5}, w},
                              {"scalar", 0, NULL, &s},
                              {"empty", 2, (const int64_t[]){0, 3}, NULL},
                              {"mapping.w_avg", 1, (const int64_t[]){5}, avg}};
    const sg2_st_meta meta[] = {{"config", "{\"z_dim\": 512, \"note\": \"\xc3\xa9t\xc3\xa9\"}"}, {"kimg", "12.5"}};
    sg2_error err = {0};
    ck_assert_msg(sg2_safetensors_write(path, t, 4, meta, 2, &err) == SG2_OK, "%s", err.msg);
    sg2_safetensors *f = NULL;
    ck_assert_msg(sg2_safetensors_open(&f, path, &err) == SG2_OK, "%s", err.msg);
    ck_assert_str_eq(sg2_safetensors_meta(f, "config"), meta[0].value);
    float got[60];
    ck_assert(sg2_safetensors_read(f, "synthesis.b4.conv1.weight", 0, NULL, got, &err) == SG2_OK);
    ck_assert(memcmp(got, w, sizeof w) == 0);
    sg2_safetensors_close(f);
}
END_TEST

/* Write a safetensors file from header text (padded here) and data bytes. */
static void write_raw_st(const char *path, const char *header, const void *data, size_t len)
{
    size_t hl = strlen(header), padded = (hl + 7) / 8 * 8;
    unsigned char *buf = calloc(1, 8 + padded + len + 1);
    for (int j = 0; j < 8; j++)
        buf[j] = (unsigned char)((uint64_t)padded >> (8 * j));
    memcpy(buf + 8, header, hl);
    memset(buf + 8 + hl, ' ', padded - hl);
    if (len)
        memcpy(buf + 8 + padded, data, len);
    spill(path, buf, 8 + padded + len);
    free(buf);
}

START_TEST(test_st_bf16_and_other_dtypes)
{
    char path[512];
    tmp_path(path, sizeof path, "bf16.safetensors");
    /* BF16 1.0, -2.0, 0x3eab (0.333984375); then one I64. */
    const unsigned char data[] = {0x80, 0x3f, 0x00, 0xc0, 0xab, 0x3e, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0};
    write_raw_st(path,
                 "{\"h\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,6]},"
                 "\"pad\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[6,8]},"
                 "\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]}}",
                 data, sizeof data);
    sg2_safetensors *f = NULL;
    sg2_error err = {0};
    ck_assert_msg(sg2_safetensors_open(&f, path, &err) == SG2_OK, "%s", err.msg);
    float h[3];
    ck_assert(sg2_safetensors_read(f, "h", 1, (const int64_t[]){3}, h, &err) == SG2_OK);
    ck_assert(h[0] == 1.0f && h[1] == -2.0f && h[2] == 0.333984375f);
    assert_fails(sg2_safetensors_read(f, "i", 0, NULL, h, &err), &err, SG2_ERR_UNSUPPORTED, path, "I64");
    sg2_safetensors_close(f);
}
END_TEST

/* The good file every corruption starts from, and its header text. */
static const char *good_st(char *path, size_t cap)
{
    tmp_path(path, cap, "good.safetensors");
    const float a[6] = {1, 2, 3, 4, 5, 6}, b[4] = {7, 8, 9, 10}, c[1] = {11};
    const sg2_st_entry t[] = {{"a", 2, (const int64_t[]){2, 3}, a}, {"b", 1, (const int64_t[]){4}, b},
                              {"c", 1, (const int64_t[]){1}, c}};
    const sg2_st_meta meta[] = {{"k", "v"}};
    sg2_error err = {0};
    ck_assert_msg(sg2_safetensors_write(path, t, 3, meta, 1, &err) == SG2_OK, "%s", err.msg);
    return path;
}

/* Copy the good file to `name` (path into bad) with the first `from` in its
 * header replaced by `to` and `extra` zero bytes appended to the data. */
static void corrupt_copy(char *bad, size_t cap, const char *name, const char *from, const char *to, size_t extra)
{
    char good[512];
    good_st(good, sizeof good);
    size_t len;
    unsigned char *raw = slurp(good, &len);
    uint64_t hlen = 0;
    for (int j = 7; j >= 0; j--)
        hlen = hlen << 8 | raw[j];
    char *header = strndup((char *)raw + 8, hlen), *hit = strstr(header, from);
    ck_assert_msg(hit != NULL, "'%s' not in header %s", from, header);
    char *edited = calloc(1, strlen(header) - strlen(from) + strlen(to) + 1);
    memcpy(edited, header, (size_t)(hit - header));
    strcat(edited, to);
    strcat(edited, hit + strlen(from));
    size_t data_len = len - 8 - hlen;
    unsigned char *data = calloc(1, data_len + extra + 1);
    memcpy(data, raw + 8 + hlen, data_len);
    tmp_path(bad, cap, name);
    write_raw_st(bad, edited, data, data_len + extra);
    free(raw);
    free(header);
    free(edited);
    free(data);
}

/* ... then opening it must give a format error whose message names the copy
 * and contains `what`. */
static void corrupt_expect(const char *name, const char *from, const char *to, size_t extra, const char *what)
{
    char bad[512];
    corrupt_copy(bad, sizeof bad, name, from, to, extra);
    sg2_safetensors *f = (sg2_safetensors *)&bad; /* must be reset to NULL */
    sg2_error err = {0};
    assert_fails(sg2_safetensors_open(&f, bad, &err), &err, SG2_ERR_FORMAT, bad, what);
    ck_assert_ptr_null(f);
}

START_TEST(test_st_unedited_copy_opens)
{
    /* The corruption cases' baseline: the copy with a no-op edit is fine, so
     * their failures come from their edits. */
    char copy[512];
    corrupt_copy(copy, sizeof copy, "copy.safetensors", "\"k\"", "\"k\"", 0);
    sg2_safetensors *f = NULL;
    sg2_error err = {0};
    ck_assert_msg(sg2_safetensors_open(&f, copy, &err) == SG2_OK, "%s", err.msg);
    float a[6];
    ck_assert(sg2_safetensors_read(f, "a", 2, (const int64_t[]){2, 3}, a, &err) == SG2_OK);
    ck_assert(a[0] == 1.0f && a[5] == 6.0f);
    ck_assert_str_eq(sg2_safetensors_meta(f, "k"), "v");
    sg2_safetensors_close(f);
}
END_TEST

START_TEST(test_st_bad_header_length)
{
    char good[512], bad[512];
    good_st(good, sizeof good);
    size_t len;
    unsigned char *raw = slurp(good, &len);
    sg2_error err = {0};
    sg2_safetensors *f = NULL;
    /* Larger than the file. */
    for (int j = 0; j < 8; j++)
        raw[j] = (unsigned char)((uint64_t)len >> (8 * j));
    tmp_path(bad, sizeof bad, "hlen_big.safetensors");
    spill(bad, raw, len);
    assert_fails(sg2_safetensors_open(&f, bad, &err), &err, SG2_ERR_FORMAT, bad, "larger than the rest of the file");
    /* Absurd (what a file of some other format may hold there). */
    memcpy(raw, "\x89PNG\r\n\x1a\n", 8);
    tmp_path(bad, sizeof bad, "hlen_absurd.safetensors");
    spill(bad, raw, len);
    sg2_error_clear(&err);
    assert_fails(sg2_safetensors_open(&f, bad, &err), &err, SG2_ERR_FORMAT, bad, "absurd");
    /* Too short to hold the length itself. */
    tmp_path(bad, sizeof bad, "short.safetensors");
    spill(bad, raw, 5);
    sg2_error_clear(&err);
    assert_fails(sg2_safetensors_open(&f, bad, &err), &err, SG2_ERR_FORMAT, bad, "too short");
    free(raw);
}
END_TEST

START_TEST(test_st_bad_json)
{
    corrupt_expect("json.safetensors", "\"shape\":[2,3]", "\"shape\":[2,3", 0, "not valid JSON");
    corrupt_expect("json2.safetensors", "{\"__metadata__\"", "[{\"__metadata__\"", 0, "line 1, column");
    corrupt_expect("notobj.safetensors", "{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}", "7", 0,
                   "entry 'a' is not an object");
}
END_TEST

START_TEST(test_st_bad_dtype)
{
    corrupt_expect("nodtype.safetensors", "\"dtype\":\"F32\",", "", 0, "tensor 'a' has no dtype");
    corrupt_expect("numdtype.safetensors", "\"dtype\":\"F32\"", "\"dtype\":32", 0, "tensor 'a' has no dtype");
    corrupt_expect("baddtype.safetensors", "\"F32\"", "\"F33\"", 0, "unknown dtype 'F33'");
}
END_TEST

START_TEST(test_st_bad_shape)
{
    corrupt_expect("shape.safetensors", "[2,3]", "[2,4]", 0,
                   "tensor 'a' of shape [2, 4] and dtype F32 needs 32 bytes but data_offsets [0, 24] hold 24");
    corrupt_expect("negshape.safetensors", "[2,3]", "[2,-3]", 0, "shape entry 1");
    corrupt_expect("dtypesize.safetensors", "\"F32\"", "\"F64\"", 0, "needs 48 bytes");
    corrupt_expect("noshape.safetensors", "\"shape\":[2,3]", "\"shape\":6", 0, "no shape array");
}
END_TEST

START_TEST(test_st_bad_offsets)
{
    corrupt_expect("oob.safetensors", "[40,44]", "[1040,1044]", 0, "tensor 'c' data_offsets [1040, 1044] run past");
    corrupt_expect("overlap.safetensors", "[24,40]", "[20,36]", 0, "'a' [0, 24] and 'b' [20, 36] overlap");
    corrupt_expect("reversed.safetensors", "[24,40]", "[40,24]", 0, "end before they begin");
    corrupt_expect("gap.safetensors", "[40,44]", "[44,48]", 4, "4 unused bytes before tensor 'c'");
    corrupt_expect("trailing.safetensors", "[2,3]", "[2,3]", 8, "8 bytes after the last tensor");
    corrupt_expect("badoff.safetensors", "[0,24]", "[0]", 0, "not a pair");
    corrupt_expect("negoff.safetensors", "[0,24]", "[-8,16]", 0, "not a pair");
}
END_TEST

START_TEST(test_st_bad_truncated)
{
    char good[512], bad[512];
    good_st(good, sizeof good);
    size_t len;
    unsigned char *raw = slurp(good, &len);
    tmp_path(bad, sizeof bad, "truncated.safetensors");
    spill(bad, raw, len - 2);
    free(raw);
    sg2_safetensors *f = NULL;
    sg2_error err = {0};
    assert_fails(sg2_safetensors_open(&f, bad, &err), &err, SG2_ERR_FORMAT, bad, "truncated");
}
END_TEST

START_TEST(test_st_bad_duplicate_and_metadata)
{
    corrupt_expect("dup.safetensors", "\"b\":{", "\"a\":{", 0, "repeats a name");
    corrupt_expect("meta.safetensors", "{\"k\":\"v\"}", "{\"k\":5}", 0, "__metadata__ value of 'k' is not a string");
    corrupt_expect("meta2.safetensors", "{\"k\":\"v\"}", "[\"k\"]", 0, "__metadata__ is not an object");
}
END_TEST

static Suite *io_suite(void)
{
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("io");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_np_random_known_answers);
    tcase_add_test(tc, test_np_random_matches_numpy);
    tcase_add_test(tc, test_png_round_trip);
    tcase_add_test(tc, test_png_reads_other_kinds);
    tcase_add_test(tc, test_png_damaged_files);
    tcase_add_test(tc, test_png_write_atomic_and_errors);
    tcase_add_test(tc, test_image_to_u8_generate_rule);
    tcase_add_test(tc, test_image_to_u8_drange_rule);
    tcase_add_test(tc, test_image_grid_layout);
    tcase_add_test(tc, test_st_round_trip);
    tcase_add_test(tc, test_st_python_file);
    tcase_add_test(tc, test_st_python_reads_ours);
    tcase_add_test(tc, test_st_bf16_and_other_dtypes);
    tcase_add_test(tc, test_st_unedited_copy_opens);
    tcase_add_test(tc, test_st_bad_header_length);
    tcase_add_test(tc, test_st_bad_json);
    tcase_add_test(tc, test_st_bad_dtype);
    tcase_add_test(tc, test_st_bad_shape);
    tcase_add_test(tc, test_st_bad_offsets);
    tcase_add_test(tc, test_st_bad_truncated);
    tcase_add_test(tc, test_st_bad_duplicate_and_metadata);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = sg2_test_run(io_suite());
    remove_tmp_dir();
    return failed != 0;
}
