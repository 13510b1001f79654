#!/usr/bin/env python3
"""The PyTorch side of bench/compare_torch.sh: the same workloads as bench_generate and
bench_train, on the CPU, with our own PyTorch StyleGAN2 (tests/vectors/sg2_torch_ref.py plus
bench/torch_train_ref.py).

  torch_bench.py gen   [--presets 32,64,256,1024] [--batches 1,8] [--budget S] [--repeats N]
                       [--cmax N] [--map N]
  torch_bench.py train [--res 32] [--cbase 16384] [--cmax 256] [--map 2] [--batch 8]
                       [--warmup ITERS] [--cycles N] [--budget S]
  common: [--threads 2]

gen: mapping + synthesis with the FUSED modulated conv (grouped per-sample conv, the
reference's inference path), constant noise, psi 1, at bench_generate's presets (channel_max
512). Validated first at 32^2: fused against non-fused on one image (1e-3 relative).
train: whole iterations (Gmain + Dmain every iteration, Greg every 4, Dreg every 16, Adam, G
EMA) with the NON-FUSED modulated conv, as the reference trains; timed in 16-iteration cycles
after --warmup iterations, as bench_train. Validated: losses finite.
Both print a table and one JSON line per workload with the keys bench_generate/bench_train use.
"""
import argparse
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_train_ref as tr  # noqa: E402

ref = tr.ref
CYCLE = 16
# bench_generate's presets: (resolution, channel_base, map_layers, name)
PRESETS = {32: (16384, 2, "32^2 auto"), 64: (16384, 2, "64^2 auto"),
           256: (16384, 8, "256^2 paper256"), 1024: (32768, 8, "1024^2 config F")}


def num_list(text):
    return [int(v) for v in text.split(",") if v]


def cpu_s():
    return time.process_time()


def gen_forward(p, cfg, n, fused):
    with torch.no_grad():
        torch.manual_seed(1234)
        z = torch.randn([n, cfg.z_dim])
        return ref.generator(p, cfg, z, psi=1.0, noise_mode="const", fused=fused)


def validate_fused(p, cfg):
    a, b = gen_forward(p, cfg, 1, True), gen_forward(p, cfg, 1, False)
    d, v = (a - b).abs().max().item(), b.abs().max().item()
    ok = bool(torch.isfinite(a).all() and torch.isfinite(b).all()) and d <= 1e-3 * max(v, 1.0)
    print("validate %dx%d: fused vs non-fused max |diff| %.3g (max |img| %.3g): %s"
          % (cfg.img_resolution, cfg.img_resolution, d, v, "ok" if ok else "FAILED"), file=sys.stderr)
    return ok


def bench_gen_batch(p, cfg, name, cbase, n, budget, max_repeats):
    t0 = time.perf_counter()
    img = gen_forward(p, cfg, n, True)
    warm = time.perf_counter() - t0
    if not torch.isfinite(img).all():
        print("torch_bench: %s at batch %d: output not finite" % (name, n), file=sys.stderr)
        return False
    repeats = max(1, min(max_repeats, int(budget / warm)))
    times, c0, w0 = [], cpu_s(), time.perf_counter()
    for _ in range(repeats):
        t1 = time.perf_counter()
        gen_forward(p, cfg, n, True)
        times.append(time.perf_counter() - t1)
    util = (cpu_s() - c0) / (time.perf_counter() - w0)
    times.sort()
    med = times[len(times) // 2]
    gf = tr.g_gflop(cfg)
    print("%-16s %5d %4d %9.3f %10.1f %10.1f %10.1f %9.2f %9.2f %5.2f"
          % (name, n, repeats, n / med, 1e3 * times[0] / n, 1e3 * med / n, 1e3 * times[-1] / n, gf,
             gf * n / med, util))
    print(json.dumps({"workload": "generator_forward", "impl": "torch", "preset": name,
                      "resolution": cfg.img_resolution, "channel_base": cbase,
                      "channel_max": cfg.channel_max, "map_layers": cfg.map_layers, "batch": n,
                      "repeats": repeats, "images_per_s": n / med, "ms_per_image": 1e3 * med / n,
                      "s_min": times[0], "s_median": med, "s_max": times[-1], "warmup_s": warm,
                      "gflop_per_image": gf, "gflop_per_s": gf * n / med, "cpu_util": util,
                      "modconv": "fused", "threads": torch.get_num_threads(),
                      "torch": torch.__version__}), flush=True)
    return True


def cmd_gen(a):
    print("%-16s %5s %4s %9s %10s %10s %10s %9s %9s %5s" % ("preset", "batch", "runs", "img/s",
          "min ms/img", "med ms/img", "max ms/img", "GFLOP/img", "GFLOP/s", "cpu"))
    ok = True
    for res in num_list(a.presets):
        if res not in PRESETS:
            print("torch_bench: no preset at %d (have 32, 64, 256, 1024)" % res, file=sys.stderr)
            ok = False
            continue
        cbase, maps, name = PRESETS[res]
        cmax = a.cmax or 512
        if a.cmax or a.map:
            maps = a.map or maps
            name = "%d^2 cmax%d map%d" % (res, cmax, maps)
        cfg = ref.GenConfig(z_dim=512, w_dim=512, img_resolution=res, img_channels=3,
                            map_layers=maps, channel_base=cbase, channel_max=cmax)
        shapes = ref.gen_param_shapes(cfg)
        p = tr.init_reference(shapes, 0)
        print("model %s: G: %d parameters" % (name, tr.count_params(shapes)), file=sys.stderr)
        if res == 32 and not validate_fused(p, cfg):
            return False
        batches = num_list(a.batches) if a.batches else ([1, 2] if res >= 1024 else [1, 8])
        for n in batches:
            ok = bench_gen_batch(p, cfg, name, cbase, n, a.budget / len(batches), a.repeats) and ok
    return ok


def synthetic_reals(batch_index, n, res):
    g = torch.Generator().manual_seed(0x5eed0000 + batch_index)
    return torch.rand([n, 3, res, res], generator=g) * 2 - 1


def cmd_train(a):
    t = tr.Trainer(a.res, a.cbase, a.cmax, a.map, a.batch)
    print("model: G: %d parameters, D: %d, %d ws" % (t.g_count, t.d_count, t.gcfg.num_ws))
    gf, df = tr.g_gflop(t.gcfg), tr.d_gflop(t.dcfg)
    print("GFLOP/img: G forward %.4f, D forward %.4f" % (gf, df))
    stamps, losses_ok = [], True
    c0 = c1 = 0.0
    i = 0
    t_start = time.perf_counter()
    while True:
        now = time.perf_counter()
        stamps.append(now)
        k = i - a.warmup
        if k == 0:
            c0 = cpu_s()
        if k > 0 and k % CYCLE == 0:
            c1 = cpu_s()
            cycles, spent = k // CYCLE, now - stamps[a.warmup]
            if cycles >= a.cycles or spent + spent / cycles > a.budget:
                break
        t.iteration(synthetic_reals(i, a.batch, a.res))
        i += 1
    losses_ok = all(math.isfinite(v) for v in t.last_losses.values())
    ncyc = (len(stamps) - 1 - a.warmup) // CYCLE
    c = sorted(stamps[a.warmup + (j + 1) * CYCLE] - stamps[a.warmup + j * CYCLE] for j in range(ncyc))
    wall = stamps[a.warmup + ncyc * CYCLE] - stamps[a.warmup]
    med = c[ncyc // 2]
    ips = CYCLE * a.batch / med
    util = (c1 - c0) / wall
    print("losses (last iteration): %s: %s" % (", ".join("%s %.4g" % kv for kv in t.last_losses.items()),
                                                 "finite" if losses_ok else "NOT FINITE"))
    print("%-22s %5s %6s %9s %9s %11s %11s %11s %5s" % ("workload", "batch", "cycles", "img/s",
          "s/kimg", "min s/cyc", "med s/cyc", "max s/cyc", "cpu"))
    print("%-22s %5d %6d %9.3f %9.1f %11.3f %11.3f %11.3f %5.2f"
          % ("train %d^2 map%d" % (a.res, a.map), a.batch, ncyc, ips, 1000 / ips, c[0], med, c[-1], util))
    print(json.dumps({"workload": "train_iteration", "impl": "torch", "resolution": a.res,
                      "channel_base": a.cbase, "channel_max": a.cmax, "map_layers": a.map,
                      "batch": a.batch, "iters_per_cycle": CYCLE, "cycles": ncyc,
                      "warmup_iters": a.warmup, "warmup_s": stamps[a.warmup] - t_start,
                      "images_per_s": ips, "s_per_kimg": 1000 / ips, "cycle_s_min": c[0],
                      "cycle_s_median": med, "cycle_s_max": c[-1], "g_gflop_per_image": gf,
                      "d_gflop_per_image": df, "g_params": t.g_count, "d_params": t.d_count,
                      "losses_finite": losses_ok, "cpu_util": util, "modconv": "non-fused",
                      "threads": torch.get_num_threads(), "torch": torch.__version__}), flush=True)
    return losses_ok


def main():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--threads", type=int, default=2)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen", parents=[common])
    g.add_argument("--presets", default="32,64,256,1024")
    g.add_argument("--batches", default=None)
    g.add_argument("--repeats", type=int, default=10)
    g.add_argument("--cmax", type=int, default=0, help="replaces the presets' channel_max (512)")
    g.add_argument("--map", type=int, default=0, help="replaces the presets' mapping depth")
    g.add_argument("--budget", type=float, default=60)
    t = sub.add_parser("train", parents=[common])
    for name, v in (("res", 32), ("cbase", 16384), ("cmax", 256), ("map", 2), ("batch", 8),
                    ("warmup", 2), ("cycles", 10)):
        t.add_argument("--" + name, type=int, default=v)
    t.add_argument("--budget", type=float, default=60)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print("torch %s, %d threads, CPU" % (torch.__version__, torch.get_num_threads()))
    ok = cmd_gen(a) if a.cmd == "gen" else cmd_train(a)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
