"""How many runs at once pay off on this machine.

1. Throughput: two single-thread trainings side by side (two processes) against one
   two-thread training, steps per second of the same model, measured after start-up.
2. End to end: `compare` with --jobs 1 (one process), --jobs <cores> (workers), and the
   default, which measures the first run and decides.

    .venv/bin/python bench/bench_compare.py [--model convnet] [--steps 60]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import tempfile
import time


def _steps(model: str, steps: int, threads: int, barrier, out) -> None:
    import torch
    import torch.nn.functional as F

    import trainlab

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = trainlab.create_model(model, in_shape=(1, 28, 28), num_classes=10)
    opt = trainlab.create_optimizer("momentum", net.parameters(), lr=0.01)
    x, y = torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,))
    for _ in range(3):  # warm-up
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    barrier.wait()
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    out.put(time.perf_counter() - t0)


def throughput(model: str, steps: int, procs: int, threads: int) -> float:
    """Steps per second of all processes together."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(procs), ctx.Queue()
    ps = [ctx.Process(target=_steps, args=(model, steps, threads, barrier, out)) for _ in range(procs)]
    for p in ps:
        p.start()
    times = [out.get() for _ in ps]
    for p in ps:
        p.join()
    return procs * steps / max(times)


def end_to_end(base: dict, runs: int, jobs: int | None) -> float:
    from trainlab.experiments.compare import compare

    d = tempfile.mkdtemp()
    try:
        t0 = time.perf_counter()
        compare(base, {"a": {}}, seeds=runs, jobs=jobs, name="b", runs_dir=d)
        return time.perf_counter() - t0
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main() -> None:
    from trainlab.experiments.pool import usable_cores

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="convnet")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--runs", type=int, default=4)
    a = ap.parse_args()
    cores = usable_cores()
    print(f"{cores} cores, load {os.getloadavg()[0]:.2f}; model {a.model}, batch 128, 28x28")
    one = throughput(a.model, a.steps, 1, cores)
    side = throughput(a.model, a.steps, cores, 1)
    print(f"1 process x {cores} threads: {one:.1f} steps/s; {cores} processes x 1 thread: {side:.1f} steps/s "
          f"together: side by side is {side / one:.2f}x the throughput", flush=True)
    for name, base in (("short runs (mlp on digits, 5 epochs)", {"dataset": "digits", "model": "mlp", "epochs": 5}),
                       ("longer runs (convnet on digits, 40 epochs)",
                        {"dataset": "digits", "model": "convnet", "epochs": 40})):
        times = {j: end_to_end(base, a.runs, j) for j in (1, cores, None)}
        print(f"{a.runs} {name}: --jobs 1 {times[1]:.1f} s, --jobs {cores} {times[cores]:.1f} s, "
              f"default {times[None]:.1f} s", flush=True)


if __name__ == "__main__":
    main()
