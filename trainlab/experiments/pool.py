"""Many runs at once, the one place worker processes are started (compare's runs, a search's
workers): worker processes, each with its share of the cores, each writing only its
own run folder; the parent reads results from disk. Killed or interrupted, the same call again
skips finished runs (same arm hash and seed), resumes interrupted ones from their checkpoints,
and trains only what is missing.
"""
from __future__ import annotations

import ctypes
import fcntl
import multiprocessing as mp
import os
import shutil
import signal
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from ..errors import TrainlabError
from ..runs import Run, arm_hash, load_run
from ..training.run import resume, train
from .queue import Experiment as QueuedExperiment
from .queue import Queue, worker_id

ENDED = ("finished", "early_stopped", "stopped", "diverged")


@dataclass
class Job:
    arm: str
    seed: int
    config: dict[str, Any]  # resolved config values
    path: Path  # runs_dir/group/name
    action: str = "train"  # train | resume | done


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


STARTUP_S = 2.0  # a spawned worker imports torch and trainlab before its first step (measured: 1.7 s)


def default_jobs(n_runs: int) -> int:
    """One single-thread worker per core: two 1-thread runs side by side beat one 2-thread run
    (bench/bench_compare.py measures it)."""
    return max(1, min(usable_cores(), n_runs))


def plan(jobs: list[Job]) -> list[Job]:
    """Decide for each run: done (ended, same arm), resume (a checkpoint), or train (nothing to keep).
    A folder that holds a different arm is refused: nothing on disk is overwritten."""
    for job in jobs:
        if not (job.path / "config.yaml").is_file():
            if job.path.is_dir():  # a run killed between creating its folder and writing its config
                kept = [f for f in job.path.rglob("*") if f.is_file() and not (f.name.startswith(".") and
                                                                               f.name.endswith(".tmp"))]
                if kept:
                    raise TrainlabError(f"{str(job.path)!r} holds files but no config.yaml, so it is not a run "
                                        "trainlab started; move it away and run again")
                shutil.rmtree(job.path)  # only our own unfinished temporary files: nothing to lose
            job.action = "train"
            continue
        run = load_run(job.path)
        checkpoint = (job.path / "checkpoints" / "latest.json").is_file()
        if not (job.path / "summary.json").is_file() and not checkpoint:
            # killed between writing its config and its summary (which records the arm asked for): nothing
            # trained, nothing to lose; its config.yaml is resolved (precision: auto measured), so it cannot
            # be compared with the arm
            shutil.rmtree(job.path)
            job.action = "train"
            continue
        try:  # the arm the run recorded (what was asked for, e.g. precision: auto), else its config's
            have = run.summary.get("arm") or arm_hash(run.config)
        except Exception:  # unreadable config: we cannot tell what it is, so do not touch it
            raise TrainlabError(f"{str(job.path)!r} has an unreadable config.yaml; move it away and run again") from None
        if have != arm_hash(job.config):
            raise TrainlabError(f"{str(job.path)!r} holds a run of another config than arm {job.arm!r} now asks "
                                "for; use another --name, or move that folder away")
        status = run.summary.get("status")
        if status in ENDED:
            job.action = "done"
        elif checkpoint:
            job.action = "resume"
        else:  # started but no checkpoint yet: nothing to lose
            shutil.rmtree(job.path)
            job.action = "train"
    return jobs


@contextmanager
def held(path: Path) -> Iterator[None]:
    """Hold run folder `path` while this process plans and trains it (an flock on the sibling file
    `.NAME.lock`, which the kernel lets go when the process dies). A queued run's copy, made when
    its worker was taken for dead (no heartbeat for a minute) but still lives, waits here until the
    first attempt ends, then finds the run done, instead of deleting or resuming a folder that is
    being written. Runs folders shared between machines need a file system with locks (NFSv4)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def run_held(job: Job, **kw: Any) -> Run:
    """A queued run (or search trial) to its end: its folder held (`held`), planned, then found done,
    resumed or trained; `kw` go to resume and train (a search's pruner, its test score left out)."""
    with held(job.path):
        plan([job])
        if job.action == "done":
            return load_run(job.path)
        if job.action == "resume":
            return resume(job.path, quiet=True, report=False, **kw)
        return train(job.config, quiet=True, report=False, **kw)


def die_with_parent() -> None:
    """A worker must not outlive a killed parent (it would go on writing a run the next call resumes)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker_start(target: Callable[..., Any], *args: Any) -> None:
    """A worker process of `processes`: it dies with its parent, then runs target(*args)."""
    die_with_parent()
    target(*args)


@contextmanager
def processes(target: Callable[..., Any], args: list[tuple]) -> Iterator[list[Any]]:
    """One fresh worker process per tuple in `args` (spawned: a clean interpreter, no inherited
    threads or RNG state), each running target(*a) and dying with this process; the block runs while
    they work, and on leaving it waits for them, killing any left when the block fails."""
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker_start, args=(target, *a)) for a in args]
    for p in procs:
        p.start()
    try:
        yield procs
        for p in procs:
            p.join()
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()


def _init_worker() -> None:
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the parent, which stops the pool


def _in_process(todo: list[Job], on_done) -> None:
    threads = torch.get_num_threads()
    try:
        for job in todo:
            _, _, status = _work(job)
            if on_done:
                on_done(job, status)
    finally:
        torch.set_num_threads(threads)


def _work(job: Job) -> tuple[str, int, str]:
    if job.action == "resume":
        run = resume(job.path, quiet=True, report=False)
    else:
        run = train(job.config, quiet=True, report=False)
    return job.arm, job.seed, run.summary.get("status", "?")


def execute(jobs: list[Job], n_jobs: int | None, on_done: Callable[[Job, str], None] | None = None,
            say: Callable[[str], None] | None = None) -> None:
    """Run the jobs that are not done, each with one torch thread unless its config fixes the
    threads (so the numbers do not depend on how many ran at once), `n_jobs` at a time in worker
    processes, or in this process when n_jobs == 1. n_jobs=None decides by measuring: the first
    run goes in this process, and the rest go to one worker per core only if a run lasts long
    enough to pay for a worker's start-up."""
    todo = [j for j in jobs if j.action != "done"]
    if not todo:
        return
    for job in todo:
        job.config = {**job.config, "threads": job.config.get("threads") or 1}
    if n_jobs is None:
        t0 = time.perf_counter()
        _in_process(todo[:1], on_done)
        took, todo = time.perf_counter() - t0, todo[1:]
        workers = default_jobs(len(todo))
        saved = took * len(todo) * (1 - 1 / workers)  # what running side by side saves, before start-up
        n_jobs = workers if workers > 1 and saved > 2 * STARTUP_S else 1
        if say and todo:
            say(f"a run takes {took:.1f} s: the other {len(todo)} " + (
                f"in {n_jobs} worker processes" if n_jobs > 1 else
                f"in this process (a worker's {STARTUP_S:.0f} s start-up would not pay off)"))
    if n_jobs == 1:
        _in_process(todo, on_done)
        return

    ctx = mp.get_context("spawn")  # a clean interpreter per worker: no inherited threads or RNG state
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx, initializer=_init_worker) as pool:
        pending = {pool.submit(_work, job): job for job in todo}
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    job = pending.pop(fut)
                    try:
                        _, _, status = fut.result()
                    except TrainlabError as e:
                        raise TrainlabError(f"arm {job.arm!r} seed {job.seed}: {e}") from None
                    if on_done:
                        on_done(job, status)
        except BaseException:
            for fut in pending:
                fut.cancel()
            for proc in list(getattr(pool, "_processes", {}).values()):  # do not wait for long runs
                proc.kill()
            raise


def run_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """A run's final numbers: the best epoch's validation metrics and the test metrics."""
    out = {k: v for k, v in (summary.get("best") or {}).items() if k.startswith("val_") and isinstance(v, (int, float))}
    out.update({f"test_{k}": v for k, v in (summary.get("test") or {}).items() if isinstance(v, (int, float))})
    return out


# ---------------------------------------------------------------- runs taken from the queue
def run_summary(run: Any) -> dict[str, Any]:
    """What the storage keeps of a finished run, enough for the statistics without its folder."""
    s = run.summary
    return {"status": s.get("status"), "message": s.get("message", ""), "arm": s.get("arm"),
            "seed": run.config.get("seed"), "best": s.get("best") or {}, "test": s.get("test") or {},
            "epochs_run": s.get("epochs_run"), "train_time_s": s.get("train_time_s"), "host": worker_id(),
            "path": str(run.path),
            "curve": [[r["epoch"], r.get("val_acc", r.get("val_map50")), r.get("val_loss")]  # detection: mAP@0.5
                      for r in run.metrics if "val_loss" in r]}


def run_queued(q: Queue, exp: QueuedExperiment, trial_id: int, runs_dir: str | None) -> None:
    """Train (or resume, or find done) the run a queued trial carries, in `runs_dir` (default: the
    enqueuer's), and report its summary; a run that fails for a reason of its own is reported
    failed with its message, and is not taken again."""
    spec = q.patient(lambda: q.storage.get_trial(trial_id), "reading a run").user_attrs["run"]
    root = runs_dir or spec["config"].get("runs_dir", "runs")
    config = {**spec["config"], "runs_dir": root, "threads": spec["config"].get("threads") or 1}
    job = Job(spec["arm"], spec["seed"], config, Path(root) / spec["folder"])
    try:
        run = run_held(job)
    except TrainlabError as e:
        q.finish(exp, trial_id, error=str(e))
        return
    q.finish(exp, trial_id, {**run_summary(run), "resumed": job.action == "resume"})
