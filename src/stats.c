#include "src/stats.h"

#include <math.h>
#include <string.h>

static sg2_stat *find(sg2_stats *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->items[i].name, name) == 0)
            return &s->items[i];
    if (s->n == SG2_STATS_MAX)
        return NULL;
    sg2_stat *st = &s->items[s->n++];
    memset(st, 0, sizeof *st);
    snprintf(st->name, sizeof st->name, "%s", name);
    return st;
}

void sg2_stats_add(sg2_stats *s, const char *name, const float *values, int count)
{
    sg2_stat *st = find(s, name);
    for (int i = 0; st && i < count; i++) {
        double v = values[i];
        if (!isfinite(v))
            continue; /* the reference drops non-finite values from its averages */
        st->num += 1;
        st->sum += v;
        st->sumsq += v * v;
    }
}

void sg2_stats_add1(sg2_stats *s, const char *name, double value)
{
    float v = (float)value;
    sg2_stats_add(s, name, &v, 1);
}

double sg2_stats_mean(const sg2_stats *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->items[i].name, name) == 0 && s->items[i].num > 0)
            return s->items[i].sum / s->items[i].num;
    return NAN;
}

void sg2_stats_write_jsonl(const sg2_stats *s, FILE *out, double timestamp)
{
    fputc('{', out);
    for (int i = 0; i < s->n; i++) {
        const sg2_stat *st = &s->items[i];
        double mean = st->num > 0 ? st->sum / st->num : 0.0;
        double var = st->num > 0 ? st->sumsq / st->num - mean * mean : 0.0;
        fprintf(out, "\"%s\": {\"num\": %.0f, \"mean\": %.9g, \"std\": %.9g}, ", st->name, st->num, mean,
                sqrt(var > 0 ? var : 0));
    }
    fprintf(out, "\"timestamp\": %.6f}\n", timestamp);
}

void sg2_stats_reset(sg2_stats *s)
{
    s->n = 0;
}
