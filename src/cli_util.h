/* Small parsers shared by the subcommands: number lists and ranges as the
 * reference tools take them ("0-7,42"), and numbers with range checks. */
#ifndef SG2_CLI_UTIL_H
#define SG2_CLI_UTIL_H
#include <stdint.h>

#include "host/status.h"

/* "a,b,c-d" -> a malloc'd list of values in order (ranges inclusive).
 * Values must lie in [lo, hi]. */
sg2_status sg2_parse_num_list(const char *text, long lo, long hi, long **values, int *count, sg2_error *err);
/* Whole decimal number in [lo, hi]; `what` names the option in the error. */
sg2_status sg2_parse_long(const char *text, long lo, long hi, const char *what, long *out, sg2_error *err);
sg2_status sg2_parse_float(const char *text, double lo, double hi, const char *what, double *out, sg2_error *err);

#endif
