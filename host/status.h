/* Status codes and the error record every fallible function fills.
 * The library never exits: it returns a status and leaves one line of text
 * in an sg2_error; only the command line prints it and exits. */
#ifndef SG2_STATUS_H
#define SG2_STATUS_H
#include "host/sg2_cl.h"

typedef enum {
    SG2_OK = 0,
    SG2_ERR_OPENCL,      /* an OpenCL call failed */
    SG2_ERR_NO_DEVICE,   /* no OpenCL device, or the selector matched none */
    SG2_ERR_BUILD,       /* a kernel program failed to build */
    SG2_ERR_NOMEM,       /* host or device allocation failed */
    SG2_ERR_SHAPE,       /* tensor shapes do not fit the op */
    SG2_ERR_ARG,         /* a bad argument value (zero size, bad option) */
    SG2_ERR_IO,          /* a file could not be read or written */
    SG2_ERR_FORMAT,      /* a file's contents are malformed */
    SG2_ERR_UNSUPPORTED, /* valid but not implemented on this device/build */
    SG2_ERR_STATE        /* used out of order (e.g. a released tensor) */
} sg2_status;

typedef struct sg2_error {
    sg2_status status;
    char msg[768]; /* one line, no trailing newline */
} sg2_error;

const char *sg2_status_str(sg2_status status);
/* Name of an OpenCL error code, e.g. "CL_OUT_OF_RESOURCES". */
const char *sg2_cl_error_name(cl_int code);

/* Record a failure (printf-style text) and return its status. A NULL err is
 * allowed; the first error recorded wins so the root cause is kept. */
sg2_status sg2_error_set(sg2_error *err, sg2_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sg2_error_clear(sg2_error *err);

/* Check an OpenCL return code; on failure record "call(what): CL_NAME". */
sg2_status sg2_cl_check(sg2_error *err, cl_int rc, const char *call, const char *what);

#endif
