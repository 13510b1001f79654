"""A config-F-sized stylegan2-ada-pytorch snapshot (1024x1024, channel_base 32768,
channel_max 512, 8 mapping layers, z = w = 512), pickled the way the reference
pickles its snapshots (persistent classes, plain pickle of torch tensors), with
random weights. It measures what loading such a file costs (bench/README.md);
it is not run by `make check` and its output (~370 MB) is never committed.

    /usr/bin/python3 tests/vectors/make_big_pkl.py /tmp/big.pkl

Uses the persistence stand-in of make_pkl.py and the parameter names and
shapes of sg2_torch_ref.py (no NVIDIA code)."""
import os
import pickle
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_pkl  # noqa: E402  (registers the torch_utils.persistence stand-in)
import sg2_torch_ref as ref  # noqa: E402

BUFFERS = ("noise_const", "w_avg")


class Node(make_pkl.Persistent):
    """A module of the tree; its tensors are set by dotted names below."""


def build(shapes, kwargs):
    root = Node(**kwargs)
    for name, shape, _kind in shapes:
        parts = name.split(".")
        mod = root
        for p in parts[:-1]:
            if p not in mod._modules:
                mod.add_module(p, Node())
            mod = mod._modules[p]
        t = torch.randn(shape, dtype=torch.float32) * 0.1
        if parts[-1] in BUFFERS:
            mod.register_buffer(parts[-1], t)
        else:
            mod.register_parameter(parts[-1], torch.nn.Parameter(t))
    return root


def main(path):
    g_cfg = ref.GenConfig(z_dim=512, w_dim=512, img_resolution=1024, map_layers=8, channel_base=32768,
                          channel_max=512, conv_clamp=256)
    d_cfg = ref.DiscConfig(img_resolution=1024, channel_base=32768, channel_max=512, conv_clamp=256,
                           mbstd_group=4)
    g_kwargs = dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=1024, img_channels=3,
                    mapping_kwargs=make_pkl.EasyDict(num_layers=8),
                    synthesis_kwargs=make_pkl.EasyDict(channel_base=32768, channel_max=512, num_fp16_res=4,
                                                       conv_clamp=256))
    d_kwargs = dict(c_dim=0, img_resolution=1024, img_channels=3, channel_base=32768, channel_max=512,
                    num_fp16_res=4, conv_clamp=256, epilogue_kwargs=make_pkl.EasyDict(mbstd_group_size=4))
    G = build(ref.gen_param_shapes(g_cfg), g_kwargs)
    D = build(ref.disc_param_shapes(d_cfg), d_kwargs)
    G_ema = build(ref.gen_param_shapes(g_cfg), g_kwargs)
    with open(path, "wb") as f:
        pickle.dump(dict(G=G, D=D, G_ema=G_ema, training_set_kwargs=None, augment_pipe=None), f)
    print("wrote", path, os.path.getsize(path), "bytes;",
          sum(p.numel() for p in G.parameters()), "G parameters")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/big.pkl")
