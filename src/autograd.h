/* Reverse-mode autodiff on a tape of eager ops.
 *
 * Each op that sees an input requiring gradients records a node: the op's
 * definition, its inputs and saved tensors, and a copy of its parameters.
 * Backward rules are written with the same ops, so with create_graph they
 * are recorded too and can be differentiated again: that is what makes the
 * R1 and path-length gradients exact (the design stylegan2-ada-pytorch uses
 * for its custom ops). Gradients are computed only along paths that reach the
 * requested inputs, so asking for d/d(image) never computes weight gradients. */
#ifndef SG2_AUTOGRAD_H
#define SG2_AUTOGRAD_H
#include "src/tensor.h"

#define SG2_NODE_MAX_IN 8
#define SG2_NODE_MAX_SAVED 2
#define SG2_NODE_PARAM_BYTES 192

/* Fill gin[i] (owned by the current scope) for each i with needs[i] set;
 * leave the others NULL. gy has the shape of the op's output. */
typedef void (*sg2_backward_fn)(sg2_ctx *ctx, const sg2_node *node, sg2_tensor *gy, const int *needs,
                                sg2_tensor **gin);

typedef struct sg2_op_def {
    const char *name;
    sg2_backward_fn backward;
} sg2_op_def;

struct sg2_node {
    int refs;
    const sg2_op_def *op;
    int n_in;
    sg2_tensor *in[SG2_NODE_MAX_IN];       /* retained; may hold NULL for optional inputs */
    sg2_tensor *saved[SG2_NODE_MAX_SAVED]; /* retained extra tensors (e.g. a detached output) */
    int out_ndim;
    int64_t out_shape[SG2_MAX_DIMS];
    unsigned char params[SG2_NODE_PARAM_BYTES];
};

/* 1 when an op with these inputs must be recorded. */
int sg2_autograd_wants(const sg2_ctx *ctx, sg2_tensor *const *in, int n_in);
/* Record `out` as made by `op` from `in` (params copied, saved retained).
 * Does nothing unless sg2_autograd_wants(). */
void sg2_autograd_record(sg2_ctx *ctx, sg2_tensor *out, const sg2_op_def *op, sg2_tensor *const *in, int n_in,
                         const void *params, size_t param_bytes, sg2_tensor *const *saved, int n_saved);

/* torch.autograd.grad: gradients of sum_i <outputs[i], grad_outputs[i]>
 * (grad_outputs NULL or an entry NULL = ones) with respect to inputs[j],
 * written to grads[j] (zeros where an input is not reached). With
 * create_graph the backward ops are recorded so grads can be differentiated. */
sg2_status sg2_autograd_grad(sg2_ctx *ctx, int n_out, sg2_tensor *const *outputs, sg2_tensor *const *grad_outputs,
                             int n_in, sg2_tensor *const *inputs, int create_graph, sg2_tensor **grads);

void sg2_node_release(sg2_node *node);

#endif
