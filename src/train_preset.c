/* The reference's --cfg presets (train.py), evaluated for one device. */
#include <string.h>

#include "src/train.h"

sg2_status sg2_train_preset(sg2_train_opts *o, const char *cfg, int res, sg2_error *err)
{
    *o = (sg2_train_opts){0};
    o->cfg = cfg;
    o->kimg = 25000;
    o->kimg_per_tick = 4;
    o->snap = 50;
    o->cmax = 512;
    o->conv_clamp = 256;  /* the reference's default (mixed precision) clamps every conv */
    o->d_arch = SG2_ARCH_RESNET;
    o->pl_weight = 2;
    o->style_mixing = 0.9f;
    o->g_reg_interval = 4;
    o->d_reg_interval = 16;
    o->ema_rampup = 0;
    o->grid_max = 64;
    if (strcmp(cfg, "auto") == 0) {
        int b = 4096 / res < 32 ? 4096 / res : 32;
        o->batch = b > 64 ? 64 : b < 1 ? 1 : b;
        o->mbstd_group = o->batch < 4 ? o->batch : 4;
        o->cbase = res >= 512 ? 32768 : 16384;
        o->lr = res >= 1024 ? 0.002f : 0.0025f;
        o->gamma = 0.0002f * (float)res * (float)res / (float)o->batch;
        o->ema_kimg = o->batch * 10.0 / 32.0;
        o->ema_rampup = 0.05;
        o->map_layers = 2;
    } else if (strcmp(cfg, "stylegan2") == 0) {
        o->batch = 32, o->mbstd_group = 4, o->cbase = 32768, o->lr = 0.002f, o->gamma = 10, o->ema_kimg = 10;
        o->map_layers = 8;
    } else if (strcmp(cfg, "paper256") == 0) {
        o->batch = 64, o->mbstd_group = 8, o->cbase = 16384, o->lr = 0.0025f, o->gamma = 1, o->ema_kimg = 20;
        o->map_layers = 8;
    } else if (strcmp(cfg, "paper512") == 0) {
        o->batch = 64, o->mbstd_group = 8, o->cbase = 32768, o->lr = 0.0025f, o->gamma = 0.5f, o->ema_kimg = 20;
        o->map_layers = 8;
    } else if (strcmp(cfg, "paper1024") == 0) {
        o->batch = 32, o->mbstd_group = 4, o->cbase = 32768, o->lr = 0.002f, o->gamma = 2, o->ema_kimg = 10;
        o->map_layers = 8;
    } else if (strcmp(cfg, "cifar") == 0) {
        o->batch = 64, o->mbstd_group = 32, o->cbase = 32768, o->lr = 0.0025f, o->gamma = 0.01f, o->ema_kimg = 500;
        o->ema_rampup = 0.05, o->map_layers = 2, o->kimg = 100000;
        o->pl_weight = 0, o->style_mixing = 0, o->d_arch = SG2_ARCH_ORIG;
    } else {
        return sg2_error_set(err, SG2_ERR_ARG,
                             "--cfg '%s' (auto, stylegan2, paper256, paper512, paper1024 or cifar)", cfg);
    }
    o->batch_gpu = o->batch;
    return SG2_OK;
}
