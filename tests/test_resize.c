/* The resampler and the dataset tool, no OpenCL.
 *
 * Resampling is checked against a double-precision reference written here
 * straight from the filter definitions: each output pixel sums, over all
 * input rows, filter(dy) times the row's sum over all pixels of filter(dx)
 * (clamped to [0, 255] like PIL's 8-bit intermediate), each filter
 * normalised over its axis and stretched by the shrink factor (PIL's BOX and
 * LANCZOS conventions; checked by hand against Pillow 9.5 within one level). The byte result must be that
 * value rounded (|got - ref| <= 1/2 plus float rounding). The tool is run end
 * to end on an IDX file written here and its zip read back. */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/commands.h"
#include "src/dataset_source.h"
#include "src/resize.h"
#include "tests/test_util.h"

/* ---- the reference ---- */

static double ref_filter(int lanczos, double x)
{
    if (!lanczos)
        return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
    if (x < -3.0 || x >= 3.0)
        return 0.0;
    if (x == 0.0)
        return 1.0;
    double px = 3.14159265358979323846 * x;
    return 3.0 * sin(px) * sin(px / 3.0) / (px * px);
}

/* Weight of input pixel x for output pixel i along one axis, normalised. */
static double ref_weight(int lanczos, int in, int out, int i, int x)
{
    double scale = (double)in / out, stretch = scale > 1.0 ? scale : 1.0;
    double support = (lanczos ? 3.0 : 0.5) * stretch, centre = (i + 0.5) * scale;
    int lo = (int)(centre - support + 0.5), hi = (int)(centre + support + 0.5);
    lo = lo < 0 ? 0 : lo;
    hi = hi > in ? in : hi;
    if (x < lo || x >= hi)
        return 0.0;
    double sum = 0.0;
    for (int t = lo; t < hi; t++)
        sum += ref_filter(lanczos, (t + 0.5 - centre) / stretch);
    return ref_filter(lanczos, (x + 0.5 - centre) / stretch) / sum;
}

/* Rows first, each row result clamped to [0, 255] as PIL's 8-bit
 * intermediate is (this matters where lanczos overshoots), then columns. */
static double ref_pixel(int lanczos, const uint8_t *in, int iw, int ih, int c, int ow, int oh, int ox, int oy, int ch)
{
    double acc = 0.0;
    for (int y = 0; y < ih; y++) {
        double wy = ref_weight(lanczos, ih, oh, oy, y), row = 0.0;
        for (int x = 0; wy != 0.0 && x < iw; x++)
            row += ref_weight(lanczos, iw, ow, ox, x) * in[((size_t)y * iw + x) * c + ch];
        acc += wy * (row < 0.0 ? 0.0 : row > 255.0 ? 255.0 : row);
    }
    return acc < 0.0 ? 0.0 : acc > 255.0 ? 255.0 : acc;
}

static void random_image(uint8_t *img, long n, uint64_t seed)
{
    double *u = malloc(sizeof *u * (size_t)n);
    sg2_test_uniform(u, n, 0.0, 256.0, seed);
    for (long i = 0; i < n; i++)
        img[i] = (uint8_t)u[i];
    free(u);
}

static void check_resize(int lanczos, int iw, int ih, int ow, int oh, int c, uint64_t seed)
{
    uint8_t *in = malloc((size_t)iw * ih * c), *out = malloc((size_t)ow * oh * c);
    random_image(in, (long)iw * ih * c, seed);
    sg2_error err = {0};
    ck_assert_msg(sg2_resize(out, ow, oh, in, iw, ih, c, lanczos ? SG2_RESIZE_LANCZOS : SG2_RESIZE_BOX, &err) == SG2_OK,
                  "%s", err.msg);
    double worst = 0.0;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
            for (int ch = 0; ch < c; ch++) {
                double r = ref_pixel(lanczos, in, iw, ih, c, ow, oh, x, y, ch);
                double d = fabs(out[((size_t)y * ow + x) * c + ch] - r);
                worst = d > worst ? d : worst;
            }
    ck_assert_msg(worst <= 0.5 + 1e-3, "%s %dx%d -> %dx%d (c=%d): byte off the reference by %.4f",
                  lanczos ? "lanczos" : "box", iw, ih, ow, oh, c, worst);
    free(in);
    free(out);
}

START_TEST(test_box_vs_reference)
{
    check_resize(0, 64, 48, 32, 32, 3, 1);  /* 2x and 1.5x down */
    check_resize(0, 37, 29, 16, 16, 1, 2);  /* odd factors */
    check_resize(0, 10, 7, 23, 16, 3, 3);   /* up */
    check_resize(0, 40, 40, 40, 40, 1, 4);  /* identity */
}
END_TEST

START_TEST(test_lanczos_vs_reference)
{
    check_resize(1, 64, 48, 32, 32, 3, 5);
    check_resize(1, 37, 29, 16, 16, 1, 6);
    check_resize(1, 10, 7, 23, 16, 3, 7);
    check_resize(1, 33, 33, 8, 8, 1, 8);   /* wide support: 3 * 4.1 */
    check_resize(1, 40, 40, 40, 40, 1, 9); /* identity: sinc vanishes at the other integers */
}
END_TEST

/* An exact 2x box shrink is the mean of each 2x2 block, rounded half up. */
START_TEST(test_box_2x_is_block_mean)
{
    enum { W = 18, H = 12, C = 3 };
    uint8_t in[H][W][C], out[H / 2][W / 2][C];
    random_image(&in[0][0][0], (long)sizeof in, 11);
    sg2_error err = {0};
    ck_assert(sg2_resize(&out[0][0][0], W / 2, H / 2, &in[0][0][0], W, H, C, SG2_RESIZE_BOX, &err) == SG2_OK);
    for (int y = 0; y < H / 2; y++)
        for (int x = 0; x < W / 2; x++)
            for (int c = 0; c < C; c++) {
                int sum = in[2 * y][2 * x][c] + in[2 * y][2 * x + 1][c] + in[2 * y + 1][2 * x][c] +
                          in[2 * y + 1][2 * x + 1][c];
                ck_assert_int_eq(out[y][x][c], (sum + 2) / 4);
            }
}
END_TEST

/* ---- the tool end to end ---- */

static char g_dir[256];

static const char *tmp_path(char *buf, size_t cap, const char *name)
{
    if (!g_dir[0]) {
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(g_dir, sizeof g_dir, "%s/sg2-test-resize-XXXXXX", base);
        ck_assert_msg(mkdtemp(g_dir) != NULL, "cannot make a temporary directory under %s", base);
    }
    snprintf(buf, cap, "%s/%s", g_dir, name);
    return buf;
}

static void put_be32(FILE *fp, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    fwrite(b, 1, 4, fp);
}

/* An uncompressed IDX images file (and labels file if labels != NULL). */
static void write_idx(const char *images, const char *labels_path, const uint8_t *pixels, const uint8_t *labels,
                      int n, int h, int w)
{
    FILE *fp = fopen(images, "wb");
    ck_assert(fp != NULL);
    put_be32(fp, 0x803);
    put_be32(fp, (uint32_t)n);
    put_be32(fp, (uint32_t)h);
    put_be32(fp, (uint32_t)w);
    fwrite(pixels, 1, (size_t)n * h * w, fp);
    ck_assert(fclose(fp) == 0);
    if (!labels)
        return;
    fp = fopen(labels_path, "wb");
    ck_assert(fp != NULL);
    put_be32(fp, 0x801);
    put_be32(fp, (uint32_t)n);
    fwrite(labels, 1, (size_t)n, fp);
    ck_assert(fclose(fp) == 0);
}

/* Run the command with stdout and stderr sent to files; returns its status. */
static int run_tool(char **argv, int argc, const char *log)
{
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert(saved_out >= 0 && saved_err >= 0 && fd >= 0);
    dup2(fd, 1);
    dup2(fd, 2);
    int rc = sg2_cmd_dataset(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    close(fd);
    return rc;
}

static void read_text(const char *path, char *buf, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    size_t n = fp ? fread(buf, 1, cap - 1, fp) : 0;
    buf[n] = 0;
    if (fp)
        fclose(fp);
}

START_TEST(test_tool_idx_to_zip)
{
    enum { N = 1003, H = 28, W = 28 }; /* more than one folder of 1000 */
    char images[512], labels_path[512], zip_path[512], log[512], text[4096];
    tmp_path(images, sizeof images, "t10k-images-idx3-ubyte");
    tmp_path(labels_path, sizeof labels_path, "t10k-labels-idx1-ubyte");
    tmp_path(zip_path, sizeof zip_path, "out.zip");
    tmp_path(log, sizeof log, "log.txt");
    uint8_t *pixels = malloc((size_t)N * H * W), labels[N];
    random_image(pixels, (long)N * H * W, 21);
    for (int i = 0; i < N; i++)
        labels[i] = (uint8_t)((i * 7) % 10);
    write_idx(images, labels_path, pixels, labels, N, H, W);
    char *argv[] = {"dataset", "--source", images, "--dest", zip_path};
    int rc = run_tool(argv, 5, log);
    read_text(log, text, sizeof text);
    ck_assert_msg(rc == 0, "tool failed: %s", text);
    ck_assert_msg(strstr(text, "wrote 1003 images 32x32 1 channel(s)") != NULL, "progress line: %s", text);

    sg2_source src;
    sg2_error err = {0};
    ck_assert_msg(sg2_source_open(&src, zip_path, 1, 1, &err) == SG2_OK, "%s", err.msg);
    ck_assert_int_eq(src.n, N);
    ck_assert_int_eq(src.label_dim, 10);
    ck_assert_str_eq(src.names[0], "00000/img00000000.png");
    ck_assert_str_eq(src.names[N - 1], "00001/img00001002.png");
    for (long i = 0; i < N; i++) {
        sg2_image img;
        ck_assert_msg(sg2_source_read(&src, i, &img, &err) == SG2_OK, "%s", err.msg);
        ck_assert(img.width == 32 && img.height == 32 && img.channels == 1);
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) {
                int inside = y >= 2 && y < 30 && x >= 2 && x < 30;
                uint8_t want = inside ? pixels[((size_t)i * H + y - 2) * W + x - 2] : 0;
                ck_assert_msg(img.data[y * 32 + x] == want, "image %ld pixel (%d, %d)", i, x, y);
            }
        for (int k = 0; k < 10; k++)
            ck_assert(src.labels[i * 10 + k] == (k == labels[i] ? 1.0f : 0.0f));
        sg2_image_free(&img);
    }
    sg2_source_close(&src);
    free(pixels);
    remove(images);
    remove(labels_path);
    remove(zip_path);
    remove(log);
}
END_TEST

START_TEST(test_tool_non_square_fails)
{
    enum { N = 3, H = 8, W = 16 };
    char images[512], zip_path[512], log[512], text[4096];
    tmp_path(images, sizeof images, "flat-images-idx3-ubyte");
    tmp_path(zip_path, sizeof zip_path, "flat.zip");
    tmp_path(log, sizeof log, "log2.txt");
    uint8_t pixels[N * H * W];
    random_image(pixels, N * H * W, 31);
    write_idx(images, NULL, pixels, NULL, N, H, W);
    char *argv[] = {"dataset", "--source", images, "--dest", zip_path};
    int rc = run_tool(argv, 5, log);
    read_text(log, text, sizeof text);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(text, "flat-images-idx3-ubyte[0]: 16x8 after the transform, not square") != NULL,
                  "message: %s", text);
    ck_assert_msg(strchr(text, '\n') == text + strlen(text) - 1, "one line: %s", text);
    ck_assert_msg(access(zip_path, F_OK) != 0, "no zip left behind after a failure");
    /* and nothing beside it either: only the files this test wrote remain */
    DIR *d = opendir(g_dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        ck_assert_msg(strstr(e->d_name, "flat.zip") == NULL, "left behind: %s", e->d_name);
    closedir(d);
    remove(images);
    remove(log);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("resize");
    TCase *tc = tcase_create("resize");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_box_vs_reference);
    tcase_add_test(tc, test_lanczos_vs_reference);
    tcase_add_test(tc, test_box_2x_is_block_mean);
    tcase_add_test(tc, test_tool_idx_to_zip);
    tcase_add_test(tc, test_tool_non_square_fails);
    suite_add_tcase(s, tc);
    int failed = sg2_test_run(s);
    if (g_dir[0])
        rmdir(g_dir);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
