"""Learning-rate schedules as pure functions of t (DESIGN principle 4: no hidden counters).

t is in whatever unit the caller uses: steps (ChainOptimizer passes the 0-based step), or
epochs as a float (the trainer passes step / steps_per_epoch). `every`, `total`,
`boundaries` and `warmup` are in that same unit.

Deck 001: step decay, exponential lr0 e^{-k t}, 1/t decay lr0 / (1 + k t). Also cosine,
one-cycle and piecewise constant; any of them takes `warmup=W`: lr(t) = base(t) * min(1, t / W)
(a linear ramp from 0 multiplying the schedule, so the schedule itself is not shifted).

    >>> f = create_schedule("cosine", lr0=0.1, total=30, warmup=2)
    >>> round(f(15), 4), f(30)
    (0.05, 0.0)
"""
from __future__ import annotations

import bisect
import math
from typing import Callable

from ..errors import check
from ..registry import Registry

SCHEDULES = Registry("schedule")
Schedule = Callable[[float], float]


def _pos(name: str, x) -> None:
    check(isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0, f"schedule {name}={x!r} must be > 0")


def _nonneg(name: str, x) -> None:
    check(isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0, f"schedule {name}={x!r} must be >= 0")


@SCHEDULES.register("constant", description="lr0")
def constant(lr0: float = 0.1) -> Schedule:
    _pos("lr0", lr0)
    return lambda t: float(lr0)


@SCHEDULES.register("step", description="lr0 * gamma^floor(t / every) (e.g. halve every few epochs)")
def step(lr0: float = 0.1, gamma: float = 0.5, every: float = 10) -> Schedule:
    _pos("lr0", lr0)
    _pos("every", every)
    check(isinstance(gamma, (int, float)) and 0 < gamma <= 1, f"schedule gamma={gamma!r} must be in (0, 1] (factor per step)")
    return lambda t: lr0 * gamma ** math.floor(t / every)


@SCHEDULES.register("exponential", description="lr0 * exp(-k t)")
def exponential(lr0: float = 0.1, k: float = 0.1) -> Schedule:
    _pos("lr0", lr0)
    _nonneg("k", k)
    return lambda t: lr0 * math.exp(-k * t)


@SCHEDULES.register("inverse_time", description="lr0 / (1 + k t)  (1/t decay)")
def inverse_time(lr0: float = 0.1, k: float = 0.1) -> Schedule:
    _pos("lr0", lr0)
    _nonneg("k", k)
    return lambda t: lr0 / (1.0 + k * t)


@SCHEDULES.register("cosine", description="lr_min + (lr0 - lr_min) (1 + cos(pi t / total)) / 2; lr_min after total")
def cosine(lr0: float = 0.1, total: float = 100, lr_min: float = 0.0) -> Schedule:
    _pos("lr0", lr0)
    _pos("total", total)
    _nonneg("lr_min", lr_min)
    check(lr_min <= lr0, f"schedule lr_min={lr_min!r} must be <= lr0={lr0!r}")
    return lambda t: lr_min + (lr0 - lr_min) * 0.5 * (1.0 + math.cos(math.pi * min(max(t, 0.0), total) / total))


@SCHEDULES.register("cosine_restarts",
                   description="lr_min + (lr0 - lr_min) (1 + cos(pi (t mod cycle) / cycle)) / 2 (SGDR; snapshot ensembles)")
def cosine_restarts(lr0: float = 0.1, cycle: float = 10, lr_min: float = 0.0) -> Schedule:
    """Cosine annealing restarted every `cycle` epochs (Loshchilov & Hutter's SGDR with a fixed period):
    each cycle ends near lr_min, a snapshot worth keeping (`keep_every`), then jumps back to lr0."""
    _pos("lr0", lr0)
    _pos("cycle", cycle)
    _nonneg("lr_min", lr_min)
    check(lr_min <= lr0, f"schedule lr_min={lr_min!r} must be <= lr0={lr0!r}")
    return lambda t: lr_min + (lr0 - lr_min) * 0.5 * (1.0 + math.cos(math.pi * (max(t, 0.0) % cycle) / cycle))


def _cos_between(a: float, b: float, frac: float) -> float:
    """Cosine interpolation from a (frac=0) to b (frac=1)."""
    return b + (a - b) * 0.5 * (1.0 + math.cos(math.pi * frac))


@SCHEDULES.register(
    "onecycle",
    description="cosine up lr_max/div -> lr_max over pct_start*total, then down to lr_max/(div*final_div)",
)
def onecycle(lr_max: float = 0.1, total: float = 100, pct_start: float = 0.3, div: float = 25.0,
             final_div: float = 1e4) -> Schedule:
    """Smith's one-cycle policy with cosine annealing in both phases (torch's OneCycleLR shape)."""
    _pos("lr_max", lr_max)
    _pos("total", total)
    _pos("div", div)
    _pos("final_div", final_div)
    check(isinstance(pct_start, (int, float)) and 0 < pct_start < 1, f"schedule pct_start={pct_start!r} must be in (0, 1)")
    lo, end, peak_t = lr_max / div, lr_max / div / final_div, pct_start * total

    def f(t: float) -> float:
        t = min(max(t, 0.0), total)
        if t <= peak_t:
            return _cos_between(lo, lr_max, t / peak_t)
        return _cos_between(lr_max, end, (t - peak_t) / (total - peak_t))

    return f


@SCHEDULES.register("piecewise", description="values[i] for boundaries[i-1] <= t < boundaries[i] (len(values) = len(boundaries)+1)")
def piecewise(boundaries: list[float] = (30, 60), values: list[float] = (0.1, 0.01, 0.001)) -> Schedule:
    boundaries, values = list(boundaries), list(values)
    check(len(values) == len(boundaries) + 1,
          f"schedule piecewise needs len(values) = len(boundaries) + 1, got {len(values)} values for {len(boundaries)} boundaries")
    check(boundaries == sorted(boundaries), f"schedule boundaries={boundaries} must be increasing")
    for v in values:
        _nonneg("values[i]", v)
    return lambda t: float(values[bisect.bisect_right(boundaries, t)])


def with_warmup(base: Schedule, warmup: float) -> Schedule:
    """base(t) * min(1, t / warmup): a linear ramp from 0, then base unchanged.

    Example:
        >>> with_warmup(lambda t: 1.0, 4)(1)
        0.25
    """
    _nonneg("warmup", warmup)
    if warmup == 0:
        return base
    return lambda t: base(t) * min(1.0, max(t, 0.0) / warmup)


def create_schedule(name: str, warmup: float = 0.0, **hp) -> Schedule:
    """A pure function t -> lr. `warmup` (same unit as t) works with every schedule.

    Example:
        >>> f = create_schedule("step", lr0=0.1, gamma=0.5, every=10)
        >>> f(0), f(10), f(25)
        (0.1, 0.05, 0.025)
    """
    from ..nn import accepted_kwargs

    fn = SCHEDULES.get(name)
    ok = accepted_kwargs(fn) + ["warmup"]
    bad = [k for k in hp if k not in ok]
    check(not bad, f"unknown hyperparameter {bad[0] if bad else ''!r} for schedule {name!r}; accepted: {', '.join(ok)}")
    return with_warmup(fn(**hp), warmup)


__all__ = ["SCHEDULES", "create_schedule", "with_warmup"]
