/* Elementwise arithmetic (NumPy broadcasting) and unary functions. The
 * backward rules recompute what they need from the inputs rather than keep
 * the output, so every rule stays differentiable (sqrt' = 0.5 rsqrt(x)).
 * A binary op takes the cheapest of three kernels its broadcast allows:
 * flat (same shapes or a scalar), rows (up to three merged axes) or the
 * general six-axis one. */
#include <math.h>

#include "src/op_util.h"

enum { BIN_ADD = 0, BIN_SUB = 1, BIN_MUL = 2, BIN_DIV = 3 };
enum { UN_AFFINE = 0, UN_SQUARE, UN_SQRT, UN_RSQRT, UN_EXP, UN_LOG, UN_SOFTPLUS, UN_SIGMOID };

static const char *const binary_names[] = {"add", "sub", "mul", "div"};

typedef struct binary_params {
    int op;
} binary_params;

typedef struct unary_params {
    int op;
    float s, t;
} unary_params;

static sg2_tensor *binary(sg2_ctx *ctx, int op, sg2_tensor *a, sg2_tensor *b);
static sg2_tensor *unary(sg2_ctx *ctx, int op, sg2_tensor *x, float s, float t);

static sg2_tensor *sum_like(sg2_ctx *ctx, sg2_tensor *g, const sg2_tensor *like)
{
    return sg2_sum_to(ctx, g, like->ndim, like->shape);
}

static void binary_backward(sg2_ctx *ctx, const sg2_node *node, sg2_tensor *gy, const int *needs, sg2_tensor **gin)
{
    const binary_params *p = (const binary_params *)node->params;
    sg2_tensor *a = node->in[0], *b = node->in[1];
    sg2_tensor *ga = NULL, *gb = NULL;
    switch (p->op) {
    case BIN_ADD:
        ga = gy;
        gb = gy;
        break;
    case BIN_SUB:
        ga = gy;
        gb = needs[1] ? sg2_neg(ctx, gy) : NULL;
        break;
    case BIN_MUL:
        ga = needs[0] ? sg2_mul(ctx, gy, b) : NULL;
        gb = needs[1] ? sg2_mul(ctx, gy, a) : NULL;
        break;
    default: /* d(a/b) = da/b - a db/b^2 */
        ga = needs[0] ? sg2_div(ctx, gy, b) : NULL;
        gb = needs[1] ? sg2_neg(ctx, sg2_div(ctx, sg2_mul(ctx, gy, a), sg2_square(ctx, b))) : NULL;
        break;
    }
    if (needs[0])
        gin[0] = sum_like(ctx, ga, a);
    if (needs[1])
        gin[1] = sum_like(ctx, gb, b);
}

static const sg2_op_def binary_def = {"binary", binary_backward};

/* shape6 with size-1 axes dropped and neighbours merged wherever all
 * n_ops operands step across them as across one axis (stride of the outer
 * = stride of the inner * its size, or both 0). Leaves the axes innermost
 * last in shape and st[k]; returns how many. Shared with shape.c's copies. */
int sg2__merge_axes(const int shape6[8], int n_ops, const int *const *st6, int shape[6], int st[][6])
{
    int nd = 0;
    for (int i = 0; i < 6; i++) {
        if (shape6[i] == 1)
            continue;
        int merge = nd > 0;
        for (int k = 0; k < n_ops && merge; k++)
            merge = st6[k][i] * shape6[i] == st[k][nd - 1];
        if (!merge) {
            shape[nd] = 1;
            nd++;
        }
        shape[nd - 1] *= shape6[i];
        for (int k = 0; k < n_ops; k++)
            st[k][nd - 1] = st6[k][i];
    }
    return nd;
}

/* One axis left: both operands contiguous or scalars. */
static sg2_status launch_flat(sg2_ctx *ctx, int op, const sg2_tensor *a, int a_step, const sg2_tensor *b, int b_step,
                              sg2_tensor *y)
{
    const sg2_kernel_entry *k = sg2_kernel(ctx, "elementwise.cl", "ew_binary_flat", NULL);
    if (!k)
        return ctx->err.status;
    sg2_args args = sg2_args_begin(k);
    sg2_args_int(&args, op);
    sg2_args_int(&args, (int)y->numel);
    sg2_args_mem(&args, a->buf->mem);
    sg2_args_int(&args, (int)a->offset);
    sg2_args_int(&args, a_step);
    sg2_args_mem(&args, b->buf->mem);
    sg2_args_int(&args, (int)b->offset);
    sg2_args_int(&args, b_step);
    sg2_args_mem(&args, y->buf->mem);
    sg2_args_int(&args, (int)y->offset);
    return sg2_launch1d(ctx, &args, ((size_t)y->numel + 3) / 4);
}

/* Two or three axes left (shape/ast/bst right-aligned in 3). */
static sg2_status launch_rows(sg2_ctx *ctx, int op, const sg2_tensor *a, const int *ast, const sg2_tensor *b,
                              const int *bst, const int *shape, sg2_tensor *y)
{
    enum { RUN_LEN = 16 }; /* EW_RUN_LEN in elementwise.cl */
    const sg2_kernel_entry *k = sg2_kernel(ctx, "elementwise.cl", "ew_binary_rows", NULL);
    if (!k)
        return ctx->err.status;
    int rows = shape[0] * shape[1], runs = (shape[2] + RUN_LEN - 1) / RUN_LEN;
    int a8[8] = {ast[0], ast[1], ast[2]}, b8[8] = {bst[0], bst[1], bst[2]}; /* int8 arguments */
    sg2_args args = sg2_args_begin(k);
    sg2_args_int(&args, op);
    sg2_args_int(&args, rows);
    sg2_args_int(&args, shape[1]);
    sg2_args_int(&args, shape[2]);
    sg2_args_int(&args, runs);
    sg2_args_mem(&args, a->buf->mem);
    sg2_args_int(&args, (int)a->offset);
    sg2_args_int8(&args, a8);
    sg2_args_mem(&args, b->buf->mem);
    sg2_args_int(&args, (int)b->offset);
    sg2_args_int8(&args, b8);
    sg2_args_mem(&args, y->buf->mem);
    sg2_args_int(&args, (int)y->offset);
    return sg2_launch1d(ctx, &args, (size_t)rows * (size_t)runs);
}

/* Any broadcast: per-element index arithmetic over 6 axes. */
static sg2_status launch_general(sg2_ctx *ctx, int op, const sg2_tensor *a, const int *ast6, const sg2_tensor *b,
                                 const int *bst6, const int *out6, sg2_tensor *y)
{
    const sg2_kernel_entry *k = sg2_kernel(ctx, "elementwise.cl", "ew_binary", NULL);
    if (!k)
        return ctx->err.status;
    sg2_args args = sg2_args_begin(k);
    sg2_args_int(&args, op);
    sg2_args_int(&args, (int)y->numel);
    sg2_args_int8(&args, out6);
    sg2_args_mem(&args, a->buf->mem);
    sg2_args_int(&args, (int)a->offset);
    sg2_args_int8(&args, ast6);
    sg2_args_mem(&args, b->buf->mem);
    sg2_args_int(&args, (int)b->offset);
    sg2_args_int8(&args, bst6);
    sg2_args_mem(&args, y->buf->mem);
    sg2_args_int(&args, (int)y->offset);
    return sg2_launch1d(ctx, &args, (size_t)y->numel);
}

/* The cheapest kernel that covers the broadcast. */
static sg2_status launch_binary(sg2_ctx *ctx, int op, const sg2_tensor *a, const sg2_tensor *b, sg2_tensor *y)
{
    int out6[8], ost6[8], ast6[8], bst6[8];
    sg2_layout6(y->ndim, y->shape, out6, ost6);
    sg2_broadcast_strides6(a->ndim, a->shape, out6, ast6);
    sg2_broadcast_strides6(b->ndim, b->shape, out6, bst6);
    const int *st6[2] = {ast6, bst6};
    int shape[6], st[2][6];
    int nd = sg2__merge_axes(out6, 2, st6, shape, st);
    const int *ast = st[0], *bst = st[1];
    if (nd == 0)
        return launch_flat(ctx, op, a, 0, b, 0, y);
    if (nd == 1)
        return launch_flat(ctx, op, a, ast[0], b, bst[0], y);
    if (nd <= 3) {
        int s3[3] = {1, 1, 1}, a3[3] = {0, 0, 0}, b3[3] = {0, 0, 0};
        for (int i = 0; i < nd; i++) {
            s3[3 - nd + i] = shape[i];
            a3[3 - nd + i] = ast[i];
            b3[3 - nd + i] = bst[i];
        }
        return launch_rows(ctx, op, a, a3, b, b3, s3, y);
    }
    return launch_general(ctx, op, a, ast6, b, bst6, out6, y);
}

static sg2_tensor *binary(sg2_ctx *ctx, int op, sg2_tensor *a, sg2_tensor *b)
{
    SG2_OP_GUARD(ctx, a, b);
    int ndim;
    int64_t shape[SG2_MAX_DIMS];
    char sa[96], sb[96];
    if (!sg2_broadcast_shape(a->ndim, a->shape, b->ndim, b->shape, &ndim, shape))
        return sg2_fail(ctx, SG2_ERR_SHAPE, "%s: shapes %s and %s do not broadcast", binary_names[op],
                        sg2_shape_str(a, sa, sizeof sa), sg2_shape_str(b, sb, sizeof sb));
    if (ndim > SG2_MAX_DIMS)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "%s: rank above %d", binary_names[op], SG2_MAX_DIMS);
    sg2_tensor *y = sg2_tensor_empty(ctx, ndim, shape);
    if (!y || launch_binary(ctx, op, a, b, y))
        return NULL;
    binary_params p = {op};
    sg2_tensor *in[2] = {a, b};
    sg2_autograd_record(ctx, y, &binary_def, in, 2, &p, sizeof p, NULL, 0);
    return y;
}

sg2_tensor *sg2_add(sg2_ctx *ctx, sg2_tensor *a, sg2_tensor *b) { return binary(ctx, BIN_ADD, a, b); }
sg2_tensor *sg2_sub(sg2_ctx *ctx, sg2_tensor *a, sg2_tensor *b) { return binary(ctx, BIN_SUB, a, b); }
sg2_tensor *sg2_mul(sg2_ctx *ctx, sg2_tensor *a, sg2_tensor *b) { return binary(ctx, BIN_MUL, a, b); }
sg2_tensor *sg2_div(sg2_ctx *ctx, sg2_tensor *a, sg2_tensor *b) { return binary(ctx, BIN_DIV, a, b); }

static void unary_backward(sg2_ctx *ctx, const sg2_node *node, sg2_tensor *gy, const int *needs, sg2_tensor **gin)
{
    const unary_params *p = (const unary_params *)node->params;
    sg2_tensor *x = node->in[0];
    sg2_tensor *r;
    if (!needs[0])
        return;
    switch (p->op) {
    case UN_AFFINE:
        gin[0] = sg2_scale(ctx, gy, p->s);
        return;
    case UN_SQUARE:
        gin[0] = sg2_mul(ctx, gy, sg2_scale(ctx, x, 2.0f));
        return;
    case UN_SQRT:
        gin[0] = sg2_mul(ctx, gy, sg2_scale(ctx, sg2_rsqrt(ctx, x), 0.5f));
        return;
    case UN_RSQRT: /* d x^-1/2 = -1/2 x^-3/2 = -1/2 r^3 */
        r = sg2_rsqrt(ctx, x);
        gin[0] = sg2_mul(ctx, gy, sg2_scale(ctx, sg2_mul(ctx, r, sg2_square(ctx, r)), -0.5f));
        return;
    case UN_EXP:
        gin[0] = sg2_mul(ctx, gy, sg2_exp(ctx, x));
        return;
    case UN_LOG:
        gin[0] = sg2_div(ctx, gy, x);
        return;
    case UN_SOFTPLUS:
        gin[0] = sg2_mul(ctx, gy, sg2_sigmoid(ctx, x));
        return;
    default: /* sigmoid' = s (1 - s) */
        r = sg2_sigmoid(ctx, x);
        gin[0] = sg2_mul(ctx, gy, sg2_mul(ctx, r, sg2_affine_scalar(ctx, r, -1.0f, 1.0f)));
        return;
    }
}

static const sg2_op_def unary_def = {"unary", unary_backward};

static sg2_tensor *unary(sg2_ctx *ctx, int op, sg2_tensor *x, float s, float t)
{
    SG2_OP_GUARD(ctx, x);
    sg2_tensor *y = sg2_tensor_empty(ctx, x->ndim, x->shape);
    const sg2_kernel_entry *k = sg2_kernel(ctx, "elementwise.cl", "ew_unary", NULL);
    if (!y || !k)
        return NULL;
    sg2_args args = sg2_args_begin(k);
    sg2_args_int(&args, op);
    sg2_args_int(&args, (int)x->numel);
    sg2_args_float(&args, s);
    sg2_args_float(&args, t);
    sg2_args_mem(&args, x->buf->mem);
    sg2_args_int(&args, (int)x->offset);
    sg2_args_mem(&args, y->buf->mem);
    sg2_args_int(&args, (int)y->offset);
    if (sg2_launch1d(ctx, &args, ((size_t)x->numel + 3) / 4))
        return NULL;
    unary_params p = {op, s, t};
    sg2_autograd_record(ctx, y, &unary_def, &x, 1, &p, sizeof p, NULL, 0);
    return y;
}

sg2_tensor *sg2_affine_scalar(sg2_ctx *ctx, sg2_tensor *x, float scale, float shift)
{
    return unary(ctx, UN_AFFINE, x, scale, shift);
}
sg2_tensor *sg2_scale(sg2_ctx *ctx, sg2_tensor *x, float scale) { return unary(ctx, UN_AFFINE, x, scale, 0.0f); }
sg2_tensor *sg2_add_scalar(sg2_ctx *ctx, sg2_tensor *x, float shift) { return unary(ctx, UN_AFFINE, x, 1.0f, shift); }
sg2_tensor *sg2_neg(sg2_ctx *ctx, sg2_tensor *x) { return unary(ctx, UN_AFFINE, x, -1.0f, 0.0f); }
sg2_tensor *sg2_square(sg2_ctx *ctx, sg2_tensor *x) { return unary(ctx, UN_SQUARE, x, 0, 0); }
sg2_tensor *sg2_sqrt(sg2_ctx *ctx, sg2_tensor *x) { return unary(ctx, UN_SQRT, x, 0, 0); }
sg2_tensor *sg2_rsqrt(sg2_ctx *ctx, sg2_tensor *x) { return unary(ctx, UN_RSQRT, x, 0, 0); }
sg2_tensor *sg2_exp(sg2_ctx *ctx, sg2_tensor *x) { return unary(ctx, UN_EXP, x, 0, 0); }
sg2_tensor *sg2_log(sg2_ctx *ctx, sg2_tensor *x) { return unary(ctx, UN_LOG, x, 0, 0); }
sg2_tensor *sg2_softplus(sg2_ctx *ctx, sg2_tensor *x) { return unary(ctx, UN_SOFTPLUS, x, 0, 0); }
sg2_tensor *sg2_sigmoid(sg2_ctx *ctx, sg2_tensor *x) { return unary(ctx, UN_SIGMOID, x, 0, 0); }
