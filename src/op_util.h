/* Helpers shared by the op files: argument checks, strides in the kernels'
 * 6-axis layout, and the strided copy every layout op is built on. */
#ifndef SG2_OP_UTIL_H
#define SG2_OP_UTIL_H
#include "src/autograd.h"
#include "src/ops.h"

/* NULL when the context holds an error or an input is NULL (the error that
 * made it NULL is already recorded). */
#define SG2_OP_GUARD(ctx, ...)                                     \
    do {                                                           \
        const void *guard_in_[] = {__VA_ARGS__};                   \
        if ((ctx)->err.status)                                     \
            return NULL;                                           \
        for (size_t g_ = 0; g_ < sizeof guard_in_ / sizeof guard_in_[0]; g_++) \
            if (!guard_in_[g_])                                    \
                return sg2_fail((ctx), SG2_ERR_ARG, "%s: input %zu is NULL", __func__, g_); \
    } while (0)

/* shape6/strides6: the tensor's shape right-aligned into 6 axes (leading 1s)
 * and its contiguous strides. */
void sg2_layout6(int ndim, const int64_t *shape, int shape6[8], int strides6[8]);
/* Strides of x (ndim_x axes) broadcast against an output of ndim_out axes
 * with shape6 out6: 0 where x has size 1 and the output does not. Returns 0
 * when the shapes do not broadcast. */
int sg2_broadcast_strides6(int ndim_x, const int64_t *shape_x, const int out6[8], int strides6[8]);
/* shape6 with size-1 axes dropped and neighbours merged wherever all n_ops
 * operands (strides st6[k]) step across them as across one axis; the merged
 * axes land innermost last in shape and st[k]. Returns how many
 * (src/elementwise.c; the copies and sums use it too). */
int sg2__merge_axes(const int shape6[8], int n_ops, const int *const *st6, int shape[6], int st[][6]);
/* NumPy broadcast of two shapes; 0 when they do not broadcast. */
int sg2_broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b, int *nout, int64_t *out);

/* y (offset y_off, strides y_st) <- x (offset x_off, strides x_st) over
 * shape6 (n elements); offsets are absolute element offsets in the buffers. */
sg2_status sg2_copy_strided(sg2_ctx *ctx, int n, const int shape6[8], const sg2_tensor *x, int x_off,
                            const int x_st[8], sg2_tensor *y, int y_off, const int y_st[8]);

/* 1-D launch over n items with the default work-group of the device. */
sg2_status sg2_launch1d(sg2_ctx *ctx, sg2_args *args, size_t n);

/* Kernel lookup through the context; NULL (error recorded) on failure. */
const sg2_kernel_entry *sg2_kernel(sg2_ctx *ctx, const char *file, const char *name, const char *options);

#endif
