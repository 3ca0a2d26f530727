"""Detection losses written out from their definitions, with the rules that assign targets to predictions.

YOLO (one stage; Redmon et al. v1-v3). Assignment: an object belongs to the grid cell that holds its
centre, cell (i, j) = (floor(cy / stride), floor(cx / stride)), and within that cell to the anchor whose
shape fits it best: the largest IoU of the two boxes put on a common centre, (w, h) against (wa, ha).
If two objects of an image land on the same cell and anchor, the larger one is kept (the other gives no
target this time). That prediction's targets: x* = cx / stride - j and y* = cy / stride - i (the centre's
place in the cell, in [0, 1), predicted as sigmoid(tx), sigmoid(ty)), w* = log(w / wa), h* = log(h / ha),
objectness 1 and the class. Every other prediction has objectness target 0, except that one whose decoded
box already overlaps an object by IoU > ignore_threshold gets no objectness loss (YOLOv3: a good second
box should not be punished). With B images:
    box = lambda_coord / B  sum_pos [(s(tx) - x*)^2 + (s(ty) - y*)^2 + (tw - w*)^2 + (th - h*)^2]
    obj = 1 / B             [ sum_pos BCE(o, 1) + lambda_noobj sum_neg BCE(o, 0) ]
    cls = 1 / B             sum_pos CE(class logits, class)
lambda_coord = 5 and lambda_noobj = 0.5 are YOLOv1's weights; BCE and CE replace v1's squared errors
for the objectness and the class, as v2/v3 do.

Faster R-CNN (Ren et al.). RPN anchors: positive if IoU >= 0.7 with some object, or if it is an
object's best anchor (so every object has one); negative if its best IoU < 0.3; else ignored. 256
anchors per image are sampled, at most half positive. RoIs (the proposals plus the objects' own boxes):
foreground if IoU >= 0.5 with an object (its class), else background; 64 per image, at most a quarter
foreground. Each stage: a classification loss (BCE for objectness, CE over K + 1 classes for RoIs)
averaged over the sampled set, and smooth-L1 on the encoded offsets (boxes.encode) of the positives,
summed and divided by the size of the sampled set (so a batch with few positives is not upweighted).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.detection import Targets
from ..nn.boxes import LOG_SCALE_CLAMP, box_iou, encode, to_cxcywh


def smooth_l1(x: torch.Tensor, y: torch.Tensor, beta: float = 1.0 / 9) -> torch.Tensor:
    """Elementwise 0.5 d^2 / beta for |d| < beta, else |d| - 0.5 beta (d = x - y); quadratic near 0, linear far."""
    d = (x - y).abs()
    return torch.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)


# ---------------------------------------------------------------- YOLO
def yolo_assign(targets: Targets, anchors: torch.Tensor, stride: float,
                grid: tuple[int, int]) -> dict[str, torch.Tensor]:
    """Positions and regression targets of the objects (the rule in the module docstring).

    anchors (A, 2) widths and heights in pixels; grid (h, w) cells. Returns 1-D tensors over the
    assigned objects: b, i, j, a (image, row, column, anchor), xy (P, 2), wh (P, 2) log-scale
    targets, cls (P,).
    """
    gh, gw = grid
    b, m = torch.nonzero(targets.valid, as_tuple=True)
    cls = targets.labels[b, m]
    box = to_cxcywh(targets.boxes[b, m])  # (P, 4) centre and size
    wh = box[:, 2:].clamp(min=1e-3)
    inter = torch.minimum(wh[:, None], anchors[None]).prod(-1)  # (P, A) overlap of the boxes on one centre
    shape_iou = inter / (wh.prod(-1)[:, None] + anchors.prod(-1)[None] - inter)
    a = shape_iou.argmax(1)
    j = (box[:, 0] / stride).floor().long().clamp(0, gw - 1)
    i = (box[:, 1] / stride).floor().long().clamp(0, gh - 1)
    # one object per (image, cell, anchor) slot: visit the objects largest first, keep each slot's first
    order = torch.argsort(-wh.prod(-1), stable=True)
    slot = (((b * gh + i) * gw + j) * len(anchors) + a)[order]
    _, inv = torch.unique(slot, return_inverse=True)
    first = torch.full((int(inv.max()) + 1 if len(inv) else 0,), len(order), dtype=torch.int64)
    first = first.scatter_reduce(0, inv, torch.arange(len(order)), "amin")  # first visit of each slot
    keep = torch.zeros(len(order), dtype=torch.bool)
    keep[order[first]] = True
    b, i, j, a, box, wh, cls = b[keep], i[keep], j[keep], a[keep], box[keep], wh[keep], cls[keep]
    xy = torch.stack([box[:, 0] / stride - j, box[:, 1] / stride - i], 1)
    return {"b": b, "i": i, "j": j, "a": a, "xy": xy, "wh": torch.log(wh / anchors[a]), "cls": cls}


def yolo_decode(raw: torch.Tensor, anchors: torch.Tensor, stride: float) -> torch.Tensor:
    """raw (B, h, w, A, 5 + K) -> boxes (B, h, w, A, 4) in pixels: centre ((j + s(tx)) stride, ...),
    size (wa exp(tw), ha exp(th)), exp clamped as in boxes.decode."""
    _, gh, gw, _, _ = raw.shape
    ys, xs = torch.meshgrid(torch.arange(gh, device=raw.device), torch.arange(gw, device=raw.device), indexing="ij")
    cx = (xs[None, :, :, None] + raw[..., 0].sigmoid()) * stride  # (B, h, w, A)
    cy = (ys[None, :, :, None] + raw[..., 1].sigmoid()) * stride
    w = anchors[:, 0] * torch.exp(raw[..., 2].clamp(max=LOG_SCALE_CLAMP))  # (B, h, w, A)
    h = anchors[:, 1] * torch.exp(raw[..., 3].clamp(max=LOG_SCALE_CLAMP))
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)


def yolo_loss(raw: torch.Tensor, targets: Targets, anchors: torch.Tensor, stride: float,
              ignore_threshold: float = 0.5, lambda_coord: float = 5.0,
              lambda_noobj: float = 0.5) -> dict[str, torch.Tensor]:
    """raw (B, h, w, A, 5 + K) head outputs [tx, ty, tw, th, objectness, class logits] -> named losses."""
    bsz, gh, gw, na, _ = raw.shape
    t = yolo_assign(targets, anchors, stride, (gh, gw))
    p = raw[t["b"], t["i"], t["j"], t["a"]]  # (P, 5 + K) the predictions that own an object
    box = ((p[:, 0:2].sigmoid() - t["xy"]) ** 2).sum() + ((p[:, 2:4] - t["wh"]) ** 2).sum()
    cls = F.cross_entropy(p[:, 5:], t["cls"], reduction="sum")
    obj_target = torch.zeros(raw.shape[:4], device=raw.device)
    obj_target[t["b"], t["i"], t["j"], t["a"]] = 1.0
    with torch.no_grad():  # predictions already on an object by IoU > ignore_threshold: no objectness loss
        pred = yolo_decode(raw.detach(), anchors, stride).reshape(bsz, -1, 4)
        ignore = torch.zeros(bsz, gh * gw * na, dtype=torch.bool, device=raw.device)
        for n in range(bsz):
            gt = targets.boxes[n][targets.valid[n]]
            if len(gt):
                ignore[n] = box_iou(pred[n], gt).max(1).values > ignore_threshold
        ignore = ignore.reshape(obj_target.shape) & (obj_target == 0)
    bce = F.binary_cross_entropy_with_logits(raw[..., 4], obj_target, reduction="none")
    obj = (bce * obj_target).sum() + lambda_noobj * (bce * (1 - obj_target) * ~ignore).sum()
    return {"box": lambda_coord * box / bsz, "objectness": obj / bsz, "class": cls / bsz}


# ---------------------------------------------------------------- Faster R-CNN
def label_by_iou(iou: torch.Tensor, hi: float, lo: float, best_for_each: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """iou (N, G) of candidates x objects -> labels (N,) 1 positive / 0 negative / -1 ignored, matched (N,) object.

    Positive: best IoU >= hi; negative: best IoU < lo. best_for_each=True also makes each object's
    best candidates (ties included) positive, matched to that object, so no object is left without one.
    """
    n, g = iou.shape
    labels = torch.full((n,), -1, dtype=torch.int64, device=iou.device)
    if g == 0:
        return labels.fill_(0), torch.zeros(n, dtype=torch.int64, device=iou.device)
    best, matched = iou.max(1)
    labels[best < lo] = 0
    labels[best >= hi] = 1
    if best_for_each:
        top = iou.max(0).values  # (G,) each object's best IoU
        is_top = (iou == top[None]) & (top[None] > 0)  # (N, G)
        cand, obj = torch.nonzero(is_top, as_tuple=True)
        labels[cand] = 1
        matched[cand] = obj
    return labels, matched


def sample(labels: torch.Tensor, num: int, positive_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Random indices of at most num * positive_fraction positives and negatives to make num in all."""
    pos = torch.nonzero(labels == 1).flatten()
    neg = torch.nonzero(labels == 0).flatten()
    n_pos = min(len(pos), int(num * positive_fraction))
    n_neg = min(len(neg), num - n_pos)
    pos = pos[torch.randperm(len(pos), device=labels.device)[:n_pos]]
    neg = neg[torch.randperm(len(neg), device=labels.device)[:n_neg]]
    return pos, neg


def rpn_loss(objectness: torch.Tensor, deltas: torch.Tensor, anchors: torch.Tensor, targets: Targets,
             batch: int = 256, positive_fraction: float = 0.5, hi: float = 0.7,
             lo: float = 0.3) -> dict[str, torch.Tensor]:
    """objectness (B, N) logits, deltas (B, N, 4) over the anchors (N, 4) -> {"rpn_objectness", "rpn_box"}."""
    cls, reg, count = [], [], 0
    for n in range(len(targets)):
        gt = targets.boxes[n][targets.valid[n]]
        labels, matched = label_by_iou(box_iou(anchors, gt), hi, lo, best_for_each=True)
        pos, neg = sample(labels, batch, positive_fraction)
        idx = torch.cat([pos, neg])
        cls.append(F.binary_cross_entropy_with_logits(objectness[n, idx], (labels[idx] == 1).float(), reduction="sum"))
        if len(pos):
            reg.append(smooth_l1(deltas[n, pos], encode(gt[matched[pos]], anchors[pos])).sum())
        count += len(idx)
    count = max(count, 1)
    zero = deltas.sum() * 0  # keeps the graph when no image has a positive
    box = torch.stack(reg).sum() if reg else zero
    return {"rpn_objectness": torch.stack(cls).sum() / count, "rpn_box": box / count}


def roi_targets(proposals: list[torch.Tensor], targets: Targets, batch: int = 64, positive_fraction: float = 0.25,
                fg_threshold: float = 0.5, weights=(10.0, 10.0, 5.0, 5.0)) -> tuple[list[torch.Tensor], dict]:
    """Sample the RoIs of each image (the proposals plus its objects' boxes) and their targets.

    Returns the sampled RoIs per image and {"labels" (R,) 0 background / k + 1 class k, "deltas" (R, 4)
    encoded with `weights` (zeros for background), "matched" (R,) object slot in its image}.
    """
    rois, labels, deltas, matched_all = [], [], [], []
    for n, props in enumerate(proposals):
        valid = targets.valid[n]
        gt, gl = targets.boxes[n][valid], targets.labels[n][valid]
        cand = torch.cat([props, gt])
        lab, matched = label_by_iou(box_iou(cand, gt), fg_threshold, fg_threshold, best_for_each=False)
        pos, neg = sample(lab, batch, positive_fraction)
        idx = torch.cat([pos, neg])
        fg = torch.arange(len(idx), device=idx.device) < len(pos)
        rois.append(cand[idx])
        labels.append(torch.where(fg, gl[matched[idx]] + 1 if len(gt) else 0, 0))
        d = encode(gt[matched[idx]], cand[idx], weights) if len(gt) else cand.new_zeros(len(idx), 4)
        deltas.append(d * fg[:, None])
        matched_all.append(torch.nonzero(valid).flatten()[matched[idx]] if len(gt) else matched[idx])
    return rois, {"labels": torch.cat(labels), "deltas": torch.cat(deltas), "matched": torch.cat(matched_all)}


def roi_loss(class_logits: torch.Tensor, box_deltas: torch.Tensor, t: dict) -> dict[str, torch.Tensor]:
    """class_logits (R, K + 1), box_deltas (R, K, 4) class-specific -> {"roi_class", "roi_box"}."""
    cls = F.cross_entropy(class_logits, t["labels"])
    fg = torch.nonzero(t["labels"] > 0).flatten()
    d = box_deltas[fg, t["labels"][fg] - 1]  # (F, 4) each foreground RoI's deltas for its own class
    box = smooth_l1(d, t["deltas"][fg]).sum() / max(len(t["labels"]), 1)
    return {"roi_class": cls, "roi_box": box}


def mask_loss(mask_logits: torch.Tensor, labels: torch.Tensor, mask_targets: torch.Tensor) -> torch.Tensor:
    """mask_logits (F, K, m, m) of the foreground RoIs, labels (F,) classes 0..K-1, mask_targets (F, m, m) in {0, 1}:
    per-pixel BCE on the channel of each RoI's own class only (Mask R-CNN: classes do not compete for a pixel)."""
    if len(labels) == 0:
        return mask_logits.sum() * 0
    own = mask_logits[torch.arange(len(labels), device=labels.device), labels]  # (F, m, m)
    return F.binary_cross_entropy_with_logits(own, mask_targets)
