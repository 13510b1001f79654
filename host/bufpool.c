#include "host/bufpool.h"

#include <stdlib.h>

void sg2_bufpool_init(sg2_bufpool *pool, cl_context ctx, size_t max_alloc)
{
    *pool = (sg2_bufpool){0};
    pool->ctx = ctx;
    pool->max_alloc = max_alloc;
}

size_t sg2_bufpool_class(size_t bytes)
{
    if (bytes <= 256)
        return 256;
    /* Round up to a multiple of 1/8 of the largest power of two below. */
    size_t p = 1;
    while (p <= bytes / 2)
        p <<= 1;
    size_t step = p / 8;
    return (bytes + step - 1) / step * step;
}

/* Best fit from the free list: the smallest cached buffer of the same class. */
static sg2_buffer *take_cached(sg2_bufpool *pool, size_t cls)
{
    sg2_buffer **best = NULL;
    for (sg2_buffer **b = &pool->free_list; *b; b = &(*b)->next_free)
        if ((*b)->bytes == cls) {
            best = b;
            break;
        }
    if (!best)
        return NULL;
    sg2_buffer *buf = *best;
    *best = buf->next_free;
    buf->next_free = NULL;
    pool->bytes_cached -= buf->bytes;
    return buf;
}

sg2_status sg2_bufpool_get(sg2_bufpool *pool, size_t bytes, sg2_buffer **out, sg2_error *err)
{
    size_t cls = sg2_bufpool_class(bytes);
    if (pool->max_alloc && cls > pool->max_alloc)
        return sg2_error_set(err, SG2_ERR_NOMEM, "buffer of %zu bytes exceeds the device's max allocation of %zu",
                             cls, pool->max_alloc);
    sg2_buffer *buf = take_cached(pool, cls);
    if (buf) {
        pool->reuses++;
    } else {
        buf = calloc(1, sizeof *buf);
        if (!buf)
            return sg2_error_set(err, SG2_ERR_NOMEM, "out of host memory for a buffer record");
        cl_int rc;
        buf->mem = clCreateBuffer(pool->ctx, CL_MEM_READ_WRITE, cls, NULL, &rc);
        if (rc != CL_SUCCESS && pool->free_list) {
            /* Device memory may be held by cached buffers of other classes. */
            sg2_bufpool_trim(pool);
            buf->mem = clCreateBuffer(pool->ctx, CL_MEM_READ_WRITE, cls, NULL, &rc);
        }
        if (rc != CL_SUCCESS) {
            free(buf);
            return sg2_cl_check(err, rc, "clCreateBuffer", "tensor storage");
        }
        buf->bytes = cls;
        buf->pool = pool;
        pool->creates++;
    }
    buf->refs = 1;
    pool->bytes_in_use += buf->bytes;
    if (pool->bytes_in_use > pool->peak_in_use)
        pool->peak_in_use = pool->bytes_in_use;
    *out = buf;
    return SG2_OK;
}

void sg2_buffer_retain(sg2_buffer *buf)
{
    buf->refs++;
}

void sg2_buffer_release(sg2_buffer *buf)
{
    if (!buf || --buf->refs > 0)
        return;
    sg2_bufpool *pool = buf->pool;
    pool->bytes_in_use -= buf->bytes;
    pool->bytes_cached += buf->bytes;
    buf->next_free = pool->free_list;
    pool->free_list = buf;
}

void sg2_bufpool_trim(sg2_bufpool *pool)
{
    while (pool->free_list) {
        sg2_buffer *b = pool->free_list;
        pool->free_list = b->next_free;
        clReleaseMemObject(b->mem);
        free(b);
    }
    pool->bytes_cached = 0;
}

void sg2_bufpool_free(sg2_bufpool *pool)
{
    sg2_bufpool_trim(pool);
}
