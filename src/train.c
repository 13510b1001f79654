/* The training loop. Everything random it uses (latents, noise, style-mixing
 * cutoffs, data order) is drawn from states saved in the checkpoint, so a
 * resumed run continues exactly where an uninterrupted one would be. */
#include "src/train.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "src/checkpoint.h"
#include "src/generate.h"
#include "src/image_io.h"
#include "src/network_json.h"
#include "src/np_random.h"
#include "src/ops.h"
#include "src/optim.h"

static volatile sig_atomic_t g_stop;

void sg2_train_request_stop(void)
{
    g_stop = 1;
}

typedef struct trainer {
    const sg2_train_opts *o;
    sg2_reals *reals;
    sg2_generator G, G_ema;
    sg2_discriminator D;
    int have_nets;
    sg2_adam G_opt, D_opt;
    int have_opts;
    sg2_loss loss;
    sg2_stats stats;
    long cur_nimg, batch_idx, cur_tick, tick_start_nimg;
    int resumed_from_pkl;
    char run_dir[2048];
    FILE *log, *stats_file;
    double t_start, t_tick;
    int gw, gh;                 /* snapshot grid */
    float *grid_z, *grid_c;     /* fixed latents and labels of the fake grids */
} trainer;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Console and log.txt. */
static void say(trainer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(trainer *t, const char *fmt, ...)
{
    va_list ap;
    if (!t->o->quiet) {
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fflush(stdout);
    }
    if (t->log) {
        va_start(ap, fmt);
        vfprintf(t->log, fmt, ap);
        va_end(ap);
        fflush(t->log);
    }
}

/* ---- run directory ---- */

static sg2_status make_run_dir(trainer *t, sg2_error *err)
{
    const sg2_train_opts *o = t->o;
    if (mkdir(o->outdir, 0755) != 0 && errno != EEXIST)
        return sg2_error_set(err, SG2_ERR_IO, "%s: cannot create directory (%s)", o->outdir, strerror(errno));
    /* <outdir>/<NNNNN>-<desc>, NNNNN one above the highest existing id (as the reference) */
    char desc[512];
    if (o->desc)
        snprintf(desc, sizeof desc, "%s", o->desc);
    else
        snprintf(desc, sizeof desc, "%s-%s", t->reals->name, o->cfg);
    int next = 0;
    DIR *dir = opendir(o->outdir);
    for (struct dirent *e = dir ? readdir(dir) : NULL; e; e = readdir(dir)) {
        int id = -1, n = 0;
        if (sscanf(e->d_name, "%d%n", &id, &n) == 1 && n == 5 && e->d_name[5] == '-' && id >= next)
            next = id + 1;
    }
    if (dir)
        closedir(dir);
    snprintf(t->run_dir, sizeof t->run_dir, "%s/%05d-%s", o->outdir, next, desc);
    if (mkdir(t->run_dir, 0755) != 0)
        return sg2_error_set(err, SG2_ERR_IO, "%s: cannot create run directory (%s)", t->run_dir, strerror(errno));
    char path[2200];
    snprintf(path, sizeof path, "%s/log.txt", t->run_dir);
    t->log = fopen(path, "a");
    snprintf(path, sizeof path, "%s/stats.jsonl", t->run_dir);
    t->stats_file = fopen(path, "a");
    if (!t->log || !t->stats_file)
        return sg2_error_set(err, SG2_ERR_IO, "%s: cannot write logs (%s)", t->run_dir, strerror(errno));
    return SG2_OK;
}

static sg2_status write_options(trainer *t, sg2_error *err)
{
    const sg2_train_opts *o = t->o;
    char *gj = sg2_g_config_to_json(&t->G.cfg), *dj = sg2_d_config_to_json(&t->D.cfg);
    json_t *root = json_pack("{s:s, s:s, s:i, s:i, s:f, s:f, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:i, s:i, s:I, s:s?, s:I}",
                             "cfg", o->cfg, "data", t->reals->name, "batch_size", o->batch, "batch_gpu", o->batch_gpu,
                             "total_kimg", o->kimg, "kimg_per_tick", o->kimg_per_tick, "image_snapshot_ticks", o->snap,
                             "lr", (double)o->lr, "r1_gamma", (double)o->gamma, "ema_kimg", o->ema_kimg,
                             "ema_rampup", o->ema_rampup, "pl_weight", (double)o->pl_weight, "style_mixing_prob",
                             (double)o->style_mixing, "G_reg_interval", o->g_reg_interval, "D_reg_interval",
                             o->d_reg_interval, "random_seed", (json_int_t)o->seed, "resume_pkl", o->resume,
                             "dataset_size", (json_int_t)t->reals->count);
    json_t *gk = gj ? json_loads(gj, 0, NULL) : NULL, *dk = dj ? json_loads(dj, 0, NULL) : NULL;
    if (root && gk)
        json_object_set_new(root, "G_kwargs", gk);
    if (root && dk)
        json_object_set_new(root, "D_kwargs", dk);
    free(gj);
    free(dj);
    char path[2200], tmp[2300];
    snprintf(path, sizeof path, "%s/training_options.json", t->run_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int bad = !root || json_dump_file(root, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) != 0 || rename(tmp, path) != 0;
    json_decref(root);
    return bad ? sg2_error_set(err, SG2_ERR_IO, "%s: cannot write", path) : SG2_OK;
}

/* ---- networks and state ---- */

static sg2_status build_networks(sg2_ctx *ctx, trainer *t)
{
    const sg2_train_opts *o = t->o;
    sg2_reals *r = t->reals;
    sg2_g_config gc = sg2_g_config_default(r->resolution, r->channels);
    gc.c_dim = r->c_dim;
    gc.map_layers = o->map_layers;
    gc.channel_base = o->cbase;
    gc.channel_max = o->cmax;
    gc.conv_clamp = o->conv_clamp;
    sg2_d_config dc = sg2_d_config_default(r->resolution, r->channels);
    dc.c_dim = r->c_dim;
    dc.channel_base = o->cbase;
    dc.channel_max = o->cmax;
    dc.conv_clamp = o->conv_clamp;
    dc.arch = o->d_arch;
    dc.mbstd_group = o->mbstd_group;
    if (o->resume) {
        /* The checkpoint's own configuration wins: its tensors must fit. */
        if (sg2_load_generator(ctx, o->resume, "G", &t->G))
            return ctx->err.status;
        if (sg2_load_generator(ctx, o->resume, "G_ema", &t->G_ema) || sg2_load_discriminator(ctx, o->resume, &t->D)) {
            sg2_generator_free(&t->G);
            return ctx->err.status;
        }
        if (t->G.cfg.img_resolution != r->resolution || t->G.cfg.img_channels != r->channels ||
            t->G.cfg.c_dim != r->c_dim) {
            t->have_nets = 1;
            return sg2_error_set(&ctx->err, SG2_ERR_ARG, "%s: the network makes %dx%dx%d images with %d labels; the data has %dx%dx%d with %d",
                                 o->resume, t->G.cfg.img_channels, t->G.cfg.img_resolution, t->G.cfg.img_resolution,
                                 t->G.cfg.c_dim, r->channels, r->resolution, r->resolution, r->c_dim);
        }
    } else {
        sg2_random_seed(ctx, o->seed);
        if (sg2_generator_init(ctx, &t->G, &gc))
            return ctx->err.status;
        if (sg2_discriminator_init(ctx, &t->D, &dc) || sg2_generator_init(ctx, &t->G_ema, &gc) ||
            sg2_params_copy(ctx, &t->G_ema.params, &t->G.params)) {
            sg2_generator_free(&t->G);
            return ctx->err.status;
        }
    }
    t->have_nets = 1;
    sg2_params_set_requires_grad(&t->G.params, 1);
    sg2_params_set_requires_grad(&t->D.params, 1);
    return SG2_OK;
}

static sg2_status build_optimizers(sg2_ctx *ctx, trainer *t)
{
    const sg2_train_opts *o = t->o;
    float lr = o->lr, b1 = 0.0f, b2 = 0.99f;
    sg2_adam_lazy_adjust(&lr, &b1, &b2, o->g_reg_interval);
    if (sg2_adam_init(ctx, &t->G_opt, &t->G.params, lr, b1, b2, 1e-8f))
        return ctx->err.status;
    lr = o->lr, b1 = 0.0f, b2 = 0.99f;
    sg2_adam_lazy_adjust(&lr, &b1, &b2, o->d_reg_interval);
    sg2_adam_init(ctx, &t->D_opt, &t->D.params, lr, b1, b2, 1e-8f);
    t->have_opts = 1;
    return ctx->err.status;
}

/* ---- checkpoints with training state ---- */

static int add_opt_extras(sg2_ckpt_extra *ex, char **names, int n, const sg2_adam *opt, const char *prefix)
{
    for (int i = 0; i < opt->ps->n; i++) {
        if (!opt->m[i])
            continue;
        for (int k = 0; k < 2; k++) {
            size_t len = strlen(prefix) + strlen(opt->ps->items[i].name) + 4;
            names[n] = malloc(len);
            if (!names[n])
                return -1;
            snprintf(names[n], len, "%s.%c.%s", prefix, k ? 'v' : 'm', opt->ps->items[i].name);
            ex[n] = (sg2_ckpt_extra){names[n], k ? opt->v[i] : opt->m[i]};
            n++;
        }
    }
    return n;
}

static sg2_status save_checkpoint(sg2_ctx *ctx, trainer *t, const char *path)
{
    int cap = 2 * (t->G.params.n + t->D.params.n) + 4;
    sg2_ckpt_extra *ex = calloc((size_t)cap, sizeof *ex);
    char **names = calloc((size_t)cap, sizeof *names);
    int n = ex && names ? add_opt_extras(ex, names, 0, &t->G_opt, "G_opt") : -1;
    n = n < 0 ? n : add_opt_extras(ex, names, n, &t->D_opt, "D_opt");
    char state[1024];
    snprintf(state, sizeof state,
             "{\"cur_nimg\": %ld, \"batch_idx\": %ld, \"cur_tick\": %ld, \"tick_start_nimg\": %ld, "
             "\"pl_mean\": %.9g, \"rng_seed\": \"%016llx\", \"rng_offset\": \"%016llx\", \"host_rng\": \"%016llx\", "
             "\"G_opt_step\": %ld, \"D_opt_step\": %ld}",
             t->cur_nimg, t->batch_idx, t->cur_tick, t->tick_start_nimg, (double)t->loss.pl_mean,
             (unsigned long long)ctx->rng_seed, (unsigned long long)ctx->rng_offset,
             (unsigned long long)t->loss.host_rng, t->G_opt.step, t->D_opt.step);
    sg2_st_meta meta[1] = {{"training_state", state}};
    sg2_status st = n < 0 ? sg2_error_set(&ctx->err, SG2_ERR_NOMEM, "checkpoint: out of memory")
                          : sg2_checkpoint_save(ctx, path, &t->G, &t->D, &t->G_ema, ex, n, meta, 1);
    for (int i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
    free(ex);
    return st;
}

static sg2_status load_opt_state(sg2_ctx *ctx, sg2_safetensors *f, sg2_adam *opt, const char *prefix, const char *path)
{
    char name[512];
    for (int i = 0; i < opt->ps->n && !ctx->err.status; i++) {
        if (!opt->m[i])
            continue;
        for (int k = 0; k < 2; k++) {
            sg2_tensor *dst = k ? opt->v[i] : opt->m[i];
            snprintf(name, sizeof name, "%s.%c.%s", prefix, k ? 'v' : 'm', opt->ps->items[i].name);
            float *buf = malloc((size_t)dst->numel * sizeof *buf + sizeof(float));
            if (!buf)
                return sg2_error_set(&ctx->err, SG2_ERR_NOMEM, "%s: out of memory", path);
            if (!sg2_safetensors_find(f, name))
                sg2_error_set(&ctx->err, SG2_ERR_FORMAT, "%s: missing optimizer state %s", path, name);
            else if (!sg2_safetensors_read(f, name, dst->ndim, dst->shape, buf, &ctx->err))
                sg2_tensor_write(ctx, dst, buf);
            free(buf);
        }
    }
    return ctx->err.status;
}

/* 64-bit unsigned states travel as hex strings: JSON integers are signed. */
static int json_hex(json_t *o, const char *key, uint64_t *out)
{
    const char *s = json_string_value(json_object_get(o, key));
    char *end = NULL;
    if (!s || !*s)
        return 0;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 16);
    if (*end || errno)
        return 0;
    *out = (uint64_t)v;
    return 1;
}

static int json_long(json_t *o, const char *key, long *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        return 0;
    *out = (long)json_integer_value(v);
    return 1;
}

/* Counters, RNG states, pl_mean and optimizer moments from our checkpoint.
 * A reference pickle has none of these: it starts the counters at zero. */
static sg2_status restore_state(sg2_ctx *ctx, trainer *t)
{
    const char *path = t->o->resume;
    FILE *fp = fopen(path, "rb");
    int pickle = fp && fgetc(fp) == 0x80;
    if (fp)
        fclose(fp);
    if (pickle) {
        t->resumed_from_pkl = 1;
        sg2_random_seed(ctx, t->o->seed);
        return SG2_OK;
    }
    sg2_safetensors *f = NULL;
    if (sg2_safetensors_open(&f, path, &ctx->err))
        return ctx->err.status;
    const char *state = sg2_safetensors_meta(f, "training_state");
    json_error_t je;
    json_t *o = state ? json_loads(state, 0, &je) : NULL;
    long gs = 0, ds = 0;
    uint64_t seed = 0, off = 0, hr = 0;
    json_t *pl = o ? json_object_get(o, "pl_mean") : NULL;
    if (!o || !json_long(o, "cur_nimg", &t->cur_nimg) || !json_long(o, "batch_idx", &t->batch_idx) ||
        !json_long(o, "cur_tick", &t->cur_tick) || !json_long(o, "tick_start_nimg", &t->tick_start_nimg) ||
        !json_long(o, "G_opt_step", &gs) || !json_long(o, "D_opt_step", &ds) || !json_is_number(pl) ||
        !json_hex(o, "rng_seed", &seed) || !json_hex(o, "rng_offset", &off) || !json_hex(o, "host_rng", &hr)) {
        sg2_error_set(&ctx->err, SG2_ERR_FORMAT, "%s: no valid training_state in the metadata (not a training checkpoint?)",
                      path);
    } else {
        ctx->rng_seed = seed;
        ctx->rng_offset = off;
        t->loss.host_rng = hr;
        t->loss.pl_mean = (float)json_number_value(pl);
        t->G_opt.step = gs;
        t->D_opt.step = ds;
        load_opt_state(ctx, f, &t->G_opt, "G_opt", path);
        load_opt_state(ctx, f, &t->D_opt, "D_opt", path);
    }
    json_decref(o);
    sg2_safetensors_close(f);
    return ctx->err.status;
}

/* ---- image grids ---- */

static void grid_size(trainer *t)
{
    int res = t->reals->resolution;
    /* the reference's gw x gh, limited to grid_max images to keep snapshots cheap */
    int gw = 7680 / res, gh = 4320 / res;
    gw = gw < 7 ? 7 : gw > 32 ? 32 : gw;
    gh = gh < 4 ? 4 : gh > 32 ? 32 : gh;
    while (gw * gh > t->o->grid_max && (gw > 1 || gh > 1)) {
        if (gw >= gh && gw > 1)
            gw--;
        else
            gh--;
    }
    t->gw = gw;
    t->gh = gh;
}

static sg2_status write_grid(trainer *t, const char *file, const uint8_t *chw, int n, sg2_error *err)
{
    int res = t->reals->resolution, ch = t->reals->channels;
    uint8_t *canvas = calloc((size_t)t->gw * t->gh * res * res * ch, 1);
    if (!canvas)
        return sg2_error_set(err, SG2_ERR_NOMEM, "grid: out of memory");
    char path[2300];
    snprintf(path, sizeof path, "%s/%s", t->run_dir, file);
    sg2_status st = sg2_image_grid(canvas, chw, n, ch, res, res, t->gw, t->gh, err);
    if (!st)
        st = sg2_png_write(path, canvas, t->gw * res, t->gh * res, ch, err);
    free(canvas);
    return st;
}

/* Reals grid, and the fixed latents/labels for the fakes grids (drawn from
 * their own numpy-style stream so they consume nothing the loop uses). */
static sg2_status setup_grids(sg2_ctx *ctx, trainer *t)
{
    sg2_reals *r = t->reals;
    int n = t->gw * t->gh, res = r->resolution, ch = r->channels, zd = t->G.cfg.z_dim;
    size_t img = (size_t)ch * res * res;
    uint8_t *chw = calloc((size_t)n, img);
    t->grid_z = malloc((size_t)n * zd * sizeof *t->grid_z);
    t->grid_c = r->c_dim ? calloc((size_t)n * r->c_dim, sizeof *t->grid_c) : NULL;
    if (!chw || !t->grid_z || (r->c_dim && !t->grid_c)) {
        free(chw);
        return sg2_error_set(&ctx->err, SG2_ERR_NOMEM, "grid: out of memory");
    }
    sg2_np_random rng;
    sg2_np_random_seed(&rng, (uint32_t)t->o->seed);
    for (int i = 0; i < n && !ctx->err.status; i++) {
        long idx = (long)(sg2_np_random_sample(&rng) * (double)r->count);
        r->get(r->user, idx, chw + (size_t)i * img, t->grid_c ? t->grid_c + (size_t)i * r->c_dim : NULL, &ctx->err);
    }
    for (int i = 0; i < n * zd; i++)
        t->grid_z[i] = (float)sg2_np_random_gauss(&rng);
    sg2_status st = ctx->err.status ? ctx->err.status : write_grid(t, "reals.png", chw, n, &ctx->err);
    free(chw);
    return st;
}

/* G_ema on the fixed latents, constant noise, drange [-1, 1]. */
static sg2_status write_fakes(sg2_ctx *ctx, trainer *t, const char *file)
{
    int n = t->gw * t->gh, res = t->reals->resolution, ch = t->reals->channels;
    size_t img = (size_t)ch * res * res, wsz = (size_t)t->G_ema.num_ws * t->G_ema.cfg.w_dim;
    int batch = t->o->batch_gpu > 0 ? t->o->batch_gpu : 8;
    float *ws = malloc((size_t)batch * wsz * sizeof *ws), *out = malloc((size_t)batch * img * sizeof *out);
    uint8_t *chw = malloc((size_t)n * img);
    sg2_gen_args ga = {.truncation_psi = 1.0f, .noise_mode = SG2_NOISE_CONST, .fused_modconv = SG2_MODCONV_AUTO};
    if (!ws || !out || !chw)
        sg2_error_set(&ctx->err, SG2_ERR_NOMEM, "grid: out of memory");
    int saved = ctx->grad_enabled;
    ctx->grad_enabled = 0;
    for (int s = 0; s < n && !ctx->err.status; s += batch) {
        int m = n - s < batch ? n - s : batch;
        size_t mark = sg2_scope_begin(ctx);
        if (!sg2_generate_ws(ctx, &t->G_ema, t->grid_z + (size_t)s * t->G_ema.cfg.z_dim,
                             t->grid_c ? t->grid_c + (size_t)s * t->reals->c_dim : NULL, m, &ga, ws)) {
            sg2_tensor *tw = sg2_tensor_from_host(ctx, 3, (const int64_t[]){m, t->G_ema.num_ws, t->G_ema.cfg.w_dim}, ws);
            sg2_synthesis_args sa = {.noise_mode = SG2_NOISE_CONST, .fused_modconv = SG2_MODCONV_AUTO};
            sg2_tensor *imgs = sg2_synthesis_forward(ctx, &t->G_ema, tw, &sa);
            if (imgs && !sg2_tensor_read(ctx, imgs, out))
                sg2_image_to_u8_drange(chw + (size_t)s * img, out, (long)(m * img), -1.0, 1.0);
        }
        sg2_scope_end(ctx, mark, NULL, 0);
    }
    ctx->grad_enabled = saved;
    sg2_status st = ctx->err.status ? ctx->err.status : write_grid(t, file, chw, n, &ctx->err);
    free(ws);
    free(out);
    free(chw);
    return st;
}

static sg2_status snapshot(sg2_ctx *ctx, trainer *t)
{
    char name[64], path[2300];
    long kimg = t->cur_nimg / 1000;
    snprintf(name, sizeof name, "fakes%06ld.png", kimg);
    if (write_fakes(ctx, t, name))
        return ctx->err.status;
    snprintf(path, sizeof path, "%s/network-snapshot-%06ld.safetensors", t->run_dir, kimg);
    if (save_checkpoint(ctx, t, path))
        return ctx->err.status;
    say(t, "snapshot: %s\n", path);
    return SG2_OK;
}

/* ---- one iteration ---- */

static sg2_status iteration(sg2_ctx *ctx, trainer *t, float *img_buf, float *lab_buf, float *c_buf)
{
    const sg2_train_opts *o = t->o;
    sg2_reals *r = t->reals;
    int batch = o->batch, bg = o->batch_gpu > 0 && o->batch_gpu < batch ? o->batch_gpu : batch;
    int rounds = (batch + bg - 1) / bg, zd = t->G.cfg.z_dim, cd = r->c_dim, res = r->resolution, ch = r->channels;
    size_t mark = sg2_scope_begin(ctx);
    if (r->next(r->user, t->batch_idx, batch, img_buf, lab_buf, &ctx->err))
        return ctx->err.status;
    sg2_tensor *reals = sg2_tensor_from_host(ctx, 4, (const int64_t[]){batch, ch, res, res}, img_buf);
    sg2_tensor *real_c = cd ? sg2_tensor_from_host(ctx, 2, (const int64_t[]){batch, cd}, lab_buf) : NULL;
    /* Latents for all four phases every iteration, so the stream advances the same whatever runs. */
    sg2_tensor *all_z = sg2_rand_normal(ctx, 2, (const int64_t[]){4 * batch, zd});
    sg2_tensor *all_c = NULL;
    if (cd) {
        for (int i = 0; i < 4 * batch; i++) {
            uint64_t s = t->loss.host_rng += 0x9e3779b97f4a7c15ull;
            s = (s ^ (s >> 31)) * 0xbf58476d1ce4e5b9ull;
            long idx = (long)((s >> 11) % (uint64_t)r->count);
            r->get(r->user, idx, NULL, c_buf + (size_t)i * cd, &ctx->err);
        }
        all_c = sg2_tensor_from_host(ctx, 2, (const int64_t[]){4 * batch, cd}, c_buf);
    }
    static const sg2_phase phases[4] = {SG2_PHASE_GMAIN, SG2_PHASE_GREG, SG2_PHASE_DMAIN, SG2_PHASE_DREG};
    int intervals[4] = {1, o->g_reg_interval, 1, o->d_reg_interval};
    for (int p = 0; p < 4 && !ctx->err.status; p++) {
        if (intervals[p] <= 0 || t->batch_idx % intervals[p] != 0)
            continue;
        if ((p == 1 && o->pl_weight <= 0) || (p == 3 && o->gamma <= 0))
            continue;
        int is_g = p < 2;
        sg2_adam *opt = is_g ? &t->G_opt : &t->D_opt;
        sg2_tensor **acc = calloc((size_t)opt->ps->n + 1, sizeof *acc);
        if (!acc)
            return sg2_error_set(&ctx->err, SG2_ERR_NOMEM, "train: out of memory");
        double t0 = now();
        for (int k = 0; k < rounds && !ctx->err.status; k++) {
            int start = k * bg, m = batch - start < bg ? batch - start : bg;
            size_t rmark = sg2_scope_begin(ctx);
            sg2_tensor *z = sg2_slice(ctx, all_z, 0, (int64_t)p * batch + start, m);
            sg2_tensor *gc = all_c ? sg2_slice(ctx, all_c, 0, (int64_t)p * batch + start, m) : NULL;
            sg2_tensor *ri = sg2_slice(ctx, reals, 0, start, m);
            sg2_tensor *rc = real_c ? sg2_slice(ctx, real_c, 0, start, m) : NULL;
            /* accumulated over rounds: each round's mean loss weighted by its share */
            sg2_loss_phase(ctx, &t->loss, phases[p], ri, rc, z, gc, (float)intervals[p] * (float)m / (float)batch, acc);
            sg2_scope_end(ctx, rmark, NULL, 0);
        }
        long sanitized = 0;
        sg2_adam_step(ctx, opt, acc, &sanitized);
        sg2_grads_release(acc, opt->ps->n);
        free(acc);
        static const char *timing[4] = {"Timing/Gmain", "Timing/Greg", "Timing/Dmain", "Timing/Dreg"};
        sg2_runtime_finish(ctx->rt, &ctx->err);
        sg2_stats_add1(&t->stats, timing[p], now() - t0);
        sg2_stats_add1(&t->stats, is_g ? "Optimizer/G/sanitized" : "Optimizer/D/sanitized", (double)sanitized);
    }
    /* G EMA */
    double beta = sg2_ema_beta(batch, o->ema_kimg, t->resumed_from_pkl ? 0 : o->ema_rampup,
                               (double)t->cur_nimg);
    sg2_ema_update(ctx, &t->G_ema.params, &t->G.params, (float)beta);
    sg2_scope_end(ctx, mark, NULL, 0);
    t->cur_nimg += batch;
    t->batch_idx++;
    return ctx->err.status;
}

/* ---- ticks ---- */

static void fmt_time(char *buf, size_t cap, double s)
{
    long t = (long)s;
    if (t < 60)
        snprintf(buf, cap, "%lds", t);
    else if (t < 3600)
        snprintf(buf, cap, "%ldm %02lds", t / 60, t % 60);
    else
        snprintf(buf, cap, "%ldh %02ldm", t / 3600, (t / 60) % 60);
}

static void tick_report(sg2_ctx *ctx, trainer *t, int done)
{
    double tnow = now(), tick_sec = tnow - t->t_tick;
    double tick_kimg = (double)(t->cur_nimg - t->tick_start_nimg) / 1000.0;
    double sec_per_kimg = tick_kimg > 0 ? tick_sec / tick_kimg : 0;
    double kimg = (double)t->cur_nimg / 1000.0;
    sg2_stats_add1(&t->stats, "Progress/tick", (double)t->cur_tick);
    sg2_stats_add1(&t->stats, "Progress/kimg", kimg);
    sg2_stats_add1(&t->stats, "Timing/total_sec", tnow - t->t_start);
    sg2_stats_add1(&t->stats, "Timing/sec_per_tick", tick_sec);
    sg2_stats_add1(&t->stats, "Timing/sec_per_kimg", sec_per_kimg);
    sg2_stats_add1(&t->stats, "Timing/total_hours", (tnow - t->t_start) / 3600.0);
    double mem = (double)ctx->rt->pool.peak_in_use / 1048576.0;
    sg2_stats_add1(&t->stats, "Resources/peak_gpu_mem_gb", mem / 1024.0);
    char total[32], eta[32];
    fmt_time(total, sizeof total, tnow - t->t_start);
    double remaining = t->o->kimg - kimg;
    fmt_time(eta, sizeof eta, remaining > 0 ? remaining * sec_per_kimg : 0);
    say(t, "tick %-4ld kimg %-8.1f time %-9s sec/tick %-7.1f sec/kimg %-8.1f ETA %-9s mem %.0f MiB | "
           "G %.3f D %.3f r1 %.4g pl %.4g real %+.2f fake %+.2f%s\n",
        t->cur_tick, kimg, total, tick_sec, sec_per_kimg, eta, mem, sg2_stats_mean(&t->stats, "Loss/G/loss"),
        sg2_stats_mean(&t->stats, "Loss/D/loss"), sg2_stats_mean(&t->stats, "Loss/r1_penalty"),
        sg2_stats_mean(&t->stats, "Loss/pl_penalty"), sg2_stats_mean(&t->stats, "Loss/scores/real"),
        sg2_stats_mean(&t->stats, "Loss/scores/fake"), done ? " (done)" : "");
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    sg2_stats_write_jsonl(&t->stats, t->stats_file, (double)wall.tv_sec + 1e-9 * wall.tv_nsec);
    fflush(t->stats_file);
    sg2_stats_reset(&t->stats);
}

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void trainer_free(trainer *t)
{
    if (t->have_opts) {
        sg2_adam_free(&t->G_opt);
        sg2_adam_free(&t->D_opt);
    }
    if (t->have_nets) {
        sg2_generator_free(&t->G);
        sg2_generator_free(&t->G_ema);
        sg2_discriminator_free(&t->D);
    }
    free(t->grid_z);
    free(t->grid_c);
    if (t->log)
        fclose(t->log);
    if (t->stats_file)
        fclose(t->stats_file);
}

sg2_status sg2_train(sg2_ctx *ctx, const sg2_train_opts *o, sg2_reals *reals, char *run_dir, size_t run_dir_cap)
{
    trainer *t = calloc(1, sizeof *t);
    if (!t)
        return sg2_error_set(&ctx->err, SG2_ERR_NOMEM, "train: out of memory");
    t->o = o;
    t->reals = reals;
    t->loss.cfg = sg2_loss_cfg_default();
    t->loss.cfg.r1_gamma = o->gamma;
    t->loss.cfg.pl_weight = o->pl_weight;
    t->loss.cfg.style_mixing_prob = o->style_mixing;
    t->loss.host_rng = o->seed * 0x2545f4914f6cdd1dull + 1;
    t->loss.stats = &t->stats;
    g_stop = 0;
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    size_t batch_floats = (size_t)o->batch * reals->channels * reals->resolution * reals->resolution;
    float *img_buf = malloc(batch_floats * sizeof *img_buf);
    float *lab_buf = malloc(((size_t)o->batch * reals->c_dim + 1) * sizeof *lab_buf);
    float *c_buf = malloc(((size_t)4 * o->batch * reals->c_dim + 1) * sizeof *c_buf);
    if (!img_buf || !lab_buf || !c_buf)
        sg2_error_set(&ctx->err, SG2_ERR_NOMEM, "train: out of memory");
    if (!ctx->err.status && o->batch % (o->mbstd_group > 0 ? (o->batch_gpu < o->mbstd_group ? o->batch_gpu : o->mbstd_group) : 1))
        sg2_error_set(&ctx->err, SG2_ERR_ARG, "--batch-gpu %d must be a multiple of the mbstd group %d", o->batch_gpu,
                      o->mbstd_group);
    if (!ctx->err.status && !build_networks(ctx, t) && !build_optimizers(ctx, t) && (!o->resume || !restore_state(ctx, t))) {
        t->loss.G = &t->G;
        t->loss.D = &t->D;
        if (!make_run_dir(t, &ctx->err) && !write_options(t, &ctx->err)) {
            if (run_dir)
                snprintf(run_dir, run_dir_cap, "%s", t->run_dir);
            say(t, "run directory: %s\n", t->run_dir);
            say(t, "G: %lld parameters, D: %lld, %d ws; data: %s, %ld images %dx%dx%d\n",
                (long long)sg2_params_count(&t->G.params, 1), (long long)sg2_params_count(&t->D.params, 1),
                t->G.num_ws, reals->name, reals->count, reals->channels, reals->resolution, reals->resolution);
            if (o->resume)
                say(t, "resumed at kimg %.3f (tick %ld, batch %ld) from %s\n", (double)t->cur_nimg / 1000.0,
                    t->cur_tick, t->batch_idx, o->resume);
            grid_size(t);
            if (!setup_grids(ctx, t))
                write_fakes(ctx, t, "fakes_init.png");
        }
    }
    t->t_start = t->t_tick = now();
    if (!t->tick_start_nimg)
        t->tick_start_nimg = t->cur_nimg;
    long total_nimg = (long)(o->kimg * 1000.0);
    long iters = 0;
    int done = 0;
    while (!ctx->err.status && !done) {
        iteration(ctx, t, img_buf, lab_buf, c_buf);
        iters++;
        done = t->cur_nimg >= total_nimg || (o->max_iters > 0 && iters >= o->max_iters) || g_stop;
        if (ctx->err.status)
            break;
        if (!done && t->cur_nimg < t->tick_start_nimg + (long)(o->kimg_per_tick * 1000.0))
            continue;
        tick_report(ctx, t, done);
        if (done || (o->snap > 0 && t->cur_tick % o->snap == 0))
            snapshot(ctx, t);
        t->cur_tick++;
        t->tick_start_nimg = t->cur_nimg;
        t->t_tick = now();
    }
    if (g_stop && !ctx->err.status)
        say(t, "stopped on request after %ld iterations; checkpoint written\n", iters);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (ctx->err.status && t->log)
        fprintf(t->log, "error: %s\n", ctx->err.msg);
    free(img_buf);
    free(lab_buf);
    free(c_buf);
    trainer_free(t);
    free(t);
    return ctx->err.status;
}
