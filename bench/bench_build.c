/* Times building every kernel program for one device, to measure what the
 * on-disk program binary cache and the driver's own cache buy.
 * Usage: bench_build [--device N|NAME]
 * Prints one JSON line: device, driver, whether our cache was on, programs
 * built from source, loaded from our cache, and the seconds it took. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "host/kernel_sources.h"
#include "host/runtime.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    const char *selector = NULL;
    if (argc == 3 && strcmp(argv[1], "--device") == 0)
        selector = argv[2];
    else if (argc != 1) {
        fprintf(stderr, "usage: bench_build [--device N|NAME]\n");
        return 2;
    }
    sg2_runtime rt;
    sg2_error err = {0};
    if (sg2_runtime_init(&rt, selector, &err)) {
        fprintf(stderr, "bench_build: %s\n", err.msg);
        return 1;
    }
    double t0 = now();
    int files = 0;
    for (const sg2_kernel_source *s = sg2_kernel_sources; s->name; s++, files++) {
        cl_program prog;
        if (sg2_runtime_program(&rt, s->name, NULL, &prog, &err)) {
            fprintf(stderr, "bench_build: %s\n", err.msg);
            sg2_runtime_free(&rt);
            return 1;
        }
    }
    double secs = now() - t0;
    printf("{\"device\": \"%s\", \"driver\": \"%s\", \"binary_cache\": %d, \"programs\": %d, "
           "\"built_from_source\": %d, \"loaded_from_cache\": %d, \"seconds\": %.3f}\n",
           rt.dev.name, rt.dev.driver_version, rt.binary_cache, files, rt.builds, rt.cache_hits, secs);
    sg2_runtime_free(&rt);
    return 0;
}
