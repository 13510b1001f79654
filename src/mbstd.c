/* Minibatch standard deviation (StyleGAN2's discriminator epilogue).
 *
 * Built entirely from differentiable ops of src/ops.h, so its gradients of
 * any order (R1 differentiates through it) come from theirs. Follows the
 * reference MinibatchStdLayer of stylegan2-ada-pytorch:
 *   G = min(group, N)
 *   y = x.reshape(G, N/G, F, C/F, H, W)
 *   y = y - y.mean(axis 0)              deviation within each group
 *   y = sqrt(square(y).mean(axis 0) + 1e-8)
 *   y = y.mean over (C/F, H, W)         -> [N/G, F]
 *   y = y.reshape(N/G, F, 1, 1) tiled to [N, F, H, W]: sample n takes row n % (N/G)
 *   out = concat([x, y], channels)      -> [N, C + F, H, W] */
#include "src/op_util.h"

sg2_tensor *sg2_mbstd(sg2_ctx *ctx, sg2_tensor *x, int group, int nfeat)
{
    SG2_OP_GUARD(ctx, x);
    char sx[96];
    if (x->ndim != 4)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "mbstd: input %s is not [N,C,H,W]", sg2_shape_str(x, sx, sizeof sx));
    if (group < 1 || nfeat < 1)
        return sg2_fail(ctx, SG2_ERR_ARG, "mbstd: group %d and nfeat %d must be positive", group, nfeat);
    const int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    const int64_t G = group < N ? group : N, F = nfeat;
    if (N % G != 0)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "mbstd: batch %lld is not a multiple of the group size %lld", (long long)N,
                        (long long)G);
    if (C % F != 0)
        return sg2_fail(ctx, SG2_ERR_SHAPE, "mbstd: %lld channels do not split into %lld features", (long long)C,
                        (long long)F);
    const int64_t M = N / G; /* groups of samples; sample n belongs to row n % M */

    size_t mark = sg2_scope_begin(ctx);
    /* [G, M, F, C/F, H, W] */
    sg2_tensor *y = sg2_reshape(ctx, x, 6, (const int64_t[]){G, M, F, C / F, H, W});
    y = sg2_sub(ctx, y, sg2_mean(ctx, y, 1u << 0, 1));
    /* Variance over the group -> [M, F, C/F, H, W]; the epsilon keeps sqrt's
     * derivative finite when a group has no spread (G = 1). */
    y = sg2_sqrt(ctx, sg2_add_scalar(ctx, sg2_mean(ctx, sg2_square(ctx, y), 1u << 0, 0), 1e-8f));
    /* Average over C/F, H, W -> [M, F] */
    y = sg2_mean(ctx, y, (1u << 2) | (1u << 3) | (1u << 4), 0);
    /* Tile with expand rather than sg2_repeat: repeat of a 4-D tensor would
     * need 8 axes. [1, M, F, 1, 1] -> [G, M, F, H, W] -> [N, F, H, W]. */
    y = sg2_reshape(ctx, y, 5, (const int64_t[]){1, M, F, 1, 1});
    y = sg2_expand(ctx, y, 5, (const int64_t[]){G, M, F, H, W});
    y = sg2_reshape(ctx, y, 4, (const int64_t[]){N, F, H, W});
    sg2_tensor *parts[2] = {x, y};
    sg2_tensor *out = y ? sg2_concat(ctx, 2, parts, 1) : NULL;
    /* Intermediates that the graph needs are retained by its nodes. */
    sg2_scope_end(ctx, mark, &out, out ? 1 : 0);
    return out;
}
