#include "host/device.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static sg2_status get_str(sg2_error *err, cl_device_id d, cl_device_info what, char *buf,
                          size_t cap, const char *label)
{
    buf[0] = '\0';
    cl_int rc = clGetDeviceInfo(d, what, cap, buf, NULL);
    buf[cap - 1] = '\0';
    return sg2_cl_check(err, rc, "clGetDeviceInfo", label);
}

static sg2_status get_val(sg2_error *err, cl_device_id d, cl_device_info what, void *val,
                          size_t size, const char *label)
{
    return sg2_cl_check(err, clGetDeviceInfo(d, what, size, val, NULL), "clGetDeviceInfo", label);
}

static void parse_cl_c_version(sg2_device_info *info)
{
    /* "OpenCL C 1.2 pocl" -> 1, 2; unparsable strings count as 1.1. */
    int major = 1, minor = 1;
    if (sscanf(info->opencl_c_version, "OpenCL C %d.%d", &major, &minor) != 2) {
        major = 1;
        minor = 1;
    }
    info->cl_c_major = major;
    info->cl_c_minor = minor;
}

static sg2_status describe(sg2_device_info *info, sg2_error *err)
{
    cl_device_id d = info->id;
    char ext[8192];
    sg2_status st = SG2_OK;
    if (!st) st = get_str(err, d, CL_DEVICE_NAME, info->name, sizeof info->name, "CL_DEVICE_NAME");
    if (!st) st = get_str(err, d, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor, "CL_DEVICE_VENDOR");
    if (!st) st = get_str(err, d, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version, "CL_DRIVER_VERSION");
    if (!st) st = get_str(err, d, CL_DEVICE_VERSION, info->device_version, sizeof info->device_version, "CL_DEVICE_VERSION");
    if (!st) st = get_str(err, d, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version, sizeof info->opencl_c_version, "CL_DEVICE_OPENCL_C_VERSION");
    if (!st) st = get_str(err, d, CL_DEVICE_EXTENSIONS, ext, sizeof ext, "CL_DEVICE_EXTENSIONS");
    if (!st) st = get_val(err, d, CL_DEVICE_TYPE, &info->type, sizeof info->type, "CL_DEVICE_TYPE");
    if (!st) st = get_val(err, d, CL_DEVICE_MAX_COMPUTE_UNITS, &info->compute_units, sizeof info->compute_units, "CL_DEVICE_MAX_COMPUTE_UNITS");
    if (!st) st = get_val(err, d, CL_DEVICE_GLOBAL_MEM_SIZE, &info->global_mem, sizeof info->global_mem, "CL_DEVICE_GLOBAL_MEM_SIZE");
    if (!st) st = get_val(err, d, CL_DEVICE_LOCAL_MEM_SIZE, &info->local_mem, sizeof info->local_mem, "CL_DEVICE_LOCAL_MEM_SIZE");
    if (!st) st = get_val(err, d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, &info->max_alloc, sizeof info->max_alloc, "CL_DEVICE_MAX_MEM_ALLOC_SIZE");
    if (!st) st = get_val(err, d, CL_DEVICE_MAX_WORK_GROUP_SIZE, &info->max_work_group, sizeof info->max_work_group, "CL_DEVICE_MAX_WORK_GROUP_SIZE");
    if (!st) st = get_val(err, d, CL_DEVICE_MAX_WORK_ITEM_SIZES, info->max_work_item, sizeof info->max_work_item, "CL_DEVICE_MAX_WORK_ITEM_SIZES");
    if (st)
        return st;
    info->has_fp16 = strstr(ext, "cl_khr_fp16") != NULL;
    info->has_fp64 = strstr(ext, "cl_khr_fp64") != NULL;
    parse_cl_c_version(info);
    return SG2_OK;
}

static sg2_status platform_str(sg2_error *err, cl_platform_id p, cl_platform_info what, char *buf,
                               size_t cap, const char *label)
{
    buf[0] = '\0';
    cl_int rc = clGetPlatformInfo(p, what, cap, buf, NULL);
    buf[cap - 1] = '\0';
    return sg2_cl_check(err, rc, "clGetPlatformInfo", label);
}

sg2_status sg2_device_list(sg2_device_info **devs, int *count, sg2_error *err)
{
    cl_uint np = 0;
    *devs = NULL;
    *count = 0;
    cl_int rc = clGetPlatformIDs(0, NULL, &np);
    if (rc == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || np == 0)
        return sg2_error_set(err, SG2_ERR_NO_DEVICE,
                             "no OpenCL platform found (install a driver, e.g. apt-get install pocl-opencl-icd)");
    if (sg2_cl_check(err, rc, "clGetPlatformIDs", "count"))
        return err ? err->status : SG2_ERR_OPENCL;
    cl_platform_id plats[32];
    if (np > 32)
        np = 32;
    if (sg2_cl_check(err, clGetPlatformIDs(np, plats, NULL), "clGetPlatformIDs", "list"))
        return SG2_ERR_OPENCL;

    sg2_device_info *out = NULL;
    int n = 0;
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        rc = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
        if (rc == CL_DEVICE_NOT_FOUND || nd == 0)
            continue;
        cl_device_id ids[64];
        if (nd > 64)
            nd = 64;
        if (sg2_cl_check(err, clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, ids, NULL),
                         "clGetDeviceIDs", "all")) {
            free(out);
            return SG2_ERR_OPENCL;
        }
        sg2_device_info *grown = realloc(out, (size_t)(n + (int)nd) * sizeof *out);
        if (!grown) {
            free(out);
            return sg2_error_set(err, SG2_ERR_NOMEM, "out of host memory listing devices");
        }
        out = grown;
        for (cl_uint d = 0; d < nd; d++) {
            sg2_device_info *info = &out[n];
            memset(info, 0, sizeof *info);
            info->index = n;
            info->platform = plats[p];
            info->id = ids[d];
            sg2_status st = platform_str(err, plats[p], CL_PLATFORM_NAME, info->platform_name,
                                         sizeof info->platform_name, "CL_PLATFORM_NAME");
            if (!st)
                st = platform_str(err, plats[p], CL_PLATFORM_VERSION, info->platform_version,
                                  sizeof info->platform_version, "CL_PLATFORM_VERSION");
            if (!st)
                st = describe(info, err);
            if (st) {
                free(out);
                return st;
            }
            n++;
        }
    }
    if (n == 0) {
        free(out);
        return sg2_error_set(err, SG2_ERR_NO_DEVICE, "OpenCL platforms found but no devices");
    }
    *devs = out;
    *count = n;
    return SG2_OK;
}

static int contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return n == 0;
}

sg2_status sg2_device_select(const sg2_device_info *devs, int count, const char *selector,
                             int *chosen, sg2_error *err)
{
    if (!selector || !*selector)
        selector = getenv("SG2_DEVICE");
    if (!selector || !*selector) {
        for (int i = 0; i < count; i++)
            if (devs[i].type & CL_DEVICE_TYPE_GPU) {
                *chosen = i;
                return SG2_OK;
            }
        *chosen = 0;
        return count > 0 ? SG2_OK : sg2_error_set(err, SG2_ERR_NO_DEVICE, "no OpenCL device");
    }
    char *end = NULL;
    long idx = strtol(selector, &end, 10);
    if (end && *end == '\0') {
        if (idx < 0 || idx >= count)
            return sg2_error_set(err, SG2_ERR_NO_DEVICE, "device %ld does not exist (%d device%s; see 'stylegan2-cl devices')",
                                 idx, count, count == 1 ? "" : "s");
        *chosen = (int)idx;
        return SG2_OK;
    }
    for (int i = 0; i < count; i++)
        if (contains_nocase(devs[i].name, selector) || contains_nocase(devs[i].platform_name, selector)) {
            *chosen = i;
            return SG2_OK;
        }
    return sg2_error_set(err, SG2_ERR_NO_DEVICE, "no device matches '%s' (see 'stylegan2-cl devices')", selector);
}

static const char *type_name(cl_device_type t)
{
    if (t & CL_DEVICE_TYPE_GPU) return "GPU";
    if (t & CL_DEVICE_TYPE_CPU) return "CPU";
    if (t & CL_DEVICE_TYPE_ACCELERATOR) return "accelerator";
    return "other";
}

void sg2_device_print(FILE *out, const sg2_device_info *devs, int count)
{
    for (int i = 0; i < count; i++) {
        const sg2_device_info *d = &devs[i];
        fprintf(out, "[%d] %s (%s)\n", d->index, d->name, type_name(d->type));
        fprintf(out, "    platform:        %s, %s\n", d->platform_name, d->platform_version);
        fprintf(out, "    vendor:          %s\n", d->vendor);
        fprintf(out, "    driver:          %s\n", d->driver_version);
        fprintf(out, "    OpenCL C:        %s\n", d->opencl_c_version);
        fprintf(out, "    compute units:   %u\n", d->compute_units);
        fprintf(out, "    global memory:   %.1f MiB (max buffer %.1f MiB)\n",
                (double)d->global_mem / 1048576.0, (double)d->max_alloc / 1048576.0);
        fprintf(out, "    local memory:    %.1f KiB\n", (double)d->local_mem / 1024.0);
        fprintf(out, "    max work-group:  %zu\n", d->max_work_group);
        fprintf(out, "    fp16: %s  fp64: %s\n", d->has_fp16 ? "yes" : "no", d->has_fp64 ? "yes" : "no");
    }
}
