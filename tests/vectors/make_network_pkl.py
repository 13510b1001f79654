"""network_a.pkl: the parameters of network_a.safetensors pickled the way
stylegan2-ada-pytorch pickles its snapshots (persistent module classes, plain
pickle of torch tensors, protocol 3 as NVIDIA's published files), so that
tests/test_network.c can check that loading a reference pickle gives the same
image as the PyTorch model (the `img` vector of case a).

    /usr/bin/python3 tests/vectors/make_network_pkl.py

Uses make_big_pkl.py's module-tree builder and the persistence stand-in of
make_pkl.py (no NVIDIA code)."""
import os
import pickle
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_big_pkl  # noqa: E402
import make_network_vectors as vectors  # noqa: E402
import make_pkl  # noqa: E402
import sg2_torch_ref as ref  # noqa: E402


def fill(module, tensors, prefix):
    """Copy every tensor named prefix + name of the module tree."""
    for name, t in list(module.named_parameters()) + list(module.named_buffers()):
        if name.endswith("resample_filter"):
            continue
        t.data.copy_(torch.from_numpy(tensors[prefix + name].copy()))


def main():
    tensors, _meta = vectors.read_safetensors(os.path.join(HERE, "network_a.safetensors"))
    gcfg, dcfg = vectors.configs("a")
    g_kwargs = dict(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
                    mapping_kwargs=make_pkl.EasyDict(num_layers=2),
                    synthesis_kwargs=make_pkl.EasyDict(channel_base=128, channel_max=32, num_fp16_res=0,
                                                       conv_clamp=None, architecture="skip"))
    d_kwargs = dict(c_dim=0, img_resolution=16, img_channels=3, architecture="resnet", channel_base=128,
                    channel_max=32, num_fp16_res=0, conv_clamp=None,
                    epilogue_kwargs=make_pkl.EasyDict(mbstd_group_size=2, mbstd_num_channels=1))
    G = make_big_pkl.build(ref.gen_param_shapes(gcfg), make_big_pkl.g_class, g_kwargs)
    D = make_big_pkl.build(ref.disc_param_shapes(dcfg), make_big_pkl.d_class, d_kwargs)
    fill(G, tensors, "G.")
    fill(D, tensors, "D.")
    path = os.path.join(HERE, "network_a.pkl")
    with open(path, "wb") as f:
        # G and G_ema are the same object: the pickle stores its tensors once.
        pickle.dump(dict(G=G, D=D, G_ema=G, training_set_kwargs=None, augment_pipe=None), f, protocol=3)
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
