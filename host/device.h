/* OpenCL platforms and devices: enumeration, description and selection. */
#ifndef SG2_DEVICE_H
#define SG2_DEVICE_H
#include <stdio.h>
#include "host/status.h"

typedef struct sg2_device_info {
    int index;                 /* position in the enumeration over all platforms */
    cl_platform_id platform;
    cl_device_id id;
    cl_device_type type;
    char name[256];
    char vendor[256];
    char driver_version[128];
    char device_version[128];  /* "OpenCL 1.2 ..." */
    char opencl_c_version[128];/* "OpenCL C 1.2 ..." from the device, not the platform */
    char platform_name[256];
    char platform_version[128];
    cl_uint compute_units;
    cl_ulong global_mem;       /* bytes */
    cl_ulong local_mem;        /* bytes */
    cl_ulong max_alloc;        /* bytes in one buffer */
    size_t max_work_group;
    size_t max_work_item[3];
    int has_fp16;
    int has_fp64;
    int cl_c_major, cl_c_minor;/* parsed from opencl_c_version */
} sg2_device_info;

/* All devices on all platforms. *devs is malloc'd; free() it. */
sg2_status sg2_device_list(sg2_device_info **devs, int *count, sg2_error *err);

/* Pick a device: selector is an index ("1") or a case-insensitive substring of
 * the device or platform name; NULL or "" uses $SG2_DEVICE, else the first
 * GPU, else the first device. */
sg2_status sg2_device_select(const sg2_device_info *devs, int count, const char *selector,
                             int *chosen, sg2_error *err);

/* The table `stylegan2-cl devices` prints. */
void sg2_device_print(FILE *out, const sg2_device_info *devs, int count);

#endif
