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

typedef struct sg2_profile {
    int enabled;
    cl_event *pending;        /* events not yet read */
    const char **pending_name;
    int n_pending, cap_pending;
    sg2_profile_row *rows;
    int n_rows, cap_rows;
} sg2_profile;

void sg2_profile_init(sg2_profile *p, int enabled);
/* Takes ownership of the event. */
void sg2_profile_add(sg2_profile *p, const char *kernel_name, cl_event ev);
/* Wait for pending events and fold their times into the table. */
void sg2_profile_collect(sg2_profile *p);
void sg2_profile_print(sg2_profile *p, FILE *out);
void sg2_profile_free(sg2_profile *p);

#endif
