/* A caching device-buffer allocator: released buffers go back to a free list
 * by size class so a training step does not call clCreateBuffer per op. */
#ifndef SG2_BUFPOOL_H
#define SG2_BUFPOOL_H
#include <stddef.h>
#include "host/status.h"

struct sg2_bufpool;

typedef struct sg2_buffer {
    cl_mem mem;
    struct sg2_bufpool *pool; /* where it returns when released */
    size_t bytes;         /* capacity, a size class (>= what was asked) */
    int refs;             /* tensors sharing this storage */
    unsigned long writes; /* in-place writes so far (uploads, optimizer and EMA steps, copies into it),
                           * so values derived from it can tell they went stale */
    struct sg2_buffer *next_free;
} sg2_buffer;

/* Size classes (sg2_bufpool_class): 256 bytes, then eight steps per power
 * of two. */
#define SG2_POOL_CLASSES (64 * 8)

typedef struct sg2_bufpool {
    cl_context ctx;
    /* cached buffers, a list per size class: a training step takes and
     * returns thousands, and one list of every size was walked each time */
    sg2_buffer *free_lists[SG2_POOL_CLASSES];
    long n_cached;         /* buffers on all the free lists */
    size_t bytes_in_use;   /* handed out now */
    size_t bytes_cached;   /* sitting in free_lists */
    size_t peak_in_use;
    size_t max_alloc;      /* device's CL_DEVICE_MAX_MEM_ALLOC_SIZE */
    int huge_pages;        /* a CPU device: large buffers live in host memory on 2 MiB pages */
    long creates;          /* clCreateBuffer calls so far */
    long reuses;
} sg2_bufpool;

/* huge_pages: the device is the host's CPU, whose OpenCL buffers are host
 * memory. Buffers of 2 MiB and more are then mapped here on transparent
 * huge pages and handed to the driver as CL_MEM_USE_HOST_PTR: the Winograd
 * transforms and GEMM panels touch dozens of matrices megabytes apart, and
 * with 4 KiB pages every one of those touches is a TLB miss. */
void sg2_bufpool_init(sg2_bufpool *pool, cl_context ctx, size_t max_alloc, int huge_pages);
/* A buffer of at least `bytes` with refs = 1. */
sg2_status sg2_bufpool_get(sg2_bufpool *pool, size_t bytes, sg2_buffer **out, sg2_error *err);
void sg2_buffer_retain(sg2_buffer *buf);
/* Drop a reference; at zero the buffer returns to its class's free list. */
void sg2_buffer_release(sg2_buffer *buf);
/* Free every cached buffer (e.g. after an out-of-memory, before retrying). */
void sg2_bufpool_trim(sg2_bufpool *pool);
void sg2_bufpool_free(sg2_bufpool *pool);
/* Size class for a request: at most 1/8 larger than asked, so reuse is
 * likely across batches of similar shapes without wasting much memory. */
size_t sg2_bufpool_class(size_t bytes);

#endif
