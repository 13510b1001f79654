/* The per-op workloads of the benchmark suite, each checked against the
 * double-precision reference of src/ref before it is timed.
 *
 * Every op workload is described by an op_def: the shapes of its inputs at a
 * batch n, the op itself, and its reference. dims[0] of a workload selects
 * its op_def, the rest are the op's sizes, so one generic setup / validate /
 * run / free serves all of them. The convolutions are validated at a batch
 * of at most 2 (the reference at the timed batch would take minutes on a
 * slow host; the same kernels run), the other ops at the timed size. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "src/bench_suite.h"
#include "src/layers.h"
#include "src/ops.h"
#include "src/ref/ref.h"

enum { OP_MODCONV, OP_MODCONV_SHARED, OP_UPCONV, OP_DOWNCONV, OP_UPFIRDN, OP_BIAS_ACT, OP_GEMM };
enum { MAX_IN = 4 };

/* Relative error bound for every op: float32 accumulation over up to
 * 9 * 512 terms against a double reference. */
#define OP_TOLERANCE 1e-4

typedef struct op_def {
    int n_in;
    int fir_input; /* index of the input holding the [1,3,3,1] filter, or -1 */
    int val_batch; /* validate at min(N, val_batch); 0: at the timed size */
    /* Shapes (4-D, unused trailing dims 1) of the inputs at batch n. */
    void (*shapes)(const int *d, int n, int64_t s[MAX_IN][4]);
    sg2_tensor *(*apply)(sg2_ctx *ctx, const int *d, sg2_tensor *const *in);
    long (*out_len)(const int *d, int n); /* elements of the output at batch n */
    /* y (malloc'd) = the op in double at batch n; returns its length. */
    long (*reference)(const int *d, int n, double *const *in, double **y);
    const char *method;
} op_def;

static void set4(int64_t *s, int64_t a, int64_t b, int64_t c, int64_t e)
{
    s[0] = a, s[1] = b, s[2] = c, s[3] = e;
}

static double *ref_out(long n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(double)); }

/* ---- modulated 3x3 conv ----
 * OP_MODCONV fused (per-sample weights, grouped conv: the reference's
 * inference), OP_MODCONV_SHARED not (the input scaled by the styles, one
 * conv with the shared weights, the output by the demodulation: what
 * `generate` runs at any batch, and training).
 * d = {op, N, C, R}: x[N,C,R,R], w[C,C,3,3], styles[N,C], and the
 * resampling filter f[4,4] the layer takes (unused at up = 1). */
static void modconv_shapes(const int *d, int n, int64_t s[MAX_IN][4])
{
    set4(s[0], n, d[2], d[3], d[3]);
    set4(s[1], d[2], d[2], 3, 3);
    set4(s[2], n, d[2], 1, 1);
    set4(s[3], 4, 4, 1, 1);
}

static sg2_tensor *modconv_apply(sg2_ctx *ctx, const int *d, sg2_tensor *const *in)
{
    sg2_modconv_args a = {.up = 1, .padding = 1, .demodulate = 1, .fused = d[0] == OP_MODCONV};
    sg2_tensor *st = sg2_reshape(ctx, in[2], 2, (const int64_t[]){in[2]->shape[0], d[2]});
    sg2_tensor *f = sg2_reshape(ctx, in[3], 2, (const int64_t[]){4, 4});
    return sg2_modconv(ctx, in[0], in[1], st, NULL, f, &a);
}

static long modconv_out(const int *d, int n) { return (long)n * d[2] * d[3] * d[3]; }
static long upconv_out(const int *d, int n) { return (long)n * d[3] * (2 * d[4] + 1) * (2 * d[4] + 1); }
static long downconv_out(const int *d, int n) { return (long)n * d[3] * (d[4] / 2) * (d[4] / 2); }
static long upfirdn_out(const int *d, int n) { return (long)n * d[2] * 4 * d[3] * d[3]; }
static long bias_act_out(const int *d, int n) { return (long)n * d[2] * d[3] * d[3]; }
static long gemm_out(const int *d, int n) { return (long)n * d[2]; }

/* The modulated, demodulated weights of the reference (the paper's
 * equations 1-3), then one grouped conv over the batch. */
static long modconv_ref(const int *d, int n, double *const *in, double **y)
{
    int c = d[2], r = d[3];
    long ny = modconv_out(d, n);
    double *wm = malloc(sizeof(double) * (size_t)n * c * c * 9);
    *y = ref_out(ny);
    if (!wm || !*y) {
        free(wm);
        return 0;
    }
    sg2_ref_modconv_weight(wm, in[1], in[2], n, c, c, 9, 1, 1.0);
    sg2_ref_conv2d(*y, in[0], wm, 1, n * c, r, r, n * c, 3, 3, 1, 1, 1, n);
    free(wm);
    return ny;
}

/* ---- stride-2 transposed 3x3 conv (the up conv before the FIR filter) ----
 * d = {op, N, Cin, Cout, R}: x[N,Cin,R,R], w[Cin,Cout,3,3] -> [N,Cout,2R+1,2R+1]. */
static void upconv_shapes(const int *d, int n, int64_t s[MAX_IN][4])
{
    set4(s[0], n, d[2], d[4], d[4]);
    set4(s[1], d[2], d[3], 3, 3);
}

static sg2_tensor *upconv_apply(sg2_ctx *ctx, const int *d, sg2_tensor *const *in)
{
    (void)d;
    sg2_conv_params p = {.stride = 2, .groups = 1};
    return sg2_conv_transpose2d(ctx, in[0], in[1], &p, 0, 0);
}

static long upconv_ref(const int *d, int n, double *const *in, double **y)
{
    long ny = upconv_out(d, n);
    if ((*y = ref_out(ny)))
        sg2_ref_conv_transpose2d(*y, in[0], in[1], n, d[2], d[4], d[4], d[3], 3, 3, 2, 0, 0, 0, 0, 1);
    return *y ? ny : 0;
}

/* ---- stride-2 3x3 conv (the down conv after the FIR filter) ----
 * d = {op, N, Cin, Cout, R}: x[N,Cin,R+1,R+1] (already padded), w[Cout,Cin,3,3] -> [N,Cout,R/2,R/2]. */
static void downconv_shapes(const int *d, int n, int64_t s[MAX_IN][4])
{
    set4(s[0], n, d[2], d[4] + 1, d[4] + 1);
    set4(s[1], d[3], d[2], 3, 3);
}

static sg2_tensor *downconv_apply(sg2_ctx *ctx, const int *d, sg2_tensor *const *in)
{
    (void)d;
    sg2_conv_params p = {.stride = 2, .groups = 1};
    return sg2_conv2d(ctx, in[0], in[1], &p);
}

static long downconv_ref(const int *d, int n, double *const *in, double **y)
{
    long ny = downconv_out(d, n);
    if ((*y = ref_out(ny)))
        sg2_ref_conv2d(*y, in[0], in[1], n, d[2], d[4] + 1, d[4] + 1, d[3], 3, 3, 2, 0, 0, 1);
    return *y ? ny : 0;
}

/* ---- upfirdn2d: the 2x upsample of the generator ([1,3,3,1] filter, gain 4) ----
 * d = {op, N, C, R}: x[N,C,R,R], f[4,4] -> [N,C,2R,2R]. */
static void upfirdn_shapes(const int *d, int n, int64_t s[MAX_IN][4])
{
    set4(s[0], n, d[2], d[3], d[3]);
    set4(s[1], 4, 4, 1, 1);
}

static const sg2_upfirdn2d_params upfirdn_p = {2, 2, 1, 1, 2, 1, 2, 1, 0, 4.0f};

static sg2_tensor *upfirdn_apply(sg2_ctx *ctx, const int *d, sg2_tensor *const *in)
{
    (void)d;
    sg2_tensor *f = sg2_reshape(ctx, in[1], 2, (const int64_t[]){4, 4});
    return sg2_upfirdn2d(ctx, in[0], f, &upfirdn_p);
}

static long upfirdn_ref(const int *d, int n, double *const *in, double **y)
{
    long ny = upfirdn_out(d, n);
    if ((*y = ref_out(ny)))
        sg2_ref_upfirdn2d(*y, in[0], in[1], n, d[2], d[3], d[3], 4, 4, 2, 2, 1, 1, 2, 1, 2, 1, 0, 4.0);
    return *y ? ny : 0;
}

/* ---- bias + leaky ReLU (gain sqrt 2) ----
 * d = {op, N, C, R}: x[N,C,R,R], b[C]. */
static void bias_act_shapes(const int *d, int n, int64_t s[MAX_IN][4])
{
    set4(s[0], n, d[2], d[3], d[3]);
    set4(s[1], d[2], 1, 1, 1);
}

static sg2_tensor *bias_act_apply(sg2_ctx *ctx, const int *d, sg2_tensor *const *in)
{
    sg2_bias_act_params p = sg2_bias_act_defaults(SG2_ACT_LRELU);
    sg2_tensor *b = sg2_reshape(ctx, in[1], 1, (const int64_t[]){d[2]});
    return sg2_bias_act(ctx, in[0], b, &p);
}

static long bias_act_ref(const int *d, int n, double *const *in, double **y)
{
    sg2_bias_act_params p = sg2_bias_act_defaults(SG2_ACT_LRELU);
    long ny = bias_act_out(d, n);
    if ((*y = ref_out(ny)))
        sg2_ref_bias_act(*y, in[0], in[1], n, d[2], d[3] * d[3], SG2_REF_ACT_LRELU, p.alpha, p.gain, p.clamp);
    return *y ? ny : 0;
}

/* ---- GEMM (whatever sg2_matmul dispatches to: $SG2_GEMM) ----
 * d = {op, M, N, K}: a[M,K] @ b[K,N]. The "batch" is M. */
static void gemm_shapes(const int *d, int n, int64_t s[MAX_IN][4])
{
    set4(s[0], n, d[3], 1, 1);
    set4(s[1], d[3], d[2], 1, 1);
}

static sg2_tensor *gemm_apply(sg2_ctx *ctx, const int *d, sg2_tensor *const *in)
{
    sg2_tensor *a = sg2_reshape(ctx, in[0], 2, (const int64_t[]){in[0]->shape[0], d[3]});
    sg2_tensor *b = sg2_reshape(ctx, in[1], 2, (const int64_t[]){d[3], d[2]});
    return sg2_matmul(ctx, a, b, 0, 0);
}

static long gemm_ref(const int *d, int n, double *const *in, double **y)
{
    long ny = gemm_out(d, n);
    if ((*y = ref_out(ny)))
        sg2_ref_matmul(*y, in[0], in[1], n, d[2], d[3], 0, 0);
    return *y ? ny : 0;
}

static const op_def op_defs[] = {
    [OP_MODCONV] = {4, 3, 2, modconv_shapes, modconv_apply, modconv_out, modconv_ref,
                    "src/ref conv2d (double) of the modulated, demodulated weights; batch min(N,2)"},
    [OP_MODCONV_SHARED] = {4, 3, 2, modconv_shapes, modconv_apply, modconv_out, modconv_ref,
                           "src/ref conv2d (double) of the modulated, demodulated weights; batch min(N,2)"},
    [OP_UPCONV] = {2, -1, 2, upconv_shapes, upconv_apply, upconv_out, upconv_ref,
                   "src/ref conv_transpose2d (double); batch min(N,2)"},
    [OP_DOWNCONV] = {2, -1, 2, downconv_shapes, downconv_apply, downconv_out, downconv_ref,
                     "src/ref conv2d (double); batch min(N,2)"},
    [OP_UPFIRDN] = {2, 1, 0, upfirdn_shapes, upfirdn_apply, upfirdn_out, upfirdn_ref,
                    "src/ref upfirdn2d (double); full size"},
    [OP_BIAS_ACT] = {2, -1, 0, bias_act_shapes, bias_act_apply, bias_act_out, bias_act_ref,
                     "src/ref bias_act (double); full size"},
    [OP_GEMM] = {2, -1, 0, gemm_shapes, gemm_apply, gemm_out, gemm_ref, "src/ref matmul (double); full size"},
};

/* ---- the generic workload functions ---- */

typedef struct op_state {
    float *host[MAX_IN];
    long len[MAX_IN];
    sg2_tensor *t[MAX_IN]; /* at the timed size; owned by the runner's scope */
} op_state;

static long numel4(const int64_t *s) { return (long)(s[0] * s[1] * s[2] * s[3]); }

/* The [1,3,3,1] filter, outer product normalised to sum 1. */
static void fir_1331(float *f)
{
    static const float k[4] = {1, 3, 3, 1};
    for (int i = 0; i < 16; i++)
        f[i] = k[i / 4] * k[i % 4] / 64.0f;
}

static sg2_status op_setup(sg2_ctx *ctx, const int *d, void **state)
{
    const op_def *od = &op_defs[d[0]];
    int64_t s[MAX_IN][4];
    op_state *st = calloc(1, sizeof *st);
    if (!st)
        return SG2_ERR_NOMEM;
    *state = st;
    od->shapes(d, d[1], s);
    for (int i = 0; i < od->n_in; i++) {
        st->len[i] = numel4(s[i]);
        if (!(st->host[i] = malloc(sizeof(float) * (size_t)st->len[i])))
            return SG2_ERR_NOMEM;
        sg2_bench_fill(st->host[i], st->len[i], 1234u + 77u * (unsigned)i);
        if (i == od->fir_input)
            fir_1331(st->host[i]);
        st->t[i] = sg2_tensor_from_host(ctx, 4, s[i], st->host[i]);
    }
    return ctx->err.status;
}

/* Inputs at batch n are prefixes of the timed inputs (batch is the outer axis). */
static sg2_status op_validate(sg2_ctx *ctx, const int *d, void *state, sg2_bench_check *out)
{
    const op_def *od = &op_defs[d[0]];
    op_state *st = state;
    int n = od->val_batch && d[1] > od->val_batch ? od->val_batch : d[1];
    int64_t s[MAX_IN][4];
    od->shapes(d, n, s);
    sg2_tensor *in[MAX_IN] = {0};
    double *dbl[MAX_IN] = {0}, *want = NULL;
    float *got = NULL;
    long ny = 0;
    for (int i = 0; i < od->n_in; i++) {
        long len = numel4(s[i]);
        in[i] = sg2_tensor_from_host(ctx, 4, s[i], st->host[i]);
        if ((dbl[i] = malloc(sizeof(double) * (size_t)len)))
            for (long j = 0; j < len; j++)
                dbl[i][j] = st->host[i][j];
    }
    int have_dbl = 1;
    for (int i = 0; i < od->n_in; i++)
        have_dbl &= dbl[i] != NULL;
    sg2_tensor *y = ctx->err.status || !have_dbl ? NULL : od->apply(ctx, d, in);
    if (y && (got = malloc(sizeof(float) * (size_t)y->numel)) && !sg2_tensor_read(ctx, y, got))
        ny = od->reference(d, n, dbl, &want);
    int finite = 0;
    out->tolerance = OP_TOLERANCE;
    out->rel_err = y && ny == (long)y->numel ? sg2_bench_rel_err(got, want, ny, &finite) : INFINITY;
    out->passed = finite && out->rel_err <= out->tolerance;
    snprintf(out->method, sizeof out->method, "%s", od->method);
    for (int i = 0; i < MAX_IN; i++)
        free(dbl[i]);
    free(want);
    free(got);
    return ctx->err.status ? ctx->err.status : ny ? SG2_OK : SG2_ERR_NOMEM;
}

static sg2_status op_run(sg2_ctx *ctx, const int *d, void *state)
{
    op_state *st = state;
    sg2_tensor *y = op_defs[d[0]].apply(ctx, d, st->t);
    return y ? SG2_OK : ctx->err.status;
}

static void op_free(void *state)
{
    op_state *st = state;
    for (int i = 0; st && i < MAX_IN; i++)
        free(st->host[i]);
    free(st);
}

/* ---- FLOP counts: 2 per multiply-add of the op's main loop ---- */

static double conv_flop(const int *d)
{
    switch (d[0]) {
    case OP_MODCONV: /* the conv only: modulation and demodulation are O(1/R^2) of it */
    case OP_MODCONV_SHARED:
        return 2.0 * d[1] * d[2] * d[2] * 9 * d[3] * d[3];
    case OP_UPCONV: /* every input pixel meets every tap once */
        return 2.0 * d[1] * d[2] * d[3] * 9 * d[4] * d[4];
    default: /* OP_DOWNCONV */
        return 2.0 * d[1] * d[2] * d[3] * 9 * (d[4] / 2) * (d[4] / 2);
    }
}

/* upfirdn2d: the 4 non-zero taps of the 16 per output pixel after zero
 * insertion; bias_act: add, select-multiply, gain (3 per element). */
static double upfirdn_flop(const int *d) { return 2.0 * 4 * d[1] * d[2] * 4.0 * d[3] * d[3]; }
static double bias_act_flop(const int *d) { return 3.0 * d[1] * d[2] * d[3] * d[3]; }
static double gemm_flop(const int *d) { return 2.0 * d[1] * d[2] * d[3]; }

/* The least memory traffic: every input read once, the output written once. */
static double op_bytes(const int *d)
{
    const op_def *od = &op_defs[d[0]];
    int64_t s[MAX_IN][4];
    od->shapes(d, d[1], s);
    double n = (double)od->out_len(d, d[1]);
    for (int i = 0; i < od->n_in; i++)
        n += (double)numel4(s[i]);
    return 4.0 * n;
}

#define OP(name, shape, flop, ...)                                                                     \
    {name, SG2_BENCH_OP, shape, {__VA_ARGS__}, flop, op_bytes, op_setup, op_validate, op_run, op_free}

/* Same FLOPs (1.2 GFLOP at batch 4) across the channel/resolution mix of
 * the synthesis network, then its resampling convs and elementwise ops. */
const sg2_bench_workload sg2_bench_ops[] = {
    OP("modconv3x3_c512_r8", "x[4,512,8,8] w[512,512,3,3] s[4,512]", conv_flop, OP_MODCONV, 4, 512, 8),
    OP("modconv3x3_c256_r16", "x[4,256,16,16] w[256,256,3,3] s[4,256]", conv_flop, OP_MODCONV, 4, 256, 16),
    OP("modconv3x3_c128_r32", "x[4,128,32,32] w[128,128,3,3] s[4,128]", conv_flop, OP_MODCONV, 4, 128, 32),
    OP("modconv3x3_c64_r64", "x[4,64,64,64] w[64,64,3,3] s[4,64]", conv_flop, OP_MODCONV, 4, 64, 64),
    OP("modconv3x3_shared_c512_r8", "x[4,512,8,8] w[512,512,3,3] s[4,512], shared weights", conv_flop,
       OP_MODCONV_SHARED, 4, 512, 8),
    OP("modconv3x3_shared_c256_r16", "x[4,256,16,16] w[256,256,3,3] s[4,256], shared weights", conv_flop,
       OP_MODCONV_SHARED, 4, 256, 16),
    OP("modconv3x3_shared_c128_r32", "x[4,128,32,32] w[128,128,3,3] s[4,128], shared weights", conv_flop,
       OP_MODCONV_SHARED, 4, 128, 32),
    OP("modconv3x3_shared_c64_r64", "x[4,64,64,64] w[64,64,3,3] s[4,64], shared weights", conv_flop,
       OP_MODCONV_SHARED, 4, 64, 64),
    OP("upconv3x3_c256_r16", "x[4,256,16,16] w[256,256,3,3] stride 2 transposed", conv_flop, OP_UPCONV, 4, 256,
       256, 16),
    OP("downconv3x3_c256_r32", "x[4,256,33,33] w[256,256,3,3] stride 2", conv_flop, OP_DOWNCONV, 4, 256, 256, 32),
    OP("upfirdn2d_up2_c128_r32", "x[4,128,32,32] f[4,4] up 2 pad 2,1 gain 4", upfirdn_flop, OP_UPFIRDN, 4, 128, 32),
    OP("bias_act_lrelu_c128_r64", "x[4,128,64,64] b[128] lrelu 0.2 gain sqrt2", bias_act_flop, OP_BIAS_ACT, 4, 128,
       64),
    OP("gemm_1024", "a[1024,1024] @ b[1024,1024]", gemm_flop, OP_GEMM, 1024, 1024, 1024),
};
const int sg2_bench_n_ops = (int)(sizeof sg2_bench_ops / sizeof sg2_bench_ops[0]);
