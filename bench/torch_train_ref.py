"""Training pieces for the PyTorch side of bench/torch_bench.py, on top of the model in
tests/vectors/sg2_torch_ref.py (imported, not changed): parameters as leaf tensors, the
generator as training runs it (w_avg tracking, style mixing, random noise, non-fused
modulated conv), the four loss phases of the reference's StyleGAN2Loss, Adam with the lazy
regularization adjustment, and G EMA. It mirrors src/loss.c, src/optim.c and src/train.c so
both sides do the same arithmetic per iteration; it is a benchmark, not a trainer.
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "vectors"))
import sg2_torch_ref as ref  # noqa: E402

# Buffers, not parameters: not trained, not counted (as the C side's trainable_only count).
BUFFER_SUFFIXES = (".noise_const", "mapping.w_avg")


def is_buffer(name):
    return name.endswith(BUFFER_SUFFIXES)


def make_configs(res, cbase, cmax, map_layers, mbstd_group, conv_clamp=256.0):
    """The C trainer's networks (src/train.c build_networks): skip G, resnet D, 512-d z and w,
    conv_clamp 256 (the preset's), mbstd group min(batch, 4)."""
    g = ref.GenConfig(z_dim=512, w_dim=512, img_resolution=res, img_channels=3,
                      map_layers=map_layers, channel_base=cbase, channel_max=cmax,
                      conv_clamp=conv_clamp, architecture="skip")
    d = ref.DiscConfig(img_resolution=res, img_channels=3, channel_base=cbase, channel_max=cmax,
                       conv_clamp=conv_clamp, architecture="resnet", mbstd_group=mbstd_group)
    return g, d


def init_reference(shapes, seed):
    """The reference's initial values: noise strengths and w_avg start at 0."""
    p = ref.init_params(shapes, torch.Generator().manual_seed(seed))
    for name, _, kind in shapes:
        if kind in ("noise_strength", "w_avg"):
            p[name].zero_()
    return p


def count_params(shapes):
    return sum(math.prod(s) for name, s, _ in shapes if not is_buffer(name))


def trainable(p):
    return [t for name, t in p.items() if not is_buffer(name)]


def g_gflop(cfg):
    """2 x multiply-adds of the convs and FC layers of one G forward (as bench_generate)."""
    w, f, cin = cfg.w_dim, 0.0, 0
    for i in range(cfg.map_layers):
        f += 2.0 * (cfg.z_dim if i == 0 else w) * w
    for res in ref.block_resolutions(cfg.img_resolution):
        co, hw = cfg.ch(res), float(res * res)
        if res > 4:
            f += 2.0 * w * cin + 2.0 * co * cin * 9 * hw / 4
        f += 2.0 * w * co + 2.0 * co * co * 9 * hw
        f += 2.0 * w * co + 2.0 * cfg.img_channels * co * hw
        cin = co
    return f * 1e-9


def d_gflop(cfg):
    """The same for one resnet D forward (as bench_train.c)."""
    r = cfg.img_resolution
    f = 2.0 * cfg.img_channels * cfg.ch(r) * r * r
    res = r
    while res >= 8:
        tmp, co, hw = cfg.ch(res), cfg.ch(res // 2), float(res * res)
        f += 2.0 * tmp * tmp * 9 * hw + 2.0 * co * tmp * 9 * hw / 4 + 2.0 * co * tmp * hw / 4
        res //= 2
    c4 = cfg.ch(4)
    f += 2.0 * c4 * (c4 + 1) * 9 * 16 + 2.0 * c4 * 16 * c4 + 2.0 * c4
    return f * 1e-9


class Trainer:
    """One training iteration = Gmain, Greg (every g_reg), Dmain, Dreg (every d_reg), each phase
    followed by its Adam step, then the G EMA; the settings of sg2_train_preset("auto")."""

    def __init__(self, res, cbase, cmax, map_layers, batch, seed=0):
        self.batch = batch
        self.gcfg, self.dcfg = make_configs(res, cbase, cmax, map_layers, min(batch, 4))
        gs, ds = ref.gen_param_shapes(self.gcfg), ref.disc_param_shapes(self.dcfg)
        self.g_count, self.d_count = count_params(gs), count_params(ds)
        torch.manual_seed(seed)
        self.G = init_reference(gs, seed)
        self.D = init_reference(ds, seed + 1)
        self.G_ema = {k: v.clone() for k, v in self.G.items()}
        for t in trainable(self.G) + trainable(self.D):
            t.requires_grad_(True)
        self.g_reg, self.d_reg = 4, 16
        self.r1_gamma = 0.0002 * res * res / batch
        self.pl_weight, self.pl_decay, self.pl_shrink, self.mixing = 2.0, 0.01, 2, 0.9
        self.pl_mean = torch.zeros([])
        self.ema_kimg, self.ema_rampup = batch * 10.0 / 32.0, 0.05
        lr = 0.002 if res >= 1024 else 0.0025
        self.G_opt = self._adam(trainable(self.G), lr, self.g_reg)
        self.D_opt = self._adam(trainable(self.D), lr, self.d_reg)
        self.cur_nimg = self.batch_idx = 0
        self.last_losses = {}  # phase -> loss value of its last run

    @staticmethod
    def _adam(params, lr, interval):
        r = interval / (interval + 1)
        return torch.optim.Adam(params, lr=lr * r, betas=(0.0 ** r, 0.99 ** r), eps=1e-8)

    def run_G(self, z):
        """Mapping (tracking w_avg), style mixing with one cutoff per batch, synthesis with
        random noise and the non-fused modulated conv. Returns (img, ws)."""
        cfg = self.gcfg
        w = ref.mapping(self.G, "mapping.", z, None, cfg.map_layers, cfg.map_lr_mul)
        w_avg = self.G["mapping.w_avg"]
        with torch.no_grad():
            w_avg.copy_(w.detach().mean(0).lerp(w_avg, 0.995))
        ws = w[:, None, :].repeat(1, cfg.num_ws, 1)
        cutoff = int(torch.randint(1, cfg.num_ws, []))
        if float(torch.rand([])) < self.mixing:
            w2 = ref.mapping(self.G, "mapping.", torch.randn_like(z), None, cfg.map_layers,
                             cfg.map_lr_mul)
            ws = torch.cat([ws[:, :cutoff], w2[:, None, :].repeat(1, cfg.num_ws - cutoff, 1)], 1)
        img = ref.synthesis(self.G, cfg, ws, noise_mode="random", fused=False)
        return img, ws

    def D_fwd(self, img):
        return ref.discriminator(self.D, self.dcfg, img)

    def _step(self, opt, params, loss, name):
        self.last_losses[name] = float(loss.detach())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for t in params:
            if t.grad is not None:
                torch.nan_to_num(t.grad, nan=0, posinf=1e5, neginf=-1e5, out=t.grad)
        opt.step()

    def _requires_grad(self, p, on):
        for t in trainable(p):
            t.requires_grad_(on)

    def phase_gmain(self, z):
        img, _ = self.run_G(z)
        return F.softplus(-self.D_fwd(img)).mean()

    def phase_greg(self, z):
        n = max(z.shape[0] // self.pl_shrink, 1)
        img, ws = self.run_G(z[:n])
        noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
        g, = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
        lengths = g.square().sum(2).mean(1).sqrt()
        self.pl_mean = self.pl_mean.lerp(lengths.detach().mean(), self.pl_decay)
        penalty = (lengths - self.pl_mean).square()
        return (img[:, 0, 0, 0] * 0 + penalty * self.pl_weight).mean() * self.g_reg

    def phase_dmain(self, z, reals):
        with torch.no_grad():
            img, _ = self.run_G(z)
        return F.softplus(self.D_fwd(img)).mean() + F.softplus(-self.D_fwd(reals)).mean()

    def phase_dreg(self, reals):
        x = reals.detach().requires_grad_(True)
        logits = self.D_fwd(x)
        g, = torch.autograd.grad(logits.sum(), x, create_graph=True)
        penalty = g.square().sum([1, 2, 3])
        return (logits[:, 0] * 0 + penalty * (self.r1_gamma / 2)).mean() * self.d_reg

    def iteration(self, reals):
        b, i = self.batch, self.batch_idx
        z = torch.randn([4 * b, self.gcfg.z_dim])
        gp, dp = trainable(self.G), trainable(self.D)
        self._requires_grad(self.D, False)
        self._step(self.G_opt, gp, self.phase_gmain(z[:b]), "Gmain")
        if i % self.g_reg == 0:
            self._step(self.G_opt, gp, self.phase_greg(z[b:2 * b]), "Greg")
        self._requires_grad(self.D, True)
        self._requires_grad(self.G, False)
        self._step(self.D_opt, dp, self.phase_dmain(z[2 * b:3 * b], reals), "Dmain")
        if i % self.d_reg == 0:
            self._step(self.D_opt, dp, self.phase_dreg(reals), "Dreg")
        self._requires_grad(self.G, True)
        self.ema()
        self.cur_nimg += b
        self.batch_idx += 1

    @torch.no_grad()
    def ema(self):
        ema_nimg = self.ema_kimg * 1000
        if self.ema_rampup > 0:
            ema_nimg = min(ema_nimg, self.cur_nimg * self.ema_rampup)
        beta = 0.5 ** (self.batch / max(ema_nimg, 1e-8))
        for k, v in self.G.items():
            if is_buffer(k):
                self.G_ema[k].copy_(v)
            else:
                self.G_ema[k].copy_(v.detach().lerp(self.G_ema[k], beta))
