"""Scoring: the loss, and a split's mean loss, accuracy and (segmentation) mean IoU.

The validation loss uses the training loss function, label smoothing included, so the
training and validation curves compare.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def loss_fn(out: torch.Tensor, y: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    # classification: out (B, K), y (B,); segmentation: out (B, K, H, W), y (B, H, W)
    return F.cross_entropy(out.float(), y, label_smoothing=label_smoothing)


def autocast(p):
    """bf16 autocast for forward passes when `precision: bf16`; a no-op context otherwise."""
    return torch.autocast(p.device.type, dtype=torch.bfloat16, enabled=p.cfg.precision == "bf16")


def batches(p, x_all: torch.Tensor, size: int):
    """Preprocessed (x, index slice) batches of a split, on the run's device and memory format."""
    from .data.datasets import to_float

    for i in range(0, len(x_all), size):
        x = p.preprocess(to_float(x_all[i:i + size].to(p.device)))
        if p.cfg.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        yield x, slice(i, i + size)


@torch.no_grad()
def evaluate_split(p, x_all: torch.Tensor, y_all: torch.Tensor, collect: bool = False) -> dict[str, Any]:
    """Mean loss and accuracy (plus mean IoU for segmentation) over a split; `p` is a build.Parts.

    collect=True adds the confusion matrix (rows: true class) and the predictions.
    """
    model, cfg = p.model, p.cfg
    was = model.training
    model.eval()
    k = p.data.num_classes
    loss_sum = torch.zeros((), dtype=torch.float64, device=p.device)
    correct = torch.zeros((), dtype=torch.int64, device=p.device)
    conf = torch.zeros(k, k, dtype=torch.int64, device=p.device)  # rows: true class, columns: predicted
    count = 0
    preds = []
    for x, sl in batches(p, x_all, cfg.eval_batch_size):
        y = y_all[sl].to(p.device)
        with autocast(p):
            out = model(x)
        loss_sum += F.cross_entropy(out.float(), y, reduction="sum", label_smoothing=cfg.label_smoothing) / y[0].numel()
        pred = out.argmax(1)
        correct += (pred == y).sum()
        conf += torch.bincount((y * k + pred).flatten(), minlength=k * k).view(k, k)
        count += y.numel()
        if collect:
            preds.append(pred.cpu())
    model.train(was)
    n = len(y_all)
    res: dict[str, Any] = {"loss": float(loss_sum) / max(1, n), "acc": float(correct) / max(1, count)}
    if p.segmentation:
        inter = conf.diag().double()
        union = conf.sum(0).double() + conf.sum(1).double() - inter
        present = union > 0
        res["miou"] = float((inter[present] / union[present]).mean()) if present.any() else 0.0
    if collect:
        res["confusion"] = conf.cpu()
        res["pred"] = torch.cat(preds) if preds else torch.empty(0)
    return res
