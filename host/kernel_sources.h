/* Kernel sources compiled into the binary (generated from the files in cl/ by
 * build-aux/embed-cl.sh), and the lookup that honours $SG2_KERNEL_DIR. */
#ifndef SG2_KERNEL_SOURCES_H
#define SG2_KERNEL_SOURCES_H
#include <stddef.h>
#include "host/status.h"

typedef struct sg2_kernel_source {
    const char *name; /* file name, e.g. "elementwise.cl" */
    const char *text;
    size_t length;
} sg2_kernel_source;

/* Terminated by an entry whose name is NULL. */
extern const sg2_kernel_source sg2_kernel_sources[];

/* Source text of a kernel file: from $SG2_KERNEL_DIR/<file> when that
 * variable is set (kernel development without rebuilding), else embedded.
 * *text is malloc'd; free() it. */
sg2_status sg2_kernel_source_load(const char *file, char **text, size_t *length, sg2_error *err);

#endif
