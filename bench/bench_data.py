"""Data-layer speed: batched augmentation against one training step, and Fashion-MNIST load times.

    .venv/bin/python bench/bench_data.py [--reps 30] [--threads 2] [--ops hflip,crop:magnitude=2,rotate,noise]

Augmentation runs on Fashion-MNIST-shaped batches (B=256, 1x28x28 float in [0, 1]); it is
compared with ONE training step (forward + backward + SGD step) of a small CNN
(conv32-conv64-fc) on the same batch, timed in the same process and interleaved, median over
repetitions (target: augmentation < 5% of a step); CPU-time medians are printed too, since other
processes on a busy 2-core machine distort wall times (most for small multi-threaded ops). Load times: the first load_dataset
("fashion-mnist") decodes the IDX files into an empty temporary cache, the second reads the
cached .npy arrays.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from trainlab.data import build_augmentation, load_dataset  # noqa: E402

B = 256


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 14, 14)
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 64, 7, 7)
        nn.Flatten(), nn.Linear(64 * 7 * 7, 10),
    )


def timed(fn, clock=time.perf_counter) -> float:
    t0 = clock()
    fn()
    return clock() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=30, help="timed repetitions (median reported)")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--ops", default="hflip,crop:magnitude=2,rotate,noise", help="augmentation ops")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    g = torch.Generator().manual_seed(0)
    x = torch.rand(B, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (B,), generator=g)
    aug = build_augmentation(args.ops.split(","))
    model = small_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    for _ in range(3):  # warm-up: allocator, kernels
        aug(x, g)
        step()
    t_aug, t_step, c_aug, c_step = [], [], [], []
    for _ in range(args.reps):  # interleaved so load changes hit both alike
        t_aug.append(timed(lambda: aug(x, g)))
        t_step.append(timed(step))
        # CPU time of this process: with 1 thread, close to the wall time on an idle machine
        c_aug.append(timed(lambda: aug(x, g), time.process_time))
        c_step.append(timed(step, time.process_time))
    a, s = statistics.median(t_aug), statistics.median(t_step)
    ca, cs = statistics.median(c_aug), statistics.median(c_step)

    with tempfile.TemporaryDirectory() as tmp:
        old = os.environ.get("TRAINLAB_CACHE")
        os.environ["TRAINLAB_CACHE"] = tmp
        try:
            first = timed(lambda: load_dataset("fashion-mnist"))
            cached = timed(lambda: load_dataset("fashion-mnist"))
        finally:
            if old is None:
                os.environ.pop("TRAINLAB_CACHE")
            else:
                os.environ["TRAINLAB_CACHE"] = old

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"data bench: torch {torch.__version__}, {torch.get_num_threads()} threads, B={B}, 1x28x28, "
          f"median of {args.reps}, load average {load:.1f} on {os.cpu_count()} cores")
    print(f"augmentation: {aug}")
    rows = [
        ("augmentation per batch", f"{a * 1e3:8.2f} ms", f"{B / a:10.0f} images/s"),
        ("CNN train step (fwd+bwd+SGD)", f"{s * 1e3:8.2f} ms", f"{B / s:10.0f} images/s"),
        ("augmentation / step", f"{a / s:8.1%}", "target < 5%"),
        ("same in CPU time", f"{ca / cs:8.1%}", f"aug {ca * 1e3:.2f} ms, step {cs * 1e3:.2f} ms of CPU"),
        ("fashion-mnist first load", f"{first:8.3f} s", "decode IDX + write .npy cache"),
        ("fashion-mnist cached load", f"{cached:8.3f} s", f"{first / cached:.1f}x faster"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value}  {note}")


if __name__ == "__main__":
    main()
