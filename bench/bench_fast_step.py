"""Time per training step of the fast recipe's model and its variants: what the recipe's shape rests on.

Each variant is trainlab's convnet (whiten 2, pool_first, hidden 128) built by `create_model`, trained
on random 28x28x1 batches with bf16 autocast and channels_last (what `precision: auto` picks on an
AVX-512 bf16 CPU; pass --fp32 to time fp32), Nesterov SGD, cross entropy. The figure is the median
of the timed steps after warm-up, then the median over rounds that visit every variant in turn (so a
slow spell of the machine hits all alike); the first line, the recipe's own model, is the reference
each other line is a ratio to (measured in the same run: these machines are noisy).

    .venv/bin/python bench/bench_fast_step.py                 # every variant, batch 128
    .venv/bin/python bench/bench_fast_step.py --batch 256 --compile

--compile also times the recipe's model under torch.compile (inductor), compile time apart.
"""
from __future__ import annotations

import argparse
import statistics

import torch
from bench_trainer import step_time  # bench/ is on the path when this runs as a script

from trainlab.models import create_model

BASE = dict(whiten=2, pool_first=True, hidden=128)
VARIANTS = {
    "recipe 32-64-96, max pool": dict(channels=[32, 64, 96]),
    "32-64-128": dict(channels=[32, 64, 128]),
    "24-48-96": dict(channels=[24, 48, 96]),
    "32-64-96, average pool": dict(channels=[32, 64, 96], pool="avg"),
    "patchify stem 48-96-192": dict(channels=[48, 96, 192], whiten_stride=2),
    "patchify stem 64-128-256": dict(channels=[64, 128, 256], whiten_stride=2),
}


def recipe_step_time(model, batch: int, steps: int, warmup: int, bf16: bool) -> tuple[float, float]:
    """step_time on a random channels_last batch with Nesterov SGD."""
    x = torch.randn(batch, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    return step_time(model, opt, x, y, steps, warmup, bf16)


def build(options: dict) -> torch.nn.Module:
    torch.manual_seed(0)
    net = create_model("convnet", in_shape=(1, 28, 28), num_classes=10, **BASE, **options)
    return net.to(memory_format=torch.channels_last)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds over the variants (median reported)")
    ap.add_argument("--fp32", action="store_true", help="time fp32 instead of bf16 autocast")
    ap.add_argument("--compile", action="store_true", help="also time the recipe's model under torch.compile")
    a = ap.parse_args()
    bf16 = not a.fp32
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {a.batch}, "
          f"{'bf16 autocast' if bf16 else 'fp32'}, channels_last", flush=True)
    models = {name: build(options) for name, options in VARIANTS.items()}
    times = {name: [] for name in models}
    for r in range(a.rounds):  # interleaved: a slow spell of the machine hits every variant alike
        print(f"  round {r + 1}/{a.rounds}", flush=True)
        for name, model in models.items():
            times[name].append(recipe_step_time(model, a.batch, a.steps, a.warmup, bf16)[0])
    ref = statistics.median(times[next(iter(models))])
    print("| model | ms per step | s per epoch (54,000 images) | ratio to the recipe |\n|---|---:|---:|---:|")
    for name in models:
        per = statistics.median(times[name])
        print(f"| {name} | {per * 1e3:.1f} | {54000 / a.batch * per:.1f} | {per / ref:.2f} |", flush=True)
    if a.compile:
        per, first = recipe_step_time(torch.compile(build(VARIANTS["recipe 32-64-96, max pool"])), a.batch, a.steps,
                                      a.warmup, bf16)
        print(f"| recipe under torch.compile (first step, compiling: {first:.1f} s) | {per * 1e3:.1f} | "
              f"{54000 / a.batch * per:.1f} | {per / ref:.2f} |")


if __name__ == "__main__":
    main()
