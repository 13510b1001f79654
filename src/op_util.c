#include "src/op_util.h"

#include <string.h>

void sg2_layout6(int ndim, const int64_t *shape, int shape6[8], int strides6[8])
{
    int pad = 6 - ndim;
    for (int i = 0; i < 8; i++) {
        shape6[i] = 1;
        strides6[i] = 0;
    }
    for (int i = 0; i < ndim; i++)
        shape6[pad + i] = (int)shape[i];
    int s = 1;
    for (int i = 5; i >= 0; i--) {
        strides6[i] = shape6[i] == 1 ? 0 : s;
        s *= shape6[i];
    }
}

int sg2_broadcast_strides6(int ndim_x, const int64_t *shape_x, const int out6[8], int strides6[8])
{
    int xs6[8], xst6[8];
    sg2_layout6(ndim_x, shape_x, xs6, xst6);
    for (int i = 0; i < 8; i++)
        strides6[i] = 0;
    for (int i = 0; i < 6; i++) {
        if (xs6[i] == out6[i])
            strides6[i] = xst6[i];
        else if (xs6[i] == 1)
            strides6[i] = 0;
        else
            return 0;
    }
    return 1;
}

int sg2_broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b, int *nout, int64_t *out)
{
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int64_t da = i < n - na ? 1 : a[i - (n - na)];
        int64_t db = i < n - nb ? 1 : b[i - (n - nb)];
        if (da != db && da != 1 && db != 1)
            return 0;
        out[i] = da == 1 ? db : da;
    }
    *nout = n;
    return 1;
}

const sg2_kernel_entry *sg2_kernel(sg2_ctx *ctx, const char *file, const char *name, const char *options)
{
    const sg2_kernel_entry *k = NULL;
    if (sg2_runtime_kernel(ctx->rt, file, name, options, &k, &ctx->err))
        return NULL;
    return k;
}

sg2_status sg2_launch1d(sg2_ctx *ctx, sg2_args *args, size_t n)
{
    size_t local = 64;
    if (local > args->k->max_work_group)
        local = args->k->max_work_group;
    return sg2_launch(ctx->rt, args, 1, &n, &local, &ctx->err);
}

sg2_status sg2_copy_strided(sg2_ctx *ctx, int n, const int shape6[8], const sg2_tensor *x, int x_off,
                            const int x_st[8], sg2_tensor *y, int y_off, const int y_st[8])
{
    const sg2_kernel_entry *k = sg2_kernel(ctx, "elementwise.cl", "copy_strided", NULL);
    if (!k)
        return ctx->err.status;
    sg2_args a = sg2_args_begin(k);
    sg2_args_int(&a, n);
    sg2_args_int8(&a, shape6);
    sg2_args_mem(&a, x->buf->mem);
    sg2_args_int(&a, x_off);
    sg2_args_int8(&a, x_st);
    sg2_args_mem(&a, y->buf->mem);
    sg2_args_int(&a, y_off);
    sg2_args_int8(&a, y_st);
    return sg2_launch1d(ctx, &a, (size_t)n);
}
