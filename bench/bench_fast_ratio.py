"""Per-step cost of trainlab configs as a ratio to the yardstick's step, measured side by side.

The yardstick (../shared/yardstick/fmnist_reference.py) trains a plain-PyTorch BN CNN, 32-64-128 with two
3x3 convs per block, batch 256, fp32 channels_last, Nesterov SGD with one-cycle, random flips and 2-pixel
crops. Its step is rebuilt here from that description (the file itself trains on import, so it cannot be
imported) and timed in this process; each config's step is timed in trainlab's own loop
(`trainlab.train` on synthetic images of the same shape, its `time` column: training only, the first
`--warmup` steps left out). Rounds alternate the yardstick and every config, so a busy spell of a shared
machine hits all alike; the figure is the median over rounds of each round's ratio.

What the ratios give: a recipe that reaches the target after E epochs of S steps at a step ratio r
takes E * S * r / 1755 of the yardstick's defined time to 93% (7.5 epochs of 234 steps).
Accuracy per epoch is deterministic; this is the other half of the goal, cheap to measure.

    .venv/bin/python bench/bench_fast_ratio.py --threads 1 --config configs/fast.yaml \\
        --variant 'batch_size=256' --variant 'optimizer=muon lr=0.05'
"""
from __future__ import annotations

import argparse
import shlex
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn

import trainlab
from trainlab.config import load_config
from trainlab.data import Dataset, Split

YARD_BATCH, YARD_STEPS_PER_EPOCH, DEFINED_STEPS = 256, 234, 1755


def yardstick_net(w: int = 32) -> nn.Module:
    def block(ci, co):
        return nn.Sequential(nn.Conv2d(ci, co, 3, padding=1, bias=False), nn.BatchNorm2d(co), nn.ReLU(),
                             nn.Conv2d(co, co, 3, padding=1, bias=False), nn.BatchNorm2d(co), nn.ReLU(), nn.MaxPool2d(2))
    net = nn.Sequential(block(1, w), block(w, 2 * w), block(2 * w, 4 * w), nn.AdaptiveMaxPool2d(1), nn.Flatten(),
                        nn.Linear(4 * w, 10))
    return net.to(memory_format=torch.channels_last)


def yardstick_steps(steps: int, warmup: int) -> float:
    """Seconds per yardstick step: slice, random flip, pad + crop, forward, loss, backward, SGD, one-cycle."""
    torch.manual_seed(0)
    x_all, y_all = torch.randn(4 * YARD_BATCH, 1, 28, 28), torch.randint(0, 10, (4 * YARD_BATCH,))
    net = yardstick_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=steps + warmup + 1, pct_start=0.25)
    t0 = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        idb = torch.randperm(len(y_all))[:YARD_BATCH]
        xb, yb = x_all[idb], y_all[idb]
        flip = torch.rand(YARD_BATCH) < 0.5
        xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
        dx, dy = torch.randint(0, 5, (2,)).tolist()
        xb = F.pad(xb, (2, 2, 2, 2))[:, :, dy:dy + 28, dx:dx + 28]
        loss = F.cross_entropy(net(xb.contiguous(memory_format=torch.channels_last)), yb, label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return (time.perf_counter() - t0) / steps


def synthetic(n: int) -> Dataset:
    g = torch.Generator().manual_seed(0)
    s = Split(torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g), torch.randint(0, 10, (n,), generator=g))
    small = Split(s.x[:512], s.y[:512])
    return Dataset("synthetic", s, small, small, [str(i) for i in range(10)], "classification")


def trainlab_steps(config: str, overrides: list[str], steps: int, warmup: int, threads: int) -> tuple[float, int]:
    """(seconds per step of trainlab's loop on this config, its steps per epoch on Fashion-MNIST's 54,000)."""
    cfg = load_config(config, overrides)
    data = synthetic(cfg.batch_size * (steps + warmup))
    with tempfile.TemporaryDirectory() as d:
        run_cfg = load_config(config, [*overrides, f"runs_dir={d}", "epochs=1", f"log_every={warmup}",
                                       f"checkpoint_every={steps + warmup}", "tta=[]", f"threads={threads}",
                                       "eval_batch_size=512", "fallback_dataset=null"])
        rows = trainlab.train(run_cfg, data=data, quiet=True, report=False).metrics
    timed = [r for r in rows if r["step"] > warmup]  # rows of `warmup` steps each: the first is the warm-up
    done = timed[-1]["step"] - warmup
    return sum(r["time"] for r in timed) / done, 54_000 // cfg.batch_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/fast.yaml")
    ap.add_argument("--variant", action="append", default=[], metavar="'K=V K=V'",
                    help="overrides of one variant (repeatable); the config itself is always timed first")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=float, nargs="+", default=[4, 5, 6],
                    help="epochs to the target at which to print the implied ratio to the defined time")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    variants = {"(config)": [], **{v: shlex.split(v) for v in a.variant}}
    print(f"torch {torch.__version__}, {a.threads} threads; {a.config}; {a.rounds} rounds of {a.steps} steps "
          f"after {a.warmup} warm-up steps", flush=True)
    ratios: dict[str, list[float]] = {k: [] for k in variants}
    ms: dict[str, list[float]] = {k: [] for k in ["yardstick", *variants]}
    spe: dict[str, int] = {}
    for r in range(a.rounds):
        t_y = yardstick_steps(a.steps, a.warmup)
        ms["yardstick"].append(1e3 * t_y)
        for name, over in variants.items():
            t, spe[name] = trainlab_steps(a.config, over, a.steps, a.warmup, a.threads)
            ms[name].append(1e3 * t)
            ratios[name].append(t / t_y)
        print(f"  round {r + 1}: yardstick {1e3 * t_y:.0f} ms; " + "; ".join(
            f"{k} {ms[k][-1]:.0f} ms ({ratios[k][-1]:.3f})" for k in variants), flush=True)
    print(f"\nyardstick step: {statistics.median(ms['yardstick']):.0f} ms (batch {YARD_BATCH}), median of rounds\n")
    print("| variant | ms per step | step ratio | epoch ratio | " + " | ".join(f"ratio at {e:g} epochs" for e in a.epochs)
          + " |\n|---|---:|---:|---:|" + "---:|" * len(a.epochs))
    for name in variants:
        r = statistics.median(ratios[name])
        ep = r * spe[name] / YARD_STEPS_PER_EPOCH
        print(f"| {name} | {statistics.median(ms[name]):.0f} | {r:.3f} | {ep:.3f} | "
              + " | ".join(f"{e * spe[name] * r / DEFINED_STEPS:.3f}" for e in a.epochs) + " |")


if __name__ == "__main__":
    main()
