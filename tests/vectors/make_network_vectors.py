#!/usr/bin/python3
"""Write the whole-network test vectors tests/vectors/network_<case>.safetensors.

    /usr/bin/python3 tests/vectors/make_network_vectors.py [outdir]

Each file holds a tiny generator and discriminator (parameters named as the reference's
state_dict, prefixed 'G.' and 'D.'), their inputs and their outputs, computed by
sg2_torch_ref.py in float64 from the float32 parameters and inputs and stored as float32.
See README.md for the list of tensors and metadata. Deterministic: same bytes on every run.
"""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sg2_torch_ref as ref  # noqa: E402

FORMAT = "sg2-vectors-1"
N = 4
PSI, CUTOFF = 0.7, 3

# case -> (G architecture, D architecture, c_dim, conv_clamp, random biases, seed)
CASES = {
    "a": dict(g_arch="skip", d_arch="resnet", c_dim=0, conv_clamp=None, rand_bias=False, seed=1),
    "b": dict(g_arch="resnet", d_arch="orig", c_dim=0, conv_clamp=None, rand_bias=False, seed=2),
    "c": dict(g_arch="orig", d_arch="skip", c_dim=0, conv_clamp=None, rand_bias=False, seed=3),
    "d": dict(g_arch="skip", d_arch="resnet", c_dim=3, conv_clamp=None, rand_bias=False, seed=4),
    "e": dict(g_arch="resnet", d_arch="skip", c_dim=0, conv_clamp=0.5, rand_bias=True, seed=5),
}
DESCRIPTION = {
    "a": "G skip + D resnet, unconditional",
    "b": "G resnet + D orig, unconditional",
    "c": "G orig + D skip, unconditional",
    "d": "G skip + D resnet, conditional c_dim 3 (one-hot labels)",
    "e": "G resnet + D skip, conv_clamp 0.5, random biases",
}


def configs(case):
    k = CASES[case]
    g = ref.GenConfig(z_dim=16, w_dim=16, c_dim=k["c_dim"], img_resolution=16, img_channels=3,
                      map_layers=2, channel_base=128, channel_max=32,
                      conv_clamp=k["conv_clamp"], architecture=k["g_arch"])
    d = ref.DiscConfig(c_dim=k["c_dim"], img_resolution=16, img_channels=3, channel_base=128,
                       channel_max=32, conv_clamp=k["conv_clamp"], architecture=k["d_arch"],
                       mbstd_group=2, mbstd_nfeat=1, map_layers=2)
    return g, d


def randomize_biases(p, shapes, gen):
    """Case e: nonzero biases so bias scaling is tested (effective value ~ 0.2 N(0,1))."""
    for name, shape, kind in shapes:
        if not name.endswith("bias"):
            continue
        t = torch.randn(shape, generator=gen, dtype=torch.float64) * 0.2
        if name.startswith("mapping.fc"):
            t = t / 0.01  # stored bias is multiplied by lr_mul at run time
        if kind == "ones":
            t = t + 1.0
        p[name] = t.to(torch.float32)


def build(case):
    """-> (gcfg, dcfg, Gparams, Dparams, inputs dict), all float32, deterministic."""
    gcfg, dcfg = configs(case)
    gen = torch.Generator().manual_seed(1000 + CASES[case]["seed"])
    gshapes, dshapes = ref.gen_param_shapes(gcfg), ref.disc_param_shapes(dcfg)
    G = ref.init_params(gshapes, gen)
    D = ref.init_params(dshapes, gen)
    if CASES[case]["rand_bias"]:
        randomize_biases(G, gshapes, gen)
        randomize_biases(D, dshapes, gen)
    inputs = {"z": torch.randn(N, gcfg.z_dim, generator=gen, dtype=torch.float64).float()}
    if gcfg.c_dim > 0:
        labels = torch.tensor([0, 2, 1, 2])
        inputs["c"] = torch.nn.functional.one_hot(labels, gcfg.c_dim).float()
    inputs["reals"] = torch.randn(N, 3, 16, 16, generator=gen, dtype=torch.float64).float()
    return gcfg, dcfg, G, D, inputs


def compute(gcfg, dcfg, G, D, inputs, dtype=torch.float64, fused=False):
    G = {k: v.to(dtype) for k, v in G.items()}
    D = {k: v.to(dtype) for k, v in D.items()}
    z = inputs["z"].to(dtype)
    c = inputs["c"].to(dtype) if "c" in inputs else None
    out = {}
    out["ws"] = ref.gen_mapping(G, gcfg, z, c)
    out["ws_trunc"] = ref.gen_mapping(G, gcfg, z, c, psi=PSI, cutoff=CUTOFF)
    out["img"] = ref.synthesis(G, gcfg, out["ws"], noise_mode="const", fused=fused)
    out["img_none"] = ref.synthesis(G, gcfg, out["ws"], noise_mode="none", fused=fused)
    out["logits"] = ref.discriminator(D, dcfg, out["img"], c)
    out["logits_reals"] = ref.discriminator(D, dcfg, inputs["reals"].to(dtype), c)
    return out


def config_json(cfg, kind):
    clamp = -1 if cfg.conv_clamp is None else cfg.conv_clamp
    d = dict(z_dim=16, w_dim=16, c_dim=cfg.c_dim, img_resolution=cfg.img_resolution,
             img_channels=cfg.img_channels, map_layers=cfg.map_layers,
             channel_base=cfg.channel_base, channel_max=cfg.channel_max, conv_clamp=clamp,
             architecture=cfg.architecture, mbstd_group=2, mbstd_nfeat=1,
             truncation_psi=PSI, truncation_cutoff=CUTOFF, map_lr_mul=cfg.map_lr_mul)
    if kind == "D":
        d["cmap_dim"] = cfg.cmap_dim
    return json.dumps(d, sort_keys=True)


def write_safetensors(path, tensors, metadata):
    """tensors: ordered dict name -> float32 tensor. Little-endian F32, header padded with
    spaces to a multiple of 8 bytes."""
    header = {"__metadata__": metadata}
    blobs, off = [], 0
    for name, t in tensors.items():
        b = t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as fp:
        fp.write(struct.pack("<Q", len(h)))
        fp.write(h)
        for b in blobs:
            fp.write(b)


def read_safetensors(path):
    """Minimal reader (F32 only), used to check what we wrote."""
    import numpy as np
    with open(path, "rb") as fp:
        raw = fp.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        a, b = e["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype="<f4").reshape(e["shape"])
    return out, meta


def make_case(case, outdir):
    gcfg, dcfg, G, D, inputs = build(case)
    out = compute(gcfg, dcfg, G, D, inputs)
    tensors = {}
    tensors.update({"G." + k: v for k, v in G.items()})
    tensors.update({"D." + k: v for k, v in D.items()})
    for k in ("z", "c", "reals"):
        if k in inputs:
            tensors[k] = inputs[k]
    for k in ("ws", "ws_trunc", "img", "img_none", "logits", "logits_reals"):
        tensors[k] = out[k]
    meta = {"format": FORMAT, "case": case, "description": DESCRIPTION[case],
            "G": config_json(gcfg, "G"), "D": config_json(dcfg, "D"),
            "noise_mode": "img: const, img_none: none",
            "truncation": "ws, img, img_none, logits: psi 1; ws_trunc: psi %g for ws[:, :%d]"
                          % (PSI, CUTOFF),
            "logits": "logits = D(img, c), logits_reals = D(reals, c)",
            "made_by": "tests/vectors/make_network_vectors.py (float64 forward, stored F32)"}
    path = os.path.join(outdir, "network_%s.safetensors" % case)
    write_safetensors(path, tensors, meta)
    back, meta_back = read_safetensors(path)
    assert meta_back == meta and list(back) == list(tensors)
    for k, v in tensors.items():
        assert (back[k] == v.float().numpy()).all(), k
    clamp_note = ""
    if gcfg.conv_clamp is not None:
        frac = (out["img"].abs() >= gcfg.conv_clamp).double().mean().item()
        clamp_note = ", img clamped %.0f%%" % (100 * frac)
    print("%s: %d tensors, %d bytes, |img| max %.3f, logits %s%s" % (
        path, len(tensors), os.path.getsize(path), out["img"].abs().max().item(),
        [round(x, 3) for x in out["logits"].flatten().tolist()], clamp_note))


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    torch.set_num_threads(1)
    for case in CASES:
        make_case(case, outdir)


if __name__ == "__main__":
    main()
