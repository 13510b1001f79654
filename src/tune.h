/* The registry of tunable op workloads, and how ops ask for their tuned
 * -D options.
 *
 * A family is one kernel (or a set launched together) with its tunable
 * macros (the space), a shape class that groups the shapes sharing one
 * tuned result, and a workload: the op run once on inputs of a given shape.
 * Shapes travel as up to SG2_TUNE_DIMS ints whose meaning the family
 * defines. An op calls sg2_tune_options() before fetching its kernel; on a
 * cache miss the shape is tuned on the spot within $SG2_TUNE_BUDGET seconds
 * (default 2; 0 = cached results only) and the cache file is updated.
 *
 * Joining: give the kernel `#ifndef` tunables, define a `const
 * sg2_tune_family` next to the op (name, kernel_file, space, shape class,
 * setup, run, presets), declare it below, add it to the table in
 * src/tune.c, call sg2_tune_options() in the op, read the values it needs
 * on the host with sg2_tune_option_value() and clamp local sizes with
 * sg2_tune_clamp_local(). Every candidate must compute the same result:
 * tests/test_tuner.c checks that on an odd shape per family. */
#ifndef SG2_TUNE_H
#define SG2_TUNE_H
#include "host/tuner.h"
#include "src/tensor.h"

#define SG2_TUNE_DIMS 8
#define SG2_TUNE_MAX_INPUTS 4

typedef struct sg2_tune_family {
    const char *name;            /* key prefix, e.g. "upfirdn2d"; `tune --kernel NAME` */
    const char *kernel_file;     /* its source (hashed into the key: an edited kernel is tuned anew) */
    const sg2_tune_space *space; /* valid() receives the sg2_device_info */
    /* The shape class of dims, e.g. "up2-k4-w32" (key = name/class). */
    void (*shape_class)(const int *dims, char *out, size_t cap);
    /* Inputs of the workload for dims, filled with fixed pseudo-random data. */
    sg2_status (*setup)(sg2_ctx *ctx, const int *dims, sg2_tensor **in);
    /* One run of the op on those inputs; its output (NULL: error in ctx). */
    sg2_tensor *(*run)(sg2_ctx *ctx, const int *dims, sg2_tensor *const *in);
    /* Shapes `stylegan2-cl tune` tunes (StyleGAN2 presets). */
    const int (*presets)[SG2_TUNE_DIMS];
    int n_presets;
} sg2_tune_family;

extern const sg2_tune_family sg2_tune_family_upfirdn2d;
extern const sg2_tune_family sg2_tune_family_bias_act;
extern const sg2_tune_family sg2_tune_family_bias_act_grad;
extern const sg2_tune_family sg2_tune_family_reduce_sum;
extern const sg2_tune_family sg2_tune_family_conv2d;
extern const sg2_tune_family sg2_tune_family_conv_transpose2d;
extern const sg2_tune_family sg2_tune_family_conv2d_wgrad;
extern const sg2_tune_family sg2_tune_family_gemm;

/* All registered families, NULL-terminated. */
extern const sg2_tune_family *const sg2_tune_families[];

/* The cache key of family at dims: "name/class@<hash of the kernel source>". */
void sg2_tune_key(const sg2_tune_family *family, const int *dims, char *key, size_t cap);

/* The tuned -D options for `family` at shape `dims` (possibly ""), into
 * opts. Never fails: any problem leaves the kernel defaults. */
void sg2_tune_options(sg2_ctx *ctx, const sg2_tune_family *family, const int *dims, char *opts, size_t cap);

/* Tune `family` at `dims` for budget_s seconds and record the result in the
 * tuner's table (sg2_tuner_save writes it). */
sg2_status sg2_tune_shape(sg2_runtime *rt, const sg2_tune_family *family, const int *dims, double budget_s,
                          sg2_tune_result *res, sg2_error *err);

/* Fill a tensor of numel floats with deterministic values in [-1, 1). */
sg2_tensor *sg2_tune_random_tensor(sg2_ctx *ctx, int ndim, const int64_t *shape, unsigned seed);

#endif
