/* Adam with the lazy-regularization adjustment, gradient sanitising, and the
 * generator's exponential moving average (G_ema). */
#ifndef SG2_OPTIM_H
#define SG2_OPTIM_H
#include "src/params.h"

typedef struct sg2_adam {
    float lr, beta1, beta2, eps;  /* after the lazy-regularization adjustment */
    long step;                    /* steps taken (bias corrections) */
    sg2_params *ps;               /* the parameters it updates (trainable ones) */
    sg2_tensor **m, **v;          /* first and second moments, per parameter of ps (NULL for buffers) */
} sg2_adam;

/* Lazy regularization runs the regularizer every `reg_interval` steps with
 * its loss multiplied by the interval; to keep the optimizer's effective
 * dynamics, lr and the betas are adjusted by r = I / (I + 1):
 * lr * r, beta ^ r (the reference's mb_ratio). reg_interval 0: no change. */
void sg2_adam_lazy_adjust(float *lr, float *beta1, float *beta2, int reg_interval);

sg2_status sg2_adam_init(sg2_ctx *ctx, sg2_adam *opt, sg2_params *ps, float lr, float beta1, float beta2, float eps);
void sg2_adam_free(sg2_adam *opt);
/* grads[i] is the gradient of ps->items[i] (NULL: no update for it). The
 * step reads the gradients sanitised (NaN -> 0, inf -> +-1e5; the tensors
 * themselves are left as they are); *n_sanitized (may be NULL) receives
 * how many values were replaced. */
sg2_status sg2_adam_step(sg2_ctx *ctx, sg2_adam *opt, sg2_tensor **grads, long *n_sanitized);

/* ema <- src + beta (ema - src) for trainable tensors; buffers (w_avg,
 * noise_const) are copied, not averaged. Both stores must have the same layout. */
sg2_status sg2_ema_update(sg2_ctx *ctx, sg2_params *ema, const sg2_params *src, float beta);
/* The reference's beta: 0.5 ^ (batch / ema_nimg), ema_nimg = min(ema_kimg * 1000, cur_nimg * rampup)
 * when rampup > 0. */
double sg2_ema_beta(int batch, double ema_kimg, double rampup, double cur_nimg);

/* Copy every tensor of src into dst (same layout). */
sg2_status sg2_params_copy(sg2_ctx *ctx, sg2_params *dst, const sg2_params *src);

#endif
