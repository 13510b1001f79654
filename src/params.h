/* A named parameter store: the tensors of a network under the reference's
 * state_dict names (`synthesis.b4.conv1.affine.weight`), so checkpoints and
 * NVIDIA's pickles map onto it one to one. Tensors are retained by the store
 * and released by sg2_params_free. */
#ifndef SG2_PARAMS_H
#define SG2_PARAMS_H
#include "src/tensor.h"

#define SG2_PARAM_NAME_MAX 96

typedef enum {
    SG2_INIT_ZERO = 0,
    SG2_INIT_CONST,   /* every element = init_value */
    SG2_INIT_NORMAL   /* N(0,1) * init_value */
} sg2_init;

typedef struct sg2_param {
    char name[SG2_PARAM_NAME_MAX];
    sg2_tensor *t;
    int trainable;    /* 0 for buffers (w_avg, noise_const) */
    sg2_tensor *scaled; /* t * scaled_gain kept by sg2_params_scaled, or NULL */
    float scaled_gain;
    unsigned long scaled_writes; /* t's buffer's writes when it was made */
} sg2_param;

typedef struct sg2_params {
    sg2_param *items;
    int n, cap;
    int keep_scaled;  /* sg2_params_scaled keeps its products (until sg2_params_forget) */
} sg2_params;

/* Create a parameter (name built printf-style) initialised as asked;
 * returns the tensor (owned by the store) or NULL with ctx->err set. */
sg2_tensor *sg2_params_new(sg2_ctx *ctx, sg2_params *ps, int trainable, sg2_init init, float init_value, int ndim,
                           const int64_t *shape, const char *fmt, ...) __attribute__((format(printf, 8, 9)));
/* Lookup by exact name, NULL when absent. */
sg2_param *sg2_params_find(sg2_params *ps, const char *name);
/* Number of trainable elements. */
int64_t sg2_params_count(const sg2_params *ps, int trainable_only);
/* Set requires_grad on every trainable tensor. */
void sg2_params_set_requires_grad(sg2_params *ps, int on);
/* p's tensor times gain (an equalized learning rate's weight gain). With
 * ps->keep_scaled set, the product is made once and kept, immutable, so
 * every convolution that takes it shares one copy and its packed and
 * Winograd-transformed forms (D's weights serve 4 passes of an iteration
 * while they stay unchanged): until p's tensor is written in place (its
 * buffer's write count moves) or sg2_params_forget. A product made off the
 * tape is not reused on it, nor the reverse. */
sg2_tensor *sg2_params_scaled(sg2_ctx *ctx, sg2_params *ps, sg2_param *p, float gain);
/* Drop the kept products: their parameters are about to change. */
void sg2_params_forget(sg2_params *ps);
void sg2_params_free(sg2_params *ps);

#endif
