"""Previews of what a run would use, drawn before training: the learning-rate schedule
(`trainlab schedule`), built by the same code a run builds it with.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..config import Config, make_config
from ..errors import TrainlabError
from ..optim.schedules import Schedule
from ..report.plots import plot_schedule
from .checks import resolve_optimizer
from .optimizer import make_schedule


def preview_schedule(name: str, options: dict[str, Any] | None = None, *, lr: float | None = None,
                     epochs: float | None = None, warmup_epochs: float = 0.0) -> tuple[Schedule, Config]:
    """The learning rate a run with these settings would use, as a function of t in epochs, and the
    config it was built from: the same `make_schedule` training calls, so `total` comes from
    `epochs` and the peak from `lr` exactly as in a run (`trainlab schedule` draws it).

        >>> f, cfg = preview_schedule("cosine", lr=0.1, epochs=30)
        >>> f(0.0), round(f(15.0), 4), f(30.0)
        (0.1, 0.05, 0.0)
    """
    values: dict[str, Any] = {"schedule": name, "schedule_options": dict(options or {}),
                              "warmup_epochs": warmup_epochs}
    if lr is not None:
        values["lr"] = lr
    if epochs is not None:
        values["epochs"] = epochs
    cfg = resolve_optimizer(make_config(values, source="schedule"))
    return make_schedule(cfg), cfg



def draw_schedule(name: str, options: dict[str, Any] | None = None, *, lr: float | None = None,
                  epochs: int | None = None, steps: int | None = None, warmup: float = 0.0, log: bool = False,
                  out: str | Path = "lr.png") -> tuple[Config, Sequence[float], list[float]]:
    """Draw the schedule a run with these settings would use into `out` (a PNG): t in epochs over
    `epochs`, or in optimizer steps 0..steps-1 (total = steps) for a schedule given to
    create_optimizer as its lr. Returns the config it was built from, the t values and the rates.

        >>> cfg, t, lr = draw_schedule("onecycle", lr=0.1, epochs=6, out="lr.png")   # doctest: +SKIP
    """
    if steps is not None and steps < 1:
        raise TrainlabError(f"--steps {steps} must be >= 1")
    f, cfg = preview_schedule(name, options, lr=lr, epochs=steps or epochs, warmup_epochs=warmup)
    unit = "step" if steps else "epoch"
    t = [float(i) for i in range(steps)] if steps else [cfg.epochs * i / 1000 for i in range(1001)]
    if log and min(f(x) for x in t) <= 0:
        raise TrainlabError("--log needs lr > 0 everywhere (this schedule reaches 0); drop --log")
    return cfg, t, plot_schedule(f, cfg, Path(out), t, unit=unit, log=log)
