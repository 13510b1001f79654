/* train: the reference's train.py on any OpenCL device. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/cli_util.h"
#include "src/commands.h"
#include "src/dataset.h"
#include "src/train.h"

typedef struct data_source {
    sg2_dataset *ds;
    uint64_t seed;
} data_source;

static sg2_status source_next(void *user, long b, int n, float *images, float *labels, sg2_error *err)
{
    data_source *s = user;
    return sg2_dataset_batch(s->ds, s->seed, b, n, images, labels, err);
}

static sg2_status source_get(void *user, long i, uint8_t *pixels, float *label, sg2_error *err)
{
    data_source *s = user;
    return sg2_dataset_get(s->ds, i, pixels, label, err);
}

enum { T_OUTDIR = 2000, T_DATA, T_CFG, T_SNAP, T_SEED, T_COND, T_SUBSET, T_MIRROR, T_GAMMA, T_KIMG, T_BATCH,
       T_BATCH_GPU, T_LR, T_MAP, T_CBASE, T_CMAX, T_RESUME, T_TICK, T_GRID, T_MAX_ITERS, T_DRY_RUN, T_HELP };

static const char *train_help =
    "Usage: stylegan2-cl train --outdir DIR --data PATH [OPTIONS]\n"
    "Train StyleGAN2 as the reference's train.py does (no ADA): phases Gmain, Greg every 4\n"
    "iterations (path length), Dmain, Dreg every 16 (R1); Adam (0, 0.99); G EMA. Writes\n"
    "DIR/NNNNN-DESC/ with training_options.json, log.txt, stats.jsonl, reals.png, fakes_init.png,\n"
    "fakesKKKKKK.png and network-snapshot-KKKKKK.safetensors. Ctrl-C or SIGTERM finishes the\n"
    "iteration, writes a checkpoint and exits 0; --resume continues from it.\n\n"
    "  --data PATH        folder of PNGs, dataset zip, or IDX file (MNIST, Fashion-MNIST)\n"
    "  --cfg NAME         auto (default), stylegan2, paper256, paper512, paper1024, cifar\n"
    "  --kimg N           training length in thousands of images (default: preset)\n"
    "  --batch N          total batch (default: preset)\n"
    "  --batch-gpu N      images per device pass; gradients accumulate (default: --batch)\n"
    "  --gamma G          R1 weight (default: preset)\n"
    "  --lr LR            learning rate of G and D (default: preset)\n"
    "  --map N            mapping layers (default: preset)\n"
    "  --cbase N, --cmax N  channels: min(cbase / resolution, cmax) (default: preset, 512)\n"
    "  --snap N           ticks between snapshots (default 50)\n"
    "  --tick KIMG        thousands of images per tick (default 4)\n"
    "  --grid N           at most N images in the snapshot grids (default 64)\n"
    "  --seed N           random seed (default 0)\n"
    "  --cond             condition on the dataset's labels\n"
    "  --subset N         use N images (the reference's selection)\n"
    "  --mirror           add x-flipped copies\n"
    "  --resume FILE      continue from a checkpoint (or start from a reference .pkl)\n"
    "  --max-iters N      stop after N iterations (tests and benchmarks)\n"
    "  --dry-run          print the resolved options and exit\n";

typedef struct train_args {
    const char *data, *cfg;
    int cond, mirror, dry_run;
    long subset;
    /* overrides: < 0 means "preset" */
    double kimg, gamma, lr, tick;
    long batch, batch_gpu, map, cbase, cmax, snap, grid, seed, max_iters;
} train_args;

static int parse(int argc, char **argv, train_args *a, sg2_train_opts *o, sg2_error *err)
{
    static const struct option opts[] = {
        {"outdir", required_argument, 0, T_OUTDIR}, {"data", required_argument, 0, T_DATA},
        {"cfg", required_argument, 0, T_CFG}, {"snap", required_argument, 0, T_SNAP},
        {"seed", required_argument, 0, T_SEED}, {"cond", no_argument, 0, T_COND},
        {"subset", required_argument, 0, T_SUBSET}, {"mirror", no_argument, 0, T_MIRROR},
        {"gamma", required_argument, 0, T_GAMMA}, {"kimg", required_argument, 0, T_KIMG},
        {"batch", required_argument, 0, T_BATCH}, {"batch-gpu", required_argument, 0, T_BATCH_GPU},
        {"lr", required_argument, 0, T_LR}, {"map", required_argument, 0, T_MAP},
        {"cbase", required_argument, 0, T_CBASE}, {"cmax", required_argument, 0, T_CMAX},
        {"resume", required_argument, 0, T_RESUME}, {"tick", required_argument, 0, T_TICK},
        {"grid", required_argument, 0, T_GRID}, {"max-iters", required_argument, 0, T_MAX_ITERS},
        {"dry-run", no_argument, 0, T_DRY_RUN}, {"help", no_argument, 0, T_HELP}, {0, 0, 0, 0}};
    optind = 0;
    int opt;
    sg2_status st = SG2_OK;
    while (!st && (opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case T_OUTDIR: o->outdir = optarg; break;
        case T_DATA: a->data = optarg; break;
        case T_CFG: a->cfg = optarg; break;
        case T_RESUME: o->resume = optarg; break;
        case T_COND: a->cond = 1; break;
        case T_MIRROR: a->mirror = 1; break;
        case T_DRY_RUN: a->dry_run = 1; break;
        case T_SNAP: st = sg2_parse_long(optarg, 0, 1000000, "--snap", &a->snap, err); break;
        case T_SEED: st = sg2_parse_long(optarg, 0, 2147483647L, "--seed", &a->seed, err); break;
        case T_SUBSET: st = sg2_parse_long(optarg, 1, 1L << 30, "--subset", &a->subset, err); break;
        case T_GAMMA: st = sg2_parse_float(optarg, 0, 1e6, "--gamma", &a->gamma, err); break;
        case T_KIMG: st = sg2_parse_float(optarg, 0, 1e8, "--kimg", &a->kimg, err); break;
        case T_LR: st = sg2_parse_float(optarg, 1e-8, 1, "--lr", &a->lr, err); break;
        case T_TICK: st = sg2_parse_float(optarg, 1e-3, 1e6, "--tick", &a->tick, err); break;
        case T_BATCH: st = sg2_parse_long(optarg, 1, 4096, "--batch", &a->batch, err); break;
        case T_BATCH_GPU: st = sg2_parse_long(optarg, 1, 4096, "--batch-gpu", &a->batch_gpu, err); break;
        case T_MAP: st = sg2_parse_long(optarg, 1, 16, "--map", &a->map, err); break;
        case T_CBASE: st = sg2_parse_long(optarg, 4, 1L << 20, "--cbase", &a->cbase, err); break;
        case T_CMAX: st = sg2_parse_long(optarg, 1, 4096, "--cmax", &a->cmax, err); break;
        case T_GRID: st = sg2_parse_long(optarg, 1, 1024, "--grid", &a->grid, err); break;
        case T_MAX_ITERS: st = sg2_parse_long(optarg, 1, 1L << 40, "--max-iters", &a->max_iters, err); break;
        case T_HELP: printf("%s", train_help); return 1;
        default: return 2;
        }
    }
    if (st)
        return 3;
    if (optind < argc)
        return sg2_error_set(err, SG2_ERR_ARG, "unexpected argument '%s' (see --help)", argv[optind]), 3;
    if (!o->outdir || !a->data)
        return sg2_error_set(err, SG2_ERR_ARG, "--outdir and --data are required (see --help)"), 3;
    return 0;
}

/* Overrides on top of the preset, and the run description the reference builds. */
static void apply(const train_args *a, sg2_train_opts *o, char *desc, size_t cap, const char *name)
{
    int n = snprintf(desc, cap, "%s%s", name, a->cond ? "-cond" : "");
    if (a->subset > 0)
        n += snprintf(desc + n, cap - (size_t)n, "-subset%ld", a->subset);
    n += snprintf(desc + n, cap - (size_t)n, "%s-%s%s", a->mirror ? "-mirror" : "", a->cfg,
                  strcmp(a->cfg, "auto") == 0 ? "1" : "");
    if (a->gamma >= 0) {
        o->gamma = (float)a->gamma;
        n += snprintf(desc + n, cap - (size_t)n, "-gamma%g", a->gamma);
    }
    if (a->kimg >= 0) {
        o->kimg = a->kimg;
        n += snprintf(desc + n, cap - (size_t)n, "-kimg%g", a->kimg);
    }
    if (a->batch > 0) {
        o->batch = (int)a->batch;
        o->batch_gpu = o->batch;
        if (o->mbstd_group > o->batch)
            o->mbstd_group = o->batch;
        n += snprintf(desc + n, cap - (size_t)n, "-batch%ld", a->batch);
    }
    if (a->batch_gpu > 0)
        o->batch_gpu = (int)a->batch_gpu;
    if (a->lr > 0)
        o->lr = (float)a->lr;
    if (a->map > 0)
        o->map_layers = (int)a->map;
    if (a->cbase > 0)
        o->cbase = (int)a->cbase;
    if (a->cmax > 0)
        o->cmax = (int)a->cmax;
    if (a->snap >= 0)
        o->snap = (int)a->snap;
    if (a->tick > 0)
        o->kimg_per_tick = a->tick;
    if (a->grid > 0)
        o->grid_max = (int)a->grid;
    o->seed = (uint64_t)a->seed;
    o->max_iters = a->max_iters;
    o->desc = desc;
}

static void print_options(const sg2_train_opts *o, const char *data)
{
    printf("data %s, cfg %s, kimg %g, batch %d (per pass %d), lr %g, gamma %g, ema %g kimg (ramp %g),\n"
           "mapping %d, channels min(%d/res, %d), mbstd group %d, pl weight %g, style mixing %g, conv clamp %g,\n"
           "tick %g kimg, snapshot every %d ticks, seed %llu%s%s\n",
           data, o->cfg, o->kimg, o->batch, o->batch_gpu, (double)o->lr, (double)o->gamma, o->ema_kimg,
           o->ema_rampup, o->map_layers, o->cbase, o->cmax, o->mbstd_group, (double)o->pl_weight,
           (double)o->style_mixing, (double)o->conv_clamp, o->kimg_per_tick, o->snap, (unsigned long long)o->seed,
           o->resume ? ", resume " : "", o->resume ? o->resume : "");
}

int sg2_cmd_train(int argc, char **argv)
{
    train_args a = {.cfg = "auto", .kimg = -1, .gamma = -1, .lr = -1, .tick = -1, .snap = -1};
    sg2_train_opts parsed = {0};
    sg2_error err = {0};
    int pr = parse(argc, argv, &a, &parsed, &err);
    if (pr == 1)
        return 0;
    if (pr) {
        if (err.status)
            fprintf(stderr, "stylegan2-cl train: %s\n", err.msg);
        return 2;
    }
    sg2_dataset_opts dopts = {.mirror = a.mirror, .subset = a.subset, .use_labels = a.cond};
    sg2_dataset *ds = NULL;
    if (sg2_dataset_open(&ds, a.data, &dopts, &err)) {
        fprintf(stderr, "stylegan2-cl train: %s\n", err.msg);
        return 1;
    }
    sg2_train_opts o;
    if (sg2_train_preset(&o, a.cfg, sg2_dataset_resolution(ds), &err)) {
        fprintf(stderr, "stylegan2-cl train: %s\n", err.msg);
        sg2_dataset_close(ds);
        return 2;
    }
    o.outdir = parsed.outdir;
    o.resume = parsed.resume;
    char desc[512];
    apply(&a, &o, desc, sizeof desc, sg2_dataset_name(ds));
    print_options(&o, a.data);
    if (a.dry_run) {
        sg2_dataset_close(ds);
        return 0;
    }
    data_source src = {.ds = ds, .seed = o.seed};
    sg2_reals reals = {.user = &src, .resolution = sg2_dataset_resolution(ds), .channels = sg2_dataset_channels(ds),
                       .c_dim = sg2_dataset_label_dim(ds), .count = sg2_dataset_count(ds),
                       .name = sg2_dataset_name(ds), .next = source_next, .get = source_get};
    sg2_runtime rt;
    if (sg2_runtime_init(&rt, sg2_cli_device, &err)) {
        fprintf(stderr, "stylegan2-cl train: %s\n", err.msg);
        sg2_dataset_close(ds);
        return 1;
    }
    printf("device: %s (%s)\n", rt.dev.name, rt.dev.platform_name);
    sg2_ctx ctx;
    sg2_ctx_init(&ctx, &rt);
    /* the loader reads ahead in its own thread so the device never waits on the disk */
    sg2_dataset_prefetch_start(ds, o.seed, o.batch, 4, &err);
    char run_dir[2048] = "";
    sg2_status st = sg2_train(&ctx, &o, &reals, run_dir, sizeof run_dir);
    sg2_dataset_prefetch_stop(ds);
    if (st)
        fprintf(stderr, "stylegan2-cl train: %s\n", ctx.err.msg);
    else
        printf("done: %s\n", run_dir);
    sg2_ctx_free(&ctx);
    sg2_runtime_free(&rt);
    sg2_dataset_close(ds);
    return st ? 1 : 0;
}
