"""`trainlab worker` and `trainlab queue`: work on any experiment in a storage, and see what it holds.

    trainlab worker --storage postgresql://user:pw@host/db --jobs 2        # until nothing is waiting
    trainlab worker --storage URL --wait --device cuda:0                   # one worker per GPU, polling
    trainlab queue --storage URL                                           # experiments, runs, workers

A worker takes waiting runs of every experiment in the storage (compare arms, claims, ensemble
members, search trials), one at a time per process, each on one torch thread unless --threads says
otherwise, so a run's numbers do not depend on where it ran. On a GPU machine, start one worker per
GPU (`--device cuda:K`): each sees only its GPU.
"""
from __future__ import annotations

from typing import Any

from ..errors import TrainlabError
from .pool import processes, run_queued
from .queue import Queue, State, serve
from .search import run_search_trial

RUNNERS = {"runs": run_queued, "search": run_search_trial}


def work(url: str, jobs: int = 1, runs_dir: str | None = None, device: str | None = None, wait: bool = False,
         names: list[str] | None = None, threads: int = 1, quiet: bool = False, heartbeat: int = 10) -> int:
    """Run queued runs of the experiments `names` (None: all) in `url` with `jobs` worker processes
    until none is waiting (`wait`: keep polling for new ones). How many runs this process ran (the
    worker processes' runs are in the storage)."""
    if jobs < 1:
        raise TrainlabError(f"--jobs {jobs} must be >= 1")
    if device is not None and not (device == "cpu" or device.startswith("cuda:") and device[5:].isdigit()):
        raise TrainlabError(f"--device {device!r}: give cpu or cuda:K (one worker per GPU: --device cuda:0, "
                            "--device cuda:1, ...)")
    say = (lambda _: None) if quiet else print
    q = Queue(url, say)
    for name in names or []:
        q.experiment(name)  # an unknown name is refused before anything starts
    if not quiet:
        print(f"worker: {jobs} process(es) on {len(names) if names else 'every'} experiment(s) in the queue"
              + (", waiting for new runs (Ctrl-C to stop)" if wait else ", until none is waiting"), flush=True)
    if jobs == 1:
        return serve(url, names, RUNNERS, runs_dir=runs_dir, wait=wait, threads=threads, device=device, say=say,
                     heartbeat_s=heartbeat)
    with processes(serve, [(url, names, RUNNERS, runs_dir, wait, threads, device, 2.0, print, None, heartbeat)] * jobs):
        pass
    return 0


def status(url: str) -> list[dict[str, Any]]:
    """Each experiment in `url`: its kind, how many runs wait, run (and on which worker), ended, failed."""
    q = Queue(url)
    out = []
    for name in q.names():
        exp = q.experiment(name)
        trials = q.trials(exp)
        stale = {t.system_attrs.get("failed_trial") for t in trials if "failed_trial" in t.system_attrs}
        counts = {"waiting": 0, "running": 0, "done": 0, "pruned": 0, "failed": 0, "retried": 0}
        for t in trials:
            if t.state == State.FAIL:
                counts["retried" if t.number in stale and "error" not in t.user_attrs else "failed"] += 1
            else:
                counts[{State.WAITING: "waiting", State.RUNNING: "running", State.COMPLETE: "done",
                        State.PRUNED: "pruned"}[t.state]] += 1
        running = [(t.number, t.user_attrs.get("worker", "?"), _what(t)) for t in trials if t.state == State.RUNNING]
        errors = [(t.number, t.user_attrs["error"]) for t in trials if t.state == State.FAIL and "error" in t.user_attrs]
        out.append({"name": name, "kind": exp.kind, **counts, "running_on": running, "errors": errors})
    return out


def _what(t: Any) -> str:
    run = t.user_attrs.get("run")
    return f"{run['arm']} seed {run['seed']}" if isinstance(run, dict) else f"trial {t.number}"
