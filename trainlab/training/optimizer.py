"""A run's optimizer and learning-rate schedule, from its config: the recipe or chain with the
config's lr, decay and clipping, driven by the schedule as a pure function of time in epochs.
"""
from __future__ import annotations

from typing import Any, Callable

from ..config import Config
from ..optim.optimizer import ChainOptimizer
from ..optim.recipes import create_optimizer
from ..optim.schedules import Schedule, create_schedule
from .swa import swa_schedule


def make_schedule(cfg: Config) -> Schedule:
    """lr as a pure function of time in epochs: `schedule` from `lr` over `epochs` (or
    schedule_options.total), shaped by the rest of `schedule_options`, with `warmup_epochs`;
    with `swa`, swa.lr from the start of swa.start_epoch on."""
    shape = dict(cfg.schedule_options)
    total = shape.pop("total", cfg.epochs)
    sched = create_schedule(cfg.schedule, lr=cfg.lr, total=total, warmup=cfg.warmup_epochs, **shape)
    return swa_schedule(sched, cfg.swa)  # swa: held at swa.lr from swa.start_epoch on


def make_optimizer(cfg: Config, params: Any, steps_per_epoch: int,
                   lr: Callable[[int], float] | None = None) -> tuple[ChainOptimizer, Schedule]:
    """The optimizer over `params` (tensors or param groups) and the schedule it follows, which
    counts steps while schedules speak epochs. lr: the lr as a function of the 0-based step, to
    follow instead of the schedule (the lr finder's ramp)."""
    sched = make_schedule(cfg)
    spe = max(1, steps_per_epoch)

    def lr_at_step(step: int) -> float:  # the optimizer counts steps; schedules speak epochs
        return sched(step / spe) if lr is None else lr(step)

    if isinstance(cfg.optimizer, list):  # a chain spelled out: inject the schedule where no lr is given
        chain = []
        for link in cfg.optimizer:
            if link == "scale_by_lr":
                link = {"scale_by_lr": {"lr": lr_at_step}}
            elif isinstance(link, dict) and "scale_by_lr" in link and "lr" not in (link["scale_by_lr"] or {}):
                link = {"scale_by_lr": {**(link["scale_by_lr"] or {}), "lr": lr_at_step}}
            chain.append(link)
        return create_optimizer(chain, params), sched
    hp: dict[str, Any] = dict(cfg.optimizer_options)
    if cfg.weight_decay is not None:
        hp["weight_decay"] = cfg.weight_decay
    if cfg.clip_norm is not None:
        hp["clip_norm"] = cfg.clip_norm
    if cfg.clip_value is not None:
        hp["clip_value"] = cfg.clip_value
    return create_optimizer(cfg.optimizer, params, lr=lr_at_step, **hp), sched
