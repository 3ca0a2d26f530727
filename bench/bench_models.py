"""Training throughput and cost of every registered model on Fashion-MNIST-shaped input.

For each model: one SGD-with-momentum training step (forward + cross-entropy + backward +
step) on a random batch of 128 images of 1x28x28 with 10 classes, after one warm-up step
(oneDNN builds its kernels on the first call); timed steps run until --min-time seconds
(at least one step; big models take longer than that per step). Segmentation models (fcn, unet) get a per-pixel loss on random
masks. No padding or resizing is needed: every downsampling in the zoo rounds up
(28 -> 14 -> 7 -> 4 -> 2 -> 1), so even the 5-pool VGGs take 28x28 as is.

MACs per image come from trainlab.models.summary (conv, transposed conv, linear). A training
step costs about 3x the forward MACs (forward, grad wrt input, grad wrt weights), so
achieved GFLOP/s ~ 2 * 3 * MACs * images/s / 1e9.

Generic builders whose defaults equal a registered variant (resnet = resnet20, vgg = vgg11)
are skipped. Prints a markdown table; progress goes to stderr. A 1024x1024 matmul measured
before each model gives a same-moment reference, so rows stay comparable on a busy machine.

    .venv/bin/python bench/bench_models.py                      # all models, 2.5-5 min on 2 cores
    .venv/bin/python bench/bench_models.py --threads 1          # steadier when other jobs share the cores
    .venv/bin/python bench/bench_models.py --models resnet20 plain20 --min-time 5
    .venv/bin/python bench/bench_models.py --device cuda --precision bf16   # a GPU (timed with synchronize)
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from functools import partial

import torch
import torch.nn.functional as F

from trainlab.models import MODELS, create_model, list_models
from trainlab.models.summary import summarize

IN_SHAPE, CLASSES = (1, 28, 28), 10


def aliases() -> set[str]:
    """Generic builders that build exactly one of their variants (same weights and outputs from one seed)."""

    def build(name):
        torch.manual_seed(0)
        return create_model(name, in_shape=IN_SHAPE, num_classes=CLASSES).eval()

    out, x = set(), torch.randn(2, *IN_SHAPE)
    for e in MODELS.entries():
        for v in MODELS.entries():
            if isinstance(v.fn, partial) and v.fn.func is e.fn:
                a, b = build(e.name), build(v.name)
                sa, sb = a.state_dict(), b.state_dict()
                if sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa) and torch.equal(a(x), b(x)):
                    out.add(e.name)
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(device: torch.device = torch.device("cpu")) -> float:
    """Reference measured next to each model: fp32 1024x1024 matmul GFLOP/s (best of 5).

    On a shared machine the cores' speed moves with other jobs; a model's GFLOP/s over this
    reference (its efficiency) stays comparable where raw images/s do not.
    """
    a = torch.randn(1024, 1024, device=device)
    best = float("inf")
    for _ in range(5):
        sync(device)
        t = time.perf_counter()
        a @ a
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * 1024**3 / best / 1e9


def bench(name: str, batch: int, min_time: float, channels_last: bool = False, device: str = "cpu",
          precision: str = "fp32") -> dict:
    torch.manual_seed(0)
    dev = torch.device(device)
    model = create_model(name, in_shape=IN_SHAPE, num_classes=CLASSES)
    s = summarize(model, IN_SHAPE)
    model = model.to(dev)
    x = torch.randn(batch, *IN_SHAPE, device=dev)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    segmentation = s.output_shape != (CLASSES,)
    y = torch.randint(0, CLASSES, (batch, *IN_SHAPE[1:]) if segmentation else (batch,), device=dev)
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = model(x)
        F.cross_entropy(out.float(), y).backward()
        opt.step()

    for _ in range(3 if dev.type == "cuda" else 1):  # warm-up
        step()
    ref = matmul_gflops(dev)
    sync(dev)
    steps, t0 = 0, time.perf_counter()
    while steps < 1 or time.perf_counter() - t0 < min_time:  # one step of a big model is already > min_time
        step()
        steps += 1
        if dev.type == "cuda" and steps % 20 == 0:
            sync(dev)
    sync(dev)
    dt = (time.perf_counter() - t0) / steps
    return {"name": name, "params": s.trainable, "macs": s.macs, "ms": 1e3 * dt, "ips": batch / dt, "steps": steps, "ref": ref}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="*", default=None, help="default: every registered model except aliases")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--min-time", type=float, default=3.0, help="seconds of timed steps per model (at least 1 step)")
    p.add_argument("--threads", type=int, default=0, help="torch threads; 0 = torch's default (all cores)")
    p.add_argument("--channels-last", action="store_true", help="NHWC memory format for model and batch")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="bf16 = autocast")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)  # on a shared machine 1 thread can beat 2: no OpenMP barrier waits
    names = args.models or [n for n in list_models("classification") if n not in aliases()]  # detectors aside

    t_start, rows = time.perf_counter(), []
    for name in names:
        r = bench(name, args.batch, args.min_time, args.channels_last, args.device, args.precision)
        print(f"{name}: {r['ips']:.0f} img/s ({r['steps']} steps)", file=sys.stderr)
        rows.append(r)

    print(f"\nTraining throughput, input {'x'.join(map(str, IN_SHAPE))}, {CLASSES} classes, batch {args.batch}, "
          f"SGD momentum, {args.precision}{', channels_last' if args.channels_last else ''}; torch {torch.__version__}, "
          + (f"{torch.cuda.get_device_name(0)}.\n" if args.device == "cuda" else
             f"{torch.get_num_threads()} threads, {platform.machine()} CPU.\n"))
    print("| model | params | MACs / image | train images/s | ms / step | GFLOP/s | matmul GFLOP/s | efficiency |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        gflops = 6 * r["macs"] * r["ips"] / 1e9
        print(f"| {r['name']} | {r['params'] / 1e6:.2f}M | {r['macs'] / 1e6:.1f}M | {r['ips']:.0f} | "
              f"{r['ms']:.0f} | {gflops:.1f} | {r['ref']:.0f} | {gflops / r['ref']:.0%} |")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nGFLOP/s = 6 x MACs x images/s; matmul GFLOP/s = the reference measured just before each model; "
          f"efficiency = their ratio. Load average at the end: {load:.1f} on {os.cpu_count()} cores. "
          f"Total bench time {time.perf_counter() - t_start:.0f} s.")


if __name__ == "__main__":
    main()
