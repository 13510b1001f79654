/* StyleGAN2's training losses (the reference's StyleGAN2Loss): the
 * non-saturating logistic loss, style mixing, lazy R1 on reals and the
 * path-length regularizer, each phase returning parameter gradients. */
#ifndef SG2_LOSS_H
#define SG2_LOSS_H
#include "src/network.h"
#include "src/stats.h"

typedef enum { SG2_PHASE_GMAIN = 0, SG2_PHASE_GREG, SG2_PHASE_DMAIN, SG2_PHASE_DREG } sg2_phase;

typedef struct sg2_loss_cfg {
    float r1_gamma;          /* R1 weight gamma (penalty gamma/2 ||dD/dx||^2) */
    float pl_weight;         /* 2; 0 disables path length */
    float pl_decay;          /* 0.01 */
    int pl_batch_shrink;     /* 2 */
    float style_mixing_prob; /* 0.9; 0 disables */
} sg2_loss_cfg;

typedef struct sg2_loss {
    sg2_loss_cfg cfg;
    sg2_generator *G;
    sg2_discriminator *D;
    float pl_mean;           /* moving average of path lengths: training state */
    uint64_t host_rng;       /* style-mixing draws: training state */
    sg2_stats *stats;        /* where per-sample statistics go (may be NULL) */
} sg2_loss;

sg2_loss_cfg sg2_loss_cfg_default(void);

/* One phase on one round of data. Gradients of (loss * gain) with respect to
 * the phase's module (G for G phases, D for D phases) are ADDED into
 * acc[i] for each trainable parameter i of that module (acc[i] NULL at
 * first; the tensors are retained: release them with sg2_grads_release).
 * real_img[N,C,R,R] in [-1,1], real_c[N,c_dim] or NULL, gen_z[N,z_dim],
 * gen_c like real_c. */
sg2_status sg2_loss_phase(sg2_ctx *ctx, sg2_loss *loss, sg2_phase phase, sg2_tensor *real_img, sg2_tensor *real_c,
                          sg2_tensor *gen_z, sg2_tensor *gen_c, float gain, sg2_tensor **acc);
void sg2_grads_release(sg2_tensor **acc, int n);

/* The generator as training runs it: mapping (updating w_avg), style mixing,
 * synthesis with random noise and the non-fused modulated conv. ws_out (may
 * be NULL) receives the ws for the path-length gradient. */
sg2_tensor *sg2_loss_run_G(sg2_ctx *ctx, sg2_loss *loss, sg2_tensor *z, sg2_tensor *c, sg2_tensor **ws_out);

#endif
