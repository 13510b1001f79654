/* stylegan2-cl tune: tune every registered workload at the StyleGAN2 preset
 * shapes, print tuned against default per kernel and shape class, and
 * write the tuning cache that later runs load. */
#include <stdio.h>
#include <string.h>

#include "src/cli_util.h"
#include "src/commands.h"
#include "src/tune.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: stylegan2-cl tune [--budget SEC] [--kernel NAME]\n"
            "Tune the kernels' work-group sizes and work per item on this device, for the shapes of\n"
            "the StyleGAN2 presets (32x32 and 256x256), and write the tuning cache.\n\n"
            "  --budget SEC   search time per shape class (default 10)\n"
            "  --kernel NAME  only this kernel family (");
    for (int i = 0; sg2_tune_families[i]; i++)
        fprintf(out, "%s%s", i ? ", " : "", sg2_tune_families[i]->name);
    fprintf(out,
            ")\n\nTimes are the median wall time per launch, default and tuned timed in alternation.\n"
            "Environment: SG2_TUNE=0 ignores tuned values; SG2_TUNE_BUDGET=SEC sets the budget of\n"
            "tuning on first use (default 2, 0 = only cached results).\n");
}

static void print_row(const sg2_tune_result *r)
{
    /* key = family/class@source-hash */
    char family[64], cls[96];
    const char *slash = strchr(r->key, '/'), *at = strrchr(r->key, '@');
    snprintf(family, sizeof family, "%.*s", slash ? (int)(slash - r->key) : (int)strlen(r->key), r->key);
    snprintf(cls, sizeof cls, "%.*s", slash && at > slash ? (int)(at - slash - 1) : 0, slash ? slash + 1 : "");
    printf("%-16s %-26s %11.1f %11.1f %7.2fx  %3d/%-3d  %s\n", family, cls, r->default_us,
           r->tuned_us, r->tuned_us > 0 ? r->default_us / r->tuned_us : 1.0, r->tried, r->rejected + r->failed,
           r->options[0] ? r->options : "(defaults)");
    fflush(stdout);
}

/* Tune one family at its presets; shapes of the same class are tuned once. */
static int tune_family(sg2_runtime *rt, const sg2_tune_family *f, double budget)
{
    char done[64][SG2_TUNE_KEY_LEN];
    int n_done = 0, failures = 0;
    for (int i = 0; i < f->n_presets; i++) {
        char key[SG2_TUNE_KEY_LEN];
        sg2_tune_key(f, f->presets[i], key, sizeof key);
        int seen = 0;
        for (int j = 0; j < n_done; j++)
            seen |= strcmp(done[j], key) == 0;
        if (seen)
            continue;
        if (n_done < (int)(sizeof done / sizeof done[0]))
            snprintf(done[n_done++], sizeof done[0], "%s", key);
        sg2_tune_result r;
        sg2_error err = {0};
        if (sg2_tune_shape(rt, f, f->presets[i], budget, &r, &err)) {
            fprintf(stderr, "stylegan2-cl tune: %s: %s\n", key, err.msg);
            failures++;
            continue;
        }
        print_row(&r);
    }
    return failures;
}

int sg2_cmd_tune(int argc, char **argv)
{
    double budget = 10.0;
    const char *only = NULL;
    sg2_error err = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--budget") == 0 && i + 1 < argc) {
            if (sg2_parse_float(argv[++i], 0.0, 86400.0, "--budget", &budget, &err)) {
                fprintf(stderr, "stylegan2-cl tune: %s\n", err.msg);
                return 2;
            }
        } else if (strcmp(argv[i], "--kernel") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else {
            fprintf(stderr, "stylegan2-cl tune: unexpected argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    int matched = 0;
    for (int i = 0; sg2_tune_families[i]; i++)
        matched |= !only || strcmp(only, sg2_tune_families[i]->name) == 0;
    if (!matched) {
        fprintf(stderr, "stylegan2-cl tune: no kernel family '%s' (see --help)\n", only);
        return 2;
    }
    sg2_runtime rt;
    if (sg2_runtime_init(&rt, sg2_cli_device, &err)) {
        fprintf(stderr, "stylegan2-cl tune: %s\n", err.msg);
        return 1;
    }
    char path[1100] = "(none)";
    sg2_tuner_cache_path(&rt.dev, path, sizeof path);
    printf("device: %s (%s, driver %s)\nbudget: %.1f s per shape class\n\n", rt.dev.name, rt.dev.platform_name,
           rt.dev.driver_version, budget);
    printf("%-16s %-26s %11s %11s %8s  %-7s  %s\n", "kernel", "shape class", "default us", "tuned us", "speed-up",
           "tried/rej", "chosen defines");
    int failures = 0;
    for (int i = 0; sg2_tune_families[i]; i++)
        if (!only || strcmp(only, sg2_tune_families[i]->name) == 0)
            failures += tune_family(&rt, sg2_tune_families[i], budget);
    int rc = failures ? 1 : 0;
    if (sg2_tuner_save(&rt.dev, &err)) {
        fprintf(stderr, "stylegan2-cl tune: %s\n", err.msg);
        rc = 1;
    } else {
        printf("\ncache: %s\n", path);
    }
    sg2_runtime_free(&rt);
    return rc;
}
