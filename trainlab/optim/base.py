"""The link protocol behind trainlab.optim.transforms: `GradientTransformation`, `chain`,
the pending forms a link may return, and the helpers the links share (torch._foreach_*
arithmetic, argument checks, global_norm).

A link is its `init(params) -> state` and `update(updates, state, params, hp) -> (updates, state)`,
nothing else. `chain(*links)` feeds each link's output to the next.

- `hp` holds this step's values of the link's hyperparameters that something outside drives (in
  the spirit of optax's `inject_hyperparams`): the learning rate of `scale_by_lr`, and what a
  torch LR scheduler may change in the optimizer's param groups (momentum's "mu", Adam's "b1" and
  "b2", a decay link's "weight_decay"). Each value is one float, or a list with one float per
  parameter when the param groups differ. A key that is absent means the value the link was
  built with; `hp` may be left out (None) altogether. A link that needs the learning rate itself
  (Adafactor's relative step, Schedule-Free's averaging weights) is built with an `lr`, like
  scale_by_lr, and the optimizer passes it hp["lr"] too (one float per parameter).
- A state is a plain dict. Every list value in it is per-parameter, aligned with `params` (a
  tensor, or a number or None where the link keeps a number per parameter or nothing for it);
  other values are scalars (e.g. the int `count`). Tensors in it are updated IN PLACE and the
  dict is returned, so `torch.save(state)` / `torch.load(weights_only=True)` just work.
- A link never writes into the `updates` it receives (they may be the raw gradients or another
  link's state); it returns new tensors, or its own state tensors when they are the update
  (momentum), which later links must then treat as read-only.
- Updates are a list of tensors, or one of two pending forms that keep an addition or a division
  for later, where it can be done in one fused op (torch.optim does the same arithmetic):
  `Quotient(num, den)` from a preconditioner, applied by the optimizer's step as
  p.addcdiv_(num, den, -lr); and `PlusWeights(u, wd, decoupled)` from a decay link, which momentum
  adds to its buffer term by term and the step applies as decoupled decay, p *= 1 - lr wd.
  A link that needs the tensors calls `value(updates, params)`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

from ..errors import TrainlabError, check

Updates = list[Tensor]
State = dict[str, Any]


Hyper = dict[str, Any]  # this step's hyperparameter values of one link: name -> a float or one per parameter


@dataclass(frozen=True)
class GradientTransformation:
    """A pair of functions plus its name and the hyperparameters it was built with (for messages,
    for the optimizer's param groups, and as each step's defaults)."""

    init: Callable[[list[Tensor]], State]
    update: Callable[..., tuple[Any, State]]  # (updates, state, params, hp=None) -> (updates, state)
    name: str = "custom"
    hp: dict[str, Any] = field(default_factory=dict)
    links: tuple["GradientTransformation", ...] = ()  # non-empty only for a chain


@dataclass(frozen=True)
class Quotient:
    """num / den, not divided yet: the optimizer's last step applies it as p.addcdiv_(num, den, -lr)
    (as torch.optim's Adam does); any other link gets the divided tensors from `value`."""

    num: list[Tensor]
    den: list[Tensor]


@dataclass(frozen=True)
class PlusWeights:
    """u + wd * params, not added yet. Coupled L2 (`decoupled` False) is added to momentum's buffer
    term by term, or evaluated for any other link; decoupled decay reaching the optimizer's step is
    applied as p *= 1 - lr wd before the rest of the update (as torch.optim's AdamW does)."""

    u: Any  # tensors or a Quotient
    wd: "Scalars"
    decoupled: bool


def value(updates: Any, params: list[Tensor]) -> list[Tensor]:
    """The tensors of an update, pending forms evaluated: num / den, u + wd * p."""
    if isinstance(updates, Quotient):
        return torch._foreach_div(updates.num, updates.den)
    if isinstance(updates, PlusWeights):
        u, wd = value(updates.u, params), updates.wd
        if isinstance(wd, list):  # one per parameter (the param groups differ)
            return [x + w * p if w else x for x, p, w in zip(u, params, wd)]
        return torch._foreach_add(u, params, alpha=wd)
    return updates


def _unit(what: str, x: float) -> None:
    check(isinstance(x, (int, float)) and 0 <= x < 1, f"{what}={x!r} must be in [0, 1)")


def _positive(what: str, x: float) -> None:
    check(isinstance(x, (int, float)) and x > 0, f"{what}={x!r} must be > 0")


def _nonneg(what: str, x: float) -> None:
    check(isinstance(x, (int, float)) and x >= 0, f"{what}={x!r} must be >= 0")


Scalars = float | list[float]  # one value for every tensor, or one per tensor


def _add_scaled_(ys: list[Tensor], xs: list[Tensor], a: Scalars) -> None:
    """ys += a * xs in place; `a` one float or one per tensor."""
    if isinstance(a, list):
        torch._foreach_add_(ys, torch._foreach_mul(xs, a))
    else:
        torch._foreach_add_(ys, xs, alpha=a)


def _add_scaled(ys: list[Tensor], xs: list[Tensor], a: Scalars) -> list[Tensor]:
    """ys + a * xs as new tensors; `a` one float or one per tensor."""
    if isinstance(a, list):
        return torch._foreach_add(ys, torch._foreach_mul(xs, a))
    return torch._foreach_add(ys, xs, alpha=a)


def _each(a: Scalars, f: Callable[[float], float]) -> Scalars:
    """f applied to one float or to each of a per-tensor list."""
    return [f(x) for x in a] if isinstance(a, list) else f(a)


def _times(a: Scalars, b: Scalars, n: int) -> Scalars:
    """a * b for floats or per-tensor lists of length n."""
    if isinstance(a, list) or isinstance(b, list):
        a, b = (x if isinstance(x, list) else [x] * n for x in (a, b))
        return [x * y for x, y in zip(a, b)]
    return a * b


def _zeros(params: list[Tensor], fill: float = 0.0) -> list[Tensor]:
    return [torch.full_like(p, fill, memory_format=torch.preserve_format) for p in params]


def global_norm(tensors: list[Tensor]) -> Tensor:
    """L2 norm of all tensors together, as a 0-dim tensor (no host sync).

    Example:
        >>> float(global_norm([torch.tensor([3.0]), torch.tensor([4.0])]))
        5.0
    """
    if not tensors:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(tensors, 2.0)), 2.0)


def lr_at(lr: float | Callable[[int], float], count: int) -> float:
    """The learning rate for step `count` (0-based): lr itself, or lr(count) for a schedule."""
    return float(lr(count)) if callable(lr) else float(lr)


def _lrs(hp: Any, lr: float | Callable[[int], float], count: int, n: int) -> list[float]:
    """This step's lr for each of n parameters: hp["lr"] (one float or one per parameter, from the
    optimizer), else the link's own lr (a float, or a schedule at its step `count`)."""
    given = (hp or {}).get("lr")
    if given is None:
        given = lr_at(lr, count)
    return [float(x) for x in given] if isinstance(given, list) else [float(given)] * n


def chain(*links: GradientTransformation) -> GradientTransformation:
    """Compose links left to right; the state is {"0:link_name": state0, "1:...": state1, ...}.

    Example:
        >>> from trainlab.optim.transforms import scale_by_lr, scale_by_momentum
        >>> sgd = chain(scale_by_momentum(0.9), scale_by_lr(0.1))
        >>> p = [torch.ones(2)]; st = sgd.init(p)
        >>> u, st = sgd.update([torch.ones(2)], st, p)            # hp (this step's values) left out
        >>> u[0]
        tensor([-0.1000, -0.1000])
    """
    flat: list[GradientTransformation] = []
    for link in links:
        if not isinstance(link, GradientTransformation):
            raise TrainlabError(f"chain got {link!r}; each link must be a GradientTransformation (e.g. scale_by_adam())")
        flat.extend(link.links or (link,))  # nested chains flatten, so state keys stay simple
    keys = [f"{i}:{link.name}" for i, link in enumerate(flat)]

    def init(params):
        return {k: link.init(params) for k, link in zip(keys, flat)}

    def update(updates, state, params, hp=None):
        """hp: {state key ("0:scale_by_lr", ...): that link's hyperparameters this step}. The result is
        tensors (pending forms evaluated), ready for p += u."""
        for k, link in zip(keys, flat):
            updates, state[k] = link.update(updates, state[k], params, (hp or {}).get(k))
        return value(updates, params), state

    return GradientTransformation(init, update, "chain", {}, tuple(flat))


__all__ = ["GradientTransformation", "Hyper", "PlusWeights", "Quotient", "Updates", "State", "Scalars", "chain",
           "global_norm", "lr_at", "value"]
