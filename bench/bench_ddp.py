"""Distributed data parallel on this machine: 1 process x T threads against T processes x 1 thread,
and the share of a DDP step spent in the gradient all-reduce.

Throughput: the same config (Fashion-MNIST's default convnet on a 12,000-image subset, or digits
with --dataset digits when Fashion-MNIST is not installed) is trained by `trainlab train` with
threads=T, then by `trainlab train --nproc T`; images/s is the median of the metrics rows after
the first (warm-up). The ratio is DDP over one process, measured in the same run.

All-reduce share: inside a T-process job, the same batches are timed with DDP's gradient sync
and under `no_sync()` (no all-reduce, same compute), interleaved; share = 1 - t_no_sync / t_sync.

    .venv/bin/python bench/bench_ddp.py [--nproc 2] [--dataset fashion-mnist] [--steps 60]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def config(dataset: str, batch: int) -> list[str]:
    sub = ["train_subset=12000", "eval_every=20"] if dataset != "digits" else ["eval_every=5"]
    return ["model=convnet", f"dataset={dataset}", "epochs=2", f"batch_size={batch}", "checkpoint_every=100000",
            *sub]


def throughput(values: list[str], runs_dir: str, name: str, nproc: int | None, threads: int) -> float:
    args = [sys.executable, "-m", "trainlab", "train", "--quiet", "--name", name]
    args += [a for v in values + [f"runs_dir={runs_dir}"] + ([f"threads={threads}"] if nproc is None else [])
             for a in ("--set", v)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads if nproc is None else 1)}
    subprocess.run(args + (["--nproc", str(nproc)] if nproc else []), check=True, env=env, cwd=ROOT)
    rows = [json.loads(line) for line in (Path(runs_dir) / name / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(r["images_per_s"] for r in rows[1:])


def worker(dataset: str, batch: int, steps: int) -> None:
    """One rank of the all-reduce timing (started by torch.distributed.run)."""
    from trainlab import distributed
    from trainlab.config import load_config
    from trainlab.data import to_float
    from trainlab.training.build import build
    from trainlab.training.evaluation import loss_fn

    cfg = load_config(None, config(dataset, batch))
    world = distributed.setup(cfg)
    p = build(cfg, world=world)
    net, opt = p.net, p.optimizer
    x_all, y_all = p.data.train.x, p.data.train.y
    times: dict[str, list[float]] = {"sync": [], "no_sync": []}
    b = batch // world.size
    for i in range(steps):
        idx = torch.arange(i * batch, (i + 1) * batch) % len(y_all)
        idx = world.shard(idx)[:b]
        x, y = p.preprocess(to_float(x_all[idx])), y_all[idx]
        mode = "sync" if i % 2 == 0 else "no_sync"
        world.barrier()
        t0 = time.perf_counter()
        ctx = net.no_sync() if mode == "no_sync" else torch.enable_grad()
        with ctx:
            loss_fn(net(x), y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= 4:  # warm-up steps are not timed
            times[mode].append(time.perf_counter() - t0)
    if world.main:
        t_sync, t_free = statistics.median(times["sync"]), statistics.median(times["no_sync"])
        print(json.dumps({"t_sync_ms": 1e3 * t_sync, "t_no_sync_ms": 1e3 * t_free,
                          "share": max(0.0, 1 - t_free / t_sync)}))
    world.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return worker(a.dataset, a.batch, a.steps)
    from trainlab.data import load_dataset
    from trainlab.errors import TrainlabError

    try:
        load_dataset(a.dataset, val_fraction=0.1, seed=0)
    except TrainlabError:
        print(f"{a.dataset} is not installed here: using digits")
        a.dataset = "digits"
    values = config(a.dataset, a.batch)
    print(f"convnet on {a.dataset}, global batch {a.batch}, {os.cpu_count()} CPUs, torch {torch.__version__}",
          flush=True)
    with tempfile.TemporaryDirectory() as d:
        one = throughput(values, d, "one", None, a.nproc)
        print(f"1 process x {a.nproc} threads: {one:8.0f} images/s", flush=True)
        ddp = throughput(values, d, "ddp", a.nproc, 1)
        print(f"{a.nproc} processes x 1 thread: {ddp:8.0f} images/s", flush=True)
    print(f"ratio DDP / one process: {ddp / one:.2f}x", flush=True)
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                          str(a.nproc), __file__, "--worker", "--dataset", a.dataset, "--batch", str(a.batch),
                          "--steps", str(a.steps)], check=True, capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"all-reduce share of a DDP step: {100 * r['share']:.1f}% "
          f"(step {r['t_sync_ms']:.1f} ms with gradient sync, {r['t_no_sync_ms']:.1f} ms under no_sync)")


if __name__ == "__main__":
    main()
