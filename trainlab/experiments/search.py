"""`trainlab search` / `trainlab.search`: grid, random and Bayesian search on Optuna (deck 002).

Every trial is an ordinary run folder in the study's group (`runs/<study>/trial-<n>`, no plots
per trial); the objective is always a validation metric, with pruning through the trainer's
per-evaluation hook; the test split is scored once, for the best trial only, at the end. The
study lives in a storage (SQLite in the study folder by default, or PostgreSQL for many
machines), which is also the queue the trials go through (trainlab.experiments.queue): the budget
is enqueued as `trials` waiting trials, so workers in processes or on other machines
(`trainlab worker --storage URL`) run exactly that many between them; each trial's parameters are
drawn by the sampler seeded with (the study's seed, the trial's number), so two workers never draw
the same ones and a trial draws the same wherever it runs. A worker killed mid-trial leaves a
trial that the heartbeat marks failed; its copy runs again (resuming the same run folder when
the folder is shared), and the same command again continues the study.

    >>> s = trainlab.search("configs/mlp-digits.yaml", {"lr": {"log_uniform": [1e-3, 1]}}, trials=20)  # doctest: +SKIP
    >>> s.best_value, s.best_config["lr"]                                                               # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..config import make_config, read_yaml, set_key
from ..errors import TrainlabError
from ..training.checks import check_config
from .optuna import optuna
from .pool import Job, processes, run_held, usable_cores
from .progress import watch
from .queue import Experiment as QueuedExperiment
from .queue import Queue, masked, serve, worker_id
from .search_report import finish_study
from .space import Dim, grid_values, parse_space, suggest

SAMPLERS = ("grid", "random", "tpe", "gp")
PRUNERS = ("median", "halving", "none")
OBJECTIVES = ("val_acc", "val_loss", "val_miou", "val_map50", "val_map")


@dataclass
class Settings:
    name: str
    base: dict[str, Any]
    dims: list[Dim]
    sampler: str = "tpe"
    trials: int = 50
    objective: str = "val_acc"
    pruner: str = "median"
    storage: str | None = None
    seed: int = 0
    timeout: float | None = None  # seconds after which workers take no new trial
    heartbeat: int = 10  # seconds between a running trial's heartbeats (3 missed: taken again)

    @property
    def folder(self) -> Path:
        return Path(self.base.get("runs_dir", "runs")) / self.name

    @property
    def url(self) -> str:
        return self.storage or f"sqlite:///{(self.folder / 'study.db').resolve()}"

    @property
    def direction(self) -> str:
        return "minimize" if self.objective.endswith("loss") else "maximize"

    def spec(self) -> dict[str, Any]:
        """What defines the study's trials, stored with it: a worker rebuilds the settings from it, and
        the same name with another spec is refused."""
        return {"base": self.base, "space": [asdict(d) for d in self.dims], "objective": self.objective,
                "sampler": self.sampler, "pruner": self.pruner, "seed": self.seed,
                **({"trials": self.trials} if self.sampler == "grid" else {})}  # a grid's points follow its budget

    @classmethod
    def from_spec(cls, name: str, spec: dict[str, Any], storage: str) -> "Settings":
        return cls(name=name, base=spec["base"], dims=[Dim(**d) for d in spec["space"]], sampler=spec["sampler"],
                   objective=spec["objective"], pruner=spec["pruner"], seed=spec["seed"], storage=storage,
                   **({"trials": spec["trials"]} if "trials" in spec else {}))


def trial_seed(seed: int, number: int) -> int:
    """The seed of trial `number`'s draws: the same on every worker, another for every trial."""
    return int(hashlib.sha256(f"{seed}:{number}".encode()).hexdigest()[:8], 16)


class PerTrialSampler(optuna.samplers.BaseSampler):
    """A sampler that draws each trial with a fresh sampler of its kind seeded by (seed, trial number):
    parallel workers never share a random stream (four workers with one seed would draw the same
    parameters four times), and a trial's draws do not depend on which worker runs it."""

    def __init__(self, make: Any, seed: int):
        self.make, self.seed = make, seed
        self._by_trial: dict[int, Any] = {}

    def _for(self, trial: Any) -> Any:
        number = trial.system_attrs.get("failed_trial", trial.number)  # a retry draws what its original drew
        if number not in self._by_trial:
            self._by_trial = {number: self.make(trial_seed(self.seed, number))}  # one trial at a time
        return self._by_trial[number]

    def infer_relative_search_space(self, study, trial):
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self._for(trial).before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        self._for(trial).after_trial(study, trial, state, values)


def make_sampler(s: Settings):
    if s.sampler == "grid":  # an enumeration: the grid sampler assigns points to trials itself
        return optuna.samplers.GridSampler(grid_values(s.dims, s.trials), seed=s.seed)
    kind = {"random": optuna.samplers.RandomSampler, "tpe": optuna.samplers.TPESampler,
            "gp": optuna.samplers.GPSampler}[s.sampler]
    return PerTrialSampler(lambda seed: kind(seed=seed), s.seed)


def make_pruner(s: Settings):
    return {"median": lambda: optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
            "halving": optuna.pruners.SuccessiveHalvingPruner,
            "none": optuna.pruners.NopPruner}[s.pruner]()


def trial_config(s: Settings, trial, folder_number: int | None = None) -> dict[str, Any]:
    cfg = dict(s.base)
    for key, value in suggest(trial, s.dims).items():
        cfg = set_key(cfg, key, value, f"search space: {key}")
    number = trial.number if folder_number is None else folder_number
    return {**cfg, "group": s.name, "name": f"trial-{number}", "monitor": s.objective}


def checked_trial_config(s: Settings, trial, folder_number: int | None = None) -> dict[str, Any]:
    """A trial's run config checked as `train` checks it (the recipe's weight_decay filled in), so that
    its arm is the one a run records: a trial retried after a dead worker finds its first attempt's
    folder as the same arm and resumes it."""
    return check_config(make_config(trial_config(s, trial, folder_number), source="search trial")).resolved()


def run_search_trial(q: Queue, exp: QueuedExperiment, trial_id: int, runs_dir: str | None) -> None:
    """Run one trial a worker took from the queue: its parameters drawn, its run trained with the
    pruner watching (or resumed: a dead worker's trial comes back with its run folder), its value
    reported. A trial retried after a dead worker uses the first attempt's folder."""
    s = Settings.from_spec(exp.study.study_name, exp.spec, q.url)
    if runs_dir:
        s.base = {**s.base, "runs_dir": runs_dir}
    study = q.patient(lambda: optuna.load_study(study_name=s.name, storage=q.storage, sampler=make_sampler(s),
                                                pruner=make_pruner(s)), "opening the study")
    q.patient(lambda: study.get_trials(deepcopy=False), "opening the study")  # the study's cache learns the trial
    trial = optuna.trial.Trial(study, trial_id)
    # the trial this one retries, after its worker died
    first = q.patient(lambda: q.storage.get_trial(trial_id), "starting a trial").system_attrs.get("failed_trial")
    cfg = checked_trial_config(s, trial, first)
    job = Job("trial", trial.number, cfg, Path(cfg["runs_dir"]) / s.name / cfg["name"])
    q.patient(lambda: trial.set_user_attr("run", str(job.path)), "starting a trial")

    def prune(row: dict[str, Any]) -> str | bool:
        if row["step"] == 0 or row.get(s.objective) is None:
            return False
        q.patient(lambda: trial.report(row[s.objective], step=int(row["step"])), "reporting to the pruner")
        return f"pruned at epoch {row['epoch']:g} ({s.pruner} pruner)" if trial.should_prune() else False

    try:
        run = run_held(job, score_test=False, on_eval=prune)
    except TrainlabError as e:
        q.finish(exp, trial_id, error=str(e))
        return
    status, summary = run.summary.get("status"), {"status": run.summary.get("status"), "host": worker_id(),
                                                  "message": run.summary.get("message", "")}
    value = (run.summary.get("best") or {}).get(s.objective)
    if status == "stopped" or status == "diverged" or value is None or not math.isfinite(value):
        q.finish(exp, trial_id, summary, pruned=True)  # a pruned or diverged trial is a result, not a crash
    else:
        q.finish(exp, trial_id, summary, value=float(value))


def check_settings(s: Settings, jobs: int) -> None:
    if s.sampler not in SAMPLERS:
        raise TrainlabError(f"--sampler {s.sampler!r}: choose one of {', '.join(SAMPLERS)}")
    if s.pruner not in PRUNERS:
        raise TrainlabError(f"--pruner {s.pruner!r}: choose one of {', '.join(PRUNERS)}")
    if s.objective not in OBJECTIVES:
        raise TrainlabError(f"--objective {s.objective!r}: choose a validation metric: {', '.join(OBJECTIVES)}")
    if s.trials < 1 or jobs < 1:
        raise TrainlabError(f"--trials {s.trials} and --jobs {jobs} must be >= 1")
    check_config(make_config({**s.base, "monitor": s.objective}, source="search base"))
    for d in s.dims:  # every end of every range must make a valid config
        for v in (d.values if not d.is_range else d.values[:2]):
            check_config(make_config(set_key({**s.base, "monitor": s.objective}, d.key, v, f"search space: {d.key}"),
                                     source=f"search space: {d.key}={v!r}"))


def run_search(s: Settings, jobs: int = 1, quiet: bool = False):
    """Check everything, enqueue the budget, run `jobs` workers on the study, then write the report."""
    check_settings(s, jobs)
    if s.storage is None:
        try:
            s.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TrainlabError(f"runs folder {str(s.folder)!r} cannot be created ({e.strerror}); set runs_dir to "
                                "a writable folder") from None
    q = Queue(s.url, say=(lambda _: None) if quiet else print, heartbeat=s.heartbeat)
    exp = q.create(s.name, "search", s.spec(), direction=s.direction)
    have = sum(t.state.is_finished() for t in q.trials(exp))
    q.enqueue_slots(exp, s.trials)
    if not quiet:
        print(f"search {s.name}: {s.sampler} sampler, {s.trials} trials of {len(s.dims)} hyperparameters, "
              f"objective {s.objective}, pruner {s.pruner}, {jobs} worker(s); storage {masked(s.url)}"
              + (f"; continuing ({have} trials already ended)" if have else ""), flush=True)
    until = time.monotonic() + s.timeout if s.timeout else None
    runners = {"search": run_search_trial}
    with watch(exp.study, s, quiet):
        if jobs == 1:  # in this process, with every core (one run at a time)
            serve(s.url, [s.name], runners, threads=max(1, usable_cores()), until=until, heartbeat_s=s.heartbeat)
        else:
            with processes(serve, [(s.url, [s.name], runners, None, False, max(1, usable_cores() // jobs), None,
                                    2.0, print, until, s.heartbeat)] * jobs):
                pass
    return finish_study(s, exp.study, quiet)


def settings_from(base: dict[str, Any], space: Any, *, name: str, sampler: str = "tpe", trials: int = 50,
                  objective: str = "val_acc", pruner: str = "median", storage: str | None = None, seed: int = 0,
                  timeout: float | None = None, source: str = "search space", **kw) -> Settings:
    return Settings(name=name, base=base, dims=parse_space(space, base, source), sampler=sampler, trials=trials,
                    objective=objective, pruner=pruner, storage=storage, seed=seed, timeout=timeout, **kw)


def search(base: str | Path | dict[str, Any], space: str | Path | dict[str, Any], sampler: str = "tpe",
           trials: int = 50, storage: str | None = None, jobs: int = 1, name: str | None = None,
           objective: str = "val_acc", pruner: str = "median", seed: int = 0, quiet: bool = True, **kw):
    """Run (or continue) a search; returns a `StudyResult` (best value, config, trials, report)."""
    values = read_yaml(base) if isinstance(base, (str, Path)) else dict(base)
    sp = read_yaml(space) if isinstance(space, (str, Path)) else space
    stem = Path(base).stem if isinstance(base, (str, Path)) else "study"
    s = settings_from(values, sp, name=name or f"search-{stem}-{sampler}", sampler=sampler, trials=trials,
                      objective=objective, pruner=pruner, storage=storage, seed=seed,
                      source=str(space) if isinstance(space, (str, Path)) else "search space", **kw)
    return run_search(s, jobs=jobs, quiet=quiet)
