/* stylegan2-cl: the command line. Subcommands parse their own options;
 * only this layer prints errors and exits. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/device.h"
#include "host/runtime.h"
#include "src/commands.h"

typedef struct command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} command;

static int cmd_devices(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const command commands[] = {
    {"devices", "list OpenCL platforms and devices", cmd_devices},
    {"train", "train StyleGAN2 on a folder, zip or IDX dataset", sg2_cmd_train},
    {"generate", "images from seeds (the reference's generate.py)", sg2_cmd_generate},
    {"style-mix", "style-mixing grid (the reference's style_mixing.py)", sg2_cmd_style_mix},
    {"interpolate", "frames between seeds, in W or Z", sg2_cmd_interpolate},
    {"convert", "reference .pkl to a .safetensors checkpoint", sg2_cmd_convert},
    {"dataset", "make a dataset zip or folder (the reference's dataset_tool.py)", sg2_cmd_dataset},
    {"tune", "tune kernel work-group sizes for this device, write the cache", sg2_cmd_tune},
    {"bench", "validate and time the benchmark workloads, write a JSON report", sg2_cmd_bench},
    {"help", "show this help", cmd_help},
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: stylegan2-cl [--device N|NAME] COMMAND [OPTIONS]\n"
            "StyleGAN2 training and generation on any OpenCL 1.2 device.\n\n"
            "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\nGlobal options:\n"
            "  --device N|NAME  device index or name substring (default: $SG2_DEVICE, else first GPU)\n"
            "  --help           show this help\n"
            "  --version        show the version\n"
            "\nEnvironment:\n"
            "  SG2_DEVICE        default device selector\n"
            "  SG2_PROFILE=1     print per-kernel device times at exit\n"
            "  SG2_KERNEL_DIR    load kernel sources from this directory instead of the built-in copies\n"
            "  SG2_BINARY_CACHE  0|1: on-disk program binary cache (default: off on PoCL and NVIDIA)\n"
            "  SG2_CACHE_DIR     cache directory (default: $XDG_CACHE_HOME/stylegan2-cl)\n"
            "\nReport bugs with the output of 'stylegan2-cl devices'.\n");
}

static int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    usage(stdout);
    return 0;
}


static int cmd_devices(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("Usage: stylegan2-cl devices\nList every OpenCL device; the one marked * is the default.\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "stylegan2-cl devices: unexpected argument '%s'\n", argv[1]);
        return 2;
    }
    sg2_error err = {0};
    sg2_device_info *devs = NULL;
    int n = 0, chosen = -1;
    if (sg2_device_list(&devs, &n, &err)) {
        fprintf(stderr, "stylegan2-cl: %s\n", err.msg);
        return 1;
    }
    sg2_device_print(stdout, devs, n);
    if (sg2_device_select(devs, n, sg2_cli_device, &chosen, &err) == SG2_OK)
        printf("selected: [%d] %s\n", chosen, devs[chosen].name);
    else
        fprintf(stderr, "stylegan2-cl: %s\n", err.msg);
    free(devs);
    return chosen >= 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("%s\n", PACKAGE_STRING);
            return 0;
        } else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
            sg2_cli_device = argv[++i];
        } else if (strncmp(argv[i], "--device=", 9) == 0) {
            sg2_cli_device = argv[i] + 9;
        } else {
            fprintf(stderr, "stylegan2-cl: unknown option '%s' (see 'stylegan2-cl --help')\n", argv[i]);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
        if (strcmp(argv[i], commands[c].name) == 0)
            return commands[c].run(argc - i, argv + i);
    fprintf(stderr, "stylegan2-cl: unknown command '%s' (see 'stylegan2-cl --help')\n", argv[i]);
    return 2;
}
