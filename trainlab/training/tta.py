"""Test-time augmentation: score each test image under a few label-safe transformations and
average the predicted probabilities (the speed-run recipes' flip and small-shift TTA).

Each op maps a batch (B, C, H, W) to one or more views of it; the prediction is the mean of the
softmax over the original and every view, returned as log-probabilities so the usual losses and
argmax apply unchanged.

    >>> import torch
    >>> [tuple(v.shape) for v in views(torch.zeros(2, 1, 4, 4), ["hflip", "shift"])]
    [(2, 1, 4, 4), (2, 1, 4, 4), (2, 1, 4, 4), (2, 1, 4, 4), (2, 1, 4, 4), (2, 1, 4, 4)]
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from ..errors import TrainlabError
from ..registry import Registry

TTA = Registry("test-time augmentation")
# the symmetry of the classes each op's views assume (trainlab.data.augment.symmetry warns where data lacks it);
# a one-pixel shift changes no class
ASSUMES = {"hflip": "hflip"}


@TTA.register("hflip", description="the image mirrored left-right (1 extra view); for data with mirror symmetry")
def hflip(x: torch.Tensor) -> list[torch.Tensor]:
    return [x.flip(-1)]


def _shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """x moved by (dy, dx) pixels, zeros shifted in (the padding a random crop uses in training)."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1))
    return padded[..., 1 - dy:1 - dy + h, 1 - dx:1 - dx + w]


@TTA.register("shift", description="the image moved one pixel up, down, left and right, zeros shifted in (4 views)")
def shift(x: torch.Tensor) -> list[torch.Tensor]:
    return [_shift(x, dy, dx) for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))]


def check_tta(ops: Sequence[str], image: bool = True) -> list[str]:
    ops = list(ops)
    for op in ops:
        TTA.get(op)
    if len(set(ops)) != len(ops):
        raise TrainlabError(f"tta {ops} names an op twice; list each once")
    if ops and not image:
        raise TrainlabError("tta transforms images; this data is not (C, H, W) images: remove tta")
    return ops


def views(x: torch.Tensor, ops: Sequence[str]) -> list[torch.Tensor]:
    """The batch itself, then each op's views, in order."""
    out = [x]
    for op in ops:
        out += TTA.get(op)(x)
    return out


def predict(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, ops: Sequence[str]) -> torch.Tensor:
    """log of the mean softmax over the views: (B, K) (or (B, K, H, W) for segmentation, where only
    label-preserving ops that keep pixels in place make sense; trainlab refuses tta there)."""
    probs = torch.stack([model(v).float().softmax(1) for v in views(x, ops)]).mean(0)
    return probs.clamp_min(1e-12).log()
