#include "host/runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host/bincache.h"
#include "host/fnv.h"
#include "host/kernel_sources.h"

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

sg2_status sg2_runtime_init(sg2_runtime *rt, const char *selector, sg2_error *err)
{
    memset(rt, 0, sizeof *rt);
    sg2_device_info *devs = NULL;
    int n = 0, chosen = 0;
    sg2_status st = sg2_device_list(&devs, &n, err);
    if (!st)
        st = sg2_device_select(devs, n, selector, &chosen, err);
    if (st) {
        free(devs);
        return st;
    }
    rt->dev = devs[chosen];
    free(devs);

    cl_int rc;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)rt->dev.platform, 0};
    rt->context = clCreateContext(props, 1, &rt->dev.id, NULL, NULL, &rc);
    if (sg2_cl_check(err, rc, "clCreateContext", rt->dev.name))
        return SG2_ERR_OPENCL;
    sg2_profile_init(&rt->profile, env_flag("SG2_PROFILE"));
    cl_command_queue_properties qp = rt->profile.enabled ? CL_QUEUE_PROFILING_ENABLE : 0;
    rt->queue = clCreateCommandQueue(rt->context, rt->dev.id, qp, &rc);
    if (sg2_cl_check(err, rc, "clCreateCommandQueue", rt->dev.name)) {
        clReleaseContext(rt->context);
        rt->context = NULL;
        return SG2_ERR_OPENCL;
    }
    const char *huge = getenv("SG2_HUGE_PAGES");
    int cpu = (rt->dev.type & CL_DEVICE_TYPE_CPU) != 0;
    sg2_bufpool_init(&rt->pool, rt->context, (size_t)rt->dev.max_alloc, cpu && !(huge && strcmp(huge, "0") == 0));
    rt->binary_cache = sg2_bincache_enabled(&rt->dev);
    /* The device's OpenCL C version decides -cl-std; 1.2 is the dialect all
     * kernels are written in, 1.1 devices get a best-effort build. */
    int v12 = rt->dev.cl_c_major > 1 || (rt->dev.cl_c_major == 1 && rt->dev.cl_c_minor >= 2);
    snprintf(rt->cl_std, sizeof rt->cl_std, "%s", v12 ? "-cl-std=CL1.2" : "-cl-std=CL1.1");
    return SG2_OK;
}

void sg2_runtime_free(sg2_runtime *rt)
{
    if (rt->queue)
        clFinish(rt->queue);
    if (rt->profile.enabled) {
        fprintf(stderr, "profile (%s):\n", rt->dev.name);
        sg2_profile_print(&rt->profile, stderr);
    }
    sg2_profile_free(&rt->profile);
    for (int i = 0; i < rt->n_kernels; i++) {
        clReleaseKernel(rt->kernels[i]->kernel);
        free(rt->kernels[i]->file);
        free(rt->kernels[i]->options);
        free(rt->kernels[i]->name);
        free(rt->kernels[i]);
    }
    for (int i = 0; i < rt->n_programs; i++) {
        clReleaseProgram(rt->programs[i].program);
        free(rt->programs[i].file);
        free(rt->programs[i].options);
    }
    free(rt->programs);
    free(rt->kernels);
    free(rt->kernel_index);
    sg2_bufpool_free(&rt->pool);
    if (rt->queue)
        clReleaseCommandQueue(rt->queue);
    if (rt->context)
        clReleaseContext(rt->context);
    memset(rt, 0, sizeof *rt);
}

static sg2_status report_build_log(sg2_runtime *rt, cl_program prog, const char *file, const char *opts,
                                   cl_int rc, sg2_error *err)
{
    size_t n = 0;
    clGetProgramBuildInfo(prog, rt->dev.id, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
    char *log = malloc(n + 1);
    if (log) {
        log[0] = '\0';
        clGetProgramBuildInfo(prog, rt->dev.id, CL_PROGRAM_BUILD_LOG, n, log, NULL);
        log[n] = '\0';
        /* The log is multi-line; it goes to stderr whole, the error keeps one line. */
        fprintf(stderr, "stylegan2-cl: build log of %s (%s) on %s:\n%s\n", file, opts, rt->dev.name, log);
        free(log);
    }
    return sg2_error_set(err, SG2_ERR_BUILD, "clBuildProgram(%s): %s on %s (build log above)", file,
                         sg2_cl_error_name(rc), rt->dev.name);
}

/* Store the built binary for the next process (only when the cache is on,
 * since asking for binaries can cost a compile on some drivers). */
static void cache_binary(cl_program prog, const char *key)
{
    size_t len = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof len, &len, NULL) != CL_SUCCESS || len == 0)
        return;
    unsigned char *bin = malloc(len);
    if (!bin)
        return;
    unsigned char *bins[1] = {bin};
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS)
        sg2_bincache_store(key, bin, len);
    free(bin);
}

static cl_program program_from_cache(sg2_runtime *rt, const char *key, const char *opts)
{
    unsigned char *bin = NULL;
    size_t len = 0;
    if (!sg2_bincache_load(key, &bin, &len))
        return NULL;
    cl_int rc, bin_status = CL_SUCCESS;
    const unsigned char *bins[1] = {bin};
    cl_program prog = clCreateProgramWithBinary(rt->context, 1, &rt->dev.id, &len, bins, &bin_status, &rc);
    free(bin);
    if (rc != CL_SUCCESS || bin_status != CL_SUCCESS)
        return NULL;
    /* clBuildProgram is required even for binaries; any failure falls back
     * to building from source. */
    if (clBuildProgram(prog, 1, &rt->dev.id, opts, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(prog);
        return NULL;
    }
    return prog;
}

static sg2_status build_program(sg2_runtime *rt, const char *file, const char *options, cl_program *out,
                                sg2_error *err)
{
    char *src = NULL;
    size_t len = 0;
    sg2_status st = sg2_kernel_source_load(file, &src, &len, err);
    if (st)
        return st;
    char opts[2048];
    snprintf(opts, sizeof opts, "%s %s", rt->cl_std, options ? options : "");
    double t0 = now_seconds();
    char key[33];
    cl_program prog = NULL;
    if (rt->binary_cache) {
        sg2_bincache_key(key, &rt->dev, src, opts);
        prog = program_from_cache(rt, key, opts);
        if (prog)
            rt->cache_hits++;
    }
    if (!prog) {
        cl_int rc;
        const char *srcs[1] = {src};
        prog = clCreateProgramWithSource(rt->context, 1, srcs, &len, &rc);
        if (sg2_cl_check(err, rc, "clCreateProgramWithSource", file)) {
            free(src);
            return SG2_ERR_OPENCL;
        }
        rc = clBuildProgram(prog, 1, &rt->dev.id, opts, NULL, NULL);
        if (rc != CL_SUCCESS) {
            st = report_build_log(rt, prog, file, opts, rc, err);
            clReleaseProgram(prog);
            free(src);
            return st;
        }
        rt->builds++;
        if (rt->binary_cache)
            cache_binary(prog, key);
    }
    free(src);
    rt->build_seconds += now_seconds() - t0;
    *out = prog;
    return SG2_OK;
}

static int same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static void *grow(void *arr, int *cap, size_t elem)
{
    int c = *cap ? *cap * 2 : 64;
    void *g = realloc(arr, (size_t)c * elem);
    if (g)
        *cap = c;
    return g;
}

sg2_status sg2_runtime_program(sg2_runtime *rt, const char *file, const char *options, cl_program *out,
                               sg2_error *err)
{
    for (int i = 0; i < rt->n_programs; i++)
        if (strcmp(rt->programs[i].file, file) == 0 && same(rt->programs[i].options, options)) {
            *out = rt->programs[i].program;
            return SG2_OK;
        }
    if (rt->n_programs == rt->cap_programs) {
        sg2_program_entry *g = grow(rt->programs, &rt->cap_programs, sizeof *g);
        if (!g)
            return sg2_error_set(err, SG2_ERR_NOMEM, "out of host memory for the program table");
        rt->programs = g;
    }
    cl_program prog = NULL;
    sg2_status st = build_program(rt, file, options, &prog, err);
    if (st)
        return st;
    sg2_program_entry *e = &rt->programs[rt->n_programs];
    e->file = strdup(file);
    e->options = strdup(options ? options : "");
    if (!e->file || !e->options) {
        free(e->file);
        free(e->options);
        clReleaseProgram(prog);
        return sg2_error_set(err, SG2_ERR_NOMEM, "out of host memory");
    }
    e->program = prog;
    rt->n_programs++;
    *out = prog;
    return SG2_OK;
}

static unsigned kernel_hash(const char *file, const char *name, const char *options)
{
    return sg2_fnv_str(sg2_fnv_str(sg2_fnv_str(SG2_FNV_BASIS, file), name), options ? options : "");
}

/* The index slot holding (file, name, options), or the empty slot where it
 * would go. */
static sg2_kernel_entry **index_slot(sg2_runtime *rt, unsigned h, const char *file, const char *name,
                                     const char *options)
{
    unsigned mask = (unsigned)rt->index_cap - 1;
    for (unsigned i = h & mask;; i = (i + 1) & mask) {
        sg2_kernel_entry **slot = &rt->kernel_index[i], *e = *slot;
        if (!e || (e->hash == h && strcmp(e->name, name) == 0 && strcmp(e->file, file) == 0 &&
                   same(e->options, options)))
            return slot;
    }
}

/* Room in the index for one more kernel: 0, or -1 out of memory. */
static int index_reserve(sg2_runtime *rt)
{
    if (2 * (rt->n_kernels + 1) <= rt->index_cap)
        return 0;
    int cap = rt->index_cap ? rt->index_cap * 2 : 16;
    sg2_kernel_entry **index = calloc((size_t)cap, sizeof *index);
    if (!index)
        return -1;
    free(rt->kernel_index);
    rt->kernel_index = index;
    rt->index_cap = cap;
    for (int i = 0; i < rt->n_kernels; i++) {
        sg2_kernel_entry *e = rt->kernels[i];
        *index_slot(rt, e->hash, e->file, e->name, e->options) = e;
    }
    return 0;
}

sg2_status sg2_runtime_kernel(sg2_runtime *rt, const char *file, const char *name, const char *options,
                              const sg2_kernel_entry **out, sg2_error *err)
{
    unsigned h = kernel_hash(file, name, options);
    if (rt->index_cap) {
        sg2_kernel_entry *found = *index_slot(rt, h, file, name, options);
        if (found) {
            *out = found;
            return SG2_OK;
        }
    }
    if (index_reserve(rt))
        return sg2_error_set(err, SG2_ERR_NOMEM, "out of host memory for the kernel index");
    cl_program prog = NULL;
    sg2_status st = sg2_runtime_program(rt, file, options, &prog, err);
    if (st)
        return st;
    if (rt->n_kernels == rt->cap_kernels) {
        sg2_kernel_entry **g = grow(rt->kernels, &rt->cap_kernels, sizeof *g);
        if (!g)
            return sg2_error_set(err, SG2_ERR_NOMEM, "out of host memory for the kernel table");
        rt->kernels = g;
    }
    cl_int rc;
    cl_kernel k = clCreateKernel(prog, name, &rc);
    if (sg2_cl_check(err, rc, "clCreateKernel", name))
        return SG2_ERR_OPENCL;
    sg2_kernel_entry *e = calloc(1, sizeof *e);
    if (!e) {
        clReleaseKernel(k);
        return sg2_error_set(err, SG2_ERR_NOMEM, "out of host memory");
    }
    e->file = strdup(file);
    e->options = strdup(options ? options : "");
    e->name = strdup(name);
    if (!e->file || !e->options || !e->name) {
        free(e->file);
        free(e->options);
        free(e->name);
        free(e);
        clReleaseKernel(k);
        return sg2_error_set(err, SG2_ERR_NOMEM, "out of host memory");
    }
    e->program = prog;
    e->kernel = k;
    rc = clGetKernelWorkGroupInfo(k, rt->dev.id, CL_KERNEL_WORK_GROUP_SIZE, sizeof e->max_work_group,
                                  &e->max_work_group, NULL);
    if (rc != CL_SUCCESS)
        e->max_work_group = rt->dev.max_work_group;
    e->hash = h;
    *index_slot(rt, h, file, name, options) = e;
    rt->kernels[rt->n_kernels++] = e;
    *out = e;
    return SG2_OK;
}

sg2_args sg2_args_begin(const sg2_kernel_entry *k)
{
    return (sg2_args){.k = k, .next = 0, .rc = CL_SUCCESS, .bad = 0};
}

static void set_arg(sg2_args *a, size_t size, const void *value)
{
    cl_int rc = clSetKernelArg(a->k->kernel, a->next, size, value);
    if (rc != CL_SUCCESS && a->rc == CL_SUCCESS) {
        a->rc = rc;
        a->bad = a->next;
    }
    a->next++;
}

void sg2_args_mem(sg2_args *a, cl_mem mem) { set_arg(a, sizeof mem, &mem); }
void sg2_args_int(sg2_args *a, int v) { cl_int x = v; set_arg(a, sizeof x, &x); }
void sg2_args_uint(sg2_args *a, unsigned v) { cl_uint x = v; set_arg(a, sizeof x, &x); }
void sg2_args_float(sg2_args *a, float v) { cl_float x = v; set_arg(a, sizeof x, &x); }
void sg2_args_local(sg2_args *a, size_t bytes) { set_arg(a, bytes, NULL); }

void sg2_args_int8(sg2_args *a, const int v[8])
{
    cl_int8 x;
    for (int i = 0; i < 8; i++)
        x.s[i] = v[i];
    set_arg(a, sizeof x, &x);
}

sg2_status sg2_launch(sg2_runtime *rt, sg2_args *args, int ndim, const size_t *global, const size_t *local,
                      sg2_error *err)
{
    const char *name = args->k->name;
    if (args->rc != CL_SUCCESS)
        return sg2_error_set(err, SG2_ERR_OPENCL, "clSetKernelArg(%s, arg %u): %s", name, args->bad,
                             sg2_cl_error_name(args->rc));
    size_t g[3], l[3];
    size_t wg = 1;
    for (int i = 0; i < ndim; i++) {
        if (global[i] == 0)
            return SG2_OK; /* nothing to do: an empty tensor */
        if (local) {
            l[i] = local[i] ? local[i] : 1;
            wg *= l[i];
            g[i] = (global[i] + l[i] - 1) / l[i] * l[i];
        } else {
            g[i] = global[i];
        }
    }
    if (local && wg > args->k->max_work_group)
        return sg2_error_set(err, SG2_ERR_ARG, "%s: work-group of %zu exceeds the kernel's limit %zu on %s", name, wg,
                             args->k->max_work_group, rt->dev.name);
    cl_event ev = NULL;
    cl_int rc = clEnqueueNDRangeKernel(rt->queue, args->k->kernel, (cl_uint)ndim, NULL, g, local ? l : NULL, 0,
                                       NULL, rt->profile.enabled ? &ev : NULL);
    if (rc != CL_SUCCESS)
        return sg2_cl_check(err, rc, "clEnqueueNDRangeKernel", name);
    if (ev)
        sg2_profile_add(&rt->profile, name, ev);
    return SG2_OK;
}

sg2_status sg2_runtime_finish(sg2_runtime *rt, sg2_error *err)
{
    return sg2_cl_check(err, clFinish(rt->queue), "clFinish", rt->dev.name);
}
