/* convert: a reference pickle (.pkl) to a stylegan2-cl checkpoint. */
#include <stdio.h>
#include <string.h>

#include "src/checkpoint.h"
#include "src/commands.h"

int sg2_cmd_convert(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("Usage: stylegan2-cl convert IN.pkl OUT.safetensors\n"
               "Read a network pickle of stylegan2-ada-pytorch, the StyleGAN3 repository (StyleGAN2\n"
               "networks) or the TensorFlow StyleGAN2, without Python, and write G, D and G_ema as a\n"
               "checkpoint (tensors named like the reference's state_dict, loadable with the Python\n"
               "safetensors package). Nothing in the pickle is executed.\n");
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "stylegan2-cl convert: usage: stylegan2-cl convert IN.pkl OUT.safetensors\n");
        return 2;
    }
    const char *in = argv[1], *out = argv[2];
    sg2_runtime rt;
    sg2_ctx ctx;
    sg2_error err = {0};
    if (sg2_runtime_init(&rt, sg2_cli_device, &err)) {
        fprintf(stderr, "stylegan2-cl convert: %s\n", err.msg);
        return 1;
    }
    sg2_ctx_init(&ctx, &rt);
    sg2_generator g = {0}, g_ema = {0};
    sg2_discriminator d = {0};
    int have_g = 0, have_d = 0, have_ema = 0;
    have_ema = sg2_load_generator(&ctx, in, "G_ema", &g_ema) == SG2_OK;
    if (have_ema) {
        /* G and D are optional: pickles of G_ema alone exist (e.g. converted TF Gs). */
        have_g = sg2_load_generator(&ctx, in, "G", &g) == SG2_OK;
        sg2_ctx_clear_error(&ctx);
        have_d = sg2_load_discriminator(&ctx, in, &d) == SG2_OK;
        if (!have_d)
            fprintf(stderr, "stylegan2-cl convert: note: no discriminator written (%s)\n", ctx.err.msg);
        sg2_ctx_clear_error(&ctx);
        sg2_checkpoint_save(&ctx, out, have_g ? &g : NULL, have_d ? &d : NULL, &g_ema, NULL, 0, NULL, 0);
    }
    int rc = ctx.err.status ? 1 : 0;
    if (rc)
        fprintf(stderr, "stylegan2-cl convert: %s\n", ctx.err.msg);
    else
        printf("wrote %s: %s%s%s, %d x %d, %lld generator parameters\n", out, have_g ? "G, " : "",
               have_d ? "D, " : "", "G_ema", g_ema.cfg.img_resolution, g_ema.cfg.img_resolution,
               (long long)sg2_params_count(&g_ema.params, 1));
    if (have_g)
        sg2_generator_free(&g);
    if (have_ema)
        sg2_generator_free(&g_ema);
    if (have_d)
        sg2_discriminator_free(&d);
    sg2_ctx_free(&ctx);
    sg2_runtime_free(&rt);
    return rc;
}
