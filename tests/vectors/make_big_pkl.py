#!/usr/bin/python3
"""Write a config-F-sized stylegan2-ada-pytorch snapshot, to measure what loading one costs
(bench/README.md, "Loading a 1024² config-F pickle"). Not run by `make check`; its output
(~380 MB) goes to /tmp and is never committed.

Run:  /usr/bin/python3 tests/vectors/make_big_pkl.py [/tmp/big.pkl]   (Debian's PyTorch 1.13)

What it holds: dict(training_set_kwargs, G, D, G_ema, augment_pipe=None), pickled with protocol
4 the way the reference's training loop saves snapshots (every network module a persistent
object, see make_pkl.py, whose torch_utils.persistence stand-in this script reuses).
G and G_ema: 1024x1024, channel_base 32768, channel_max 512, 8 mapping layers, z = w = 512,
conv_clamp 256 (the reference's `--cfg=stylegan2`, i.e. config F). D: the same resolution and
channels, resnet, minibatch-stddev group 4. Tensor names and shapes come from sg2_torch_ref.py
(the reference's state_dict), plus the `resample_filter` buffers every SynthesisLayer,
SynthesisBlock, Conv2dLayer and DiscriminatorBlock of the reference carries; module class names
are the reference's. Values follow the reference's init (weights N(0,1), FC weights N(0,1)/lr_mul,
biases 0, affine biases 1, noise_strength 0, w_avg 0), seeded, so the generated image is what a
freshly initialised config-F G draws.
"""
import os
import pickle
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_pkl  # noqa: E402  (registers torch_utils.persistence and dnnlib.util stand-ins)
import sg2_torch_ref as ref  # noqa: E402

BUFFERS = ("noise_const", "w_avg")
FILTERED = ("SynthesisLayer", "SynthesisBlock", "Conv2dLayer", "DiscriminatorBlock")
CLASSES = {}


def persistent_class(name):
    """A Persistent subclass called `name`: the class name is what the snapshot records."""
    if name not in CLASSES:
        CLASSES[name] = type(name, (make_pkl.Persistent,), {"__module__": "training.networks"})
    return CLASSES[name]


def g_class(path):
    """The reference's class of the G module at a dotted path ('' is the root)."""
    leaf = path.rsplit(".", 1)[-1]
    if path == "":
        return "Generator"
    if path in ("mapping", "synthesis"):
        return "MappingNetwork" if path == "mapping" else "SynthesisNetwork"
    if leaf.startswith("fc") or leaf == "affine":
        return "FullyConnectedLayer"
    if leaf.startswith("conv"):
        return "SynthesisLayer"
    if leaf == "torgb":
        return "ToRGBLayer"
    return "SynthesisBlock"


def d_class(path):
    leaf = path.rsplit(".", 1)[-1]
    if path == "":
        return "Discriminator"
    if path == "b4":
        return "DiscriminatorEpilogue"
    if "." not in path:
        return "DiscriminatorBlock"
    return "FullyConnectedLayer" if leaf in ("fc", "out") else "Conv2dLayer"


def new_module(cls_name, path):
    mod = persistent_class(cls_name)()
    if cls_name in FILTERED:
        mod.register_buffer("resample_filter", make_pkl.filt())
    if cls_name == "DiscriminatorEpilogue":  # mbstd comes before conv in the reference
        mod.add_module("mbstd", persistent_class("MinibatchStdLayer")(group_size=4, num_channels=1))
    return mod


def init_value(shape, kind):
    """The reference's init, drawn in float32."""
    if kind == "randn":
        return torch.randn(shape)
    if isinstance(kind, tuple) and kind[0] == "randn_lr":
        return torch.randn(shape) / kind[1]
    if kind == "ones":
        return torch.ones(shape)
    return torch.zeros(shape)  # zeros, noise_strength, w_avg


def build(shapes, class_of, kwargs):
    """A module tree holding every (name, shape, kind) of `shapes` under its dotted name."""
    root = persistent_class(class_of(""))(**kwargs)
    for name, shape, kind in shapes:
        parts = name.split(".")
        mod = root
        for i, p in enumerate(parts[:-1]):
            if p not in mod._modules:
                path = ".".join(parts[:i + 1])
                mod.add_module(p, new_module(class_of(path), path))
            mod = mod._modules[p]
        t = init_value(shape, kind)
        if parts[-1] in BUFFERS:
            mod.register_buffer(parts[-1], t)
        else:
            mod.register_parameter(parts[-1], torch.nn.Parameter(t))
    # Snapshots hold copies made with .eval().requires_grad_(False).
    return root.eval().requires_grad_(False)


def main(path):
    torch.manual_seed(1024)
    ed = make_pkl.EasyDict
    g_cfg = ref.GenConfig(z_dim=512, w_dim=512, img_resolution=1024, map_layers=8, channel_base=32768,
                          channel_max=512, conv_clamp=256)
    d_cfg = ref.DiscConfig(img_resolution=1024, channel_base=32768, channel_max=512, conv_clamp=256,
                           mbstd_group=4)
    g_kwargs = dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=1024, img_channels=3,
                    mapping_kwargs=ed(num_layers=8),
                    synthesis_kwargs=ed(channel_base=32768, channel_max=512, num_fp16_res=4, conv_clamp=256,
                                        architecture="skip"))
    d_kwargs = dict(c_dim=0, img_resolution=1024, img_channels=3, architecture="resnet", channel_base=32768,
                    channel_max=512, num_fp16_res=4, conv_clamp=256, block_kwargs=ed(),
                    mapping_kwargs=ed(), epilogue_kwargs=ed(mbstd_group_size=4))
    G = build(ref.gen_param_shapes(g_cfg), g_class, g_kwargs)
    D = build(ref.disc_param_shapes(d_cfg), d_class, d_kwargs)
    G_ema = build(ref.gen_param_shapes(g_cfg), g_class, g_kwargs)
    G_ema.load_state_dict(G.state_dict())  # a fresh snapshot: G_ema is a copy of G
    snapshot = dict(training_set_kwargs=dict(class_name="training.dataset.ImageFolderDataset",
                                             path="ffhq-1024x1024.zip", use_labels=False, max_size=70000,
                                             xflip=True, resolution=1024),
                    G=G, D=D, G_ema=G_ema, augment_pipe=None)
    with open(path, "wb") as f:
        pickle.dump(snapshot, f, protocol=4)
    count = {k: sum(t.numel() for t in snapshot[k].state_dict().values()) for k in ("G", "D")}
    print(f"wrote {path}: {os.path.getsize(path)} bytes; G {count['G']} and D {count['D']} values "
          "(parameters and buffers)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/big.pkl")
