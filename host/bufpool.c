/* MAP_ANONYMOUS and MADV_HUGEPAGE are outside POSIX. */
#define _DEFAULT_SOURCE
#include "host/bufpool.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

void sg2_bufpool_init(sg2_bufpool *pool, cl_context ctx, size_t max_alloc, int huge_pages)
{
    *pool = (sg2_bufpool){0};
    pool->ctx = ctx;
    pool->max_alloc = max_alloc;
    pool->huge_pages = huge_pages;
}

/* `bytes` of anonymous memory starting on a huge-page boundary, advised to
 * use huge pages; NULL where the system has no such thing or no memory.
 * The kernel backs whole aligned 2 MiB stretches with huge pages, the tail
 * with small ones, so nothing is committed past `bytes`. */
static void *map_huge(size_t bytes, size_t *mapped)
{
#if defined(MAP_ANONYMOUS) && defined(MADV_HUGEPAGE)
    size_t page = 4096, len = (bytes + page - 1) / page * page;
    char *raw = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    char *start = (char *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    size_t head = (size_t)(start - raw), tail = HUGE_PAGE - head;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap(start + len, tail);
    madvise(start, len, MADV_HUGEPAGE); /* advice: without it the buffer still works */
    *mapped = len;
    return start;
#else
    (void)bytes;
    (void)mapped;
    return NULL;
#endif
}

/* Unmaps a buffer's storage once the driver has destroyed it: a kernel
 * still queued may use a buffer the pool has already let go. */
typedef struct host_mapping {
    void *addr;
    size_t bytes;
} host_mapping;

static void CL_CALLBACK unmap_host(cl_mem mem, void *user)
{
    (void)mem;
    host_mapping *m = user;
    munmap(m->addr, m->bytes);
    free(m);
}

/* A device buffer of cls bytes; on a huge-page pool, large ones on memory
 * mapped here, which the driver uses in place. */
static cl_mem create_buffer(sg2_bufpool *pool, size_t cls, cl_int *rc)
{
    if (pool->huge_pages && cls >= HUGE_PAGE) {
        host_mapping *m = malloc(sizeof *m);
        if (m && (m->addr = map_huge(cls, &m->bytes)) != NULL) {
            cl_mem mem = clCreateBuffer(pool->ctx, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR, cls, m->addr, rc);
            if (*rc == CL_SUCCESS && clSetMemObjectDestructorCallback(mem, unmap_host, m) == CL_SUCCESS)
                return mem;
            if (*rc == CL_SUCCESS)
                clReleaseMemObject(mem);
            munmap(m->addr, m->bytes);
        }
        free(m);
    }
    return clCreateBuffer(pool->ctx, CL_MEM_READ_WRITE, cls, NULL, rc);
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

/* The free list of class cls (a value of sg2_bufpool_class): 0 for 256
 * bytes, else 8 per power of two p <= cls plus cls's step above p. */
static sg2_buffer **free_list_of(sg2_bufpool *pool, size_t cls)
{
    if (cls <= 256)
        return &pool->free_lists[0];
    int e = 0; /* p = 2^e */
    while (cls >> (e + 1))
        e++;
    size_t k = cls >> (e - 3); /* 8..15: cls = k * p / 8 */
    return &pool->free_lists[e * 8 + (int)k - 8];
}

/* A cached buffer of class cls, or NULL. */
static sg2_buffer *take_cached(sg2_bufpool *pool, size_t cls)
{
    sg2_buffer **list = free_list_of(pool, cls), *buf = *list;
    if (!buf)
        return NULL;
    *list = buf->next_free;
    buf->next_free = NULL;
    pool->bytes_cached -= buf->bytes;
    pool->n_cached--;
    return buf;
}

sg2_status sg2_bufpool_get(sg2_bufpool *pool, size_t bytes, sg2_buffer **out, sg2_error *err)
{
    size_t cls = sg2_bufpool_class(bytes);
    if (cls < bytes) /* rounding up overflowed: no device has that much */
        return sg2_error_set(err, SG2_ERR_NOMEM, "buffer of %zu bytes is too large", bytes);
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
        buf->mem = create_buffer(pool, cls, &rc);
        if (rc != CL_SUCCESS && pool->n_cached) {
            /* Device memory may be held by cached buffers of other classes. */
            sg2_bufpool_trim(pool);
            buf->mem = create_buffer(pool, cls, &rc);
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
    pool->n_cached++;
    sg2_buffer **list = free_list_of(pool, buf->bytes);
    buf->next_free = *list;
    *list = buf;
}

void sg2_bufpool_trim(sg2_bufpool *pool)
{
    for (int c = 0; c < SG2_POOL_CLASSES; c++)
        while (pool->free_lists[c]) {
            sg2_buffer *b = pool->free_lists[c];
            pool->free_lists[c] = b->next_free;
            clReleaseMemObject(b->mem);
            free(b);
        }
    pool->bytes_cached = 0;
    pool->n_cached = 0;
}

void sg2_bufpool_free(sg2_bufpool *pool)
{
    sg2_bufpool_trim(pool);
}
