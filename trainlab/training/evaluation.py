"""Scoring: the loss, and a split's mean loss, accuracy, top-5 accuracy (more than 5 classes)
and (segmentation) mean IoU; a regression split is scored by its loss alone; a detection split by
the detector's losses and mAP@0.5 and COCO's mAP@[.5:.95] of its boxes (`evaluate_detection`).

The validation loss uses the training loss function (`loss`, label smoothing included), so
the training and validation curves compare.
"""
from __future__ import annotations

import math
import time
from typing import Any, Sequence

import torch

from ..data import to_float
from ..data.detection import Targets
from .average_precision import evaluate_detections
from .losses import LOSSES
from .tta import predict as tta_predict

TOP_K = 5  # top-5 accuracy is reported when a classification dataset has more than 5 classes


def loss_fn(out: torch.Tensor, y: torch.Tensor, label_smoothing: float = 0.0, loss: str = "cross_entropy",
            reduction: str = "mean") -> torch.Tensor:
    """The run's data loss (see trainlab.losses); label_smoothing is cross_entropy's (refused for the others).
    classification: out (B, K), y (B,); segmentation: out (B, K, H, W), y (B, H, W); regression: out (B, T)."""
    fn = LOSSES.get(loss)
    return fn(out, y, reduction, label_smoothing=label_smoothing) if label_smoothing else fn(out, y, reduction)


def in_top_k(out: torch.Tensor, y: torch.Tensor, k: int = TOP_K) -> torch.Tensor:
    """Per example: is the true class among the k highest scores? out (B, K), y (B,) -> (B,) bool.
    A tie counts in the true class's favour (fewer than k classes score strictly higher), so an
    example argmax gets right is always in the top k."""
    return (out > out.gather(1, y.unsqueeze(1))).sum(1) < k


def has_top_k(data) -> bool:
    """Whether a dataset's scores include top-5 accuracy: classification with more than 5 classes."""
    return data.task == "classification" and data.num_classes > TOP_K


AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(p):
    """Autocast for forward passes when `precision` is bf16 or fp16; a no-op context for fp32."""
    dtype = AUTOCAST.get(p.cfg.precision)
    return torch.autocast(p.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


def batches(p, x_all: torch.Tensor, size: int, world=None):
    """Preprocessed (x, index slice) batches of a split, on the run's device and memory format.
    With a distributed `world`, this rank's batches only: numbers rank, rank + size, ..."""
    rank, ranks = (world.rank, world.size) if world is not None else (0, 1)
    for i in range(rank * size, len(x_all), size * ranks):
        x = p.preprocess(to_float(x_all[i:i + size].to(p.device)))
        if p.cfg.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        yield x, slice(i, i + size)


@torch.no_grad()
def evaluate_split(p, x_all: torch.Tensor, y_all: torch.Tensor, collect: bool = False, world=None,
                   tta: Sequence[str] = ()) -> dict[str, Any]:
    """Mean loss and accuracy over a split (plus top-5 accuracy with more than 5 classes, mean IoU
    for segmentation; the loss alone for regression); `p` is a build.Parts.

    collect=True adds the predictions: class ids and the confusion matrix (rows: true class), or
    for regression the predicted values (N, T).
    world: a distributed World: each rank scores its share of the batches and the sums are
    all-reduced (the same batches as one process, so the same numbers up to summation order).
    tta: test-time augmentation ops (trainlab.tta): the mean softmax over the views is scored.
    """
    if p.data.task == "detection":  # boxes: mAP over the whole split (no distributed share, no tta: both refused)
        return evaluate_detection(p, x_all, y_all, collect)
    model, cfg = p.model, p.cfg
    was = model.training
    model.eval()
    k = p.data.num_classes
    classify = p.data.task != "regression"
    top = has_top_k(p.data)
    loss_sum = torch.zeros((), dtype=torch.float64, device=p.device)
    correct = torch.zeros((), dtype=torch.int64, device=p.device)
    correct_top = torch.zeros((), dtype=torch.int64, device=p.device)
    conf = torch.zeros(k, k, dtype=torch.int64, device=p.device)  # rows: true class, columns: predicted
    count = 0
    preds = []
    for x, sl in batches(p, x_all, cfg.eval_batch_size, world):
        y = y_all[sl].to(p.device)
        with autocast(p):
            out = model(x) if not tta else tta_predict(model, x, tta)
        loss_sum += loss_fn(out, y, cfg.label_smoothing, cfg.loss, reduction="sum") / y[0].numel()
        if not classify:
            if collect:
                preds.append(out.float().cpu())
            continue
        pred = out.argmax(1)
        correct += (pred == y).sum()
        if top:
            correct_top += in_top_k(out, y).sum()
        conf += torch.bincount((y * k + pred).flatten(), minlength=k * k).view(k, k)
        count += y.numel()
        if collect:
            preds.append(pred.cpu())
    model.train(was)
    if world is not None and world.distributed:
        assert not collect, "predictions are collected by one process"
        total = world.sum_(torch.cat([loss_sum.view(1), correct.double().view(1), correct_top.double().view(1),
                                      conf.double().flatten()]))
        loss_sum, correct, correct_top = total[0], total[1], total[2]
        conf = total[3:].round().long().view(k, k)
        count = int(conf.sum())
    n = len(y_all)
    res: dict[str, Any] = {"loss": float(loss_sum) / max(1, n)}
    if classify:
        res["acc"] = float(correct) / max(1, count)
    if top:
        res["top5"] = float(correct_top) / max(1, count)
    if p.segmentation:
        inter = conf.diag().double()
        union = conf.sum(0).double() + conf.sum(1).double() - inter
        present = union > 0
        res["miou"] = float((inter[present] / union[present]).mean()) if present.any() else 0.0
    if collect:
        if classify:
            res["confusion"] = conf.cpu()
        res["pred"] = torch.cat(preds) if preds else torch.empty(0)
    return res


@torch.no_grad()
def evaluate_detection(p, x_all: torch.Tensor, y_all: torch.Tensor, collect: bool = False) -> dict[str, Any]:
    """A detector on a split: its mean loss and each named part (`loss_<name>`, the losses of training,
    computed in eval mode), mAP@0.5 (`map50`) and mAP@[.5:.95] (`map`, COCO's 10 IoU thresholds), over
    the images of the split (trainlab.training.average_precision). collect=True adds the AP@0.5 and
    AP@[.5:.95] of each class ({name: AP}, NaN for a class without objects) and the detections.

    The two-stage detectors sample anchors and RoIs for their loss: the draws come from a fixed seed in
    a forked generator, so the validation loss does not depend on when it is measured and training's
    random streams are left where they were."""
    model, cfg = p.model, p.cfg
    was = model.training
    model.eval()
    names = tuple(model.loss_names)
    parts = torch.zeros(len(names), dtype=torch.float64)
    detections: list[dict[str, torch.Tensor]] = []
    with torch.random.fork_rng(devices=[p.device] if p.device.type == "cuda" else []):
        torch.manual_seed(0)
        for x, sl in batches(p, x_all, cfg.eval_batch_size):
            y = y_all[sl].to(p.device)
            with autocast(p):
                losses = model(x, y)
                found = model(x)
            parts += torch.stack([v.detach().double().cpu() for v in losses.values()]) * len(y)
            detections += [{k: v.detach().float().cpu() if v.is_floating_point() else v.cpu() for k, v in d.items()}
                           for d in found]
    model.train(was)
    n = max(1, len(y_all))
    scores = evaluate_detections(detections, Targets.from_tensor(y_all, tuple(x_all.shape[-2:])), p.data.num_classes)
    res: dict[str, Any] = {"loss": float(parts.sum()) / n, **{f"loss_{k}": float(v) / n for k, v in zip(names, parts)},
                           "map50": scores.map50, "map": scores.map}
    if collect:
        res["ap50"] = dict(zip(p.data.classes, scores.per_class(0.5)))
        res["ap"] = dict(zip(p.data.classes, scores.ap.mean(0).tolist()))  # NaN at every threshold, or at none
        res["detections"] = detections
    return res


@torch.no_grad()
def inference_time(model: torch.nn.Module, x: torch.Tensor, batch: int, repeats: int = 3) -> float:
    """Seconds per image of `model` (eval mode, no gradient) on the prepared images x, `batch` at a time:
    the fastest of `repeats` passes over x, after one warm-up batch (other processes on the machine can
    only slow a pass down, so the fastest is the truest). Threads: whatever torch has; set them first.

    >>> 1e3 * inference_time(model, x[:128], batch=1)   # milliseconds per image   # doctest: +SKIP
    """
    was = model.training
    model.eval()
    model(x[:batch])
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(x), batch):
            model(x[i:i + batch])
        best = min(best, time.perf_counter() - start)
    model.train(was)
    return best / max(1, len(x))
