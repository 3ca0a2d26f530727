"""A search space in YAML: any config key (dotted keys reach into options) and its range.

    lr: {log_uniform: [1e-4, 1]}
    dropout: {uniform: [0, 0.6]}
    batch_size: {choice: [64, 128, 256]}
    model_options.depth: {int: [1, 4]}
    optimizer: {grid: [sgd, momentum, adam]}      # explicit values, the same for every sampler

For grid search over ranges, trainlab lays an evenly spaced grid (log-spaced for log ranges) with
as many points per range as the trial budget allows, so one space serves grid, random and TPE,
and they can be compared at equal budgets (deck 002).

    >>> sp = parse_space({"lr": {"log_uniform": [1e-3, 1e-1]}, "dropout": {"choice": [0, 0.5]}}, {})
    >>> grid_values(sp, trials=6)
    {'lr': [0.001, 0.01, 0.1], 'dropout': [0, 0.5]}
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..config import set_key
from ..errors import TrainlabError

KINDS = ("log_uniform", "uniform", "int", "log_int", "choice", "grid")


@dataclass
class Dim:
    key: str
    kind: str
    values: list[Any]  # [low, high] for ranges, the options for choice and grid

    @property
    def is_range(self) -> bool:
        return self.kind in ("log_uniform", "uniform", "int", "log_int")


def parse_space(data: Any, base: dict[str, Any], source: str = "search space") -> list[Dim]:
    """Validate a space against the config's keys; one line per problem, before anything trains."""
    if not isinstance(data, dict) or not data:
        raise TrainlabError(f"{source}: expected a mapping of config key: {{kind: values}}, e.g. "
                            "lr: {log_uniform: [1e-4, 1]}")
    dims = []
    for key, spec in data.items():
        key = str(key)
        set_key(base, key, None, f"{source}: {key}")  # unknown keys are refused here, with a did-you-mean
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in KINDS:
            raise TrainlabError(f"{source}: {key}: write one of {', '.join(KINDS)} with its values, "
                                f"e.g. {key}: {{uniform: [0, 0.5]}}")
        kind, values = next(iter(spec.items()))
        if not isinstance(values, list):
            raise TrainlabError(f"{source}: {key}: {kind} takes a list, e.g. [0, 0.5]")
        if kind in ("choice", "grid"):
            if not values:
                raise TrainlabError(f"{source}: {key}: {kind} has 0 values; give at least one")
        else:
            if len(values) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                raise TrainlabError(f"{source}: {key}: {kind} takes [low, high] numbers, got {values!r}")
            lo, hi = values
            if lo > hi:
                raise TrainlabError(f"{source}: {key}: low {lo} > high {hi}; write [low, high]")
            if kind.startswith("log") and lo <= 0:
                raise TrainlabError(f"{source}: {key}: a log range must be > 0, got [{lo}, {hi}]; "
                                    "use uniform, or a low like 1e-5")
            if kind in ("int", "log_int") and not all(float(v).is_integer() for v in values):
                raise TrainlabError(f"{source}: {key}: int takes whole numbers, got {values!r}")
        dims.append(Dim(key, kind, list(values)))
    return dims


def suggest(trial, dims: list[Dim]) -> dict[str, Any]:
    """The trial's values, through Optuna's suggest API (grid values are categorical)."""
    out = {}
    for d in dims:
        if d.kind == "log_uniform":
            out[d.key] = trial.suggest_float(d.key, d.values[0], d.values[1], log=True)
        elif d.kind == "uniform":
            out[d.key] = trial.suggest_float(d.key, d.values[0], d.values[1])
        elif d.kind in ("int", "log_int"):
            out[d.key] = trial.suggest_int(d.key, int(d.values[0]), int(d.values[1]), log=d.kind == "log_int")
        else:
            out[d.key] = trial.suggest_categorical(d.key, d.values)
    return out


def _points(d: Dim, n: int) -> list[Any]:
    lo, hi = d.values
    if n == 1:
        pts = [math.sqrt(lo * hi) if d.kind.startswith("log") else (lo + hi) / 2]
    elif d.kind.startswith("log"):
        pts = [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]
    else:
        pts = [lo + (hi - lo) * i / (n - 1) for i in range(n)]
    if d.kind in ("int", "log_int"):
        return sorted({int(round(p)) for p in pts})
    return [float(f"{p:.6g}") for p in pts]


def grid_values(dims: list[Dim], trials: int) -> dict[str, list[Any]]:
    """An evenly spaced grid within the budget: choice/grid values as given; each range gets
    n = floor((trials / product of the fixed sizes) ** (1 / ranges)) points, at least 1."""
    fixed = math.prod(len(d.values) for d in dims if not d.is_range)
    ranges = [d for d in dims if d.is_range]
    n = max(1, int(math.floor((trials / fixed) ** (1 / len(ranges)) + 1e-9))) if ranges else 1
    return {d.key: (_points(d, n) if d.is_range else list(d.values)) for d in dims}
