/* Per-kernel device time from OpenCL profiling events ($SG2_PROFILE=1). */
#ifndef SG2_PROFILE_H
#define SG2_PROFILE_H
#include <stdio.h>
#include "host/status.h"

typedef struct sg2_profile_row {
    char name[64];
    long count;
    double total_ns;
    double max_ns;
} sg2_profile_row;

/* An operation class ("conv 3x3 s1"): its calls, their FLOPs as the caller
 * counts them, and the device time of every kernel launched inside them
 * (sg2_profile_op_begin .. _end). */
typedef struct sg2_profile_op {
    char name[48];
    long calls;
    double flop;
    double total_ns;
} sg2_profile_op;

typedef struct sg2_profile {
    int enabled;
    cl_event *pending;        /* events not yet read */
    const char **pending_name;
    int *pending_op;          /* the op class each was launched in, or -1 */
    int n_pending, cap_pending;
    sg2_profile_row *rows;
    int n_rows, cap_rows;
    sg2_profile_op *ops;
    int n_ops, cap_ops;
    int op_open; /* the class of the call in progress, -1 for none */
} sg2_profile;

void sg2_profile_init(sg2_profile *p, int enabled);
/* Takes ownership of the event. */
void sg2_profile_add(sg2_profile *p, const char *kernel_name, cl_event ev);
/* Kernels launched from here to sg2_profile_op_end count towards the op
 * class `name`, whose call this is, doing `flop` FLOPs. Returns 1 when it
 * opened the call; 0 when profiling is off or a call is already open (an
 * op built on another, whose kernels then count towards the outer one
 * only). Pass the return value to sg2_profile_op_end. */
int sg2_profile_op_begin(sg2_profile *p, const char *name, double flop);
void sg2_profile_op_end(sg2_profile *p, int opened);
/* Wait for pending events and fold their times into the table. */
void sg2_profile_collect(sg2_profile *p);
void sg2_profile_print(sg2_profile *p, FILE *out);
void sg2_profile_free(sg2_profile *p);

#endif
