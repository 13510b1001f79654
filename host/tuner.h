/* Autotuner for kernel tunables: the macros a kernel declares as
 * `#ifndef NAME / #define NAME default`, passed by the host as -D options.
 *
 * A search runs the default first (its output is the reference), then the
 * candidates of a space in a seeded random order (so a short budget samples
 * the space and a long one covers it), rejecting any whose output differs
 * from the default's or that fails to build or launch. Results are kept per
 * key ("family/shape class") in a JSON cache per device and driver under
 * $SG2_CACHE_DIR, else $XDG_CACHE_HOME/stylegan2-cl, else
 * ~/.cache/stylegan2-cl, loaded at first lookup. $SG2_TUNE=0 makes every
 * lookup miss (defaults everywhere).
 *
 * The state is per process and per device (one device at a time); it is
 * not thread-safe, like the rest of the OpenCL runtime. */
#ifndef SG2_TUNER_H
#define SG2_TUNER_H
#include <stddef.h>

#include "host/runtime.h"

#define SG2_TUNE_MAX_PARAMS 8
#define SG2_TUNE_MAX_VALUES 12
#define SG2_TUNE_KEY_LEN 128
#define SG2_TUNE_OPTS_LEN 256

typedef struct sg2_tune_param {
    const char *name;                /* the kernel's macro, e.g. "UPF_WG" */
    int n;                           /* number of candidate values */
    int values[SG2_TUNE_MAX_VALUES]; /* values[0] is the kernel's default */
} sg2_tune_param;

typedef struct sg2_tune_space {
    int n_params;
    sg2_tune_param params[SG2_TUNE_MAX_PARAMS];
    /* 0 rules a combination out before it is built (e.g. a work-group
     * larger than the device allows); NULL accepts all. */
    int (*valid)(const int *values, const void *user);
} sg2_tune_space;

/* What is tuned: `launch` enqueues the work once with the given -D options
 * (it builds the program on first use); `read` copies the output (n_out
 * floats) to the host after the queue has finished. */
typedef struct sg2_tune_workload {
    void *user;
    size_t n_out;
    sg2_status (*launch)(void *user, const char *options, sg2_error *err);
    sg2_status (*read)(void *user, float *out, sg2_error *err);
} sg2_tune_workload;

typedef struct sg2_tune_result {
    char key[SG2_TUNE_KEY_LEN];
    int n_params;
    char names[SG2_TUNE_MAX_PARAMS][32];
    int values[SG2_TUNE_MAX_PARAMS];
    char options[SG2_TUNE_OPTS_LEN]; /* "-DUPF_WG=32 -DUPF_PX=2" */
    double default_us, tuned_us;     /* median wall time per launch, A/B interleaved */
    int tried, rejected, failed;     /* candidates timed, wrong output, build/launch errors */
} sg2_tune_result;

/* 0 when $SG2_TUNE=0: lookups miss and ops use the kernels' defaults. */
int sg2_tuner_enabled(void);
/* Seconds per key for tuning on first use: $SG2_TUNE_BUDGET, default 2;
 * 0 means only cached results are used. */
double sg2_tuner_first_use_budget(void);

/* The cache file of this device: <dir>/tune-<hash of platform, device,
 * driver>.json. 0 when no directory can be named. */
int sg2_tuner_cache_path(const sg2_device_info *dev, char *out, size_t cap);

/* 1 and the tuned options of `key` (loading the cache on first use);
 * 0 when tuning is off or the key is not cached. */
int sg2_tuner_lookup(const sg2_device_info *dev, const char *key, char *options, size_t cap);
/* The entry of `key`, or 0. */
int sg2_tuner_get(const sg2_device_info *dev, const char *key, sg2_tune_result *out);

/* Search `space` for `key` within budget_s seconds and record the best in
 * the in-memory table (not on disk: see sg2_tuner_save). A failing default
 * is an error; failing candidates are counted and skipped. */
sg2_status sg2_tuner_search(sg2_runtime *rt, const char *key, const sg2_tune_space *space, const void *space_user,
                            const sg2_tune_workload *w, double budget_s, sg2_tune_result *res, sg2_error *err);

/* Write the table for this device (temporary file + rename). */
sg2_status sg2_tuner_save(const sg2_device_info *dev, sg2_error *err);
/* Forget the in-memory table: the next lookup reads the file again. */
void sg2_tuner_reset(void);

/* The value of -DNAME=V in an option string, or dflt. */
int sg2_tune_option_value(const char *options, const char *name, int dflt);
/* Shrink local[0..ndim) until its product is at most max_wg (the kernel's
 * CL_KERNEL_WORK_GROUP_SIZE): halve the largest dimension first, so a
 * device that allows only small work-groups still runs the kernel. */
void sg2_tune_clamp_local(size_t *local, int ndim, size_t max_wg);

#endif
