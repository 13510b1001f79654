/* Network configurations to and from JSON text (checkpoint metadata). */
#ifndef SG2_NETWORK_JSON_H
#define SG2_NETWORK_JSON_H
#include "src/network.h"

/* malloc'd compact JSON; NULL when out of memory. */
char *sg2_g_config_to_json(const sg2_g_config *c);
char *sg2_d_config_to_json(const sg2_d_config *c);
/* Parse and check; `what` names the source (a file) in errors. Missing keys
 * take the reference's defaults. */
sg2_status sg2_g_config_from_json(const char *text, sg2_g_config *c, const char *what, sg2_error *err);
sg2_status sg2_d_config_from_json(const char *text, sg2_d_config *c, const char *what, sg2_error *err);
sg2_status sg2_arch_parse(const char *s, sg2_arch *out, sg2_error *err);

#endif
