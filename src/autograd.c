#include "src/autograd.h"

#include <stdlib.h>
#include <string.h>

#include "src/ops.h"

int sg2_autograd_wants(const sg2_ctx *ctx, sg2_tensor *const *in, int n_in)
{
    if (!ctx->grad_enabled)
        return 0;
    for (int i = 0; i < n_in; i++)
        if (in[i] && in[i]->requires_grad)
            return 1;
    return 0;
}

void sg2_autograd_record(sg2_ctx *ctx, sg2_tensor *out, const sg2_op_def *op, sg2_tensor *const *in, int n_in,
                         const void *params, size_t param_bytes, sg2_tensor *const *saved, int n_saved)
{
    if (!out || !sg2_autograd_wants(ctx, in, n_in))
        return;
    if (n_in > SG2_NODE_MAX_IN || n_saved > SG2_NODE_MAX_SAVED || param_bytes > SG2_NODE_PARAM_BYTES) {
        sg2_fail(ctx, SG2_ERR_ARG, "%s: too many inputs or parameters to record", op->name);
        return;
    }
    sg2_node *node = calloc(1, sizeof *node);
    if (!node) {
        sg2_fail(ctx, SG2_ERR_NOMEM, "%s: out of host memory recording the op", op->name);
        return;
    }
    node->refs = 1;
    node->op = op;
    node->n_in = n_in;
    for (int i = 0; i < n_in; i++) {
        node->in[i] = in[i];
        sg2_tensor_retain(in[i]);
    }
    for (int i = 0; i < n_saved; i++) {
        node->saved[i] = saved[i];
        sg2_tensor_retain(saved[i]);
    }
    if (params && param_bytes)
        memcpy(node->params, params, param_bytes);
    node->out_ndim = out->ndim;
    memcpy(node->out_shape, out->shape, sizeof out->shape);
    out->grad_fn = node;
    out->requires_grad = 1;
}

void sg2_node_release(sg2_node *node)
{
    if (!node || --node->refs > 0)
        return;
    for (int i = 0; i < node->n_in; i++)
        sg2_tensor_release(node->in[i]);
    for (int i = 0; i < SG2_NODE_MAX_SAVED; i++)
        sg2_tensor_release(node->saved[i]);
    free(node);
}

/* ---- one gradient pass ------------------------------------------------- */

typedef struct pass {
    sg2_ctx *ctx;
    unsigned id;
    sg2_tensor *const *inputs;
    int n_in;
    sg2_tensor **order; /* tensors with a grad_fn on a path to an input, post-order */
    int n_order, cap_order;
    sg2_tensor **touched; /* every tensor whose scratch fields this pass set */
    int n_touched, cap_touched;
} pass;

static int push(sg2_tensor ***arr, int *n, int *cap, sg2_tensor *t)
{
    if (*n == *cap) {
        int c = *cap ? *cap * 2 : 256;
        sg2_tensor **g = realloc(*arr, (size_t)c * sizeof *g);
        if (!g)
            return 0;
        *arr = g;
        *cap = c;
    }
    (*arr)[(*n)++] = t;
    return 1;
}

static int is_input(const pass *p, const sg2_tensor *t)
{
    for (int i = 0; i < p->n_in; i++)
        if (p->inputs[i] == t)
            return 1;
    return 0;
}

/* Marks t relevant when a requested input is t or lies upstream of it, and
 * appends tensors whose grad_fn must run in post-order. Returns relevance. */
static int visit(pass *p, sg2_tensor *t)
{
    if (!t)
        return 0;
    if (t->pass == p->id)
        return t->relevant;
    t->pass = p->id;
    t->relevant = 0;
    t->grad_acc = NULL;
    if (!push(&p->touched, &p->n_touched, &p->cap_touched, t)) {
        sg2_fail(p->ctx, SG2_ERR_NOMEM, "autograd: out of host memory");
        return 0;
    }
    int upstream = 0;
    if (t->grad_fn)
        for (int i = 0; i < t->grad_fn->n_in; i++)
            upstream |= visit(p, t->grad_fn->in[i]);
    if (upstream && !push(&p->order, &p->n_order, &p->cap_order, t))
        sg2_fail(p->ctx, SG2_ERR_NOMEM, "autograd: out of host memory");
    t->relevant = upstream || is_input(p, t);
    return t->relevant;
}

static void accumulate(sg2_ctx *ctx, sg2_tensor *t, sg2_tensor *g)
{
    if (!g)
        return;
    t->grad_acc = t->grad_acc ? sg2_add(ctx, t->grad_acc, g) : g;
}

static void run_node(sg2_ctx *ctx, sg2_tensor *t)
{
    sg2_node *node = t->grad_fn;
    int needs[SG2_NODE_MAX_IN] = {0};
    sg2_tensor *gin[SG2_NODE_MAX_IN] = {0};
    for (int i = 0; i < node->n_in; i++)
        needs[i] = node->in[i] && node->in[i]->relevant;
    node->op->backward(ctx, node, t->grad_acc, needs, gin);
    if (ctx->err.status)
        return;
    for (int i = 0; i < node->n_in; i++) {
        if (!needs[i])
            continue;
        if (!gin[i]) {
            sg2_fail(ctx, SG2_ERR_STATE, "autograd: %s gave no gradient for input %d", node->op->name, i);
            return;
        }
        if (!sg2_shape_equal(gin[i], node->in[i])) {
            char a[96], b[96];
            sg2_fail(ctx, SG2_ERR_SHAPE, "autograd: %s gradient for input %d has shape %s, input is %s",
                     node->op->name, i, sg2_shape_str(gin[i], a, sizeof a), sg2_shape_str(node->in[i], b, sizeof b));
            return;
        }
        accumulate(ctx, node->in[i], gin[i]);
    }
}

sg2_status sg2_autograd_grad(sg2_ctx *ctx, int n_out, sg2_tensor *const *outputs, sg2_tensor *const *grad_outputs,
                             int n_in, sg2_tensor *const *inputs, int create_graph, sg2_tensor **grads)
{
    for (int j = 0; j < n_in; j++)
        grads[j] = NULL;
    if (ctx->err.status)
        return ctx->err.status;
    for (int i = 0; i < n_out; i++)
        if (!outputs[i])
            return sg2_error_set(&ctx->err, SG2_ERR_ARG, "autograd: output %d is NULL", i);
    for (int j = 0; j < n_in; j++)
        if (!inputs[j])
            return sg2_error_set(&ctx->err, SG2_ERR_ARG, "autograd: input %d is NULL", j);

    pass p = {.ctx = ctx, .id = ++ctx->pass_counter, .inputs = inputs, .n_in = n_in};
    int own_lists = !ctx->ag_busy; /* the context's lists, unless a pass holds them */
    if (own_lists) {
        ctx->ag_busy = 1;
        p.order = ctx->ag_order;
        p.cap_order = ctx->ag_order_cap;
        p.touched = ctx->ag_touched;
        p.cap_touched = ctx->ag_touched_cap;
    }
    size_t mark = sg2_scope_begin(ctx);
    int saved_mode = ctx->grad_enabled;
    ctx->grad_enabled = create_graph;

    for (int i = 0; i < n_out; i++)
        visit(&p, outputs[i]);
    for (int i = 0; i < n_out && !ctx->err.status; i++) {
        if (!outputs[i]->relevant)
            continue;
        sg2_tensor *seed = grad_outputs && grad_outputs[i] ? grad_outputs[i] : sg2_tensor_ones_like(ctx, outputs[i]);
        if (seed && !sg2_shape_equal(seed, outputs[i]))
            sg2_fail(ctx, SG2_ERR_SHAPE, "autograd: grad_output %d does not match its output's shape", i);
        else
            accumulate(ctx, outputs[i], seed);
    }
    /* Reverse post-order: every consumer of a tensor runs before its producer. */
    for (int k = p.n_order - 1; k >= 0 && !ctx->err.status; k--)
        if (p.order[k]->grad_acc)
            run_node(ctx, p.order[k]);
    for (int j = 0; j < n_in && !ctx->err.status; j++)
        grads[j] = inputs[j]->grad_acc ? inputs[j]->grad_acc : sg2_tensor_zeros_like(ctx, inputs[j]);

    for (int k = 0; k < p.n_touched; k++) {
        p.touched[k]->grad_acc = NULL;
        p.touched[k]->relevant = 0;
    }
    if (own_lists) {
        ctx->ag_order = p.order;
        ctx->ag_order_cap = p.cap_order;
        ctx->ag_touched = p.touched;
        ctx->ag_touched_cap = p.cap_touched;
        ctx->ag_busy = 0;
    } else {
        free(p.order);
        free(p.touched);
    }
    ctx->grad_enabled = saved_mode;
    if (ctx->err.status) {
        for (int j = 0; j < n_in; j++)
            grads[j] = NULL;
        sg2_scope_end(ctx, mark, NULL, 0);
        return ctx->err.status;
    }
    /* Keep the results (a result may appear twice if an input was repeated). */
    sg2_scope_end(ctx, mark, grads, n_in);
    return SG2_OK;
}
