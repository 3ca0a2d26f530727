"""`trainlab search` / `trainlab.search`: grid, random and Bayesian search on Optuna (deck 002).

Every trial is an ordinary run folder in the study's group (`runs/<study>/trial-<n>`, no plots
per trial); the objective is always a validation metric, with pruning through the trainer's
per-evaluation hook; the test split is scored once, for the best trial only, at the end. The
study lives in a storage (SQLite in the study folder by default, or PostgreSQL for many
machines) shared by every worker; a worker killed mid-trial leaves a trial that Optuna's
heartbeat marks failed and `RetryHeartbeatStaleTrialCallback` runs again, and the same command again
continues the study.

    >>> s = trainlab.search("configs/mlp-digits.yaml", {"lr": {"log_uniform": [1e-3, 1]}}, trials=20)  # doctest: +SKIP
    >>> s.best_value, s.best_config["lr"]                                                               # doctest: +SKIP
"""
from __future__ import annotations

import json
import math
import os
import re
import socket
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ..config import make_config, read_yaml, set_key
from ..errors import TrainlabError
from ..training.checks import check_config
from ..training.run import train
from .optuna import optuna
from .pool import processes, usable_cores
from .progress import watch
from .search_report import finish_study
from .space import Dim, grid_values, parse_space, suggest

SAMPLERS = ("grid", "random", "tpe", "gp")
PRUNERS = ("median", "halving", "none")
OBJECTIVES = ("val_acc", "val_loss", "val_miou")


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
    timeout: float | None = None
    heartbeat: int = 10  # seconds between a running trial's heartbeats
    grace: int = 30  # a trial silent this long is failed and retried

    @property
    def folder(self) -> Path:
        return Path(self.base.get("runs_dir", "runs")) / self.name

    @property
    def url(self) -> str:
        return self.storage or f"sqlite:///{(self.folder / 'study.db').resolve()}"

    @property
    def direction(self) -> str:
        return "minimize" if self.objective.endswith("loss") else "maximize"


def masked(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def storage(s: Settings):
    """Optuna's RDB storage with heartbeats (a killed worker's trial is failed, then retried)."""
    if s.storage is None:
        try:
            s.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TrainlabError(f"runs folder {str(s.folder)!r} cannot be created ({e.strerror}); set runs_dir to "
                                "a writable folder") from None
    kw = {"connect_args": {"timeout": 300}} if s.url.startswith("sqlite") else {"pool_pre_ping": True}
    try:
        return optuna.storages.RDBStorage(s.url, engine_kwargs=kw, heartbeat_interval=s.heartbeat, grace_period=s.grace,
                          heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3))
    except (optuna.exceptions.StorageInternalError, ImportError, Exception) as e:  # sqlalchemy errors, bad URLs
        why = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise TrainlabError(f"storage {masked(s.url)!r} cannot be reached ({why}); start the server or fix the "
                            "URL, e.g. postgresql://user:password@host:5432/db") from None


def make_sampler(s: Settings):
    if s.sampler == "grid":
        return optuna.samplers.GridSampler(grid_values(s.dims, s.trials), seed=s.seed)
    if s.sampler == "random":
        return optuna.samplers.RandomSampler(seed=s.seed)
    if s.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=s.seed)
    return optuna.samplers.GPSampler(seed=s.seed)


def make_pruner(s: Settings):
    return {"median": lambda: optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
            "halving": optuna.pruners.SuccessiveHalvingPruner,
            "none": optuna.pruners.NopPruner}[s.pruner]()


def open_study(s: Settings):
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeat retry, GP
    return optuna.create_study(study_name=s.name, storage=storage(s), sampler=make_sampler(s),
                               pruner=make_pruner(s), direction=s.direction, load_if_exists=True)


def study_spec(s: Settings) -> dict[str, Any]:
    """What defines a study's trials: the base config, the space and the objective (as JSON holds them)."""
    return json.loads(json.dumps({"base": s.base, "space": [asdict(d) for d in s.dims], "objective": s.objective},
                                 default=str))


def check_same_study(s: Settings, study) -> None:
    """A study is continued only with the base config, space and objective it was made with: trials of
    two configs ranked together would compare nothing (as `compare` refuses for its folders)."""
    spec, old = study_spec(s), study.user_attrs.get("spec")
    if old is None:
        study.set_user_attr("spec", spec)
        return
    if old == spec:
        return
    keys = sorted(set(old["base"]) | set(spec["base"]))
    diff = next((f"another base config ({k}: {old['base'].get(k)!r}, now {spec['base'].get(k)!r})" for k in keys
                 if old["base"].get(k) != spec["base"].get(k)), None)
    diff = diff or ("another search space" if old["space"] != spec["space"] else
                    f"another objective ({old['objective']}, now {spec['objective']})")
    raise TrainlabError(f"study {s.name!r} in {masked(s.url)} was made with {diff}; its trials would be ranked with "
                        "these: use another --name, or the same config and space to continue it")


def trial_config(s: Settings, trial) -> dict[str, Any]:
    cfg = dict(s.base)
    for key, value in suggest(trial, s.dims).items():
        cfg = set_key(cfg, key, value, f"search space: {key}")
    return {**cfg, "group": s.name, "name": f"trial-{trial.number}", "monitor": s.objective}


def objective(s: Settings):
    def run_trial(trial) -> float:
        cfg = trial_config(s, trial)
        trial.set_user_attr("run", str(Path(cfg.get("runs_dir", "runs")) / s.name / cfg["name"]))
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")  # which process ran it

        def prune(row: dict[str, Any]) -> bool:
            if row["step"] == 0 or row.get(s.objective) is None:
                return False
            trial.report(row[s.objective], step=int(row["step"]))
            return f"pruned at epoch {row['epoch']:g} ({s.pruner} pruner)" if trial.should_prune() else False

        run = train(cfg, quiet=True, report=False, score_test=False, on_eval=prune)
        trial.set_user_attr("run", str(run.path))
        status = run.summary.get("status")
        if status == "stopped":
            raise optuna.TrialPruned()
        value = (run.summary.get("best") or {}).get(s.objective)
        if status == "diverged" or value is None or not math.isfinite(value):
            raise optuna.TrialPruned(f"diverged: {run.summary.get('message', '')}")  # a result, not a crash
        return float(value)

    return run_trial


def work(s: Settings, threads: int = 1) -> None:
    """One worker: run trials until the study holds `trials` complete or pruned ones (or the timeout)."""
    torch.set_num_threads(threads)
    study = open_study(s)
    done = optuna.study.MaxTrialsCallback(s.trials, states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED))
    if sum(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for t in study.trials) >= s.trials:
        return
    study.optimize(objective(s), n_trials=2 * s.trials, timeout=s.timeout, callbacks=[done],
                   catch=(TrainlabError,), gc_after_trial=False)


def run_search(s: Settings, jobs: int = 1, quiet: bool = False):
    """Check everything, then run `jobs` workers on the one study, then write the report."""
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
    study = open_study(s)  # creates it (or finds it) before the workers start, and checks the storage
    check_same_study(s, study)
    if not quiet:
        have = len([t for t in study.trials if t.state.is_finished()])
        print(f"search {s.name}: {s.sampler} sampler, {s.trials} trials of {len(s.dims)} hyperparameters, "
              f"objective {s.objective}, pruner {s.pruner}, {jobs} worker(s); storage {masked(s.url)}"
              + (f"; continuing ({have} trials already ended)" if have else ""), flush=True)
    if jobs == 1:
        with watch(study, s, quiet):
            work(s, threads=max(1, usable_cores()))
    else:
        threads = max(1, usable_cores() // jobs)
        with watch(study, s, quiet), processes(work, [(s, threads)] * jobs):
            pass
    return finish_study(s, study, quiet)


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
