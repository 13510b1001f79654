"""A small PyTorch StyleGAN2 (generator + discriminator), written from the formulas in
/work/shared/reference-stylegan2.md section 1. It is the oracle for the whole-network test
vectors (make_network_vectors.py); it is not a training implementation.

Parameters live in plain dicts keyed by the reference's state_dict names
('synthesis.b8.conv0.weight', 'b4.fc.bias', ...), stored exactly as the reference stores them
(unscaled, equalized-lr gains applied at run time). Only plain torch ops are used, so the code
runs on the CPU in float32 or float64.
"""
import math

import torch
import torch.nn.functional as F

SQRT2 = math.sqrt(2.0)
SQRT_HALF = math.sqrt(0.5)
LRELU_SLOPE = 0.2


def channels(res, channel_base, channel_max):
    return min(channel_base // res, channel_max)


def block_resolutions(img_resolution):
    return [2 ** i for i in range(2, int(math.log2(img_resolution)) + 1)]


def num_ws_for(img_resolution):
    return 2 * int(math.log2(img_resolution)) - 2


# ---------------------------------------------------------------------------------------------
# Primitive ops

def bias_act(x, b, act, gain, clamp):
    """x + b (per channel, dim 1) -> activation -> * gain -> clamp to [-clamp, clamp]."""
    if b is not None:
        x = x + b.reshape([1, -1] + [1] * (x.ndim - 2))
    if act == "lrelu":
        x = torch.where(x >= 0, x, x * LRELU_SLOPE)
    elif act != "linear":
        raise ValueError(act)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def fir_filter(dtype):
    """The 4x4 outer product of [1,3,3,1], normalised to sum 1."""
    k = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float64)
    f = torch.outer(k, k)
    return (f / f.sum()).to(dtype)


def upfirdn2d(x, f, up=1, down=1, pad=(0, 0), gain=1.0):
    """Zero-insert upsample, pad (same pads on both axes: before, after), true convolution with
    f * gain, keep every down-th pixel. f is symmetric here, so convolution = correlation."""
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    p0, p1 = pad
    x = F.pad(x, [max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)])
    if p0 < 0 or p1 < 0:
        hh, ww = x.shape[2], x.shape[3]
        x = x[:, :, max(-p0, 0):hh - max(-p1, 0), max(-p0, 0):ww - max(-p1, 0)]
    k = (f * gain).flip([0, 1])  # conv2d correlates; flip for a true convolution
    k = k[None, None].repeat(x.shape[1], 1, 1, 1)
    x = F.conv2d(x, k, groups=x.shape[1])
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def upsample2d(x, f):
    return upfirdn2d(x, f, up=2, pad=(2, 1), gain=4.0)


def downsample2d(x, f):
    return upfirdn2d(x, f, down=2, pad=(1, 1))


def conv2d_resample(x, w, f, up=1, down=1, groups=1):
    """Convolution with an odd square kernel w [O, I/groups, k, k], 'same' padding k//2, and
    optional 2x up- or downsampling through the FIR filter f.

    up=2, k>1 : conv_transpose2d stride 2 (weight as [I, O, k, k], not flipped, i.e. a true
                convolution), then FIR pad [1,1] gain 4.
    down=2,k>1: FIR pad [2,2], then conv2d stride 2, no padding.
    up=2, k=1 : conv, then upsample2d.   down=2, k=1: downsample2d, then conv.
    """
    k = w.shape[-1]
    if up == 1 and down == 1:
        return F.conv2d(x, w, padding=k // 2, groups=groups)
    if k == 1:
        if up == 2:
            return upsample2d(F.conv2d(x, w, groups=groups), f)
        return F.conv2d(downsample2d(x, f), w, groups=groups)
    assert k == 3
    if up == 2:
        o, i = w.shape[0] // groups, w.shape[1]
        wt = w.reshape(groups, o, i, k, k).transpose(1, 2).reshape(groups * i, o, k, k)
        x = F.conv_transpose2d(x, wt, stride=2, groups=groups)
        return upfirdn2d(x, f, pad=(1, 1), gain=4.0)
    x = upfirdn2d(x, f, pad=(2, 2))
    return F.conv2d(x, w, stride=2, groups=groups)


def normalize_2nd_moment(x, eps=1e-8):
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def fc(p, name, x, act="linear", lr_mul=1.0):
    """Equalized-lr fully connected layer: x W^T * lr_mul/sqrt(in) + b * lr_mul."""
    w = p[name + ".weight"]
    x = x.matmul((w * (lr_mul / math.sqrt(w.shape[1]))).t())
    b = p.get(name + ".bias")
    b = None if b is None else b * lr_mul
    return bias_act(x, b, act, SQRT2 if act == "lrelu" else 1.0, None)


def conv_layer(p, name, x, f, act="lrelu", up=1, down=1, gain=1.0, conv_clamp=None):
    """Equalized-lr Conv2dLayer: weight * 1/sqrt(I k k), bias unscaled, bias_act."""
    w = p[name + ".weight"]
    w = w * (1.0 / math.sqrt(w.shape[1] * w.shape[2] * w.shape[3]))
    x = conv2d_resample(x, w, f, up=up, down=down)
    def_gain = SQRT2 if act == "lrelu" else 1.0
    clamp = None if conv_clamp is None else conv_clamp * gain
    return bias_act(x, p.get(name + ".bias"), act, def_gain * gain, clamp)


def modulated_conv(x, weight, s, demodulate, up=1, fused=False, f=None, noise=None):
    """x [N,I,H,W], weight [O,I,k,k], styles s [N,I]. Returns conv output (demodulated by
    d[n,o] = rsqrt(sum_{i,k} (w s)^2 + 1e-8) if asked) plus noise."""
    n = x.shape[0]
    o, i, k, _ = weight.shape
    d = None
    if demodulate:
        wm = weight[None] * s[:, None, :, None, None]  # [N,O,I,k,k]
        d = (wm.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N,O]
    if not fused:
        x = conv2d_resample(x * s[:, :, None, None], weight, f, up=up)
        if d is not None:
            x = x * d[:, :, None, None]
    else:
        wm = weight[None] * s[:, None, :, None, None]
        if d is not None:
            wm = wm * d[:, :, None, None, None]
        x = x.reshape(1, n * i, x.shape[2], x.shape[3])
        x = conv2d_resample(x, wm.reshape(n * o, i, k, k), f, up=up, groups=n)
        x = x.reshape(n, o, x.shape[2], x.shape[3])
    if noise is not None:
        x = x + noise
    return x


def minibatch_stddev(x, group_size, num_channels=1):
    """Std over groups of samples; sample j belongs to group j % (N/G) (reshape [G, N/G, ...])."""
    n, c, h, w = x.shape
    g = min(group_size, n)
    nf = num_channels
    y = x.reshape(g, -1, nf, c // nf, h, w)
    y = y - y.mean(dim=0)
    y = (y.square().mean(dim=0) + 1e-8).sqrt()  # [N/G, F, C/F, H, W]
    y = y.mean(dim=[2, 3, 4]).reshape(-1, nf, 1, 1)  # [N/G, F, 1, 1]
    y = y.repeat(g, 1, h, w)  # row j gets group j % (N/G)
    return torch.cat([x, y], dim=1)


# ---------------------------------------------------------------------------------------------
# Generator

class GenConfig:
    def __init__(self, z_dim=16, w_dim=16, c_dim=0, img_resolution=16, img_channels=3,
                 map_layers=2, channel_base=128, channel_max=32, conv_clamp=None,
                 architecture="skip", map_lr_mul=0.01):
        self.z_dim, self.w_dim, self.c_dim = z_dim, w_dim, c_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.map_layers, self.map_lr_mul = map_layers, map_lr_mul
        self.channel_base, self.channel_max = channel_base, channel_max
        self.conv_clamp, self.architecture = conv_clamp, architecture

    def ch(self, res):
        return channels(res, self.channel_base, self.channel_max)

    @property
    def num_ws(self):
        return num_ws_for(self.img_resolution)


def gen_param_shapes(cfg):
    """Ordered (name, shape, kind) of every G tensor; kind says how init_params draws it."""
    out = []
    R = cfg.img_resolution
    for res in block_resolutions(R):
        b = "synthesis.b%d." % res
        cout = cfg.ch(res)
        if res == 4:
            out.append((b + "const", [cout, 4, 4], "randn"))
            convs = [("conv1", cout, cout)]
        else:
            cin = cfg.ch(res // 2)
            convs = [("conv0", cin, cout), ("conv1", cout, cout)]
        for lname, ci, co in convs:
            L = b + lname + "."
            out += [(L + "weight", [co, ci, 3, 3], "randn"),
                    (L + "noise_strength", [], "noise_strength"),
                    (L + "bias", [co], "zeros"),
                    (L + "noise_const", [res, res], "randn"),
                    (L + "affine.weight", [ci, cfg.w_dim], "randn"),
                    (L + "affine.bias", [ci], "ones")]
        if res == R or cfg.architecture == "skip":
            out += [(b + "torgb.weight", [cfg.img_channels, cout, 1, 1], "randn"),
                    (b + "torgb.bias", [cfg.img_channels], "zeros"),
                    (b + "torgb.affine.weight", [cout, cfg.w_dim], "randn"),
                    (b + "torgb.affine.bias", [cout], "ones")]
        if res > 4 and cfg.architecture == "resnet":
            out.append((b + "skip.weight", [cout, cfg.ch(res // 2), 1, 1], "randn"))
    out += mapping_param_shapes("mapping.", cfg.z_dim, cfg.c_dim, cfg.w_dim, cfg.map_layers,
                                cfg.map_lr_mul, with_w_avg=True)
    return out


def mapping_param_shapes(prefix, z_dim, c_dim, w_dim, num_layers, lr_mul, with_w_avg):
    out = [(prefix + "w_avg", [w_dim], "w_avg")] if with_w_avg else []  # buffers before children
    embed = w_dim if c_dim > 0 else 0
    if c_dim > 0:
        out += [(prefix + "embed.weight", [embed, c_dim], "randn"),
                (prefix + "embed.bias", [embed], "zeros")]
    feats = [z_dim + embed] + [w_dim] * num_layers
    for i in range(num_layers):
        out += [(prefix + "fc%d.weight" % i, [feats[i + 1], feats[i]], ("randn_lr", lr_mul)),
                (prefix + "fc%d.bias" % i, [feats[i + 1]], "zeros")]
    return out


def mapping(p, prefix, z, c, num_layers, lr_mul):
    """normalize_2nd_moment(z) ++ normalize_2nd_moment(embed(c)) -> num_layers lrelu FC layers."""
    parts = []
    if z is not None and z.shape[1] > 0:
        parts.append(normalize_2nd_moment(z))
    if c is not None and c.shape[1] > 0:
        parts.append(normalize_2nd_moment(fc(p, prefix + "embed", c)))
    x = torch.cat(parts, dim=1)
    for i in range(num_layers):
        x = fc(p, prefix + "fc%d" % i, x, act="lrelu", lr_mul=lr_mul)
    return x


def gen_mapping(p, cfg, z, c=None, psi=1.0, cutoff=None):
    """-> ws [N, num_ws, w_dim], truncated towards w_avg for ws[:, :cutoff] (all if None)."""
    w = mapping(p, "mapping.", z, c, cfg.map_layers, cfg.map_lr_mul)
    ws = w[:, None, :].repeat(1, cfg.num_ws, 1)
    if psi != 1:
        w_avg = p["mapping.w_avg"]
        k = cfg.num_ws if cutoff is None else cutoff
        head = w_avg + psi * (ws[:, :k] - w_avg)
        ws = torch.cat([head, ws[:, k:]], dim=1)
    return ws


def synthesis_layer(p, name, x, w, f, res, up=1, gain=1.0, conv_clamp=None, noise_mode="const",
                    fused=False):
    s = fc(p, name + ".affine", w)
    noise = None
    if noise_mode == "const":
        noise = p[name + ".noise_const"] * p[name + ".noise_strength"]
    elif noise_mode == "random":
        noise = torch.randn(x.shape[0], 1, res, res, dtype=x.dtype) * p[name + ".noise_strength"]
    x = modulated_conv(x, p[name + ".weight"], s, True, up=up, fused=fused, f=f, noise=noise)
    clamp = None if conv_clamp is None else conv_clamp * gain
    return bias_act(x, p[name + ".bias"], "lrelu", SQRT2 * gain, clamp)


def torgb(p, name, x, w, conv_clamp=None, fused=False):
    wt = p[name + ".weight"]
    s = fc(p, name + ".affine", w) * (1.0 / math.sqrt(wt.shape[1]))
    x = modulated_conv(x, wt, s, False, fused=fused)
    return bias_act(x, p[name + ".bias"], "linear", 1.0, conv_clamp)


def synthesis(p, cfg, ws, noise_mode="const", fused=False):
    f = fir_filter(ws.dtype)
    R = cfg.img_resolution
    kw = dict(conv_clamp=cfg.conv_clamp, noise_mode=noise_mode, fused=fused)
    x = img = None
    idx = 0
    for res in block_resolutions(R):
        b = "synthesis.b%d" % res
        if res == 4:
            x = p[b + ".const"][None].repeat(ws.shape[0], 1, 1, 1)
            x = synthesis_layer(p, b + ".conv1", x, ws[:, idx], f, res, **kw)
            num_conv = 1
        else:
            num_conv = 2
            if cfg.architecture == "resnet":
                y = conv_layer(p, b + ".skip", x, f, act="linear", up=2, gain=SQRT_HALF)
                x = synthesis_layer(p, b + ".conv0", x, ws[:, idx], f, res, up=2, **kw)
                x = synthesis_layer(p, b + ".conv1", x, ws[:, idx + 1], f, res, gain=SQRT_HALF,
                                    **kw)
                x = y + x
            else:
                x = synthesis_layer(p, b + ".conv0", x, ws[:, idx], f, res, up=2, **kw)
                x = synthesis_layer(p, b + ".conv1", x, ws[:, idx + 1], f, res, **kw)
        if img is not None:
            img = upsample2d(img, f)
        if res == R or cfg.architecture == "skip":
            y = torgb(p, b + ".torgb", x, ws[:, idx + num_conv], cfg.conv_clamp, fused)
            img = y if img is None else img + y
        idx += num_conv
    return img


def generator(p, cfg, z, c=None, psi=1.0, cutoff=None, noise_mode="const", fused=False):
    ws = gen_mapping(p, cfg, z, c, psi, cutoff)
    return synthesis(p, cfg, ws, noise_mode, fused)


# ---------------------------------------------------------------------------------------------
# Discriminator

class DiscConfig:
    def __init__(self, c_dim=0, img_resolution=16, img_channels=3, channel_base=128,
                 channel_max=32, conv_clamp=None, architecture="resnet", mbstd_group=2,
                 mbstd_nfeat=1, map_layers=2, cmap_dim=None, map_lr_mul=0.01):
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels
        self.channel_base, self.channel_max = channel_base, channel_max
        self.conv_clamp, self.architecture = conv_clamp, architecture
        self.mbstd_group, self.mbstd_nfeat = mbstd_group, mbstd_nfeat
        self.map_layers, self.map_lr_mul = map_layers, map_lr_mul
        self.cmap_dim = (cmap_dim or self.ch(4)) if c_dim > 0 else 0

    def ch(self, res):
        return channels(res, self.channel_base, self.channel_max)


def disc_param_shapes(cfg):
    out = []
    R = cfg.img_resolution
    for res in reversed(block_resolutions(R)[1:]):
        b = "b%d." % res
        tmp, cout = cfg.ch(res), cfg.ch(res // 2)
        if res == R or cfg.architecture == "skip":
            out += [(b + "fromrgb.weight", [tmp, cfg.img_channels, 1, 1], "randn"),
                    (b + "fromrgb.bias", [tmp], "zeros")]
        out += [(b + "conv0.weight", [tmp, tmp, 3, 3], "randn"), (b + "conv0.bias", [tmp], "zeros"),
                (b + "conv1.weight", [cout, tmp, 3, 3], "randn"), (b + "conv1.bias", [cout], "zeros")]
        if cfg.architecture == "resnet":
            out.append((b + "skip.weight", [cout, tmp, 1, 1], "randn"))
    if cfg.c_dim > 0:
        out += mapping_param_shapes("mapping.", 0, cfg.c_dim, cfg.cmap_dim, cfg.map_layers,
                                    cfg.map_lr_mul, with_w_avg=False)
    c4 = cfg.ch(4)
    if cfg.architecture == "skip":
        out += [("b4.fromrgb.weight", [c4, cfg.img_channels, 1, 1], "randn"),
                ("b4.fromrgb.bias", [c4], "zeros")]
    out += [("b4.conv.weight", [c4, c4 + cfg.mbstd_nfeat, 3, 3], "randn"),
            ("b4.conv.bias", [c4], "zeros"),
            ("b4.fc.weight", [c4, c4 * 16], "randn"), ("b4.fc.bias", [c4], "zeros"),
            ("b4.out.weight", [cfg.cmap_dim or 1, c4], "randn"),
            ("b4.out.bias", [cfg.cmap_dim or 1], "zeros")]
    return out


def discriminator(p, cfg, img, c=None):
    f = fir_filter(img.dtype)
    R = cfg.img_resolution
    clamp = cfg.conv_clamp
    x = None
    for res in reversed(block_resolutions(R)[1:]):
        b = "b%d." % res
        if res == R or cfg.architecture == "skip":
            y = conv_layer(p, b + "fromrgb", img, f, conv_clamp=clamp)
            x = y if x is None else x + y
            img = downsample2d(img, f) if cfg.architecture == "skip" else None
        if cfg.architecture == "resnet":
            y = conv_layer(p, b + "skip", x, f, act="linear", down=2, gain=SQRT_HALF)
            x = conv_layer(p, b + "conv0", x, f, conv_clamp=clamp)
            x = conv_layer(p, b + "conv1", x, f, down=2, gain=SQRT_HALF, conv_clamp=clamp)
            x = y + x
        else:
            x = conv_layer(p, b + "conv0", x, f, conv_clamp=clamp)
            x = conv_layer(p, b + "conv1", x, f, down=2, conv_clamp=clamp)
    # Epilogue at 4x4.
    if cfg.architecture == "skip":
        x = x + conv_layer(p, "b4.fromrgb", img, f)
    if cfg.mbstd_nfeat > 0:
        x = minibatch_stddev(x, cfg.mbstd_group, cfg.mbstd_nfeat)
    x = conv_layer(p, "b4.conv", x, f, conv_clamp=clamp)
    x = fc(p, "b4.fc", x.flatten(1), act="lrelu")
    x = fc(p, "b4.out", x)
    if cfg.c_dim > 0:
        cmap = mapping(p, "mapping.", None, c, cfg.map_layers, cfg.map_lr_mul)
        x = (x * cmap).sum(dim=1, keepdim=True) * (1.0 / math.sqrt(cfg.cmap_dim))
    return x


# ---------------------------------------------------------------------------------------------
# Deterministic parameters

def init_params(shapes, generator_, dtype=torch.float32):
    """Reference init: weights N(0,1) (FC weights N(0,1)/lr_mul), biases 0, affine biases 1;
    plus, for testing, noise_strength ~ N(0,1)*0.5 (reference: 0) and w_avg ~ N(0,1)
    (reference: 0, learnt by EMA), so noise and truncation are exercised."""
    p = {}
    for name, shape, kind in shapes:
        if kind == "randn":
            t = torch.randn(shape, generator=generator_, dtype=torch.float64)
        elif isinstance(kind, tuple) and kind[0] == "randn_lr":
            t = torch.randn(shape, generator=generator_, dtype=torch.float64) / kind[1]
        elif kind == "zeros":
            t = torch.zeros(shape, dtype=torch.float64)
        elif kind == "ones":
            t = torch.ones(shape, dtype=torch.float64)
        elif kind == "noise_strength":
            t = torch.randn(shape, generator=generator_, dtype=torch.float64) * 0.5
        elif kind == "w_avg":
            t = torch.randn(shape, generator=generator_, dtype=torch.float64)
        else:
            raise ValueError(kind)
        p[name] = t.to(torch.float32).to(dtype)
    return p
