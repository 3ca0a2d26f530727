"""The data loss L of `loss + penalty`, one registry (LOSSES) for the `loss` config key.

Every loss is `fn(out, y, reduction="mean") -> Tensor`: "mean" over examples (and pixels,
for segmentation), "sum" over them, "none" one value per example (or pixel). The
validation loss uses the same function as training (`trainlab.evaluation`).

    cross_entropy  -log softmax(f)_y                              classification, segmentation
    hinge          sum_{j != y} max(0, f_j - f_y + 1)             classification, segmentation
    mse            (f - y)^2, mean over examples and targets     regression

Soft targets: with mixup or cutmix the training targets are (B, K) class probabilities t
instead of class ids, and a classification loss is its expectation over them,
sum_c t_c L(f, c): for cross_entropy -sum_c t_c log softmax(f)_c (label smoothing then mixes
the uniform distribution into t), for hinge sum_c t_c sum_{j != c} max(0, f_j - f_c + 1).
With one-hot t both are the losses above, exactly.

    >>> out, y = torch.tensor([[3.2, 5.1, -1.7]]), torch.tensor([0])
    >>> round(float(hinge(out, y)), 4)  # deck 001's cat example: max(0, 5.1 - 3.2 + 1) + max(0, -1.7 - 3.2 + 1)
    2.9
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import TrainlabError
from ..registry import Registry

LOSSES = Registry("loss")
TASKS = {  # the tasks a loss can score: class ids (per example or per pixel), or real-valued targets
    "cross_entropy": ("classification", "segmentation"),
    "hinge": ("classification", "segmentation"),
    "mse": ("regression",),
}
FIX = {"classification": "cross_entropy or hinge", "segmentation": "cross_entropy or hinge", "regression": "mse"}


@LOSSES.register("cross_entropy", description="-log softmax(f)_y, mean over examples (pixels); label_smoothing "
                 "mixes the uniform distribution into the target")
def cross_entropy(out: torch.Tensor, y: torch.Tensor, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> torch.Tensor:
    # out (B, K) logits, y (B,) class ids or (B, K) class probabilities (mixup, cutmix: torch takes
    # either, smoothing both as (1 - eps) t + eps / K); segmentation: out (B, K, H, W), y (B, H, W)
    return F.cross_entropy(out.float(), y, reduction=reduction, label_smoothing=label_smoothing)


@LOSSES.register("hinge", description="multiclass SVM (deck 001): sum over j != y of max(0, f_j - f_y + 1), "
                 "mean over examples (pixels)")
def hinge(out: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    s = out.float()  # (B, K) scores, or (B, K, H, W)
    if soft(out, y):  # (B, K) class probabilities: sum_c t_c hinge(f, c)
        margins = (s.unsqueeze(1) - s.unsqueeze(2) + 1.0).clamp_min(0.0)  # (B, c, j): f_j - f_c + 1
        per = (y.float() * (margins.sum(2) - 1.0)).sum(1)  # minus the j = c term, max(0, 1) = 1
        return per.mean() if reduction == "mean" else per.sum() if reduction == "sum" else per
    true = y.unsqueeze(1)  # (B, 1) or (B, 1, H, W)
    margins = (s - s.gather(1, true) + 1.0).clamp_min(0.0)  # the j = y term is max(0, 1) = 1 ...
    margins = margins.scatter(1, true, 0.0)  # ... and is not part of the sum
    per = margins.sum(1)  # (B,) or (B, H, W)
    return per.mean() if reduction == "mean" else per.sum() if reduction == "sum" else per


@LOSSES.register("mse", description="mean squared error (f - y)^2, mean over examples and targets (regression)")
def mse(out: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    # out (B, T) predictions, y (B, T) or (B,) targets (T = 1); "sum" adds every example's T squares,
    # as cross_entropy's adds every pixel's loss
    return F.mse_loss(out.float(), y.float().reshape(out.shape), reduction=reduction)


def soft(out: torch.Tensor, y: torch.Tensor) -> bool:
    """True when the targets y are class probabilities (B, K) for scores out (B, K), not class ids."""
    return y.is_floating_point() and y.shape == out.shape and out.dim() == 2


def check_loss(name: str) -> None:
    """Refuse an unknown loss before any data loads (label_smoothing's need of cross_entropy is
    the config schema's rule: trainlab.config.check_needs)."""
    LOSSES.get(name)


def check_loss_fits(name: str, task: str, dataset: str) -> None:
    """Refuse a loss that cannot score the dataset's task (class ids against real-valued targets)."""
    if task not in TASKS[name]:
        raise TrainlabError(f"loss: {name} does not fit dataset {dataset!r}, a {task} task; use loss: {FIX[task]}")
