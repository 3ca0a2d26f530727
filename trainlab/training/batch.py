"""One training batch, as the loop and the learning-rate finder take it, and how it is scored.

`train_batch` slices the examples, makes them floats, augments them (segmentation masks and detection
boxes move with their images; mixup and cutmix turn the class ids (B,) into class probabilities (B, K), mixed as
the images are), preprocesses them and sets the memory format.

`hits` counts right answers. With class probabilities as targets (a mixed batch) an example
counts the probability its target gives the predicted class: 1 or 0 for an unmixed example
(plain accuracy), lam for a mixup of two images predicted as the first, 1 - lam as the second,
0 as anything else (mixup's paper scores training accuracy so: lam (pred = y_i) + (1 - lam)
(pred = y_j)). So train_acc of a mixed run is the expected accuracy against the mixed labels.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data import to_float
from .losses import soft


def train_batch(p, x_all: torch.Tensor, y_all: torch.Tensor, idx: torch.Tensor,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) for the examples `idx` of (x_all, y_all): augmented with `generator`, preprocessed,
    on the run's memory format; y is (B,) class ids, (B, K) class probabilities (mixup, cutmix),
    (B, H, W) masks (segmentation), (B, M, 5) boxes (detection) or (B, T) targets
    (regression). `p` is a build.Training."""
    x, y = to_float(x_all[idx]), y_all[idx]
    if p.augment.mixes:  # mixup, cutmix: the targets become class probabilities, mixed as the images are
        x, y = p.augment(x, generator, targets=F.one_hot(y, p.data.num_classes).to(x.dtype))
    elif p.augment:  # a segmentation mask or detection boxes move with the pixels
        detect = p.data.task == "detection"
        x, moved = p.augment(x, generator, mask=y if p.segmentation else None, boxes=y if detect else None)
        y = moved if moved is not None else y
    x = p.preprocess(x)
    if p.cfg.channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


def hits(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Right answers in a batch (a float64 tensor, on the device): argmax hits of class ids (per
    example or pixel), or the target probability of each predicted class (see the module docstring)."""
    pred = out.argmax(1)
    if soft(out, y):
        return y.gather(1, pred.unsqueeze(1)).double().sum()
    return (pred == y).sum().double()


def answers(out: torch.Tensor, y: torch.Tensor) -> int:
    """How many answers `hits` scored: examples (class ids or probabilities), or pixels (segmentation)."""
    return len(y) if soft(out, y) else y.numel()
