"""Weight penalties added to the loss: L = data_loss + strength * R(W) (deck 001).

  l1          R(W) = sum |w|
  l2          R(W) = sum w^2            (the lecture's form, no 1/2)
  elastic_net R(W) = sum beta w^2 + |w|

By default only weights are penalized: biases and normalization parameters (ndim <= 1)
are skipped, as the lecture's R(W) is over the weight matrices W.

Relation to the optimizer links: the gradient of strength * sum w^2 is 2 * strength * w, so
an l2 penalty of strength s is exactly coupled L2 `add_l2(weight_decay=2 s)` (torch's SGD/Adam
`weight_decay`). For plain SGD, coupled L2 and decoupled weight decay
(`add_decayed_weights`) are the same up to that factor and the lr (p -= lr wd p); for
adaptive methods (Adam, RMSprop, Adagrad) they differ: the penalty's gradient is divided
by sqrt(v) like any gradient, while decoupled decay (AdamW) shrinks all weights alike.

    >>> import torch
    >>> pen = create_penalty("l2", 1e-4)
    >>> net = torch.nn.Linear(3, 2)
    >>> loss = pen(net)     # 1e-4 * sum(net.weight ** 2); the bias is skipped
"""
from __future__ import annotations

import weakref
from typing import Callable

import torch
from torch import Tensor, nn

from ..errors import check
from ..registry import Registry

PENALTIES = Registry("penalty")
Mask = Callable[[str, Tensor], bool]


def _sum_sq(ps: list[Tensor]) -> Tensor:
    # one foreach pass: per-tensor L2 norms, then sum of their squares (differentiable)
    return torch.stack(torch._foreach_norm(ps, 2.0)).square().sum()


def _sum_abs(ps: list[Tensor]) -> Tensor:
    return torch.stack(torch._foreach_norm(ps, 1.0)).sum()


@PENALTIES.register("l1", description="sum |w|")
def l1(ps: list[Tensor], beta: float = 1.0) -> Tensor:
    return _sum_abs(ps)


@PENALTIES.register("l2", description="sum w^2 (weight decay; no 1/2)")
def l2(ps: list[Tensor], beta: float = 1.0) -> Tensor:
    return _sum_sq(ps)


@PENALTIES.register("elastic_net", description="sum beta w^2 + |w|")
def elastic_net(ps: list[Tensor], beta: float = 1.0) -> Tensor:
    return beta * _sum_sq(ps) + _sum_abs(ps)


def weights_only(name: str, p: Tensor) -> bool:
    """Default mask: penalize weight matrices/kernels, skip biases and norm scales (ndim <= 1)."""
    return p.ndim > 1


class Penalty:
    """strength * R(W) over the masked parameters of a model; call it on the model each step.

    The masked parameter list is computed once per model and cached (weakly referenced).
    """

    def __init__(self, name: str, strength: float, beta: float = 1.0, mask: Mask | None = None):
        self.fn = PENALTIES.get(name)
        check(isinstance(strength, (int, float)) and strength >= 0, f"penalty {name!r} strength={strength!r} must be >= 0")
        check(isinstance(beta, (int, float)) and beta >= 0, f"penalty {name!r} beta={beta!r} must be >= 0")
        self.name, self.strength, self.beta = name, float(strength), float(beta)
        self.mask = mask or weights_only
        self._model: weakref.ref | None = None
        self._params: list[Tensor] = []

    def params(self, model: nn.Module) -> list[Tensor]:
        """The parameters this penalty applies to (cached for `model`)."""
        if self._model is None or self._model() is not model:
            self._params = [p for n, p in model.named_parameters() if p.requires_grad and self.mask(n, p)]
            self._model = weakref.ref(model)
        return self._params

    def __call__(self, model: nn.Module) -> Tensor:
        ps = self.params(model)
        if self.strength == 0 or not ps:
            device = next(model.parameters(), torch.zeros(())).device
            return torch.zeros((), device=device)
        return self.strength * self.fn(ps, self.beta)

    def __repr__(self) -> str:
        return f"Penalty({self.name!r}, strength={self.strength}, beta={self.beta})"


def create_penalty(name: str, strength: float, beta: float = 1.0, mask: Mask | None = None) -> Penalty:
    """Penalty `name` with weight `strength` (lambda); `beta` weights w^2 in elastic_net.

    Example:
        >>> pen = create_penalty("elastic_net", 1e-4, beta=0.5)
        >>> pen
        Penalty('elastic_net', strength=0.0001, beta=0.5)
    """
    return Penalty(name, strength, beta, mask)


__all__ = ["PENALTIES", "Penalty", "create_penalty", "weights_only"]
