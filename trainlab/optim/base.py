"""The link protocol behind trainlab.optim.transforms: `GradientTransformation`, `chain`,
and the helpers the links share (torch._foreach_* arithmetic, argument checks, global_norm).

A link has `init(params) -> state` and `update(updates, state, params) -> (updates, state)`.
`chain(*links)` feeds each link's output to the next. The links themselves, their
registry TRANSFORMS and `create_link` are in trainlab.optim.transforms.

Conventions (kept for speed, all ops are torch._foreach_* over lists of tensors):
- A state is a plain dict. Every list value in it is per-parameter, aligned with `params`;
  other values are scalars (e.g. the int `count`). Tensors in it are updated IN PLACE and
  the dict is returned; so `torch.save(state)` / `torch.load(weights_only=True)` just work.
- Keys starting with "_" are transient hints from ChainOptimizer; a link pops them, they are
  never saved. "_raw_norm": the gradient norm it already measured. Hyperparameter overrides
  for this one update, read from the optimizer's param_groups (where a torch LR scheduler may
  have changed them): "_mu" (momentum), "_b1"/"_b2" (Adam's betas), "_wd" (weight decay),
  "_lr_per_param" (lr). Each is one float, or a list with one float per parameter when the
  parameter groups differ.
- A link never writes into the `updates` it receives (they may be the raw gradients or
  another link's state); it returns new tensors, or its own state tensors when they are
  the update (momentum), which later links must then treat as read-only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

from ..errors import TrainlabError, check

Updates = list[Tensor]
State = dict[str, Any]


@dataclass(frozen=True)
class GradientTransformation:
    """A pair of pure-ish functions plus its name and hyperparameters (for messages and fast paths)."""

    init: Callable[[list[Tensor]], State]
    update: Callable[[Updates, State, list[Tensor]], tuple[Updates, State]]
    name: str = "custom"
    hp: dict[str, Any] = field(default_factory=dict)
    links: tuple["GradientTransformation", ...] = ()  # non-empty only for a chain
    # Preconditioners (adagrad, rms, adam) also offer ratio(updates, state, params) ->
    # (num, den, state) with update = num / den, so ChainOptimizer can finish with one
    # fused p.addcdiv_(num, den, -lr) instead of dividing and then adding.
    ratio: Callable[[Updates, State, list[Tensor]], tuple[Updates, Updates, State]] | None = None


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


def _from_ratio(ratio):
    """update() of a preconditioner given its ratio(): u = num / den."""

    def update(updates, state, params):
        num, den, state = ratio(updates, state, params)
        return torch._foreach_div(num, den), state

    return update


def lr_at(lr: float | Callable[[int], float], count: int) -> float:
    """The learning rate for step `count` (0-based): lr itself, or lr(count) for a schedule."""
    return float(lr(count)) if callable(lr) else float(lr)


def chain(*links: GradientTransformation) -> GradientTransformation:
    """Compose links left to right; the state is {"0:link_name": state0, "1:...": state1, ...}.

    Example:
        >>> from trainlab.optim.transforms import scale_by_lr, scale_by_momentum
        >>> sgd = chain(scale_by_momentum(0.9), scale_by_lr(0.1))
        >>> p = [torch.ones(2)]; st = sgd.init(p)
        >>> u, st = sgd.update([torch.ones(2)], st, p)
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

    def update(updates, state, params):
        for k, link in zip(keys, flat):
            updates, state[k] = link.update(updates, state[k], params)
        return updates, state

    return GradientTransformation(init, update, "chain", {}, tuple(flat))


__all__ = ["GradientTransformation", "Updates", "State", "Scalars", "chain", "global_norm", "lr_at"]
