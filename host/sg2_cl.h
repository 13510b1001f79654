/* One place that includes the OpenCL headers, pinned to the 1.2 API so that
 * only entry points every vendor's driver has are used. */
#ifndef SG2_CL_H
#define SG2_CL_H
#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>
#endif
