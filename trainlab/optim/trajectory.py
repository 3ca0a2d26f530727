"""Optimizers on 2-D test functions: the path each one takes, and what every step measured.

A registry of small loss surfaces written in torch (FUNCTIONS: ill_conditioned, rosenbrock,
saddle, beale), each with its minimum, a plotting window and a start point; `descend` runs any
trainlab optimizer (recipe name or chain spec, through `create_optimizer`) on a 2-parameter
tensor and records, per step, the point, the loss, the gradient norm and the step length,
so lecture claims become measurements:

    "SGD jitters along the steep direction and crawls along the flat one": points[:, 1] flips sign
    "Adagrad's steps keep shrinking; RMSprop's do not": step_length is non-increasing, or not
    "Adam's bias correction matters in the first steps": step_length[0] with and without it

    >>> path = trajectory("ill_conditioned", "sgd", steps=3, lr=0.1)        # (4, 2): x_0 ... x_3
    >>> run = descend("ill_conditioned", "rmsprop", steps=50, lr=0.05)       # points + records
    >>> run.step_length.shape, run.loss.shape
    (torch.Size([50]), torch.Size([51]))

Everything runs in float64, so paths can be checked against closed forms and torch.optim.
Pictures: trainlab.report.surface.plot_trajectories; CLI: `trainlab trajectories`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

from ..errors import TrainlabError, check
from ..registry import Registry, check_kwargs
from ..values import split_pair
from .recipes import create_optimizer

FUNCTIONS = Registry("test function")
Point = tuple[float, float]


@dataclass(frozen=True)
class Surface:
    """A 2-D loss f(x, y) with what a picture of it needs.

    `f` is elementwise in x and y (tensors of any one shape), so one call evaluates a whole grid.
    `min_value` is the lowest value f takes (losses are drawn as f - min_value on a log axis).
    """

    name: str
    f: Callable[[Tensor, Tensor], Tensor]
    minima: tuple[Point, ...]  # every global minimum (saddle has two)
    min_value: float
    window: tuple[float, float, float, float]  # (x_lo, x_hi, y_lo, y_hi) for plots
    start: Point  # the default start x_0
    formula: str  # for titles, e.g. "0.5 (x² + 25 y²)"
    hp: dict[str, Any] = field(default_factory=dict)  # the options that differ from the defaults (for labels)

    def __call__(self, xy: Tensor) -> Tensor:
        """f at points xy (..., 2) -> (...)."""
        return self.f(xy[..., 0], xy[..., 1])

    @property
    def label(self) -> str:
        """'ill_conditioned(condition=50)' or 'rosenbrock'."""
        return self.name + (f"({', '.join(f'{k}={v:g}' for k, v in self.hp.items())})" if self.hp else "")


def _finite(what: str, x: Any) -> float:
    check(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x), f"{what}={x!r} must be a number")
    return float(x)


@FUNCTIONS.register("ill_conditioned",
                    description="0.5 (a x^2 + b y^2), b = condition * a: steep in y, flat in x; min 0 at (0, 0)")
def ill_conditioned(condition: float = 25.0, a: float = 1.0) -> Surface:
    """The quadratic of deck 001's picture: the Hessian diag(a, b) has condition number b / a."""
    condition, a = _finite("ill_conditioned condition", condition), _finite("ill_conditioned a", a)
    check(condition >= 1, f"ill_conditioned condition={condition!r} must be >= 1 (it is b / a, y the steep direction)")
    check(a > 0, f"ill_conditioned a={a!r} must be > 0 (the curvature along x)")
    b = condition * a
    # start far out along the flat x and a little along the steep y: both directions show
    return Surface("ill_conditioned", lambda x, y: 0.5 * (a * x**2 + b * y**2), ((0.0, 0.0),), 0.0,
                   (-5.0, 5.0, -1.6, 1.6), (-4.0, 1.0), f"0.5 ({'' if a == 1 else f'{a:g} '}x² + {b:g} y²)",
                   {k: v for k, v in (("condition", condition), ("a", a)) if v != {"condition": 25.0, "a": 1.0}[k]})


@FUNCTIONS.register("rosenbrock", description="(a - x)^2 + b (y - x^2)^2: a curved narrow valley; min 0 at (a, a^2)")
def rosenbrock(a: float = 1.0, b: float = 100.0) -> Surface:
    a, b = _finite("rosenbrock a", a), _finite("rosenbrock b", b)
    check(b > 0, f"rosenbrock b={b!r} must be > 0 (the valley's steepness)")
    return Surface("rosenbrock", lambda x, y: (a - x) ** 2 + b * (y - x**2) ** 2, ((a, a * a),), 0.0,
                   (-2.0, 2.0, -1.0, 3.0), (-1.2, 1.0), f"({a:g} - x)² + {b:g} (y - x²)²",
                   {k: v for k, v in (("a", a), ("b", b)) if v != {"a": 1.0, "b": 100.0}[k]})


@FUNCTIONS.register("saddle", description="0.5 x^2 + 0.25 y^4 - 0.5 y^2: a saddle at (0, 0); min -0.25 at (0, +-1)")
def saddle() -> Surface:
    """Curvature +1 along x and -1 along y at the origin, walled in by y^4 so the loss is bounded
    below. The start sits almost on the saddle's ridge (y = 0.01): plain gradient descent
    needs many steps to notice the way down, adaptive methods escape quickly."""
    return Surface("saddle", lambda x, y: 0.5 * x**2 + 0.25 * y**4 - 0.5 * y**2, ((0.0, 1.0), (0.0, -1.0)), -0.25,
                   (-1.5, 1.5, -1.5, 1.5), (1.0, 0.01), "0.5 x² + 0.25 y⁴ - 0.5 y²")


@FUNCTIONS.register("beale", description="(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2: "
                                         "flat plateaus, steep walls; min 0 at (3, 0.5)")
def beale() -> Surface:
    def f(x, y):
        return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2

    return Surface("beale", f, ((3.0, 0.5),), 0.0, (-1.0, 4.5, -1.5, 2.0), (1.0, 1.5),
                   "(1.5 - x + xy)² + (2.25 - x + xy²)² + (2.625 - x + xy³)²")


def create_surface(name: str, **hp) -> Surface:
    """A test function by name, its options checked.

    Example:
        >>> create_surface("ill_conditioned", condition=100).formula
        '0.5 (x² + 100 y²)'
    """

    fn = FUNCTIONS.get(name)
    check_kwargs(f"test function {name!r}", fn, hp)
    return fn(**hp)


def parse_spec(text: str, flag: str = "--opt", example: str = "adam:lr=0.1:betas=[0.9,0.99]") -> tuple[str, dict[str, Any]]:
    """'name:key=value:key=value' -> (name, {key: value}); values read by trainlab.values.

    The same 'name:key=value' form as augmentation ops ('crop:p=1:magnitude=4'), but values may be
    any YAML scalar or list (true, ema, [0.9, 0.99]), as optimizer hyperparameters need.

    Example:
        >>> parse_spec("momentum:lr=0.01:nesterov=true")
        ('momentum', {'lr': 0.01, 'nesterov': True})
    """

    name, *parts = [t.strip() for t in str(text).split(":")]
    if not name:
        raise TrainlabError(f"{flag} {text!r} has no name; write e.g. {flag} {example}")
    hp: dict[str, Any] = {}
    for part in parts:
        key, value = split_pair(part, f"{flag} {name}:", "lr=0.1")
        check(key not in hp, f"{flag} {text!r} gives {key!r} twice; give it once")
        hp[key] = value
    return name, hp


@dataclass
class Trajectory:
    """One optimizer's path on one surface, with per-step records (all float64 tensors).

    points[t] is x_t; loss[t] = f(x_t); grad_norm[t] = |grad f(x_t)| (the true gradient, before
    any noise); step_length[t] = |x_{t+1} - x_t|. After a divergence (a non-finite point or
    loss at step `diverged_at`) the remaining entries are nan.
    """

    label: str
    surface: Surface
    points: Tensor  # (steps+1, 2)
    loss: Tensor  # (steps+1,)
    grad_norm: Tensor  # (steps+1,)
    step_length: Tensor  # (steps,)
    lr: float  # the learning rate used (a schedule's: at step 0)
    hp: dict[str, Any]
    noise: float = 0.0
    diverged_at: int | None = None

    @property
    def gap(self) -> Tensor:
        """f(x_t) - min f: the distance to the best value, what a log-scale plot shows."""
        return self.loss - self.surface.min_value

    @property
    def final_loss(self) -> float:
        return float(self.loss[-1])

    def rows(self) -> list[dict[str, Any]]:
        """One dict per step t: optimizer, t, x, y, loss, grad_norm, step_length (to x_{t+1}; None at the end)."""
        n = len(self.step_length)
        return [{"optimizer": self.label, "t": t, "x": float(self.points[t, 0]), "y": float(self.points[t, 1]),
                 "loss": float(self.loss[t]), "grad_norm": float(self.grad_norm[t]),
                 "step_length": float(self.step_length[t]) if t < n else None} for t in range(n + 1)]


def _surface(function: str | Surface) -> Surface:
    if isinstance(function, Surface):
        return function
    check(isinstance(function, str),
          f"function={function!r} must be a test function name ({', '.join(FUNCTIONS.list())}) or a Surface")
    return create_surface(function)


def descend(function: str | Surface, optimizer: Any, steps: int, lr: float | None = None,
            start: Point | None = None, *, noise: float = 0.0, seed: int = 0, label: str | None = None,
            **hp) -> Trajectory:
    """Run `optimizer` for `steps` steps on `function` from `start` (default: the surface's).

    optimizer: a recipe name ("sgd", "momentum", "adam", ...) with its hyperparameters in **hp,
    or a chain spec (then **hp must be empty). lr: the learning rate (None: the recipe's or
    chain's own). noise: standard deviation of Gaussian noise added to each gradient coordinate,
    from a generator seeded with `seed`, so every optimizer given the same seed sees the same
    noise sequence (paired comparisons), mimicking SGD's minibatch gradients.

    Example:
        >>> run = descend("saddle", "adam", steps=100, lr=0.05)
        >>> bool(run.final_loss < -0.24)   # escaped the saddle, reached a minimum (-0.25)
        True
    """

    surface = _surface(function)
    check(isinstance(steps, int) and not isinstance(steps, bool) and steps >= 1, f"steps={steps!r} must be an integer >= 1")
    if lr is not None and not isinstance(lr, dict) and not callable(lr):
        check(isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr > 0,
              f"lr={lr!r} must be > 0 (e.g. --lr 0.05)")
    check(isinstance(noise, (int, float)) and math.isfinite(noise) and noise >= 0, f"noise={noise!r} must be >= 0")
    x0 = surface.start if start is None else start
    check(isinstance(x0, (tuple, list)) and len(x0) == 2, f"start={x0!r} must be a point (x, y)")
    x0 = (_finite("start x", x0[0]), _finite("start y", x0[1]))

    p = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
    chain_spec = not isinstance(optimizer, str)
    opt = create_optimizer(optimizer, [p], **hp) if chain_spec else \
        create_optimizer(optimizer, [p], **({} if lr is None else {"lr": lr}), **hp)
    if chain_spec and lr is not None:
        opt.set_lr(lr)  # the chain's own lr link, overridden
    gen = torch.Generator().manual_seed(int(seed)) if noise > 0 else None

    nan = float("nan")
    points = torch.full((steps + 1, 2), nan, dtype=torch.float64)
    loss = torch.full((steps + 1,), nan, dtype=torch.float64)
    grad_norm = torch.full((steps + 1,), nan, dtype=torch.float64)
    diverged_at = None
    for t in range(steps + 1):
        opt.zero_grad()
        value = surface(p)
        value.backward()
        points[t], loss[t], grad_norm[t] = p.detach(), value.detach(), p.grad.norm()
        if not (torch.isfinite(points[t]).all() and torch.isfinite(loss[t]) and torch.isfinite(p.grad).all()):
            diverged_at = t
            points[t], loss[t], grad_norm[t] = nan, nan, nan
            break
        if t == steps:
            break
        if gen is not None:
            p.grad.add_(torch.randn(2, generator=gen, dtype=torch.float64), alpha=noise)
        opt.step()
    step_length = (points[1:] - points[:-1]).norm(dim=1)
    name = optimizer if isinstance(optimizer, str) else "chain"
    first_lr = float(opt.param_groups[0]["lr"])  # as given, or the recipe's default (a schedule's lr at step 0)
    return Trajectory(label or name, surface, points, loss, grad_norm, step_length, first_lr, dict(hp),
                      float(noise), diverged_at)


def trajectory(function: str | Surface, optimizer: Any, steps: int, lr: float | None = None,
               start: Point | None = None, **hp) -> Tensor:
    """The points x_0 ... x_steps, (steps+1, 2), of `descend` (same arguments, noise and seed included).

    Example:
        >>> trajectory("ill_conditioned", "sgd", steps=2, lr=0.1, start=(1.0, 0.0))[:, 0].tolist()
        [1.0, 0.9, 0.81]
    """
    return descend(function, optimizer, steps, lr, start, **hp).points


__all__ = ["FUNCTIONS", "Surface", "Trajectory", "create_surface", "descend", "trajectory", "parse_spec"]
