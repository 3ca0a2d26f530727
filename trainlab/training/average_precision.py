"""Average precision for detection: per-class AP, mAP at IoU 0.5 and COCO-style mAP@[0.5:0.95].

For one class and one IoU threshold t: all detections of the class, over all images, are ranked by
score. Going down the ranking, a detection is a true positive when its IoU with an object of its class
in its image, not yet claimed by a higher-scored detection, is >= t (it claims the one of highest IoU,
COCO's rule); otherwise it is a false positive: a duplicate of a found object, a box in the wrong place,
a box of the wrong class. After the k best: precision_k = TP_k / k, recall_k = TP_k / (number of objects).

AP is the area under the interpolated precision-recall curve, p_interp(r) = max_{r' >= r} precision(r'):
    interpolation="all" (default, PASCAL VOC 2010+): the exact area, sum over recall steps of
        (r_{i+1} - r_i) p_interp(r_{i+1}); equivalently the mean over the objects of p_interp at the
        recall where each is found (0 for missed ones).
    interpolation="101" (COCO's evaluator): the mean of p_interp at recall 0, 0.01, ..., 1.
"all" is used for both mAP@0.5 and mAP@[0.5:0.95] unless asked otherwise, so results can sit a little
(typically under 1 point) from pycocotools' numbers; "101" reproduces its interpolation. Detections are
not capped per image (COCO keeps the best 100; the detectors here return at most that) and there is no
"crowd" or "difficult" handling. A class with no object in the data has no AP (NaN) and is left out of
the means; a class with objects and no detection has AP 0.

    >>> s = evaluate_detections(detections, targets, num_classes=3)   # doctest: +SKIP
    >>> s.map50, s.map, s.per_class(0.5)                             # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..data.detection import Targets
from ..nn.boxes import box_iou

COCO_THRESHOLDS = tuple(np.round(np.arange(0.5, 0.951, 0.05), 2).tolist())  # 0.50, 0.55, ..., 0.95


def average_precision(recall: np.ndarray, precision: np.ndarray, interpolation: str = "all") -> float:
    """Area under the interpolated PR curve from points ordered by rank (recall non-decreasing)."""
    recall, precision = np.asarray(recall, dtype=np.float64), np.asarray(precision, dtype=np.float64)
    if interpolation == "101":
        if len(precision) == 0:
            return 0.0
        p = np.maximum.accumulate(precision[::-1])[::-1]  # p_interp at each point: max over r' >= r
        idx = np.searchsorted(recall, np.linspace(0, 1, 101), side="left")  # first point with recall >= r
        return float(np.where(idx < len(p), p[np.minimum(idx, len(p) - 1)], 0.0).mean())  # 0 beyond max recall
    if interpolation != "all":
        raise ValueError(f"interpolation={interpolation!r} must be 'all' or '101'")
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]  # p_interp: the best precision at this recall or beyond
    step = np.nonzero(r[1:] != r[:-1])[0]  # where recall grows
    return float(np.sum((r[step + 1] - r[step]) * p[step + 1]))


def match(iou: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Greedy matching in one image: (D, G) IoU of score-ranked detections x objects -> (T, D) bool TP.

    Detection d claims the unclaimed object of highest IoU if that IoU >= t; one pass per threshold,
    vectorized over the thresholds.
    """
    t = np.asarray(thresholds, dtype=np.float64)[:, None]  # (T, 1)
    d, g = iou.shape
    tp = np.zeros((len(t), d), dtype=bool)
    claimed = np.zeros((len(t), g), dtype=bool)
    rows = np.arange(len(t))
    for i in range(d):
        cand = np.where(claimed | (iou[i][None] < t), -1.0, iou[i][None])  # (T, G) IoU of claimable objects
        if g == 0:
            continue
        best = cand.argmax(1)  # (T,)
        hit = cand[rows, best] >= 0
        tp[:, i] = hit
        claimed[rows[hit], best[hit]] = True
    return tp


@dataclass
class DetectionScores:
    """ap (T, K): AP per IoU threshold and class (NaN where the class has no object)."""

    ap: np.ndarray
    thresholds: tuple[float, ...]

    def map_at(self, threshold: float) -> float:
        """Mean AP over the classes at one IoU threshold."""
        row = self.ap[self.thresholds.index(round(threshold, 2))]
        return float(np.nanmean(row)) if np.isfinite(row).any() else float("nan")

    @property
    def map50(self) -> float:
        return self.map_at(0.5)

    @property
    def map(self) -> float:
        """Mean over the thresholds of the mean over the classes: mAP@[0.5:0.95] for COCO_THRESHOLDS."""
        return float(np.nanmean(self.ap)) if np.isfinite(self.ap).any() else float("nan")

    def per_class(self, threshold: float = 0.5) -> list[float]:
        return self.ap[self.thresholds.index(round(threshold, 2))].tolist()


def evaluate_detections(detections: Sequence[dict], targets: Targets | Sequence[dict], num_classes: int,
                        iou_thresholds: Sequence[float] = COCO_THRESHOLDS,
                        interpolation: str = "all") -> DetectionScores:
    """AP per threshold and class for per-image detections {"boxes" (D, 4), "scores" (D,), "labels" (D,)}
    against targets (a Targets or per-image {"boxes", "labels"} dicts), class ids 0..num_classes-1."""
    gts = targets.per_image() if isinstance(targets, Targets) else list(targets)
    if len(gts) != len(detections):
        raise ValueError(f"{len(detections)} images of detections but {len(gts)} of targets")
    thresholds = tuple(round(float(t), 2) for t in iou_thresholds)
    scores = [[] for _ in range(num_classes)]  # per class: arrays of scores and (T, D) TP flags per image
    tps = [[] for _ in range(num_classes)]
    n_obj = np.zeros(num_classes, dtype=np.int64)
    for det, gt in zip(detections, gts):
        db, ds, dl = (torch.as_tensor(det[k]).detach().cpu() for k in ("boxes", "scores", "labels"))
        gb, gl = torch.as_tensor(gt["boxes"]).cpu(), torch.as_tensor(gt["labels"]).cpu()
        for k in range(num_classes):
            gk = gb[gl == k].double()
            n_obj[k] += len(gk)
            sel = dl == k
            if not sel.any():
                continue
            order = torch.argsort(ds[sel], descending=True, stable=True)
            dk, sk = db[sel][order].double(), ds[sel][order].double()
            tps[k].append(match(box_iou(dk, gk).numpy(), thresholds))
            scores[k].append(sk.numpy())
    ap = np.full((len(thresholds), num_classes), np.nan)
    for k in range(num_classes):
        if n_obj[k] == 0:
            continue  # no object: AP undefined, left out of the means
        if not scores[k]:
            ap[:, k] = 0.0
            continue
        s = np.concatenate(scores[k])
        order = np.argsort(-s, kind="stable")  # rank all images' detections together
        tp = np.concatenate(tps[k], axis=1)[:, order]  # (T, D)
        ctp = np.cumsum(tp, axis=1)
        precision = ctp / np.arange(1, tp.shape[1] + 1)
        recall = ctp / n_obj[k]
        for j in range(len(thresholds)):
            ap[j, k] = average_precision(recall[j], precision[j], interpolation)
    return DetectionScores(ap, thresholds)
