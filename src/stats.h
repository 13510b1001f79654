/* Training statistics as the reference reports them: per tick, for every
 * name, the count, mean and standard deviation of the values reported. */
#ifndef SG2_STATS_H
#define SG2_STATS_H
#include <stdio.h>

#define SG2_STATS_MAX 48

typedef struct sg2_stat {
    char name[48];
    double num, sum, sumsq;
} sg2_stat;

typedef struct sg2_stats {
    sg2_stat items[SG2_STATS_MAX];
    int n;
} sg2_stats;

void sg2_stats_add(sg2_stats *s, const char *name, const float *values, int count);
void sg2_stats_add1(sg2_stats *s, const char *name, double value);
/* Mean of a statistic this tick (NAN when nothing was reported). */
double sg2_stats_mean(const sg2_stats *s, const char *name);
/* One JSON line: {"Name": {"num": n, "mean": m, "std": s}, ..., "timestamp": t}. */
void sg2_stats_write_jsonl(const sg2_stats *s, FILE *out, double timestamp);
void sg2_stats_reset(sg2_stats *s);

#endif
