/* Random tensors from a counter-based Philox4x32-10 stream (cl/random.cl):
 * the numbers depend only on (seed, position), so every device and every
 * work-group size draws the same values, and the stream is the one
 * src/ref/ref.h defines. The context holds the stream state: ctx->rng_seed,
 * and ctx->rng_offset, the position of the next draw. Random tensors are
 * constants: they never require gradients and record nothing. */
#include "src/op_util.h"

enum { STREAM_UNIFORM = 0, STREAM_NORMAL = 1 };

void sg2_random_seed(sg2_ctx *ctx, uint64_t seed)
{
    ctx->rng_seed = seed;
    ctx->rng_offset = 0;
}

/* Fill a new tensor from stream elements offset .. offset + numel - 1. */
static sg2_tensor *draw(sg2_ctx *ctx, int stream, int ndim, const int64_t *shape, uint64_t offset)
{
    static const char *const kernels[] = {"rand_uniform", "rand_normal"};
    if (ctx->err.status)
        return NULL;
    if (ndim > 0 && !shape)
        return sg2_fail(ctx, SG2_ERR_ARG, "%s: shape is NULL", kernels[stream]);
    sg2_tensor *y = sg2_tensor_empty(ctx, ndim, shape);
    const sg2_kernel_entry *k = sg2_kernel(ctx, "random.cl", kernels[stream], NULL);
    if (!y || !k)
        return NULL;
    uint64_t q0 = offset / 4;
    int skip = (int)(offset % 4);
    int n = (int)y->numel;
    int blocks = (int)(((int64_t)skip + n + 3) / 4);
    sg2_args a = sg2_args_begin(k);
    sg2_args_int(&a, n);
    sg2_args_int(&a, blocks);
    sg2_args_uint(&a, (unsigned)(uint32_t)ctx->rng_seed);
    sg2_args_uint(&a, (unsigned)(uint32_t)(ctx->rng_seed >> 32));
    sg2_args_uint(&a, (unsigned)(uint32_t)q0);
    sg2_args_uint(&a, (unsigned)(uint32_t)(q0 >> 32));
    sg2_args_int(&a, skip);
    sg2_args_mem(&a, y->buf->mem);
    sg2_args_int(&a, (int)y->offset);
    if (sg2_launch1d(ctx, &a, (size_t)blocks))
        return NULL;
    return y;
}

sg2_tensor *sg2_rand_uniform(sg2_ctx *ctx, int ndim, const int64_t *shape)
{
    sg2_tensor *y = draw(ctx, STREAM_UNIFORM, ndim, shape, ctx->rng_offset);
    if (y)
        ctx->rng_offset += (uint64_t)y->numel;
    return y;
}

sg2_tensor *sg2_rand_normal(sg2_ctx *ctx, int ndim, const int64_t *shape)
{
    /* Normals come in Box-Muller pairs (elements 2p, 2p+1). Starting on an
     * even position and advancing by an even count keeps each pair within
     * one call, so no two calls share a pair's uniforms. */
    uint64_t start = (ctx->rng_offset + 1) & ~(uint64_t)1;
    sg2_tensor *y = draw(ctx, STREAM_NORMAL, ndim, shape, start);
    if (y)
        ctx->rng_offset = start + (((uint64_t)y->numel + 1) & ~(uint64_t)1);
    return y;
}
