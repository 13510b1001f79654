/* The OpenCL runtime for one device: context, in-order queue, programs built
 * from the cl/ folder with -D options (cached in memory and, where it pays, on disk),
 * kernel launch with checked arguments, and optional per-kernel profiling. */
#ifndef SG2_RUNTIME_H
#define SG2_RUNTIME_H
#include "host/bufpool.h"
#include "host/device.h"
#include "host/profile.h"
#include "host/status.h"

typedef struct sg2_kernel_entry {
    char *file;     /* "elementwise.cl" */
    char *options;  /* the caller's -D options */
    char *name;     /* kernel function */
    cl_program program;
    cl_kernel kernel;
    size_t max_work_group; /* CL_KERNEL_WORK_GROUP_SIZE for this device */
    unsigned hash;         /* of file, name and options: the lookup index's key */
} sg2_kernel_entry;

typedef struct sg2_program_entry {
    char *file;
    char *options;
    cl_program program;
} sg2_program_entry;

typedef struct sg2_runtime {
    sg2_device_info dev;
    cl_context context;
    cl_command_queue queue;  /* in-order: ops need no events between them */
    sg2_bufpool pool;
    sg2_profile profile;     /* active when $SG2_PROFILE=1 */
    int binary_cache;        /* 1: use the on-disk program binary cache */
    char cl_std[16];         /* "-cl-std=CL1.2" or CL1.1, from the device's OpenCL C */
    sg2_kernel_entry **kernels; /* each allocated once: callers may hold the pointers */
    int n_kernels, cap_kernels;
    /* kernels by hash, open addressing, at most half full: every op looks
     * its kernel up, thousands of times a training step */
    sg2_kernel_entry **kernel_index;
    int index_cap;
    sg2_program_entry *programs;
    int n_programs, cap_programs;
    double build_seconds;    /* total time spent building programs */
    int builds;              /* programs built from source */
    int cache_hits;          /* programs loaded from the binary cache */
} sg2_runtime;

/* Open the device chosen by `selector` (see sg2_device_select). */
sg2_status sg2_runtime_init(sg2_runtime *rt, const char *selector, sg2_error *err);
/* Prints the profile table to stderr when profiling was on. */
void sg2_runtime_free(sg2_runtime *rt);

/* The kernel `name` from program `file` built with `options` (may be NULL);
 * built on first use, then cached for the process. */
sg2_status sg2_runtime_kernel(sg2_runtime *rt, const char *file, const char *name, const char *options,
                              const sg2_kernel_entry **out, sg2_error *err);

/* Build (or load) program `file` with `options` now rather than on first use,
 * e.g. to warm up at start-up or to time builds. */
sg2_status sg2_runtime_program(sg2_runtime *rt, const char *file, const char *options, cl_program *out,
                               sg2_error *err);

/* Argument setting that keeps the first failure and names the kernel and
 * argument index when the launch reports it. */
typedef struct sg2_args {
    const sg2_kernel_entry *k;
    cl_uint next;  /* index of the next argument */
    cl_int rc;     /* first failure */
    cl_uint bad;   /* index that failed */
} sg2_args;

sg2_args sg2_args_begin(const sg2_kernel_entry *k);
void sg2_args_mem(sg2_args *a, cl_mem mem);
void sg2_args_int(sg2_args *a, int v);
void sg2_args_uint(sg2_args *a, unsigned v);
void sg2_args_float(sg2_args *a, float v);
void sg2_args_int8(sg2_args *a, const int v[8]); /* an OpenCL int8 vector */
void sg2_args_local(sg2_args *a, size_t bytes);

/* Enqueue over `global` work-items (rounded up to a multiple of `local` when
 * given; kernels bounds-check). local may be NULL for the driver's choice. */
sg2_status sg2_launch(sg2_runtime *rt, sg2_args *args, int ndim, const size_t *global,
                      const size_t *local, sg2_error *err);

/* Block until the queue is empty. */
sg2_status sg2_runtime_finish(sg2_runtime *rt, sg2_error *err);

#endif
