/* Matrix products: op(a) @ op(b), 2-D or batched 3-D, row-major.
 *
 * Two backends compute the same thing: CLBlast (Sgemm and
 * SgemmStridedBatched only, because every distinct CLBlast routine costs a
 * 10-20 s first compile on PoCL) and our own kernels in cl/matmul.cl. Which
 * one runs is tuned per device and shape class (the GEMM_BACKEND choice of
 * the gemm tuning family below, with gemm_vec's GV and GMR); untuned, it is
 * CLBlast, except on CPU devices for products of at most GEMM_SMALL_ROWS
 * rows (fully connected layers at small batches): gemm_small, which reads
 * the operands unpacked (GEMM_BACKEND 2). SG2_GEMM=clblast, own (gemm_vec, vectors along N, for
 * CPUs), small or own-local (tiles staged in local memory, for GPUs) forces
 * one, so they can be compared.
 *
 * Backward, for C = op(A) op(B): d op(A) = dC op(B)^T and d op(B) = op(A)^T dC,
 * each arranged with the transpose flags so the result has the input's stored
 * shape. Both are matmuls again, so gradients of any order follow. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/matmul.h"
#include "src/op_util.h"
#include "src/tune.h"

#include <clblast_c.h>

typedef struct matmul_params {
    int ta, tb;
} matmul_params;

/* The problem one call solves, in the stored layouts. */
typedef struct gemm_dims {
    int batch;       /* 1 for 2-D */
    int M, N, K;     /* op(A) is [M,K], op(B) is [K,N], C is [M,N] */
    int lda, ldb;    /* stored row lengths of A and B */
    int gv, gmr;     /* gemm_vec's columns and rows per work-item (GV, GMR) */
} gemm_dims;

/* Where op(A) and op(B) lie in the stored operands:
 * op(A)[m][k] = a[m * a_sm + k * a_sk]; op(B)[k][n] = b[k * b_sk + n * b_sn]. */
typedef struct operand_strides {
    int a_sm, a_sk, b_sk, b_sn;
} operand_strides;

static operand_strides strides_of(const gemm_dims *d, int ta, int tb)
{
    return (operand_strides){.a_sm = ta ? 1 : d->lda, .a_sk = ta ? d->lda : 1, .b_sk = tb ? 1 : d->ldb,
                             .b_sn = tb ? d->ldb : 1};
}

/* One operand's arguments: storage, offset, its two strides, the floats
 * between batch entries. */
static void push_operand(sg2_args *args, const sg2_tensor *t, int s1, int s2, int per_batch)
{
    sg2_args_mem(args, t->buf->mem);
    sg2_args_int(args, (int)t->offset);
    sg2_args_int(args, s1);
    sg2_args_int(args, s2);
    sg2_args_int(args, per_batch);
}

/* The arguments the unpacked kernels share (gemm_tiled, gemm_small_rows,
 * gemm_small_dots): the sizes, A, B, then C with its offset and batch
 * stride. */
static void push_operands(sg2_args *args, const gemm_dims *d, const operand_strides *s, const sg2_tensor *a,
                          const sg2_tensor *b, const sg2_tensor *c)
{
    sg2_args_int(args, d->M);
    sg2_args_int(args, d->N);
    sg2_args_int(args, d->K);
    push_operand(args, a, s->a_sm, s->a_sk, d->M * d->K);
    push_operand(args, b, s->b_sk, s->b_sn, d->K * d->N);
    sg2_args_mem(args, c->buf->mem);
    sg2_args_int(args, (int)c->offset);
    sg2_args_int(args, d->M * d->N);
}

static void matmul_backward(sg2_ctx *ctx, const sg2_node *node, sg2_tensor *gy, const int *needs, sg2_tensor **gin)
{
    const matmul_params *p = (const matmul_params *)node->params;
    sg2_tensor *a = node->in[0], *b = node->in[1];
    /* gy: [B,M,N] like C. */
    if (needs[0]) {
        /* ta = 0: dA[M,K] = dC op(B)^T, and op(B)^T = B^T (tb = 0) or B (tb = 1).
         * ta = 1: dA[K,M] = (dC op(B)^T)^T = op(B) dC^T. */
        gin[0] = p->ta ? sg2_matmul(ctx, b, gy, p->tb, 1) : sg2_matmul(ctx, gy, b, 0, !p->tb);
    }
    if (needs[1]) {
        /* tb = 0: dB[K,N] = op(A)^T dC, op(A)^T = A^T (ta = 0) or A (ta = 1).
         * tb = 1: dB[N,K] = (op(A)^T dC)^T = dC^T op(A). */
        gin[1] = p->tb ? sg2_matmul(ctx, gy, a, 1, p->ta) : sg2_matmul(ctx, a, gy, !p->ta, 0);
    }
}

static const sg2_op_def matmul_def = {"matmul", matmul_backward};

/* CLBlast reports OpenCL codes (negative, > -1024) and its own (-1024 ..
 * -2050); the allocation failures among them map to SG2_ERR_NOMEM. */
static sg2_status clblast_status(CLBlastStatusCode s)
{
    if (s == CLBlastInsufficientMemoryTemp || s == CLBlastTempBufferAllocFailure || s == CLBlastOpenCLOutOfResources ||
        s == CLBlastOpenCLOutOfHostMemory)
        return SG2_ERR_NOMEM;
    return SG2_ERR_OPENCL;
}

/* c [batch,M,N] = op(a) op(b); a [batch,M,K] or [batch,K,M] (ta), b [batch,K,N] or
 * [batch,N,K] (tb); the batch axis is absent for 2-D operands. */
static sg2_status gemm_clblast(sg2_ctx *ctx, const gemm_dims *d, int ta, int tb, const sg2_tensor *a,
                               const sg2_tensor *b, sg2_tensor *c)
{
    const CLBlastTranspose opa = ta ? CLBlastTransposeYes : CLBlastTransposeNo;
    const CLBlastTranspose opb = tb ? CLBlastTransposeYes : CLBlastTransposeNo;
    cl_command_queue *q = &ctx->rt->queue; /* in-order: no events needed */
    CLBlastStatusCode s;
    const char *routine;
    if (d->batch == 1) {
        /* A batch of one is a plain Sgemm: no second routine to compile. */
        routine = "CLBlastSgemm";
        s = CLBlastSgemm(CLBlastLayoutRowMajor, opa, opb, (size_t)d->M, (size_t)d->N, (size_t)d->K, 1.0f,
                         a->buf->mem, a->offset, (size_t)d->lda, b->buf->mem, b->offset, (size_t)d->ldb, 0.0f,
                         c->buf->mem, c->offset, (size_t)d->N, q, NULL);
    } else {
        routine = "CLBlastSgemmStridedBatched";
        s = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, opa, opb, (size_t)d->M, (size_t)d->N, (size_t)d->K,
                                       1.0f, a->buf->mem, a->offset, (size_t)d->lda, (size_t)d->M * (size_t)d->K,
                                       b->buf->mem, b->offset, (size_t)d->ldb, (size_t)d->K * (size_t)d->N, 0.0f,
                                       c->buf->mem, c->offset, (size_t)d->N, (size_t)d->M * (size_t)d->N,
                                       (size_t)d->batch, q, NULL);
    }
    if (s != CLBlastSuccess) {
        sg2_fail(ctx, clblast_status(s), "matmul: %s failed with CLBlast status %d (M %d, N %d, K %d, batch %d)",
                 routine, (int)s, d->M, d->N, d->K, d->batch);
        return ctx->err.status;
    }
    return SG2_OK;
}

/* Tile configurations for gemm_tiled, largest first; a device whose kernel
 * limit is below a configuration's work-group gets the next one. */
typedef struct gemm_tiles {
    int tsm, tsn, tsk, wptm, wptn;
} gemm_tiles;

static const gemm_tiles tile_configs[] = {
    {32, 32, 16, 4, 4}, /* 8x8 work-items: the defaults in cl/matmul.cl */
    {16, 16, 16, 4, 4}, /* 4x4 */
    {8, 8, 8, 8, 8},    /* one work-item: devices that need it for barriers */
};

static const sg2_kernel_entry *own_kernel(sg2_ctx *ctx, gemm_tiles *chosen)
{
    for (size_t i = 0; i < sizeof tile_configs / sizeof tile_configs[0]; i++) {
        const gemm_tiles *t = &tile_configs[i];
        char opts[128];
        if (i == 0)
            opts[0] = '\0'; /* the kernel file's own defaults */
        else
            snprintf(opts, sizeof opts, "-DTSM=%d -DTSN=%d -DTSK=%d -DWPTM=%d -DWPTN=%d", t->tsm, t->tsn, t->tsk,
                     t->wptm, t->wptn);
        const sg2_kernel_entry *k = sg2_kernel(ctx, "matmul.cl", "gemm_tiled", i == 0 ? NULL : opts);
        if (!k)
            return NULL;
        size_t wg = (size_t)(t->tsm / t->wptm) * (size_t)(t->tsn / t->wptn);
        if (wg <= k->max_work_group) {
            *chosen = *t;
            return k;
        }
    }
    sg2_fail(ctx, SG2_ERR_UNSUPPORTED, "matmul: gemm_tiled needs a work-group of at least 1 on %s",
             ctx->rt->dev.name);
    return NULL;
}

/* Same contract as gemm_clblast, with cl/matmul.cl. */
static sg2_status gemm_own_local(sg2_ctx *ctx, const gemm_dims *d, int ta, int tb, const sg2_tensor *a,
                           const sg2_tensor *b, sg2_tensor *c)
{
    gemm_tiles t;
    const sg2_kernel_entry *k = own_kernel(ctx, &t);
    if (!k)
        return ctx->err.status;
    operand_strides s = strides_of(d, ta, tb);
    sg2_args args = sg2_args_begin(k);
    push_operands(&args, d, &s, a, b, c);
    size_t local[3] = {(size_t)(t.tsn / t.wptn), (size_t)(t.tsm / t.wptm), 1};
    size_t global[3] = {(size_t)((d->N + t.tsn - 1) / t.tsn) * local[0],
                        (size_t)((d->M + t.tsm - 1) / t.tsm) * local[1], (size_t)d->batch};
    return sg2_launch(ctx->rt, &args, 3, global, local, &ctx->err);
}

/* Panels of `lanes` along j, k-major: see gemm_pack in cl/matmul.cl.
 * Element (k, j) of matrix b of src is at offset + b*s_b + k*s_k + j*s_j. */
static sg2_tensor *gemm_pack(sg2_ctx *ctx, const sg2_tensor *src, int batch, int K, int J, int lanes, int s_k,
                             int s_j, int s_b)
{
    int panels = (J + lanes - 1) / lanes;
    int64_t shape[4] = {batch, panels, K, lanes};
    sg2_tensor *p = sg2_tensor_empty(ctx, 4, shape);
    const sg2_kernel_entry *k = sg2_kernel(ctx, "matmul.cl", "gemm_pack", NULL);
    if (!p || !k)
        return NULL;
    sg2_args a = sg2_args_begin(k);
    sg2_args_int(&a, batch);
    sg2_args_int(&a, K);
    sg2_args_int(&a, J);
    sg2_args_int(&a, lanes);
    sg2_args_mem(&a, src->buf->mem);
    sg2_args_int(&a, (int)src->offset);
    sg2_args_int(&a, s_k);
    sg2_args_int(&a, s_j);
    sg2_args_int(&a, s_b);
    sg2_args_mem(&a, p->buf->mem);
    if (sg2_launch1d(ctx, &a, (size_t)p->numel / (size_t)lanes)) /* a work-item per run of lanes */
        return NULL;
    return p;
}

sg2_status sg2_gemm_vec_packed(sg2_ctx *ctx, int batch, int M, int N, int K, int gv, int gmr, int gvn,
                               const sg2_tensor *ap, int a_sb, const sg2_tensor *bp, int b_sb, sg2_tensor *c, int c_sb)
{
    enum { LWS0 = 4, LWS1 = 4 }; /* the work-group's shape */
    char opts[64];
    snprintf(opts, sizeof opts, gvn > 1 ? "-DGV=%d -DGMR=%d -DGVN=%d" : "-DGV=%d -DGMR=%d", gv, gmr, gvn);
    /* The file's defaults (16, 16, 1) build without options: one program fewer. */
    const sg2_kernel_entry *k =
        sg2_kernel(ctx, "matmul.cl", "gemm_vec", gv == 16 && gmr == 16 && gvn == 1 ? NULL : opts);
    if (!k)
        return ctx->err.status;
    sg2_args args = sg2_args_begin(k);
    sg2_args_int(&args, M);
    sg2_args_int(&args, N);
    sg2_args_int(&args, K);
    sg2_args_mem(&args, ap->buf->mem);
    sg2_args_int(&args, a_sb);
    sg2_args_mem(&args, bp->buf->mem);
    sg2_args_int(&args, b_sb);
    sg2_args_mem(&args, c->buf->mem);
    sg2_args_int(&args, (int)c->offset);
    sg2_args_int(&args, c_sb);
    size_t local[3] = {LWS0, LWS1, 1};
    while (local[0] * local[1] > k->max_work_group)
        local[local[0] >= local[1] ? 0 : 1] /= 2;
    size_t global[3] = {(size_t)((N + gv * gvn - 1) / (gv * gvn)), (size_t)((M + gmr - 1) / gmr), (size_t)batch};
    return sg2_launch(ctx->rt, &args, 3, global, local, &ctx->err);
}

/* Same contract as gemm_clblast, with gemm_vec of cl/matmul.cl on packed
 * copies of both operands: M*K + K*N moves against M*N*K multiply-adds. */
static sg2_status gemm_own_vec(sg2_ctx *ctx, const gemm_dims *d, int ta, int tb, const sg2_tensor *a,
                               const sg2_tensor *b, sg2_tensor *c)
{
    size_t mark = sg2_scope_begin(ctx);
    operand_strides s = strides_of(d, ta, tb);
    sg2_tensor *ap = gemm_pack(ctx, a, d->batch, d->K, d->M, d->gmr, s.a_sk, s.a_sm, d->M * d->K);
    sg2_tensor *bp = ap ? gemm_pack(ctx, b, d->batch, d->K, d->N, d->gv, s.b_sk, s.b_sn, d->K * d->N) : NULL;
    if (bp)
        sg2_gemm_vec_packed(ctx, d->batch, d->M, d->N, d->K, d->gv, d->gmr, 1, ap, (int)(ap->numel / d->batch), bp,
                            (int)(bp->numel / d->batch), c, d->M * d->N);
    sg2_scope_end(ctx, mark, NULL, 0);
    return ctx->err.status;
}

/* Rows of C per gemm_small_rows work-item: up to 8, no more than C has, and
 * as many as keep SMALL_ITEMS work-items, so a B strip serves several rows
 * without leaving cores idle on narrow products. */
#define SMALL_ITEMS 128
static int small_rows_per_item(const gemm_dims *d)
{
    long strips = (long)(d->N + 15) / 16 * d->batch;
    int rows = 8;
    while (rows > 1 && rows / 2 >= d->M) /* no more rows than C has */
        rows /= 2;
    while (rows > 1 && strips * ((d->M + rows - 1) / rows) < SMALL_ITEMS)
        rows /= 2;
    return rows;
}

/* Same contract, with gemm_small_rows or gemm_small_dots of cl/matmul.cl
 * reading both operands where they lie: no packing, one launch. */
static sg2_status gemm_small(sg2_ctx *ctx, const gemm_dims *d, int ta, int tb, const sg2_tensor *a,
                             const sg2_tensor *b, sg2_tensor *c)
{
    operand_strides s = strides_of(d, ta, tb);
    int dots = s.a_sk == 1 && s.b_sk == 1, rows = dots ? 8 : small_rows_per_item(d);
    char opts[32];
    snprintf(opts, sizeof opts, "-DGSR_ROWS=%d", rows);
    const sg2_kernel_entry *k =
        sg2_kernel(ctx, "matmul.cl", dots ? "gemm_small_dots" : "gemm_small_rows", dots || rows == 1 ? NULL : opts);
    if (!k)
        return ctx->err.status;
    sg2_args args = sg2_args_begin(k);
    push_operands(&args, d, &s, a, b, c);
    size_t global[3] = {dots ? (size_t)d->N : (size_t)(d->N + 15) / 16, (size_t)((d->M + rows - 1) / rows),
                        (size_t)d->batch};
    return sg2_launch(ctx->rt, &args, 3, global, NULL, &ctx->err);
}

/* Untuned, products of at most this many rows (a fully connected layer at
 * a small batch) go to gemm_small on CPU devices: packing the operands cost
 * more than the product (the 32^2 generator 1.07-1.10x, training 1.01x). */
#define GEMM_SMALL_ROWS 16

typedef sg2_status (*gemm_fn)(sg2_ctx *, const gemm_dims *, int, int, const sg2_tensor *, const sg2_tensor *,
                              sg2_tensor *);

/* The tuned backend of d's shape class (CLBlast when untuned), with
 * gemm_vec's tiles in d. */
static gemm_fn gemm_tuned(sg2_ctx *ctx, gemm_dims *d, int ta, int tb)
{
    int dims[SG2_TUNE_DIMS] = {d->batch, d->M, d->N, d->K, ta, tb};
    char opts[SG2_TUNE_OPTS_LEN];
    sg2_tune_options(ctx, &sg2_tune_family_gemm, dims, opts, sizeof opts);
    d->gv = sg2_tune_option_value(opts, "GV", 16);
    d->gmr = sg2_tune_option_value(opts, "GMR", 16);
    int untuned = d->M <= GEMM_SMALL_ROWS && (ctx->rt->dev.type & CL_DEVICE_TYPE_CPU) ? 2 : 0;
    switch (sg2_tune_option_value(opts, "GEMM_BACKEND", untuned)) {
    case 1: return gemm_own_vec;
    case 2: return gemm_small;
    default: return gemm_clblast;
    }
}

/* $SG2_GEMM: unset selects the tuned backend (untuned: gemm_small for a few
 * rows on CPU devices, else CLBlast); "clblast" CLBlast, "own" our vector kernel (at its
 * default tiles), "small" the unpacked kernels, "own-local" our local-memory tiled
 * kernel. Read per call so a test or benchmark can switch within one
 * process. NULL (error recorded) otherwise. */
static gemm_fn gemm_backend(sg2_ctx *ctx, gemm_dims *d, int ta, int tb)
{
    const char *v = getenv("SG2_GEMM");
    d->gv = d->gmr = 16;
    if (!v || !*v)
        return gemm_tuned(ctx, d, ta, tb);
    if (strcmp(v, "small") == 0)
        return gemm_small;
    if (strcmp(v, "clblast") == 0)
        return gemm_clblast;
    if (strcmp(v, "own") == 0)
        return gemm_own_vec;
    if (strcmp(v, "own-local") == 0)
        return gemm_own_local;
    sg2_fail(ctx, SG2_ERR_ARG, "matmul: SG2_GEMM=%s (expected \"clblast\", \"own\", \"own-local\" or \"small\")", v);
    return NULL;
}

sg2_tensor *sg2_matmul(sg2_ctx *ctx, sg2_tensor *a, sg2_tensor *b, int ta, int tb)
{
    SG2_OP_GUARD(ctx, a, b);
    char sa[96], sb[96];
    ta = ta != 0;
    tb = tb != 0;
    if (a->ndim != b->ndim || a->ndim < 2 || a->ndim > 3)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "matmul: operands %s and %s must both be 2-D or both 3-D",
                        sg2_shape_str(a, sa, sizeof sa), sg2_shape_str(b, sb, sizeof sb));
    int batched = a->ndim == 3;
    if (batched && a->shape[0] != b->shape[0])
        return sg2_fail(ctx, SG2_ERR_SHAPE, "matmul: batch sizes differ in %s and %s",
                        sg2_shape_str(a, sa, sizeof sa), sg2_shape_str(b, sb, sizeof sb));
    /* a: [B,]Ra,Ca stored, op(a) = [M,K]; b: [B,]Rb,Cb stored, op(b) = [K,N]. */
    int64_t ra = a->shape[a->ndim - 2], ca = a->shape[a->ndim - 1];
    int64_t rb = b->shape[b->ndim - 2], cb = b->shape[b->ndim - 1];
    gemm_dims d = {
        .batch = batched ? (int)a->shape[0] : 1,
        .M = (int)(ta ? ca : ra),
        .K = (int)(ta ? ra : ca),
        .N = (int)(tb ? rb : cb),
        .lda = (int)ca,
        .ldb = (int)cb,
    };
    int kb = (int)(tb ? cb : rb);
    if (d.K != kb)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "matmul: inner sizes differ: op(a) of %s%s has K %d, op(b) of %s%s has K %d",
                        sg2_shape_str(a, sa, sizeof sa), ta ? "^T" : "", d.K, sg2_shape_str(b, sb, sizeof sb),
                        tb ? "^T" : "", kb);
    int64_t shape[3] = {d.batch, d.M, d.N};
    gemm_fn gemm = gemm_backend(ctx, &d, ta, tb);
    if (!gemm)
        return NULL;
    sg2_tensor *c = batched ? sg2_tensor_empty(ctx, 3, shape) : sg2_tensor_empty(ctx, 2, shape + 1);
    if (!c)
        return NULL;
    if (gemm(ctx, &d, ta, tb, a, b, c))
        return NULL;
    matmul_params p = {ta, tb};
    sg2_tensor *in[2] = {a, b};
    sg2_autograd_record(ctx, c, &matmul_def, in, 2, &p, sizeof p, NULL, 0);
    return c;
}

/* ---- tuning ------------------------------------------------------------- */
/* Dims: {batch, M, N, K, ta, tb}. GEMM_BACKEND 0 is CLBlast (the untuned
 * choice but for small products on CPUs), 1 our gemm_vec with its GV x GMR
 * block, 2 gemm_small; so a device where CLBlast's tuned kernels win keeps
 * them, and one where ours do gets ours. */

static int gemm_valid(const int *v, const void *dev)
{
    (void)dev;
    return v[0] == 1 || (v[1] == 16 && v[2] == 16); /* tiles only matter for gemm_vec */
}

static const sg2_tune_space gemm_space = {
    3,
    {{"GEMM_BACKEND", 3, {0, 1, 2}}, {"GV", 3, {16, 4, 8}}, {"GMR", 4, {16, 4, 8, 12}}},
    gemm_valid,
};

/* Sizes in powers of 4 (4 .. 4096), and whether batched (a second CLBlast
 * routine): "m4-n1024-k1024-b1" for a dense layer of 512 at batch 4. */
static void gemm_class(const int *d, char *out, size_t cap)
{
    int b[3];
    for (int i = 0; i < 3; i++) {
        b[i] = 4;
        while (b[i] < d[1 + i] && b[i] < 4096)
            b[i] *= 4;
    }
    snprintf(out, cap, "m%d-n%d-k%d-b%s", b[0], b[1], b[2], d[0] > 1 ? "n" : "1");
}

/* in[0] = a, in[1] = b, stored as op() expects: [batch,] M x K or K x M, ... */
static sg2_status gemm_setup(sg2_ctx *ctx, const int *d, sg2_tensor **in)
{
    int nd = d[0] > 1 ? 3 : 2;
    int64_t sa[3] = {d[0], d[4] ? d[3] : d[1], d[4] ? d[1] : d[3]};
    int64_t sb[3] = {d[0], d[5] ? d[2] : d[3], d[5] ? d[3] : d[2]};
    in[0] = sg2_tune_random_tensor(ctx, nd, sa + 3 - nd, 21);
    in[1] = sg2_tune_random_tensor(ctx, nd, sb + 3 - nd, 22);
    return ctx->err.status;
}

static sg2_tensor *gemm_run(sg2_ctx *ctx, const int *d, sg2_tensor *const *in)
{
    return sg2_matmul(ctx, in[0], in[1], d[4], d[5]);
}

/* StyleGAN2's dense layers (mapping, affine) at 512 features, batch 4 and
 * 32: forward (x W^T), input gradient (dy W) and weight gradient (dy^T x). */
static const int gemm_presets[][SG2_TUNE_DIMS] = {
    {1, 4, 512, 512, 0, 1},  {1, 32, 512, 512, 0, 1}, {1, 4, 512, 512, 0, 0},
    {1, 32, 512, 512, 0, 0}, {1, 512, 512, 4, 1, 0},  {1, 512, 512, 32, 1, 0},
};

const sg2_tune_family sg2_tune_family_gemm = {
    .name = "gemm",
    .kernel_file = "matmul.cl",
    .space = &gemm_space,
    .shape_class = gemm_class,
    .setup = gemm_setup,
    .run = gemm_run,
    .presets = gemm_presets,
    .n_presets = (int)(sizeof gemm_presets / sizeof gemm_presets[0]),
};
