"""Work on the queued runs of a storage: compare arms, claims, ensemble members and search trials
enqueued from any machine (`trainlab compare ... --storage URL`, `trainlab search ... --storage URL`).

    trainlab worker --storage postgresql://user:password@host:5432/db --jobs 2
    trainlab worker --storage sqlite:///runs/queue.db --wait            # keep polling for new runs
    trainlab worker --storage URL --device cuda:1 --runs-dir /shared/runs

Each run trains on one torch thread (so its numbers equal a one-machine run's) in the runs folder
given here (default: the enqueuer's); when that folder is shared between machines, a run whose
worker died resumes from its last checkpoint, else it starts again. On a GPU machine, start one
worker per GPU with --device cuda:K.
"""
from __future__ import annotations

from ..experiments.worker import work


def add_arguments(p) -> None:
    p.add_argument("--storage", required=True, metavar="URL", help="the queue: sqlite:///PATH or postgresql://...")
    p.add_argument("--jobs", type=int, default=1, help="worker processes on this machine (default 1)")
    p.add_argument("--runs-dir", help="where run folders go (default: each experiment's runs_dir)")
    p.add_argument("--device", help="cpu, or cuda:K to pin this worker to GPU K")
    p.add_argument("--wait", action="store_true", help="keep polling for new runs instead of stopping when none wait")
    p.add_argument("--name", dest="names", action="append", metavar="EXPERIMENT",
                   help="only this experiment (repeatable; default: every experiment in the storage)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    p.add_argument("--heartbeat", type=int, default=10, help="seconds between a running run's heartbeats (default "
                   "10); a run silent for 60 s (3 beats when beats are faster) is taken again by another worker")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args) -> int:
    work(args.storage, jobs=args.jobs, runs_dir=args.runs_dir, device=args.device, wait=args.wait,
         names=args.names, threads=args.threads, quiet=args.quiet, heartbeat=max(1, args.heartbeat))
    return 0
