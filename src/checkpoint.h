/* Checkpoints: the networks' parameters under the prefixes "G.", "D." and
 * "G_ema." with the reference's state_dict names, in a safetensors file whose
 * metadata holds the configurations as JSON ("G_config", "D_config") and
 * "format": "stylegan2-cl-1". Files are written to a temporary name and
 * renamed, so an interrupted save never damages the previous checkpoint. */
#ifndef SG2_CHECKPOINT_H
#define SG2_CHECKPOINT_H
#include "src/network.h"
#include "src/safetensors.h"

#define SG2_CHECKPOINT_FORMAT "stylegan2-cl-1"

/* Extra tensors to store beside the networks (optimizer state, counters). */
typedef struct sg2_ckpt_extra {
    const char *name;
    sg2_tensor *t;
} sg2_ckpt_extra;

/* G, D, G_ema may each be NULL (but not all). extra/meta may be NULL with 0 counts. */
sg2_status sg2_checkpoint_save(sg2_ctx *ctx, const char *path, sg2_generator *G, sg2_discriminator *D,
                               sg2_generator *G_ema, const sg2_ckpt_extra *extra, int n_extra,
                               const sg2_st_meta *meta, int n_meta);

/* Fill every parameter of ps from tensors named prefix + name; a missing
 * tensor, a shape mismatch or a tensor with the prefix that the network
 * does not have is an error naming it and the file. */
sg2_status sg2_params_load(sg2_ctx *ctx, sg2_params *ps, const sg2_safetensors *f, const char *prefix,
                           const char *path);

/* Build and load a generator from a checkpoint (.safetensors) or a
 * reference pickle (.pkl); `which` is "G_ema" (what the tools use) or "G". */
sg2_status sg2_load_generator(sg2_ctx *ctx, const char *path, const char *which, sg2_generator *g);
sg2_status sg2_load_discriminator(sg2_ctx *ctx, const char *path, sg2_discriminator *d);

#endif
