/* Whole networks against vectors from tests/vectors/sg2_torch_ref.py, a
 * plain-PyTorch StyleGAN2 written from the formulas and cross-checked against
 * stylegan2-ada-pytorch (tests/vectors/README.md). Five configurations cover
 * the skip/resnet/orig generators, resnet/orig/skip discriminators,
 * conditioning, clamping, truncation and the noise modes; fused and
 * non-fused modulated convolution must both match. Also checkpoints: save,
 * reload, and a corrupted file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/checkpoint.h"
#include "src/network_json.h"
#include "tests/test_util.h"

#ifndef SG2_TEST_VECTORS
#define SG2_TEST_VECTORS "tests/vectors"
#endif

typedef struct vec_case {
    sg2_safetensors *f;
    char path[1024];
    sg2_generator g;
    sg2_discriminator d;
} vec_case;

static void open_case(sg2_ctx *ctx, vec_case *vc, const char *name)
{
    snprintf(vc->path, sizeof vc->path, "%s/network_%s.safetensors", SG2_TEST_VECTORS, name);
    sg2_error err = {0};
    ck_assert_msg(sg2_safetensors_open(&vc->f, vc->path, &err) == SG2_OK, "%s", err.msg);
    ck_assert_str_eq(sg2_safetensors_meta(vc->f, "format"), "sg2-vectors-1");
    sg2_g_config gc;
    sg2_d_config dc;
    ck_assert_msg(sg2_g_config_from_json(sg2_safetensors_meta(vc->f, "G"), &gc, vc->path, &err) == SG2_OK, "%s", err.msg);
    ck_assert_msg(sg2_d_config_from_json(sg2_safetensors_meta(vc->f, "D"), &dc, vc->path, &err) == SG2_OK, "%s", err.msg);
    ck_assert_msg(sg2_generator_init(ctx, &vc->g, &gc) == SG2_OK, "%s", ctx->err.msg);
    ck_assert_msg(sg2_discriminator_init(ctx, &vc->d, &dc) == SG2_OK, "%s", ctx->err.msg);
    ck_assert_msg(sg2_params_load(ctx, &vc->g.params, vc->f, "G.", vc->path) == SG2_OK, "%s", ctx->err.msg);
    ck_assert_msg(sg2_params_load(ctx, &vc->d.params, vc->f, "D.", vc->path) == SG2_OK, "%s", ctx->err.msg);
}

static void close_case(vec_case *vc)
{
    sg2_generator_free(&vc->g);
    sg2_discriminator_free(&vc->d);
    sg2_safetensors_close(vc->f);
}

/* A vector tensor as a device tensor (NULL when the file lacks it). */
static sg2_tensor *vec_tensor(sg2_ctx *ctx, vec_case *vc, const char *name)
{
    const sg2_st_info *info = sg2_safetensors_find(vc->f, name);
    if (!info)
        return NULL;
    float *buf = malloc((size_t)info->numel * sizeof *buf);
    sg2_error err = {0};
    ck_assert_msg(buf && sg2_safetensors_read(vc->f, name, 0, NULL, buf, &err) == SG2_OK, "%s", err.msg);
    sg2_tensor *t = sg2_tensor_from_host(ctx, info->ndim, info->shape, buf);
    free(buf);
    return t;
}

static double *vec_doubles(vec_case *vc, const char *name, long *n)
{
    const sg2_st_info *info = sg2_safetensors_find(vc->f, name);
    ck_assert_msg(info != NULL, "%s: no %s", vc->path, name);
    float *buf = malloc((size_t)info->numel * sizeof *buf);
    double *d = malloc((size_t)info->numel * sizeof *d);
    sg2_error err = {0};
    ck_assert_msg(sg2_safetensors_read(vc->f, name, 0, NULL, buf, &err) == SG2_OK, "%s", err.msg);
    for (int64_t i = 0; i < info->numel; i++)
        d[i] = buf[i];
    free(buf);
    *n = (long)info->numel;
    return d;
}

static void expect(sg2_ctx *ctx, vec_case *vc, sg2_tensor *got, const char *name, const char *what)
{
    long n = 0;
    double *want = vec_doubles(vc, name, &n);
    char label[1400];
    snprintf(label, sizeof label, "%s %s", vc->path, what);
    sg2_test_assert_close(ctx, got, want, n, label);
    free(want);
}

/* The synthesis of the batch's first image alone on `path` against the
 * batch's first image. */
static void expect_first_image(sg2_ctx *ctx, vec_case *vc, sg2_tensor *ws, int path, const char *what)
{
    sg2_synthesis_args s1 = {.noise_mode = SG2_NOISE_CONST, .fused_modconv = path};
    sg2_tensor *img1 = sg2_synthesis_forward(ctx, &vc->g, sg2_slice(ctx, ws, 0, 0, 1), &s1);
    long n_img = 0;
    double *want_img = vec_doubles(vc, "img", &n_img);
    char label[1400];
    snprintf(label, sizeof label, "%s %s", vc->path, what);
    ck_assert_msg(img1 != NULL, "%s: %s", label, ctx->err.msg);
    sg2_test_assert_close(ctx, img1, want_img, n_img / ws->shape[0], label);
    free(want_img);
}

static void run_case(const char *name)
{
    sg2_ctx *ctx = sg2_test_ctx();
    int saved = ctx->grad_enabled;
    ctx->grad_enabled = 0;
    vec_case vc;
    memset(&vc, 0, sizeof vc);
    size_t mark = sg2_scope_begin(ctx);
    open_case(ctx, &vc, name);
    sg2_tensor *z = vec_tensor(ctx, &vc, "z"), *c = vec_tensor(ctx, &vc, "c");
    sg2_mapping_args m = {.truncation_psi = 1.0f};
    sg2_tensor *ws = sg2_mapping_forward(ctx, &vc.g, z, c, &m);
    expect(ctx, &vc, ws, "ws", "mapping");
    sg2_mapping_args mt = {.truncation_psi = 0.7f, .truncation_cutoff = 3};
    expect(ctx, &vc, sg2_mapping_forward(ctx, &vc.g, z, c, &mt), "ws_trunc", "truncation");
    /* Both modulated-conv paths, and AUTO (non-fused 3x3 layers, fused ToRGB). */
    static const int paths[3] = {SG2_MODCONV_NONFUSED, SG2_MODCONV_FUSED, SG2_MODCONV_AUTO};
    static const char *const path_names[3] = {"synthesis (non-fused, const noise)", "synthesis (fused, const noise)",
                                              "synthesis (auto, const noise)"};
    for (int k = 0; k < 3; k++) {
        int fused = paths[k];
        sg2_synthesis_args sc = {.noise_mode = SG2_NOISE_CONST, .fused_modconv = fused};
        sg2_tensor *img = sg2_synthesis_forward(ctx, &vc.g, ws, &sc);
        expect(ctx, &vc, img, "img", path_names[k]);
        sg2_synthesis_args sn = {.noise_mode = SG2_NOISE_NONE, .fused_modconv = fused};
        expect(ctx, &vc, sg2_synthesis_forward(ctx, &vc.g, ws, &sn), "img_none", "synthesis (no noise)");
        if (fused == SG2_MODCONV_NONFUSED) {
            sg2_tensor *img_ref = vec_tensor(ctx, &vc, "img");
            expect(ctx, &vc, sg2_discriminator_forward(ctx, &vc.d, img_ref, c), "logits", "D(img)");
        }
    }
    /* Frozen (what `generate` runs): each path twice, the second from the
     * weight memo the first filled, then thawed. */
    ck_assert_int_eq(sg2_generator_freeze(ctx, &vc.g), SG2_OK);
    for (int k = 0; k < 6; k++) {
        sg2_synthesis_args sf = {.noise_mode = SG2_NOISE_CONST, .fused_modconv = paths[k % 3]};
        char what[128];
        snprintf(what, sizeof what, "%s, frozen, pass %d", path_names[k % 3], k / 3 + 1);
        expect(ctx, &vc, sg2_synthesis_forward(ctx, &vc.g, ws, &sf), "img", what);
    }
    /* Winograd for every 3x3 stride-1 conv (SG2_WINOGRAD=1): frozen, each
     * path twice, the second with the filter transforms from the memo; one
     * image fused (a single group, whose weights are per sample all the
     * same); and D. */
    setenv("SG2_WINOGRAD", "1", 1);
    for (int k = 0; k < 6; k++) {
        sg2_synthesis_args sw = {.noise_mode = SG2_NOISE_CONST, .fused_modconv = paths[k % 3]};
        char what[160];
        snprintf(what, sizeof what, "%s, Winograd, frozen, pass %d", path_names[k % 3], k / 3 + 1);
        expect(ctx, &vc, sg2_synthesis_forward(ctx, &vc.g, ws, &sw), "img", what);
    }
    expect_first_image(ctx, &vc, ws, SG2_MODCONV_FUSED, "synthesis (fused, one image, Winograd)");
    expect(ctx, &vc, sg2_discriminator_forward(ctx, &vc.d, vec_tensor(ctx, &vc, "img"), c), "logits",
           "D(img), Winograd");
    unsetenv("SG2_WINOGRAD");
    sg2_generator_thaw(&vc.g);
    /* AUTO on one image (non-fused 3x3 layers, fused ToRGB): the batch's first image. */
    expect_first_image(ctx, &vc, ws, SG2_MODCONV_AUTO, "synthesis (auto, one image)");
    expect(ctx, &vc, sg2_discriminator_forward(ctx, &vc.d, vec_tensor(ctx, &vc, "reals"), c), "logits_reals", "D(reals)");
    sg2_scope_end(ctx, mark, NULL, 0);
    close_case(&vc);
    ctx->grad_enabled = saved;
}

START_TEST(test_case_a) { run_case("a"); }
END_TEST
START_TEST(test_case_b) { run_case("b"); }
END_TEST
START_TEST(test_case_c) { run_case("c"); }
END_TEST
START_TEST(test_case_d) { run_case("d"); }
END_TEST
START_TEST(test_case_e) { run_case("e"); }
END_TEST

/* A reference-style pickle of case a's parameters (make_network_pkl.py)
 * loads natively and gives the PyTorch model's image and logits. */
START_TEST(test_reference_pickle)
{
    sg2_ctx *ctx = sg2_test_ctx();
    int saved = ctx->grad_enabled;
    ctx->grad_enabled = 0;
    vec_case vc;
    memset(&vc, 0, sizeof vc);
    open_case(ctx, &vc, "a");
    char pkl[1100];
    snprintf(pkl, sizeof pkl, "%s/network_a.pkl", SG2_TEST_VECTORS);
    sg2_generator g;
    sg2_discriminator d;
    ck_assert_msg(sg2_load_generator(ctx, pkl, "G_ema", &g) == SG2_OK, "%s", ctx->err.msg);
    ck_assert_msg(sg2_load_discriminator(ctx, pkl, &d) == SG2_OK, "%s", ctx->err.msg);
    ck_assert_int_eq(g.cfg.channel_base, 128);
    ck_assert_int_eq(g.cfg.map_layers, 2);
    ck_assert_int_eq(d.cfg.mbstd_group, 2);
    size_t mark = sg2_scope_begin(ctx);
    sg2_mapping_args m = {.truncation_psi = 1.0f};
    sg2_synthesis_args sa = {.noise_mode = SG2_NOISE_CONST, .fused_modconv = 1};
    sg2_tensor *img = sg2_synthesis_forward(ctx, &g, sg2_mapping_forward(ctx, &g, vec_tensor(ctx, &vc, "z"), NULL, &m), &sa);
    expect(ctx, &vc, img, "img", "image from network_a.pkl");
    expect(ctx, &vc, sg2_discriminator_forward(ctx, &d, vec_tensor(ctx, &vc, "reals"), NULL), "logits_reals",
           "D(reals) from network_a.pkl");
    sg2_scope_end(ctx, mark, NULL, 0);
    sg2_generator_free(&g);
    sg2_discriminator_free(&d);
    close_case(&vc);
    ctx->grad_enabled = saved;
}
END_TEST

/* Save G, D and G_ema, reload through the generic loaders, same numbers;
 * then truncate the file and expect one clear line naming it. */
START_TEST(test_checkpoint_round_trip)
{
    sg2_ctx *ctx = sg2_test_ctx();
    vec_case vc;
    memset(&vc, 0, sizeof vc);
    open_case(ctx, &vc, "d");
    char path[] = "/tmp/sg2-test-ckpt-XXXXXX";
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    close(fd);
    ck_assert_msg(sg2_checkpoint_save(ctx, path, &vc.g, &vc.d, &vc.g, NULL, 0, NULL, 0) == SG2_OK, "%s", ctx->err.msg);
    sg2_generator g2;
    sg2_discriminator d2;
    ck_assert_msg(sg2_load_generator(ctx, path, "G_ema", &g2) == SG2_OK, "%s", ctx->err.msg);
    ck_assert_msg(sg2_load_discriminator(ctx, path, &d2) == SG2_OK, "%s", ctx->err.msg);
    ck_assert_int_eq(g2.params.n, vc.g.params.n);
    for (int i = 0; i < g2.params.n; i++) {
        double *a = sg2_test_read(ctx, g2.params.items[i].t), *b = sg2_test_read(ctx, vc.g.params.items[i].t);
        ck_assert_msg(memcmp(a, b, (size_t)g2.params.items[i].t->numel * sizeof *a) == 0, "%s differs",
                      g2.params.items[i].name);
        free(a);
        free(b);
    }
    ck_assert_int_eq(d2.params.n, vc.d.params.n);
    ck_assert_int_eq(d2.cfg.c_dim, 3);
    sg2_generator_free(&g2);
    sg2_discriminator_free(&d2);
    /* Truncate to half: the loader must refuse it with the file's name. */
    FILE *fp = fopen(path, "rb");
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fclose(fp);
    ck_assert_int_eq(truncate(path, size / 2), 0);
    sg2_generator g3;
    ck_assert_int_ne(sg2_load_generator(ctx, path, "G_ema", &g3), SG2_OK);
    ck_assert_msg(strstr(ctx->err.msg, path) != NULL && strchr(ctx->err.msg, '\n') == NULL, "message: %s", ctx->err.msg);
    sg2_ctx_clear_error(ctx);
    remove(path);
    close_case(&vc);
}
END_TEST

/* A checkpoint whose configuration does not match its tensors. */
START_TEST(test_checkpoint_mismatch)
{
    sg2_ctx *ctx = sg2_test_ctx();
    vec_case vc;
    memset(&vc, 0, sizeof vc);
    open_case(ctx, &vc, "a");
    sg2_generator other;
    sg2_g_config gc = vc.g.cfg;
    gc.channel_max = 16; /* different channel counts, same names */
    ck_assert(sg2_generator_init(ctx, &other, &gc) == SG2_OK);
    char path[] = "/tmp/sg2-test-ckpt-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    /* G from one network, config written from the same: load fine; then load tensors into the other. */
    ck_assert(sg2_checkpoint_save(ctx, path, &vc.g, NULL, NULL, NULL, 0, NULL, 0) == SG2_OK);
    sg2_safetensors *f = NULL;
    sg2_error err = {0};
    ck_assert(sg2_safetensors_open(&f, path, &err) == SG2_OK);
    ck_assert_int_ne(sg2_params_load(ctx, &other.params, f, "G.", path), SG2_OK);
    ck_assert_msg(strstr(ctx->err.msg, path) != NULL, "message: %s", ctx->err.msg);
    sg2_ctx_clear_error(ctx);
    sg2_safetensors_close(f);
    sg2_generator_free(&other);
    remove(path);
    close_case(&vc);
}
END_TEST

static Suite *network_suite(void)
{
    Suite *s = suite_create("network");
    TCase *tc = tcase_create("vectors");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_case_a);
    tcase_add_test(tc, test_case_b);
    tcase_add_test(tc, test_case_c);
    tcase_add_test(tc, test_case_d);
    tcase_add_test(tc, test_case_e);
    tcase_add_test(tc, test_reference_pickle);
    tcase_add_test(tc, test_checkpoint_round_trip);
    tcase_add_test(tc, test_checkpoint_mismatch);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return sg2_test_run(network_suite()) != 0;
}
