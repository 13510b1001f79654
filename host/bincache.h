/* On-disk cache of built program binaries, keyed by everything that changes
 * the binary: platform, device, driver, OpenCL C version, source, options.
 *
 * Whether it helps depends on the driver. Measured on PoCL 3.1 (Debian 12,
 * 2-core Zen 4; bench/README.md): a fresh run of tests/test_conv takes 3.67 s
 * with PoCL's kernel cache cold, 0.92 s with it warm, 2.12 s with it cold
 * but ours warm, and 6.52 s on the run that fills ours (asking PoCL for
 * CL_PROGRAM_BINARIES compiles more). PoCL's own cache, on by default, wins,
 * so ours is off there; NVIDIA's driver caches in ~/.nv/ComputeCache, so it
 * is off there too. Elsewhere it is on.
 * $SG2_BINARY_CACHE=0|1 overrides. */
#ifndef SG2_BINCACHE_H
#define SG2_BINCACHE_H
#include <stddef.h>
#include "host/device.h"

/* 1 when the cache should be used for this device. */
int sg2_bincache_enabled(const sg2_device_info *dev);
/* 32 hex digits + NUL. */
void sg2_bincache_key(char key[33], const sg2_device_info *dev, const char *source, const char *options);
/* 1 and a malloc'd binary when a valid entry exists; 0 otherwise (a corrupt
 * entry is deleted). */
int sg2_bincache_load(const char *key, unsigned char **binary, size_t *length);
/* Best effort: written to a temporary file and renamed; failures are silent
 * because the cache is only an optimisation. */
void sg2_bincache_store(const char *key, const unsigned char *binary, size_t length);

#endif
