"""Weight EMA: an exponential moving average of the parameters, evaluated instead of the live weights.

After every `every`-th optimizer step, for each parameter w: ema = decay * ema + (1 - decay) * w,
starting from the initial weights. With `warmup`, the n-th update uses min(decay, (1 + n) / (10 + n))
instead (TensorFlow's ExponentialMovingAverage with num_updates): early updates weigh the live
weights more, so on a short run (a few hundred steps) the average is not dragged back to the random
initial weights, whose share would otherwise still be decay^N (0.99^300 = 5%). So after N updates with weights w_1 .. w_N:
ema_N = decay^N w_0 + (1 - decay) * sum_k decay^(N-k) w_k. Speed-run recipes (airbench)
evaluate the average: it sits nearer the bottom of the valley the noisy live weights bounce in.

Buffers (batch-norm running mean and variance) are NOT averaged: evaluation uses the live
model's, which the loop keeps up to date on the live weights. Averaging them again would lag them
twice (they are already running averages), and copying is what `AveragedModel(use_buffers=False)`
leaves undone (it needs an `update_bn` pass over the data). With a moderate decay the EMA and
live weights are close, so the live statistics fit both.

Why not torch.optim.swa_utils.AveragedModel with get_ema_multi_avg_fn: it copies the weights at
its first update (so its average starts from w_1, not w_0), keeps a second module (a deepcopy of a
DDP or compiled wrapper), and its state is a module of its own to checkpoint. Here the state is a
list of tensors that goes into the TrainState checkpoint, and evaluation swaps it into the one
model in place (exact copies both ways, so the live weights train on untouched).

    >>> net = torch.nn.Linear(2, 1)
    >>> ema = WeightEMA(net, decay=0.9)
    >>> with torch.no_grad(): _ = net.weight.add_(1.0)
    >>> ema.update(net, step=1)
    >>> with ema.applied(net): pass   # net holds the average inside the block, its own weights after
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn


class WeightEMA:
    """The average of `model`'s parameters; `update` after each step, `applied` to evaluate with it."""

    def __init__(self, model: nn.Module, decay: float, every: int = 1, warmup: bool = False):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema decay {decay!r} must be in [0, 1)")
        self.decay, self.every, self.warmup = float(decay), int(every), bool(warmup)
        with torch.no_grad():
            self.params = [p.detach().clone() for p in model.parameters()]

    def decay_at(self, step: int) -> float:
        """The decay of the update at optimizer step `step`: the n-th update is at step n * every."""
        n = step // self.every
        return min(self.decay, (1 + n) / (10 + n)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Average in the live weights, at steps that are multiples of `every` (step counts from 1)."""
        if step % self.every == 0:
            # ema + (1 - decay)(w - ema) = decay ema + (1 - decay) w
            torch._foreach_lerp_(self.params, [p.detach() for p in model.parameters()], 1.0 - self.decay_at(step))

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[nn.Module]:
        """`model` with the averaged parameters inside the block; its live ones (bit for bit) after."""
        params = list(model.parameters())
        with torch.no_grad():
            live = [p.detach().clone() for p in params]
            torch._foreach_copy_(params, self.params)
        try:
            yield model
        finally:
            with torch.no_grad():
                torch._foreach_copy_(params, live)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "every": self.every, "warmup": self.warmup, "params": [t.cpu() for t in self.params]}

    def load_state_dict(self, s: dict[str, Any]) -> None:
        saved = s["params"]
        if len(saved) != len(self.params) or any(a.shape != b.shape for a, b in zip(saved, self.params)):
            raise ValueError("ema state has other parameter shapes than the model")
        self.params = [t.to(device=p.device, dtype=p.dtype, copy=True) for t, p in zip(saved, self.params)]


def make_ema(model: nn.Module, decay: float, every: int = 1, warmup: bool = False) -> WeightEMA | None:
    """The run's WeightEMA, or None when decay is 0 (off: the loop is unchanged)."""
    return WeightEMA(model, decay, every, warmup) if decay > 0 else None


__all__ = ["WeightEMA", "make_ema"]
