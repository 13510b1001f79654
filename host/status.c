#include "host/status.h"

#include <stdarg.h>
#include <stdio.h>

const char *sg2_status_str(sg2_status status)
{
    switch (status) {
    case SG2_OK: return "ok";
    case SG2_ERR_OPENCL: return "OpenCL error";
    case SG2_ERR_NO_DEVICE: return "no device";
    case SG2_ERR_BUILD: return "kernel build failed";
    case SG2_ERR_NOMEM: return "out of memory";
    case SG2_ERR_SHAPE: return "shape mismatch";
    case SG2_ERR_ARG: return "bad argument";
    case SG2_ERR_IO: return "I/O error";
    case SG2_ERR_FORMAT: return "bad file format";
    case SG2_ERR_UNSUPPORTED: return "unsupported";
    case SG2_ERR_STATE: return "bad state";
    }
    return "unknown status";
}

const char *sg2_cl_error_name(cl_int code)
{
    switch (code) {
#define E(x) case x: return #x
    E(CL_SUCCESS); E(CL_DEVICE_NOT_FOUND); E(CL_DEVICE_NOT_AVAILABLE);
    E(CL_COMPILER_NOT_AVAILABLE); E(CL_MEM_OBJECT_ALLOCATION_FAILURE);
    E(CL_OUT_OF_RESOURCES); E(CL_OUT_OF_HOST_MEMORY);
    E(CL_PROFILING_INFO_NOT_AVAILABLE); E(CL_MEM_COPY_OVERLAP);
    E(CL_IMAGE_FORMAT_MISMATCH); E(CL_IMAGE_FORMAT_NOT_SUPPORTED);
    E(CL_BUILD_PROGRAM_FAILURE); E(CL_MAP_FAILURE);
    E(CL_MISALIGNED_SUB_BUFFER_OFFSET);
    E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST);
    E(CL_COMPILE_PROGRAM_FAILURE); E(CL_LINKER_NOT_AVAILABLE);
    E(CL_LINK_PROGRAM_FAILURE); E(CL_DEVICE_PARTITION_FAILED);
    E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE);
    E(CL_INVALID_VALUE); E(CL_INVALID_DEVICE_TYPE); E(CL_INVALID_PLATFORM);
    E(CL_INVALID_DEVICE); E(CL_INVALID_CONTEXT); E(CL_INVALID_QUEUE_PROPERTIES);
    E(CL_INVALID_COMMAND_QUEUE); E(CL_INVALID_HOST_PTR); E(CL_INVALID_MEM_OBJECT);
    E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR); E(CL_INVALID_IMAGE_SIZE);
    E(CL_INVALID_SAMPLER); E(CL_INVALID_BINARY); E(CL_INVALID_BUILD_OPTIONS);
    E(CL_INVALID_PROGRAM); E(CL_INVALID_PROGRAM_EXECUTABLE);
    E(CL_INVALID_KERNEL_NAME); E(CL_INVALID_KERNEL_DEFINITION);
    E(CL_INVALID_KERNEL); E(CL_INVALID_ARG_INDEX); E(CL_INVALID_ARG_VALUE);
    E(CL_INVALID_ARG_SIZE); E(CL_INVALID_KERNEL_ARGS);
    E(CL_INVALID_WORK_DIMENSION); E(CL_INVALID_WORK_GROUP_SIZE);
    E(CL_INVALID_WORK_ITEM_SIZE); E(CL_INVALID_GLOBAL_OFFSET);
    E(CL_INVALID_EVENT_WAIT_LIST); E(CL_INVALID_EVENT); E(CL_INVALID_OPERATION);
    E(CL_INVALID_GL_OBJECT); E(CL_INVALID_BUFFER_SIZE); E(CL_INVALID_MIP_LEVEL);
    E(CL_INVALID_GLOBAL_WORK_SIZE); E(CL_INVALID_PROPERTY);
    E(CL_INVALID_IMAGE_DESCRIPTOR); E(CL_INVALID_COMPILER_OPTIONS);
    E(CL_INVALID_LINKER_OPTIONS); E(CL_INVALID_DEVICE_PARTITION_COUNT);
#undef E
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "unknown OpenCL error";
    }
}

sg2_status sg2_error_set(sg2_error *err, sg2_status status, const char *fmt, ...)
{
    if (err && err->status == SG2_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

void sg2_error_clear(sg2_error *err)
{
    if (err) {
        err->status = SG2_OK;
        err->msg[0] = '\0';
    }
}

sg2_status sg2_cl_check(sg2_error *err, cl_int rc, const char *call, const char *what)
{
    if (rc == CL_SUCCESS)
        return SG2_OK;
    return sg2_error_set(err, rc == CL_OUT_OF_HOST_MEMORY || rc == CL_MEM_OBJECT_ALLOCATION_FAILURE
                                  ? SG2_ERR_NOMEM : SG2_ERR_OPENCL,
                         "%s(%s): %s (%d)", call, what ? what : "", sg2_cl_error_name(rc), (int)rc);
}
