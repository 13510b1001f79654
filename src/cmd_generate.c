/* generate, style-mix and interpolate: the reference's generation tools. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "src/checkpoint.h"
#include "src/cli_util.h"
#include "src/commands.h"
#include "src/generate.h"
#include "src/image_io.h"

const char *sg2_cli_device = NULL;

/* Everything a generation command holds; freed by session_end. */
typedef struct session {
    sg2_runtime rt;
    sg2_ctx ctx;
    sg2_generator g;
    int rt_ready, g_ready;
} session;

static int fail(const char *cmd, const char *msg)
{
    fprintf(stderr, "stylegan2-cl %s: %s\n", cmd, msg);
    return 1;
}

static int session_begin(session *s, const char *cmd, const char *network)
{
    memset(s, 0, sizeof *s);
    sg2_error err = {0};
    if (sg2_runtime_init(&s->rt, sg2_cli_device, &err))
        return fail(cmd, err.msg);
    s->rt_ready = 1;
    sg2_ctx_init(&s->ctx, &s->rt);
    if (sg2_load_generator(&s->ctx, network, "G_ema", &s->g))
        return fail(cmd, s->ctx.err.msg);
    s->g_ready = 1;
    /* generation only reads the weights: keep what is derived from them */
    if (sg2_generator_freeze(&s->ctx, &s->g))
        return fail(cmd, s->ctx.err.msg);
    return 0;
}

static void session_end(session *s)
{
    if (s->g_ready)
        sg2_generator_free(&s->g);
    if (s->rt_ready) {
        sg2_ctx_free(&s->ctx);
        sg2_runtime_free(&s->rt);
    }
}

static int make_dirs(const char *cmd, const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                break;
            *p = '/';
        }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
        char msg[4200];
        snprintf(msg, sizeof msg, "%s: cannot create directory (%s)", path, strerror(errno));
        return fail(cmd, msg);
    }
    return 0;
}

static int parse_noise_mode(const char *s, sg2_noise_mode *out)
{
    if (strcmp(s, "const") == 0)
        *out = SG2_NOISE_CONST;
    else if (strcmp(s, "random") == 0)
        *out = SG2_NOISE_RANDOM;
    else if (strcmp(s, "none") == 0)
        *out = SG2_NOISE_NONE;
    else
        return 0;
    return 1;
}

static int write_png(const char *cmd, const char *path, const uint8_t *px, int res, int ch)
{
    sg2_error err = {0};
    if (sg2_png_write(path, px, res, res, ch, &err))
        return fail(cmd, err.msg);
    return 0;
}

/* One-hot labels for --class (required by conditional networks). */
static int make_labels(const char *cmd, const sg2_g_config *c, long class_idx, int n, float **labels)
{
    *labels = NULL;
    if (c->c_dim == 0) {
        if (class_idx >= 0)
            fprintf(stderr, "stylegan2-cl %s: warning: --class ignored, the network is unconditional\n", cmd);
        return 0;
    }
    if (class_idx < 0 || class_idx >= c->c_dim) {
        char msg[128];
        snprintf(msg, sizeof msg, "the network is conditional: --class 0..%d is required", c->c_dim - 1);
        return fail(cmd, msg);
    }
    *labels = calloc((size_t)n * (size_t)c->c_dim, sizeof **labels);
    if (!*labels)
        return fail(cmd, "out of memory");
    for (int i = 0; i < n; i++)
        (*labels)[(size_t)i * (size_t)c->c_dim + (size_t)class_idx] = 1.0f;
    return 0;
}

/* ---------------------------------------------------------------- generate */

typedef struct common_opts {
    const char *network, *outdir;
    double psi;
    long cutoff, class_idx, batch;
    sg2_noise_mode noise;
    /* command-specific */
    const char *seeds, *rows, *cols, *styles;
    int grid, space_w;
    long frames;
} common_opts;

enum { OPT_NETWORK = 1000, OPT_OUTDIR, OPT_TRUNC, OPT_CUTOFF, OPT_CLASS, OPT_NOISE, OPT_BATCH, OPT_SEEDS, OPT_GRID,
       OPT_ROWS, OPT_COLS, OPT_STYLES, OPT_FRAMES, OPT_SPACE, OPT_HELP };

/* Options every generation command takes; returns 1 when handled, -1 on a bad value. */
static int common_opt(const char *cmd, int opt, const char *arg, common_opts *o)
{
    sg2_error err = {0};
    double d;
    switch (opt) {
    case OPT_NETWORK: o->network = arg; return 1;
    case OPT_OUTDIR: o->outdir = arg; return 1;
    case OPT_TRUNC:
        if (sg2_parse_float(arg, -10, 10, "--trunc", &d, &err))
            return fail(cmd, err.msg), -1;
        o->psi = d;
        return 1;
    case OPT_CUTOFF:
        return sg2_parse_long(arg, 0, 64, "--trunc-cutoff", &o->cutoff, &err) ? (fail(cmd, err.msg), -1) : 1;
    case OPT_CLASS:
        return sg2_parse_long(arg, 0, 1000000, "--class", &o->class_idx, &err) ? (fail(cmd, err.msg), -1) : 1;
    case OPT_BATCH:
        return sg2_parse_long(arg, 1, 256, "--batch", &o->batch, &err) ? (fail(cmd, err.msg), -1) : 1;
    case OPT_NOISE:
        if (!parse_noise_mode(arg, &o->noise))
            return fail(cmd, "--noise-mode takes const, random or none"), -1;
        return 1;
    }
    return 0;
}

#define COMMON_LONG_OPTS                                                                              \
    {"network", required_argument, 0, OPT_NETWORK}, {"outdir", required_argument, 0, OPT_OUTDIR},     \
        {"trunc", required_argument, 0, OPT_TRUNC}, {"trunc-cutoff", required_argument, 0, OPT_CUTOFF}, \
        {"class", required_argument, 0, OPT_CLASS}, {"noise-mode", required_argument, 0, OPT_NOISE},    \
        {"batch", required_argument, 0, OPT_BATCH}, {"help", no_argument, 0, OPT_HELP}

static const char *common_help =
    "  --network FILE        checkpoint (.safetensors) or reference pickle (.pkl)\n"
    "  --outdir DIR          where to write the images (created)\n"
    "  --trunc PSI           truncation psi (default 1: off)\n"
    "  --trunc-cutoff N      truncate only the first N ws (default: all)\n"
    "  --class N             class label for conditional networks\n"
    "  --noise-mode MODE     const (default), random or none\n"
    "  --batch N             images per device batch (default 8; 4 at 512 and above)\n";

/* Parse a generation command's options: the common ones plus those in
 * `extra` (each command lists its own). Returns 0 to go on, 1 when --help
 * was printed (exit 0), 2 on a bad option (message printed). */
static int parse_opts(const char *cmd, int argc, char **argv, const struct option *extra, int n_extra,
                      const char *usage, common_opts *o)
{
    static const struct option common[] = {COMMON_LONG_OPTS};
    enum { N_COMMON = sizeof common / sizeof common[0] };
    struct option opts[N_COMMON + 8];
    memcpy(opts, common, sizeof common);
    memcpy(opts + N_COMMON, extra, (size_t)n_extra * sizeof *extra);
    memset(&opts[N_COMMON + n_extra], 0, sizeof opts[0]);
    sg2_error err = {0};
    optind = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int r = common_opt(cmd, opt, optarg, o);
        if (r < 0)
            return 2;
        if (r)
            continue;
        switch (opt) {
        case OPT_SEEDS: o->seeds = optarg; break;
        case OPT_GRID: o->grid = 1; break;
        case OPT_ROWS: o->rows = optarg; break;
        case OPT_COLS: o->cols = optarg; break;
        case OPT_STYLES: o->styles = optarg; break;
        case OPT_FRAMES:
            if (sg2_parse_long(optarg, 1, 100000, "--frames", &o->frames, &err))
                return fail(cmd, err.msg), 2;
            break;
        case OPT_SPACE:
            if (strcmp(optarg, "w") != 0 && strcmp(optarg, "z") != 0)
                return fail(cmd, "--space takes w or z"), 2;
            o->space_w = optarg[0] == 'w';
            break;
        case OPT_HELP:
            printf("%s%s", usage, common_help);
            return 1;
        default:
            return 2;
        }
    }
    if (optind < argc)
        return fail(cmd, "unexpected argument (see --help)"), 2;
    return 0;
}

static sg2_gen_args gen_args(const common_opts *o)
{
    return (sg2_gen_args){.truncation_psi = (float)o->psi, .truncation_cutoff = (int)o->cutoff,
                          .noise_mode = o->noise, .fused_modconv = SG2_MODCONV_AUTO};
}

static int default_batch(const sg2_g_config *c, long batch)
{
    return batch > 0 ? (int)batch : c->img_resolution >= 512 ? 4 : 8;
}

static int grid_width(int n)
{
    int gw = (int)ceil(sqrt((double)n));
    return gw < 1 ? 1 : gw;
}

int sg2_cmd_generate(int argc, char **argv)
{
    const char *cmd = "generate";
    common_opts o = {.psi = 1.0, .class_idx = -1, .noise = SG2_NOISE_CONST};
    static const struct option extra[] = {{"seeds", required_argument, 0, OPT_SEEDS},
                                          {"grid", no_argument, 0, OPT_GRID}};
    int pr = parse_opts(cmd, argc, argv, extra, 2,
                        "Usage: stylegan2-cl generate --network FILE --seeds LIST --outdir DIR [OPTIONS]\n"
                        "Generate one image per seed, named seed%04d.png as the reference's generate.py does;\n"
                        "the latent of seed s is numpy's RandomState(s).randn(z_dim).\n\n"
                        "  --seeds LIST          e.g. 0-7,42\n  --grid                also write grid.png\n",
                        &o);
    if (pr)
        return pr == 1 ? 0 : 2;
    const char *seeds_text = o.seeds;
    int grid = o.grid;
    if (!o.network || !seeds_text || !o.outdir)
        return fail(cmd, "--network, --seeds and --outdir are required (see --help)"), 2;
    long *seeds = NULL;
    int n = 0;
    sg2_error err = {0};
    if (sg2_parse_num_list(seeds_text, 0, 4294967295L, &seeds, &n, &err))
        return fail(cmd, err.msg), 2;
    session s;
    int rc = session_begin(&s, cmd, o.network);
    rc = rc ? rc : make_dirs(cmd, o.outdir);
    const sg2_g_config *c = &s.g.cfg;
    int res = c->img_resolution, ch = c->img_channels, batch = default_batch(c, o.batch);
    size_t img_bytes = (size_t)res * res * ch;
    float *labels = NULL;
    float *z = malloc((size_t)batch * c->z_dim * sizeof *z);
    float *ws = malloc((size_t)batch * s.g.num_ws * c->w_dim * sizeof *ws);
    uint8_t *pix = malloc((size_t)n * img_bytes);
    if (!rc && (!z || !ws || !pix))
        rc = fail(cmd, "out of memory");
    rc = rc ? rc : make_labels(cmd, c, o.class_idx, batch, &labels);
    sg2_gen_args ga = gen_args(&o);
    for (int start = 0; start < n && !rc; start += batch) {
        int m = n - start < batch ? n - start : batch;
        for (int i = 0; i < m; i++)
            sg2_latent_from_seed(z + (size_t)i * c->z_dim, c->z_dim, (uint32_t)seeds[start + i]);
        if (sg2_generate_ws(&s.ctx, &s.g, z, labels, m, &ga, ws) ||
            sg2_generate_from_ws(&s.ctx, &s.g, ws, m, &ga, pix + (size_t)start * img_bytes))
            rc = fail(cmd, s.ctx.err.msg);
        for (int i = 0; i < m && !rc; i++) {
            char path[4200];
            snprintf(path, sizeof path, "%s/seed%04ld.png", o.outdir, seeds[start + i]);
            rc = write_png(cmd, path, pix + (size_t)(start + i) * img_bytes, res, ch);
        }
    }
    if (!rc && grid) {
        int gw = grid_width(n), gh = (n + gw - 1) / gw;
        uint8_t *chw = malloc((size_t)n * img_bytes), *canvas = calloc((size_t)gw * gh, img_bytes);
        if (!chw || !canvas)
            rc = fail(cmd, "out of memory");
        /* the grid assembler takes [n, c, h, w] */
        for (int i = 0; i < n && !rc; i++)
            for (int p = 0; p < res * res; p++)
                for (int k = 0; k < ch; k++)
                    chw[(size_t)i * img_bytes + (size_t)k * res * res + p] = pix[(size_t)i * img_bytes + (size_t)p * ch + k];
        if (!rc && sg2_image_grid(canvas, chw, n, ch, res, res, gw, gh, &err))
            rc = fail(cmd, err.msg);
        char path[4200];
        snprintf(path, sizeof path, "%s/grid.png", o.outdir);
        if (!rc && sg2_png_write(path, canvas, gw * res, gh * res, ch, &err))
            rc = fail(cmd, err.msg);
        free(chw);
        free(canvas);
    }
    if (!rc)
        printf("wrote %d image%s to %s\n", n, n == 1 ? "" : "s", o.outdir);
    free(labels);
    free(z);
    free(ws);
    free(pix);
    free(seeds);
    session_end(&s);
    return rc;
}

/* --------------------------------------------------------------- style-mix */

/* Index of v in list[n], or -1. */
static int index_of(const long *list, int n, long v)
{
    for (int i = 0; i < n; i++)
        if (list[i] == v)
            return i;
    return -1;
}

/* Copy image i of px [n, res, res, ch] to canvas [gh*res, gw*res, ch] at cell (col, row). */
static void blit(uint8_t *canvas, int gw, const uint8_t *img, int res, int ch, int col, int row)
{
    for (int y = 0; y < res; y++)
        memcpy(canvas + (((size_t)row * res + y) * (size_t)gw * res + (size_t)col * res) * ch,
               img + (size_t)y * res * ch, (size_t)res * ch);
}

int sg2_cmd_style_mix(int argc, char **argv)
{
    const char *cmd = "style-mix";
    common_opts o = {.psi = 1.0, .class_idx = -1, .noise = SG2_NOISE_CONST, .styles = "0-6"};
    static const struct option extra[] = {{"rows", required_argument, 0, OPT_ROWS},
                                          {"cols", required_argument, 0, OPT_COLS},
                                          {"styles", required_argument, 0, OPT_STYLES}};
    int pr = parse_opts(cmd, argc, argv, extra, 3,
                        "Usage: stylegan2-cl style-mix --network FILE --rows LIST --cols LIST --outdir DIR [OPTIONS]\n"
                        "Style mixing as the reference's style_mixing.py: each row seed's ws with the listed\n"
                        "styles taken from each column seed; writes ROW-COL.png for every pair and grid.png.\n\n"
                        "  --rows LIST           row seeds, e.g. 85,100,75\n"
                        "  --cols LIST           column seeds, e.g. 55,821,1789\n"
                        "  --styles LIST         ws indices taken from the column seed (default 0-6)\n",
                        &o);
    if (pr)
        return pr == 1 ? 0 : 2;
    const char *rows_text = o.rows, *cols_text = o.cols, *styles_text = o.styles;
    if (!o.network || !rows_text || !cols_text || !o.outdir)
        return fail(cmd, "--network, --rows, --cols and --outdir are required (see --help)"), 2;
    long *rows = NULL, *cols = NULL, *styles = NULL;
    int nr = 0, nc = 0, ns = 0;
    sg2_error err = {0};
    if (sg2_parse_num_list(rows_text, 0, 4294967295L, &rows, &nr, &err) ||
        sg2_parse_num_list(cols_text, 0, 4294967295L, &cols, &nc, &err) ||
        sg2_parse_num_list(styles_text, 0, 63, &styles, &ns, &err)) {
        free(rows);
        free(cols);
        return fail(cmd, err.msg), 2;
    }
    session s;
    int rc = session_begin(&s, cmd, o.network);
    rc = rc ? rc : make_dirs(cmd, o.outdir);
    const sg2_g_config *c = &s.g.cfg;
    int num_ws = s.g.num_ws, wd = c->w_dim, res = c->img_resolution, ch = c->img_channels;
    size_t img_bytes = (size_t)res * res * ch, wsz = (size_t)num_ws * wd;
    for (int i = 0; i < ns && !rc; i++)
        if (styles[i] >= num_ws) {
            char msg[128];
            snprintf(msg, sizeof msg, "--styles: %ld is not below the network's %d ws", styles[i], num_ws);
            rc = fail(cmd, msg);
        }
    /* The distinct seeds, their ws and their own images. */
    int na = 0;
    long *all = malloc((size_t)(nr + nc) * sizeof *all);
    for (int i = 0; all && i < nr + nc; i++) {
        long v = i < nr ? rows[i] : cols[i - nr];
        if (index_of(all, na, v) < 0)
            all[na++] = v;
    }
    float *z = malloc((size_t)(na > 0 ? na : 1) * c->z_dim * sizeof *z);
    float *ws = malloc((size_t)(na > 0 ? na : 1) * wsz * sizeof *ws);
    float *mix = malloc(wsz * sizeof *mix);
    uint8_t *own = malloc((size_t)(na > 0 ? na : 1) * img_bytes);
    uint8_t *canvas = calloc((size_t)(nr + 1) * (nc + 1), img_bytes);
    float *labels = NULL;
    if (!rc && (!all || !z || !ws || !mix || !own || !canvas))
        rc = fail(cmd, "out of memory");
    rc = rc ? rc : make_labels(cmd, c, o.class_idx, na, &labels);
    sg2_gen_args ga = gen_args(&o);
    for (int i = 0; i < na && !rc; i++)
        sg2_latent_from_seed(z + (size_t)i * c->z_dim, c->z_dim, (uint32_t)all[i]);
    if (!rc && sg2_generate_ws(&s.ctx, &s.g, z, labels, na, &ga, ws))
        rc = fail(cmd, s.ctx.err.msg);
    if (!rc && sg2_generate_from_ws(&s.ctx, &s.g, ws, na, &ga, own))
        rc = fail(cmd, s.ctx.err.msg);
    for (int ci = 0; ci < nc && !rc; ci++)
        blit(canvas, nc + 1, own + (size_t)index_of(all, na, cols[ci]) * img_bytes, res, ch, ci + 1, 0);
    for (int ri = 0; ri < nr && !rc; ri++) {
        const float *wr = ws + (size_t)index_of(all, na, rows[ri]) * wsz;
        blit(canvas, nc + 1, own + (size_t)index_of(all, na, rows[ri]) * img_bytes, res, ch, 0, ri + 1);
        for (int ci = 0; ci < nc && !rc; ci++) {
            const float *wc = ws + (size_t)index_of(all, na, cols[ci]) * wsz;
            memcpy(mix, wr, wsz * sizeof *mix);
            for (int k = 0; k < ns; k++)
                memcpy(mix + (size_t)styles[k] * wd, wc + (size_t)styles[k] * wd, (size_t)wd * sizeof *mix);
            uint8_t *cell = malloc(img_bytes);
            if (!cell || sg2_generate_from_ws(&s.ctx, &s.g, mix, 1, &ga, cell)) {
                rc = cell ? fail(cmd, s.ctx.err.msg) : fail(cmd, "out of memory");
                free(cell);
                break;
            }
            char path[4200];
            snprintf(path, sizeof path, "%s/%ld-%ld.png", o.outdir, rows[ri], cols[ci]);
            rc = write_png(cmd, path, cell, res, ch);
            blit(canvas, nc + 1, cell, res, ch, ci + 1, ri + 1);
            free(cell);
        }
    }
    if (!rc) {
        char path[4200];
        snprintf(path, sizeof path, "%s/grid.png", o.outdir);
        if (sg2_png_write(path, canvas, (nc + 1) * res, (nr + 1) * res, ch, &err))
            rc = fail(cmd, err.msg);
        else
            printf("wrote %d mixed images and grid.png to %s\n", nr * nc, o.outdir);
    }
    free(all);
    free(z);
    free(ws);
    free(mix);
    free(own);
    free(canvas);
    free(labels);
    free(rows);
    free(cols);
    free(styles);
    session_end(&s);
    return rc;
}

/* ------------------------------------------------------------- interpolate */

/* Spherical interpolation between a and b (n values), the path a latent
 * drawn from N(0, I) would take along the shell its norm concentrates on. */
static void slerp(float *out, const float *a, const float *b, int n, double t)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    double cosw = ab / sqrt(aa * bb);
    cosw = cosw > 1 ? 1 : cosw < -1 ? -1 : cosw;
    double omega = acos(cosw), so = sin(omega);
    for (int i = 0; i < n; i++)
        out[i] = so < 1e-6 ? (float)((1 - t) * a[i] + t * b[i])
                           : (float)(sin((1 - t) * omega) / so * a[i] + sin(t * omega) / so * b[i]);
}

int sg2_cmd_interpolate(int argc, char **argv)
{
    const char *cmd = "interpolate";
    common_opts o = {.psi = 1.0, .class_idx = -1, .noise = SG2_NOISE_CONST, .frames = 60, .space_w = 1};
    static const struct option extra[] = {{"seeds", required_argument, 0, OPT_SEEDS},
                                          {"frames", required_argument, 0, OPT_FRAMES},
                                          {"space", required_argument, 0, OPT_SPACE}};
    int pr = parse_opts(cmd, argc, argv, extra, 3,
                        "Usage: stylegan2-cl interpolate --network FILE --seeds LIST --outdir DIR [OPTIONS]\n"
                        "Frames from each seed to the next: linear in W (--space w, default) or spherical in Z\n"
                        "(--space z); writes frame%05d.png, --frames per transition plus the last seed.\n\n"
                        "  --seeds LIST          at least two seeds, e.g. 1,2,3\n"
                        "  --frames N            frames per transition (default 60)\n"
                        "  --space w|z           interpolation space (default w)\n",
                        &o);
    if (pr)
        return pr == 1 ? 0 : 2;
    const char *seeds_text = o.seeds;
    long frames = o.frames;
    int space_w = o.space_w;
    sg2_error err = {0};
    if (!o.network || !seeds_text || !o.outdir)
        return fail(cmd, "--network, --seeds and --outdir are required (see --help)"), 2;
    long *seeds = NULL;
    int n = 0;
    if (sg2_parse_num_list(seeds_text, 0, 4294967295L, &seeds, &n, &err))
        return fail(cmd, err.msg), 2;
    if (n < 2) {
        free(seeds);
        return fail(cmd, "--seeds needs at least two seeds"), 2;
    }
    session s;
    int rc = session_begin(&s, cmd, o.network);
    rc = rc ? rc : make_dirs(cmd, o.outdir);
    const sg2_g_config *c = &s.g.cfg;
    size_t wsz = (size_t)s.g.num_ws * c->w_dim, img_bytes = (size_t)c->img_resolution * c->img_resolution * c->img_channels;
    float *z = malloc((size_t)n * c->z_dim * sizeof *z), *ws = malloc((size_t)n * wsz * sizeof *ws);
    float *zf = malloc((size_t)c->z_dim * sizeof *zf), *wf = malloc(wsz * sizeof *wf);
    uint8_t *pix = malloc(img_bytes);
    float *labels = NULL;
    if (!rc && (!z || !ws || !zf || !wf || !pix))
        rc = fail(cmd, "out of memory");
    rc = rc ? rc : make_labels(cmd, c, o.class_idx, n, &labels);
    sg2_gen_args ga = gen_args(&o);
    for (int i = 0; i < n && !rc; i++)
        sg2_latent_from_seed(z + (size_t)i * c->z_dim, c->z_dim, (uint32_t)seeds[i]);
    if (!rc && space_w && sg2_generate_ws(&s.ctx, &s.g, z, labels, n, &ga, ws))
        rc = fail(cmd, s.ctx.err.msg);
    long total = frames * (n - 1) + 1;
    for (long f = 0; f < total && !rc; f++) {
        int seg = (int)(f / frames);
        double t = (double)(f % frames) / (double)frames;
        if (seg >= n - 1) {
            seg = n - 2;
            t = 1.0;
        }
        if (space_w) {
            const float *a = ws + (size_t)seg * wsz, *b = ws + (size_t)(seg + 1) * wsz;
            for (size_t i = 0; i < wsz; i++)
                wf[i] = (float)(a[i] + t * (b[i] - a[i]));
        } else {
            slerp(zf, z + (size_t)seg * c->z_dim, z + (size_t)(seg + 1) * c->z_dim, c->z_dim, t);
            if (sg2_generate_ws(&s.ctx, &s.g, zf, labels, 1, &ga, wf))
                rc = fail(cmd, s.ctx.err.msg);
        }
        if (!rc && sg2_generate_from_ws(&s.ctx, &s.g, wf, 1, &ga, pix))
            rc = fail(cmd, s.ctx.err.msg);
        char path[4200];
        snprintf(path, sizeof path, "%s/frame%05ld.png", o.outdir, f);
        rc = rc ? rc : write_png(cmd, path, pix, c->img_resolution, c->img_channels);
    }
    if (!rc)
        printf("wrote %ld frames to %s\n", total, o.outdir);
    free(z);
    free(ws);
    free(zf);
    free(wf);
    free(pix);
    free(labels);
    free(seeds);
    session_end(&s);
    return rc;
}
