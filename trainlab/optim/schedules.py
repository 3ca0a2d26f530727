"""Learning-rate schedules as pure functions of t (DESIGN principle 4: no hidden counters).

Every schedule has one signature: `name(lr, total, **shape)`, where lr is the rate it starts from
(or peaks at, for one-cycle), total its length (schedules that do not end ignore it), and the
shape keys are its own (gamma, k, lr_min, ...). So a run builds any of them the same way, from
its `lr` and `epochs`.

t is in whatever unit the caller uses: steps (ChainOptimizer passes the 0-based step), or
epochs as a float (the trainer passes step / steps_per_epoch). `every`, `total`, `cycle`,
`boundaries` and `warmup` are in that same unit.

Deck 001: step decay, exponential lr e^{-k t}, 1/t decay lr / (1 + k t). Also cosine,
one-cycle and piecewise constant; any of them takes `warmup=W`: lr(t) = base(t) * min(1, t / W)
(a linear ramp from 0 multiplying the schedule, so the schedule itself is not shifted).

    >>> f = create_schedule("cosine", lr=0.1, total=30, warmup=2)
    >>> round(f(15), 4), f(30)
    (0.05, 0.0)
"""
from __future__ import annotations

import bisect
import math
from typing import Callable

from ..errors import check
from ..registry import Registry, accepted_kwargs

SCHEDULES = Registry("schedule")
Schedule = Callable[[float], float]


def _pos(name: str, x) -> None:
    check(isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0, f"schedule {name}={x!r} must be > 0")


def _nonneg(name: str, x) -> None:
    check(isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0, f"schedule {name}={x!r} must be >= 0")


def _start(lr, total) -> None:
    _pos("lr", lr)
    _pos("total", total)


@SCHEDULES.register("constant", description="lr")
def constant(lr: float = 0.1, total: float = 100) -> Schedule:
    _start(lr, total)
    return lambda t: float(lr)


@SCHEDULES.register("step", description="lr * gamma^floor(t / every) (e.g. halve every few epochs)")
def step(lr: float = 0.1, total: float = 100, gamma: float = 0.5, every: float = 10) -> Schedule:
    _start(lr, total)
    _pos("every", every)
    check(isinstance(gamma, (int, float)) and 0 < gamma <= 1, f"schedule gamma={gamma!r} must be in (0, 1] (factor per step)")
    return lambda t: lr * gamma ** math.floor(t / every)


@SCHEDULES.register("exponential", description="lr * exp(-k t)")
def exponential(lr: float = 0.1, total: float = 100, k: float = 0.1) -> Schedule:
    _start(lr, total)
    _nonneg("k", k)
    return lambda t: lr * math.exp(-k * t)


@SCHEDULES.register("inverse_time", description="lr / (1 + k t)  (1/t decay)")
def inverse_time(lr: float = 0.1, total: float = 100, k: float = 0.1) -> Schedule:
    _start(lr, total)
    _nonneg("k", k)
    return lambda t: lr / (1.0 + k * t)


@SCHEDULES.register("cosine", description="lr_min + (lr - lr_min) (1 + cos(pi t / total)) / 2; lr_min after total")
def cosine(lr: float = 0.1, total: float = 100, lr_min: float = 0.0) -> Schedule:
    _start(lr, total)
    _nonneg("lr_min", lr_min)
    check(lr_min <= lr, f"schedule lr_min={lr_min!r} must be <= lr={lr!r}")
    return lambda t: lr_min + (lr - lr_min) * 0.5 * (1.0 + math.cos(math.pi * min(max(t, 0.0), total) / total))


@SCHEDULES.register("cosine_restarts",
                   description="lr_min + (lr - lr_min) (1 + cos(pi (t mod cycle) / cycle)) / 2 (SGDR; snapshot ensembles)")
def cosine_restarts(lr: float = 0.1, total: float = 100, cycle: float = 10, lr_min: float = 0.0) -> Schedule:
    """Cosine annealing restarted every `cycle` epochs (Loshchilov & Hutter's SGDR with a fixed period):
    each cycle ends near lr_min, a snapshot worth keeping (`keep_every`), then jumps back to lr."""
    _start(lr, total)
    _pos("cycle", cycle)
    _nonneg("lr_min", lr_min)
    check(lr_min <= lr, f"schedule lr_min={lr_min!r} must be <= lr={lr!r}")
    return lambda t: lr_min + (lr - lr_min) * 0.5 * (1.0 + math.cos(math.pi * (max(t, 0.0) % cycle) / cycle))


def _cos_between(a: float, b: float, frac: float) -> float:
    """Cosine interpolation from a (frac=0) to b (frac=1)."""
    return b + (a - b) * 0.5 * (1.0 + math.cos(math.pi * frac))


@SCHEDULES.register(
    "onecycle",
    description="cosine up lr/div -> lr over pct_start*total, then down to lr/(div*final_div)",
)
def onecycle(lr: float = 0.1, total: float = 100, pct_start: float = 0.3, div: float = 25.0,
             final_div: float = 1e4) -> Schedule:
    """Smith's one-cycle policy with cosine annealing in both phases (torch's OneCycleLR shape); lr is the peak."""
    _start(lr, total)
    _pos("div", div)
    _pos("final_div", final_div)
    check(isinstance(pct_start, (int, float)) and 0 < pct_start < 1, f"schedule pct_start={pct_start!r} must be in (0, 1)")
    lo, end, peak_t = lr / div, lr / div / final_div, pct_start * total

    def f(t: float) -> float:
        t = min(max(t, 0.0), total)
        if t <= peak_t:
            return _cos_between(lo, lr, t / peak_t)
        return _cos_between(lr, end, (t - peak_t) / (total - peak_t))

    return f


@SCHEDULES.register("piecewise", description="lr * factors[i] for boundaries[i-1] <= t < boundaries[i] "
                                            "(len(factors) = len(boundaries)+1)")
def piecewise(lr: float = 0.1, total: float = 100, boundaries: list[float] = (30, 60),
              factors: list[float] = (1.0, 0.1, 0.01)) -> Schedule:
    _start(lr, total)
    boundaries, factors = list(boundaries), list(factors)
    check(len(factors) == len(boundaries) + 1,
          f"schedule piecewise needs len(factors) = len(boundaries) + 1, got {len(factors)} factors for "
          f"{len(boundaries)} boundaries")
    check(boundaries == sorted(boundaries), f"schedule boundaries={boundaries} must be increasing")
    for v in factors:
        _nonneg("factors[i]", v)
    rates = [lr * f for f in factors]
    return lambda t: float(rates[bisect.bisect_right(boundaries, t)])


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


def create_schedule(name: str, lr: float = 0.1, total: float = 100, warmup: float = 0.0, **shape) -> Schedule:
    """A pure function t -> lr: schedule `name` from lr over total (in t's unit), with its own shape
    keys; `warmup` (same unit as t) works with every schedule.

    Example:
        >>> f = create_schedule("step", lr=0.1, gamma=0.5, every=10)
        >>> f(0), f(10), f(25)
        (0.1, 0.05, 0.025)
    """
    fn = SCHEDULES.get(name)
    ok = accepted_kwargs(fn) + ["warmup"]
    bad = [k for k in shape if k not in ok or k in ("lr", "total")]
    check(not bad, f"unknown hyperparameter {bad[0] if bad else ''!r} for schedule {name!r}; accepted: {', '.join(ok)}")
    return with_warmup(fn(lr, total, **shape), warmup)


__all__ = ["SCHEDULES", "create_schedule", "with_warmup"]
