/* The training loop (the reference's training_loop.py): phases Gmain, Greg
 * every 4 iterations, Dmain, Dreg every 16; Adam with the lazy adjustment;
 * G EMA; ticks with statistics, image grids and checkpoints; resume. */
#ifndef SG2_TRAIN_H
#define SG2_TRAIN_H
#include <stdint.h>

#include "src/loss.h"
#include "src/network.h"

/* Where real images come from: batch `batch_index` of the (deterministic,
 * seeded) stream, so a resumed run sees the same data as an uninterrupted one. */
typedef struct sg2_reals {
    void *user;
    int resolution, channels, c_dim;
    long count;          /* images in the dataset (after mirror/subset) */
    const char *name;    /* for the run directory ("fashion-mnist-32") */
    /* images[n, C, R, R] in [-1, 1]; labels[n, c_dim] (NULL when c_dim is 0) */
    sg2_status (*next)(void *user, long batch_index, int n, float *images, float *labels, sg2_error *err);
    /* image i as uint8 [C, R, R] and its label (for the reals grid) */
    sg2_status (*get)(void *user, long i, uint8_t *pixels, float *label, sg2_error *err);
} sg2_reals;

typedef struct sg2_train_opts {
    const char *outdir;
    const char *cfg;          /* auto, stylegan2, paper256, paper512, paper1024, cifar */
    int batch, batch_gpu;     /* total batch; per-device batch (gradient accumulation) */
    double kimg;              /* training length */
    double kimg_per_tick;     /* 4 */
    int snap;                 /* ticks between snapshots */
    float lr;                 /* G and D */
    float gamma;              /* R1 */
    double ema_kimg, ema_rampup; /* rampup <= 0: none */
    int map_layers, cbase, cmax, mbstd_group;
    float conv_clamp;         /* < 0: none */
    sg2_arch d_arch;
    float pl_weight, style_mixing;
    int g_reg_interval, d_reg_interval; /* 4 and 16 */
    uint64_t seed;
    int grid_max;             /* images in the snapshot grids (<= the reference's gw x gh) */
    const char *resume;       /* checkpoint to continue, or NULL */
    const char *desc;         /* run directory name after the id (NULL: "<data>-<cfg>") */
    long max_iters;           /* stop after this many iterations (tests); 0: by kimg */
    int quiet;
} sg2_train_opts;

/* The reference's --cfg presets for one device at this resolution. Resets
 * every field first; set outdir, resume, seed and overrides afterwards. */
sg2_status sg2_train_preset(sg2_train_opts *o, const char *cfg, int resolution, sg2_error *err);

/* Run the loop; writes into a new run directory under o->outdir and puts
 * its path in run_dir (may be NULL). Stops at o->kimg, or early after a
 * SIGINT/SIGTERM (finishing the iteration and writing a checkpoint first). */
sg2_status sg2_train(sg2_ctx *ctx, const sg2_train_opts *o, sg2_reals *reals, char *run_dir, size_t run_dir_cap);

/* Ask a running sg2_train to stop after the current iteration (signal-safe). */
void sg2_train_request_stop(void);

#endif
