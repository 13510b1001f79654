#include "src/cli_util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

sg2_status sg2_parse_long(const char *text, long lo, long hi, const char *what, long *out, sg2_error *err)
{
    char *end = NULL;
    errno = 0;
    long v = text && *text ? strtol(text, &end, 10) : 0;
    if (!text || !*text || *end != '\0' || errno == ERANGE)
        return sg2_error_set(err, SG2_ERR_ARG, "%s: '%s' is not a whole number", what, text ? text : "");
    if (v < lo || v > hi)
        return sg2_error_set(err, SG2_ERR_ARG, "%s: %ld is outside %ld..%ld", what, v, lo, hi);
    *out = v;
    return SG2_OK;
}

sg2_status sg2_parse_float(const char *text, double lo, double hi, const char *what, double *out, sg2_error *err)
{
    char *end = NULL;
    errno = 0;
    double v = text && *text ? strtod(text, &end) : 0;
    if (!text || !*text || *end != '\0' || errno == ERANGE || !isfinite(v))
        return sg2_error_set(err, SG2_ERR_ARG, "%s: '%s' is not a number", what, text ? text : "");
    if (v < lo || v > hi)
        return sg2_error_set(err, SG2_ERR_ARG, "%s: %g is outside %g..%g", what, v, lo, hi);
    *out = v;
    return SG2_OK;
}

static sg2_status push(long **vals, int *n, int *cap, long v, sg2_error *err)
{
    if (*n == *cap) {
        int c = *cap ? *cap * 2 : 16;
        if (c > 1 << 20)
            return sg2_error_set(err, SG2_ERR_ARG, "list longer than %d values", 1 << 20);
        long *g = realloc(*vals, (size_t)c * sizeof *g);
        if (!g)
            return sg2_error_set(err, SG2_ERR_NOMEM, "out of memory parsing a list");
        *vals = g;
        *cap = c;
    }
    (*vals)[(*n)++] = v;
    return SG2_OK;
}

sg2_status sg2_parse_num_list(const char *text, long lo, long hi, long **values, int *count, sg2_error *err)
{
    *values = NULL;
    *count = 0;
    if (!text || !*text)
        return sg2_error_set(err, SG2_ERR_ARG, "empty list");
    char *copy = strdup(text);
    if (!copy)
        return sg2_error_set(err, SG2_ERR_NOMEM, "out of memory");
    long *vals = NULL;
    int n = 0, cap = 0;
    sg2_status st = SG2_OK;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item && !st; item = strtok_r(NULL, ",", &save)) {
        /* "a-b" is a range; a leading '-' would be a negative number, which no list here takes. */
        char *dash = strchr(item + 1, '-');
        long a, b;
        if (dash) {
            *dash = '\0';
            st = sg2_parse_long(item, lo, hi, "list", &a, err);
            if (!st)
                st = sg2_parse_long(dash + 1, lo, hi, "list", &b, err);
            if (!st && b < a)
                st = sg2_error_set(err, SG2_ERR_ARG, "range %ld-%ld runs backwards", a, b);
            for (long v = a; !st && v <= b; v++)
                st = push(&vals, &n, &cap, v, err);
        } else {
            st = sg2_parse_long(item, lo, hi, "list", &a, err);
            if (!st)
                st = push(&vals, &n, &cap, a, err);
        }
    }
    free(copy);
    if (!st && n == 0)
        st = sg2_error_set(err, SG2_ERR_ARG, "empty list '%s'", text);
    if (st) {
        free(vals);
        return st;
    }
    *values = vals;
    *count = n;
    return SG2_OK;
}
