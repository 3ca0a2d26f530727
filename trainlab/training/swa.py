"""Stochastic weight averaging (Izmailov et al. 2018), `swa: {start_epoch: E, lr: L}` in a config.

From epoch E on (epochs count from 1, as the `epoch` column of metrics.csv does) the learning
rate is held at L, and at the end of each of the epochs E, E + 1, ..., `epochs` the weights are
averaged in with equal weights, as torch.optim.swa_utils.AveragedModel.update_parameters does:
the first update copies the weights, the n-th (n > 1) does avg += (w - avg) / n. So after the
last epoch the average holds the mean of epochs - E + 1 sets of weights. Batch-norm running
statistics are not averaged (AveragedModel's use_buffers=False): at the end they are recomputed
for the averaged weights over the whole training set (trainlab.nn.layers.recompute_bn_stats,
exact per-channel pooling; torch's update_bn averages the batches' statistics instead, a little
differently), in training batches, unaugmented.

Which weights are what, with swa on:
  - validation rows before the last score the live weights (the average is not final, and its
    batch-norm statistics would need a pass over the training set at every evaluation);
  - the last validation row (its `swa_models` column says how many epochs were averaged), the
    test score and `best.safetensors` are the averaged model, with its recomputed statistics:
    SWA's answer is the average at the end, so no live epoch competes for "best", and
    `early_stopping`, which would cut the average short, is refused;
  - the checkpoints' weights files hold the live weights (the run trains on from them); the
    average is in the checkpoint's state, so a killed run resumes bit for bit.

Why not AveragedModel itself: it keeps a deepcopy of the module (of a DDP or compiled wrapper,
in a distributed or compiled run) as a second model to checkpoint; here the state is a list of
tensors in the TrainState checkpoint, swapped into the one model for the final evaluation.
tests/training/test_swa.py checks this average against AveragedModel on the same weights.

    >>> net = torch.nn.Linear(2, 1)
    >>> swa = WeightAverage(net, start_epoch=2)
    >>> swa.update(net, epoch=1); swa.n   # before start_epoch: nothing averaged
    0
    >>> swa.update(net, epoch=2); swa.n
    1
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch
from torch import nn

from ..config import SWA
from ..optim.optimizer import weights_at
from ..optim.schedules import Schedule


class WeightAverage:
    """The equal-weight average of `model`'s parameters at the ends of epochs start_epoch, ...;
    `update` after each epoch, `applied` to evaluate and save with it."""

    def __init__(self, model: nn.Module, start_epoch: int):
        self.start_epoch = int(start_epoch)
        self.n = 0  # weights averaged so far (AveragedModel's n_averaged)
        with torch.no_grad():
            self.params = [p.detach().clone() for p in model.parameters()]  # overwritten by the first update

    @torch.no_grad()
    def update(self, model: nn.Module, epoch: int) -> None:
        """Average in the live weights at the end of `epoch` (1-based), if it is start_epoch or later."""
        if epoch < self.start_epoch:
            return
        live = [p.detach() for p in model.parameters()]
        if self.n == 0:
            torch._foreach_copy_(self.params, live)
        else:  # avg + (w - avg) / (n + 1): AveragedModel's swa update
            torch._foreach_lerp_(self.params, live, 1.0 / (self.n + 1))
        self.n += 1

    @contextmanager
    def applied(self, model: nn.Module, recompute: Callable[[nn.Module], Any] | None = None) -> Iterator[nn.Module]:
        """`model` with the averaged parameters inside the block, after `recompute(model)` (the loop
        passes a recompute_bn_stats pass over the training set); its live parameters and buffers,
        bit for bit, after."""
        with weights_at(list(model.parameters()), self.params, model, recompute) as m:
            yield m

    def state_dict(self) -> dict[str, Any]:
        return {"start_epoch": self.start_epoch, "n": self.n, "params": [t.cpu() for t in self.params]}

    def load_state_dict(self, s: dict[str, Any]) -> None:
        saved = s["params"]
        if len(saved) != len(self.params) or any(a.shape != b.shape for a, b in zip(saved, self.params)):
            raise ValueError("swa state has other parameter shapes than the model")
        self.start_epoch, self.n = int(s["start_epoch"]), int(s["n"])
        self.params = [t.to(device=p.device, dtype=p.dtype, copy=True) for t, p in zip(saved, self.params)]


def make_swa(model: nn.Module, swa: SWA | None) -> WeightAverage | None:
    """The run's WeightAverage, or None when `swa` is off (the loop is then unchanged)."""
    return WeightAverage(model, swa.start_epoch) if swa is not None else None


def swa_schedule(sched: Schedule, swa: SWA | None) -> Schedule:
    """The run's lr as a function of time t in epochs: `sched` until epoch start_epoch begins
    (t = start_epoch - 1 epochs done), then swa.lr, held to the end (SWALR without its annealing)."""
    if swa is None:
        return sched
    begin, lr = swa.start_epoch - 1, swa.lr
    return lambda t: lr if t >= begin else sched(t)


__all__ = ["WeightAverage", "make_swa", "swa_schedule"]
