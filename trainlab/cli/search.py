"""Hyperparameter search on Optuna: grid, random, TPE (Bayesian) or GP, one machine or many.

    trainlab search configs/mlp-digits.yaml experiments/spaces/mlp-digits.yaml --sampler tpe --trials 30
    trainlab search CONFIG SPACE --sampler grid --trials 16 --jobs 2
    trainlab search CONFIG SPACE --storage postgresql://user:pw@host/db --name shared   # on each machine

A space is YAML: `lr: {log_uniform: [1e-4, 1]}`, `dropout: {uniform: [0, 0.6]}`,
`batch_size: {choice: [64, 128]}`, `model_options.depth: {int: [1, 4]}`, `optimizer: {grid: [sgd, adam]}`.
Trials are run folders in runs/<name>/; the study (runs/<name>/study.db by default) continues when
the command runs again. The report has best.yaml (ready for `trainlab train`), the trials and
Optuna's plots.
"""
from __future__ import annotations

from pathlib import Path

from ..config import apply_overrides, read_yaml
from ..experiments.search import run_search, settings_from


def add_arguments(p) -> None:
    p.add_argument("config", help="base config (YAML)")
    p.add_argument("space", help="search space (YAML)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="override the base")
    p.add_argument("--name", help="study name and folder (default search-<config>-<sampler>)")
    p.add_argument("--sampler", default="tpe", help="grid | random | tpe | gp (default tpe)")
    p.add_argument("--trials", type=int, default=30, help="trial budget: complete + pruned (default 30)")
    p.add_argument("--timeout", type=float, default=None, help="stop starting trials after this many seconds")
    p.add_argument("--objective", default="val_acc", help="val_acc | val_loss | val_miou | val_map50 | val_map (direction inferred)")
    p.add_argument("--pruner", default="median", help="median | halving | none (default median)")
    p.add_argument("--storage", help="an RDB URL shared by workers, e.g. postgresql://... (default: SQLite file)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes on this machine (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampler (default 0)")
    p.add_argument("--heartbeat", type=int, default=10,
                   help="seconds between a trial's heartbeats (default 10); a trial silent for 60 s (3 beats when beats are faster) is failed and retried")
    p.add_argument("--quiet", action="store_true")


def run(args) -> int:
    base = apply_overrides(read_yaml(args.config), args.sets)
    space = read_yaml(args.space)
    name = args.name or f"search-{Path(args.config).stem}-{args.sampler}"
    s = settings_from(base, space, name=name, sampler=args.sampler, trials=args.trials, objective=args.objective,
                      pruner=args.pruner, storage=args.storage, seed=args.seed, timeout=args.timeout,
                      source=args.space, heartbeat=max(1, args.heartbeat))
    run_search(s, jobs=args.jobs, quiet=args.quiet)
    return 0
