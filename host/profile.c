#include "host/profile.h"

#include <stdlib.h>
#include <string.h>

/* Events are read in batches: querying each right away would serialise the
 * queue, holding all of them would grow without bound in a training run. */
#define PROFILE_BATCH 4096

void sg2_profile_init(sg2_profile *p, int enabled)
{
    *p = (sg2_profile){0};
    p->enabled = enabled;
    p->op_open = -1;
}

static int op_index(sg2_profile *p, const char *name)
{
    for (int i = 0; i < p->n_ops; i++)
        if (strcmp(p->ops[i].name, name) == 0)
            return i;
    if (p->n_ops == p->cap_ops) {
        int cap = p->cap_ops ? p->cap_ops * 2 : 16;
        sg2_profile_op *grown = realloc(p->ops, (size_t)cap * sizeof *grown);
        if (!grown)
            return -1;
        p->ops = grown;
        p->cap_ops = cap;
    }
    sg2_profile_op *o = &p->ops[p->n_ops];
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", name);
    return p->n_ops++;
}

int sg2_profile_op_begin(sg2_profile *p, const char *name, double flop)
{
    if (!p->enabled || p->op_open >= 0)
        return 0;
    int i = op_index(p, name);
    if (i < 0)
        return 0;
    p->ops[i].calls++;
    p->ops[i].flop += flop;
    p->op_open = i;
    return 1;
}

void sg2_profile_op_end(sg2_profile *p, int opened)
{
    if (opened)
        p->op_open = -1;
}

static sg2_profile_row *row_for(sg2_profile *p, const char *name)
{
    for (int i = 0; i < p->n_rows; i++)
        if (strcmp(p->rows[i].name, name) == 0)
            return &p->rows[i];
    if (p->n_rows == p->cap_rows) {
        int cap = p->cap_rows ? p->cap_rows * 2 : 32;
        sg2_profile_row *grown = realloc(p->rows, (size_t)cap * sizeof *grown);
        if (!grown)
            return NULL;
        p->rows = grown;
        p->cap_rows = cap;
    }
    sg2_profile_row *r = &p->rows[p->n_rows++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    return r;
}

void sg2_profile_collect(sg2_profile *p)
{
    if (p->n_pending == 0)
        return;
    clWaitForEvents((cl_uint)p->n_pending, p->pending);
    for (int i = 0; i < p->n_pending; i++) {
        cl_ulong t0 = 0, t1 = 0;
        cl_int rc = clGetEventProfilingInfo(p->pending[i], CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL);
        if (rc == CL_SUCCESS)
            rc = clGetEventProfilingInfo(p->pending[i], CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL);
        sg2_profile_row *r = row_for(p, p->pending_name[i]);
        if (rc == CL_SUCCESS && r) {
            double ns = (double)(t1 - t0);
            r->count++;
            r->total_ns += ns;
            if (ns > r->max_ns)
                r->max_ns = ns;
            if (p->pending_op[i] >= 0)
                p->ops[p->pending_op[i]].total_ns += ns;
        }
        clReleaseEvent(p->pending[i]);
    }
    p->n_pending = 0;
}

void sg2_profile_add(sg2_profile *p, const char *kernel_name, cl_event ev)
{
    if (p->n_pending == p->cap_pending) {
        if (p->cap_pending >= PROFILE_BATCH) {
            sg2_profile_collect(p);
        } else {
            int cap = p->cap_pending ? p->cap_pending * 2 : 256;
            cl_event *e = realloc(p->pending, (size_t)cap * sizeof *e);
            if (e)
                p->pending = e;
            const char **n = realloc(p->pending_name, (size_t)cap * sizeof *n);
            if (n)
                p->pending_name = n;
            int *o = realloc(p->pending_op, (size_t)cap * sizeof *o);
            if (o)
                p->pending_op = o;
            if (!e || !n || !o) {
                clReleaseEvent(ev);
                return;
            }
            p->cap_pending = cap;
        }
    }
    p->pending[p->n_pending] = ev;
    p->pending_name[p->n_pending] = kernel_name;
    p->pending_op[p->n_pending] = p->op_open;
    p->n_pending++;
}

static int by_total_desc(const void *a, const void *b)
{
    double x = ((const sg2_profile_row *)a)->total_ns, y = ((const sg2_profile_row *)b)->total_ns;
    return (x < y) - (x > y);
}

void sg2_profile_print(sg2_profile *p, FILE *out)
{
    sg2_profile_collect(p);
    if (p->n_rows == 0)
        return;
    qsort(p->rows, (size_t)p->n_rows, sizeof *p->rows, by_total_desc);
    double all = 0;
    for (int i = 0; i < p->n_rows; i++)
        all += p->rows[i].total_ns;
    fprintf(out, "%-40s %8s %12s %10s %10s %6s\n", "kernel", "calls", "total ms", "mean us", "max us", "%");
    for (int i = 0; i < p->n_rows; i++) {
        const sg2_profile_row *r = &p->rows[i];
        fprintf(out, "%-40s %8ld %12.3f %10.1f %10.1f %6.1f\n", r->name, r->count, r->total_ns * 1e-6,
                r->total_ns / (double)r->count * 1e-3, r->max_ns * 1e-3, all > 0 ? 100.0 * r->total_ns / all : 0.0);
    }
    fprintf(out, "%-40s %8s %12.3f\n", "total", "", all * 1e-6);
    if (p->n_ops == 0)
        return;
    fprintf(out, "%-40s %8s %12s %10s %10s\n", "op class (its kernels)", "calls", "total ms", "GFLOP", "GFLOP/s");
    for (int i = 0; i < p->n_ops; i++) {
        const sg2_profile_op *o = &p->ops[i];
        fprintf(out, "%-40s %8ld %12.3f %10.3f %10.1f\n", o->name, o->calls, o->total_ns * 1e-6, o->flop * 1e-9,
                o->total_ns > 0 ? o->flop / o->total_ns : 0.0);
    }
}

void sg2_profile_free(sg2_profile *p)
{
    sg2_profile_collect(p);
    free(p->pending);
    free(p->pending_name);
    free(p->pending_op);
    free(p->rows);
    free(p->ops);
    *p = (sg2_profile){0};
}
