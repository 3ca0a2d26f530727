"""How many runs at once pay off: N runs as N single-thread workers side by side (compare's default)
against the same runs one after another with all cores each. Prints wall time and the ratio.

    .venv/bin/python bench/bench_compare.py [--runs 4] [--model mlp|convnet] [--epochs 20]
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

from trainlab.experiments.compare import compare
from trainlab.experiments.runner import usable_cores


def timed(base, runs: int, jobs: int) -> float:
    d = tempfile.mkdtemp()
    try:
        t0 = time.perf_counter()
        compare(base, {"a": {}}, seeds=runs, jobs=jobs, name="b", runs_dir=d)
        return time.perf_counter() - t0
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--reps", type=int, default=2)
    a = ap.parse_args()
    cores = usable_cores()
    base = {"dataset": "digits", "model": a.model, "epochs": a.epochs, "batch_size": 64}
    print(f"{a.runs} runs of {a.model} on digits, {a.epochs} epochs; {cores} cores; load {os.getloadavg()[0]:.2f}")
    for rep in range(a.reps):
        t_par = timed(base, a.runs, jobs=cores)  # cores workers x 1 thread (workers started in the timing)
        t_seq = timed(base, a.runs, jobs=1)  # one after another, `cores` threads each
        print(f"  rep {rep}: {cores} workers x 1 thread {t_par:.1f} s, 1 worker x {cores} threads {t_seq:.1f} s: "
              f"side by side is {t_seq / t_par:.2f}x the speed", flush=True)


if __name__ == "__main__":
    main()
