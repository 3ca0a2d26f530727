"""The queue's cost: tiny runs through the queue (SQLite storage, one worker in this process) against
the process pool without a queue (`--jobs 1`, in this process), and runs per minute with 1 and 2
queue workers.

    .venv/bin/python bench/bench_queue.py                 # 12 runs of a 1-epoch MLP on digits, 2 rounds
    .venv/bin/python bench/bench_queue.py --runs 20 --rounds 3 --epochs 5

Both sides train the same runs (same configs and seeds, one thread each) in fresh folders, one
round after the other, and the overhead per run is (queue time - pool time) / runs, the median over
rounds (target: at most 0.3 s). The worker counts are timed on the queue alone with `--epochs`
(default 5) runs, each worker a process of its own (as `trainlab worker --jobs N` starts them),
from enqueuing to the last run's end, the workers' start-up included.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from trainlab.experiments.compare import Comparison  # noqa: E402
from trainlab.experiments.pool import Job, execute, plan, processes, run_queued  # noqa: E402
from trainlab.experiments.queue import serve  # noqa: E402
from trainlab.experiments.queued import enqueue  # noqa: E402
from trainlab.experiments.spec import Experiment  # noqa: E402

BASE = {"dataset": "digits", "model": "mlp", "model_options": {"depth": 1, "width": 32}, "epochs": 1,
        "batch_size": 64, "threads": 1}


def experiment(root: Path, runs: int, epochs: int = 1) -> Experiment:
    exp = Experiment(name="bench", base={**BASE, "epochs": epochs}, arms={"a": {}, "b": {"dropout": 0.2}},
                     seeds=runs // 2, runs_dir=str(root))
    exp.check()
    return exp


def pool_time(root: Path, runs: int) -> float:
    exp = experiment(root, runs)
    todo = [Job(arm, seed, exp.configs[arm].model_copy(update={"seed": seed, "name": f"seed-{seed}"}).resolved(),
                exp.folder / arm / f"seed-{seed}") for seed in range(exp.seeds) for arm in exp.arms]
    t0 = time.perf_counter()
    execute(plan(todo), 1)
    return time.perf_counter() - t0


def queue_time(root: Path, runs: int, workers: int, epochs: int = 1) -> float:
    """Seconds from enqueuing to the last run's end; workers=0: one worker in this process."""
    exp = experiment(root, runs, epochs)
    url = f"sqlite:///{root / 'queue.db'}"
    t0 = time.perf_counter()
    q, qexp, total = enqueue(exp, url, say=lambda _: None)
    if workers == 0:
        serve(url, ["bench"], {"runs": run_queued}, say=lambda _: None)
    else:
        with processes(serve, [(url, ["bench"], {"runs": run_queued})] * workers):
            pass
    took = time.perf_counter() - t0
    assert len(Comparison.from_queue(url, "bench", folder=root / "report").runs["a"]) == exp.seeds
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=12, help="runs per measurement (even; default 12)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of pool then queue (default 2)")
    ap.add_argument("--epochs", type=int, default=5, help="epochs of each run timed with 1 and 2 workers (default 5)")
    args = ap.parse_args()
    over = []
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp:
        tmp = Path(tmp)
        for r in range(args.rounds):
            tp = pool_time(tmp / f"pool-{r}", args.runs)
            tq = queue_time(tmp / f"queue-{r}", args.runs, 0)
            over.append((tq - tp) / args.runs)
            print(f"round {r + 1}: {args.runs} runs, process pool {tp:.1f} s, queue {tq:.1f} s: "
                  f"{over[-1]:+.3f} s per run", flush=True)
        print(f"queue overhead per run: median {statistics.median(over):+.3f} s (target <= 0.3 s)", flush=True)
        for workers in (1, 2):
            t = queue_time(tmp / f"workers-{workers}", args.runs, workers, args.epochs)
            print(f"{workers} queue worker process(es): {args.runs} runs of {args.epochs} epochs in {t:.1f} s = "
                  f"{60 * args.runs / t:.0f} runs per minute", flush=True)


if __name__ == "__main__":
    main()
