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


AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(p):
    """Autocast for forward passes when `precision` is bf16 or fp16; a no-op context for fp32."""
    dtype = AUTOCAST.get(p.cfg.precision)
    return torch.autocast(p.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


def batches(p, x_all: torch.Tensor, size: int, world=None):
    """Preprocessed (x, index slice) batches of a split, on the run's device and memory format.
    With a distributed `world`, this rank's batches only: numbers rank, rank + size, ..."""
    from .data.datasets import to_float

    rank, ranks = (world.rank, world.size) if world is not None else (0, 1)
    for i in range(rank * size, len(x_all), size * ranks):
        x = p.preprocess(to_float(x_all[i:i + size].to(p.device)))
        if p.cfg.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        yield x, slice(i, i + size)


@torch.no_grad()
def evaluate_split(p, x_all: torch.Tensor, y_all: torch.Tensor, collect: bool = False, world=None) -> dict[str, Any]:
    """Mean loss and accuracy (plus mean IoU for segmentation) over a split; `p` is a build.Parts.

    collect=True adds the confusion matrix (rows: true class) and the predictions.
    world: a distributed World: each rank scores its share of the batches and the sums are
    all-reduced (the same batches as one process, so the same numbers up to summation order).
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
    for x, sl in batches(p, x_all, cfg.eval_batch_size, world):
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
    if world is not None and world.distributed:
        assert not collect, "predictions are collected by one process"
        total = world.sum_(torch.cat([loss_sum.view(1), correct.double().view(1), conf.double().flatten()]))
        loss_sum, correct, conf = total[0], total[1], total[2:].round().long().view(k, k)
        count = int(conf.sum())
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
