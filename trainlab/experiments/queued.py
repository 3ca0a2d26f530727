"""An experiment of runs (a compare, a claim, an ensemble's members) through the queue: enqueue its
runs, work on them here with `jobs` local workers while workers elsewhere take their share, show
the runs ending on every machine, wait for the last, and read the results back from the storage.

    trainlab compare configs/mlp-digits.yaml --arm a: --arm b: dropout=0.5 --storage sqlite:///q.db
    trainlab worker --storage sqlite:///q.db --jobs 2          # on any machine that reaches the storage
"""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator

from ..errors import TrainlabError
from .optuna import optuna
from .pool import processes, run_queued, usable_cores
from .progress import Tally, polling
from .queue import ENDED_STATES, Experiment as QueuedExperiment
from .queue import Queue, State, masked, serve
from .spec import Experiment


def run_key(run: dict[str, Any]) -> str:
    return f"{run['arm']}/seed-{run['seed']}"


def spec_of(exp: Experiment) -> dict[str, Any]:
    """What must match to continue an experiment in the queue: base and arms (seeds may grow)."""
    return {"base": exp.base, "arms": exp.arms, "baseline": exp.baseline}


def enqueue(exp: Experiment, url: str, say=print) -> tuple[Queue, QueuedExperiment, int]:
    """The experiment's runs enqueued (those not already there); the queue, its study, and how many
    runs it holds in all."""
    q = Queue(url, say)
    qexp = q.create(exp.name, "runs", spec_of(exp))
    runs = [{"arm": arm, "seed": seed, "folder": f"{exp.name}/{arm}/seed-{seed}",
             "config": exp.configs[arm].model_copy(update={"seed": seed, "name": f"seed-{seed}"}).resolved()}
            for seed in range(exp.seeds) for arm in exp.arms]
    q.enqueue(qexp, runs, run_key)
    return q, qexp, len({run_key(t.user_attrs["run"]) for t in q.trials(qexp) if "run" in t.user_attrs})


def ended(t: Any) -> bool:
    """A run that will not be taken again: complete, or failed for a reason of its own."""
    return t.state in ENDED_STATES or t.state == State.FAIL and "error" in t.user_attrs


def outcome(t: Any) -> str:
    if t.state == State.FAIL:
        return f"failed: {t.user_attrs.get('error', '')}"
    s = t.user_attrs.get("summary") or {}
    best = s.get("best") or {}
    score = best.get("val_acc", best.get("val_miou"))
    return (f"{s.get('status', '?')}" + (f" (val {score:.4f})" if isinstance(score, (int, float)) else "")
            + f" on {s.get('host', '?')}")


@contextlib.contextmanager
def watch(q: Queue, qexp: QueuedExperiment, total: int, quiet: bool, every: float = 1.0) -> Iterator[Tally]:
    """A line for each run of the experiment that ends, on any worker, while the block runs."""
    seen = {t.number for t in q.trials(qexp) if ended(t)}
    tally = Tally(total, len(seen), quiet)

    def look() -> None:
        for t in sorted((t for t in q.trials(qexp) if ended(t) and t.number not in seen),
                        key=lambda t: (t.datetime_complete, t.number)):
            seen.add(t.number)
            run = t.user_attrs.get("run", {})
            failed = sum(x.state == State.FAIL and "error" in x.user_attrs for x in q.trials(qexp))
            tally.ended(f"{run.get('arm')} seed {run.get('seed')}", outcome(t), f"{failed} failed" if failed else "")

    with polling(look, every):
        yield tally


def work_and_wait(q: Queue, qexp: QueuedExperiment, total: int, url: str, jobs: int | None, runs_dir: str,
                  quiet: bool, poll: float = 2.0) -> None:
    """Work on the experiment's waiting runs with `jobs` local workers (one torch thread each), then
    wait for the runs other workers hold, until every run has ended."""
    name = qexp.study.study_name
    n = jobs or usable_cores()
    if not quiet:
        print(f"{name}: {total} runs in the queue at {masked(url)}; working on them with {n} local worker(s), "
              "one thread each (more workers: `trainlab worker --storage URL` on any machine)", flush=True)
    runners = {"runs": run_queued}
    with watch(q, qexp, total, quiet) as tally:
        while True:
            if n == 1:
                serve(url, [name], runners, runs_dir=runs_dir)
            else:
                with processes(serve, [(url, [name], runners, runs_dir)] * n):
                    pass
            left = unfinished(q.trials(qexp))
            if not left:
                break
            if not any(t.state in (State.WAITING, State.RUNNING) for t in q.trials(qexp)):
                raise TrainlabError(f"experiment {name!r}: runs {', '.join(sorted(left)[:3])} were taken by workers "
                                    "that died, again and again (3 retries); look at their folders, then enqueue "
                                    "them again with the same command")
            threading.Event().wait(poll)  # runs other workers hold; a dead worker's run comes back as waiting
            q.patient(lambda: optuna.storages.fail_stale_trials(qexp.study), "waiting for runs")
            n = 1  # what comes back is taken here, one at a time
    if not quiet:
        print(f"{name}: {tally.total} runs ended in {tally.elapsed()}", flush=True)


def unfinished(trials: list[Any]) -> set[str]:
    """The runs (arm/seed) none of whose trials has ended (a dead worker's trial is failed, its copy
    enqueued again: the run ends when one of them does)."""
    keys = {run_key(t.user_attrs["run"]) for t in trials if "run" in t.user_attrs}
    return keys - {run_key(t.user_attrs["run"]) for t in trials if "run" in t.user_attrs and ended(t)}


def runs_from_queue(q: Queue, qexp: QueuedExperiment, arms: list[str]) -> dict[str, dict[int, dict[str, Any]]]:
    """arm -> seed -> run record (status, metrics, curve, path) from the summaries in the storage:
    the statistics need no shared folder."""
    out: dict[str, dict[int, dict[str, Any]]] = {arm: {} for arm in arms}
    for t in q.trials(qexp):
        run = t.user_attrs.get("run")
        if run is None or run["arm"] not in out or not ended(t):
            continue
        s = t.user_attrs.get("summary") or {}
        status = s.get("status") if t.state == State.COMPLETE else "failed"
        out[run["arm"]][int(run["seed"])] = {"path": s.get("path", run["folder"]), "status": status, "summary": s,
                                            "curve": [tuple(c) for c in s.get("curve", [])], "host": s.get("host")}
    return out


def check_complete(qexp: QueuedExperiment, runs: dict[str, dict[int, dict[str, Any]]], seeds: int) -> None:
    missing = [f"{arm} seed {seed}" for arm in runs for seed in range(seeds) if seed not in runs[arm]]
    if missing:
        raise TrainlabError(f"experiment {qexp.study.study_name!r} has runs that have not ended ({', '.join(missing[:3])}"
                            f"{', ...' if len(missing) > 3 else ''}); start workers (`trainlab worker --storage URL`) "
                            "or wait, then gather again")
