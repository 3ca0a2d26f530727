"""Boxes and the small geometric parts of detectors: IoU, anchor encoding, anchors, NMS, RoI align.

A box is a row (x1, y1, x2, y2) of a float tensor (N, 4), in pixels of continuous image
coordinates: the image spans [0, W] x [0, H], pixel (i, j) covers [j, j+1] x [i, i+1] and its
centre is (j + 0.5, i + 0.5). A box's width is x2 - x1 (no "+1" of the old integer convention),
so the box of the pixels 3..5 of a row is x1 = 3, x2 = 6.

    >>> box_iou(torch.tensor([[0., 0., 2., 2.]]), torch.tensor([[1., 0., 3., 2.]]))
    tensor([[0.3333]])
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

# exp() of a predicted log-scale is clamped here: a box at most 1000/16 = 62.5 times its anchor
# (Faster R-CNN's and torchvision's bound); an untrained net's large outputs then give big
# boxes, not inf, which would turn IoU and the loss into NaN.
LOG_SCALE_CLAMP = math.log(1000.0 / 16)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """(N, 4) -> (N,): (x2 - x1) (y2 - y1)."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise intersection over union: (N, 4), (M, 4) -> (N, M).

    IoU = |a n b| / (|a| + |b| - |a n b|); the intersection is the box
    (max x1, max y1, min x2, min y2), empty when it has no positive width and height.
    Two empty boxes give 0 (not 0/0).
    """
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2) top-left of the intersection
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])  # (N, M, 2) bottom-right
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]  # (N, M)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def to_cxcywh(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) corners -> (..., 4) centre x, centre y, width, height."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], -1)


def to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) centre x, centre y, width, height -> (..., 4) corners."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)


def encode(boxes: torch.Tensor, anchors: torch.Tensor, weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """Boxes relative to anchors, the Faster R-CNN parametrisation: (..., 4), (..., 4) -> (..., 4).

    tx = wx (x - xa) / wa,  ty = wy (y - ya) / ha,  tw = ww log(w / wa),  th = wh log(h / ha),
    (x, y, w, h) the box's centre and size, (xa, ya, wa, ha) the anchor's. The weights scale the
    targets to about unit variance: (1, 1, 1, 1) for the RPN, (10, 10, 5, 5) for the box head,
    whose proposals already sit close to the objects (as in Fast/Faster R-CNN).
    """
    x, y, w, h = to_cxcywh(boxes).unbind(-1)
    xa, ya, wa, ha = to_cxcywh(anchors).unbind(-1)
    wx, wy, ww, wh = weights
    return torch.stack([wx * (x - xa) / wa, wy * (y - ya) / ha, ww * torch.log(w / wa), wh * torch.log(h / ha)], -1)


def decode(deltas: torch.Tensor, anchors: torch.Tensor, weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
           clamp: float = LOG_SCALE_CLAMP) -> torch.Tensor:
    """The inverse of `encode`: x = xa + wa tx / wx, w = wa exp(min(tw / ww, clamp)), ...; -> (..., 4) corners."""
    xa, ya, wa, ha = to_cxcywh(anchors).unbind(-1)
    wx, wy, ww, wh = weights
    tx, ty, tw, th = deltas.unbind(-1)
    w = wa * torch.exp((tw / ww).clamp(max=clamp))
    h = ha * torch.exp((th / wh).clamp(max=clamp))
    return to_xyxy(torch.stack([xa + wa * tx / wx, ya + ha * ty / wy, w, h], -1))


def make_anchors(grid_h: int, grid_w: int, stride: float, sizes: Sequence[float],
                 ratios: Sequence[float] = (1.0,)) -> torch.Tensor:
    """Anchors of every feature-map cell: (grid_h * grid_w * A, 4), A = len(sizes) * len(ratios).

    Cell (i, j) is centred at ((j + 0.5) stride, (i + 0.5) stride) pixels, the centre of the image
    patch it summarises. An anchor of size s and ratio r = h / w has w = s / sqrt(r), h = s sqrt(r):
    its area is s^2 whatever the ratio. Rows go cell by cell (row-major), and within a cell by size,
    then ratio, so a conv output (B, A * k, H, W) viewed as (B, A, k, H, W) and permuted to
    (B, H, W, A, k) lines up with these rows.
    """
    shapes = torch.tensor([[s / math.sqrt(r), s * math.sqrt(r)] for s in sizes for r in ratios],
                          dtype=torch.float32)  # (A, 2) widths, heights
    ys, xs = torch.meshgrid(torch.arange(grid_h, dtype=torch.float32), torch.arange(grid_w, dtype=torch.float32),
                            indexing="ij")
    centres = torch.stack([xs, ys], -1).reshape(-1, 1, 2).add(0.5).mul(stride)  # (H W, 1, 2)
    half = shapes[None] / 2  # (1, A, 2)
    return torch.cat([centres - half, centres + half], -1).reshape(-1, 4)


def clip_boxes(boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Boxes (..., 4) clipped to the image [0, W] x [0, H]; size = (H, W)."""
    h, w = size
    return torch.stack([boxes[..., 0].clamp(0, w), boxes[..., 1].clamp(0, h),
                        boxes[..., 2].clamp(0, w), boxes[..., 3].clamp(0, h)], -1)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, max_keep: int | None = None) -> torch.Tensor:
    """Greedy non-maximum suppression: indices (int64) of the kept boxes, highest score first.

    Take the best-scoring box left, keep it, remove every box whose IoU with it is > iou_threshold,
    repeat; stop after max_keep kept boxes (the RPN needs only its best post_nms). Equal scores keep
    their input order (stable sort). Each kept box is compared with the boxes after it in one numpy
    step: O(kept x N) time and O(N) memory.
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    order = torch.argsort(scores, descending=True, stable=True)
    x1, y1, x2, y2 = boxes[order].detach().cpu().double().numpy().T  # (N,) each, best first
    area = (x2 - x1) * (y2 - y1)
    alive = np.ones(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if not alive[i]:
            continue
        keep.append(i)
        if max_keep is not None and len(keep) >= max_keep:
            break
        inter = (np.maximum(np.minimum(x2[i], x2[i + 1:]) - np.maximum(x1[i], x1[i + 1:]), 0.0)
                 * np.maximum(np.minimum(y2[i], y2[i + 1:]) - np.maximum(y1[i], y1[i + 1:]), 0.0))
        iou = inter / np.maximum(area[i] + area[i + 1:] - inter, 1e-12)  # union 0 means inter 0: IoU 0, as box_iou
        alive[i + 1:] &= iou <= iou_threshold
    return order[torch.as_tensor(keep, dtype=torch.int64, device=boxes.device)]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou_threshold: float,
                max_keep: int | None = None) -> torch.Tensor:
    """NMS within each class: boxes of different labels never suppress each other.

    The offset trick: shift each class's boxes by label x (largest coordinate + 1), so boxes of two
    classes never overlap, then run one NMS.
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    offset = labels.to(boxes.dtype)[:, None] * (boxes.max() - boxes.min() + 1)
    return nms(boxes + offset, scores, iou_threshold, max_keep)


def roi_align(features: torch.Tensor, boxes: list[torch.Tensor], output_size: int | tuple[int, int],
              spatial_scale: float = 1.0, sampling_ratio: int = 2, aligned: bool = True) -> torch.Tensor:
    """Average of bilinear samples on a regular grid in each bin of each box (He et al., Mask R-CNN).

    features (B, C, H, W); boxes a list of B tensors (K_b, 4) in image pixels; -> (sum K_b, C, PH, PW),
    the boxes of image 0 first. A box maps to feature coordinates x * spatial_scale (1 / stride), minus
    0.5 when aligned=True: a feature value sits at its cell's centre, so image x = 0.5 / scale is
    feature x = 0 (torchvision's aligned=True; aligned=False is the original, half-pixel-shifted one).
    Each of the PH x PW bins averages sampling_ratio^2 points at the centres of a regular sub-grid.
    A point's value is the bilinear interpolation of its 4 neighbours; a point outside
    [-1, H] x [-1, W] is 0, one just outside the border [-1, 0) takes the border value (torchvision's rule).
    sampling_ratio must be >= 1 (torchvision's adaptive ratio, 0, is not supported).
    """
    ph, pw = (output_size, output_size) if isinstance(output_size, int) else output_size
    s = int(sampling_ratio)
    if s < 1:
        raise ValueError(f"roi_align sampling_ratio={sampling_ratio} must be >= 1")
    _, c, h, w = features.shape
    out = []
    for b, bx in enumerate(boxes):
        if len(bx) == 0:
            continue
        offset = 0.5 if aligned else 0.0
        x1, y1, x2, y2 = (bx.to(features.dtype) * spatial_scale - offset).unbind(-1)  # (K,)
        bw, bh = x2 - x1, y2 - y1
        if not aligned:  # the original RoIAlign forced boxes to at least one cell
            bw, bh = bw.clamp(min=1.0), bh.clamp(min=1.0)
        # sample positions along x: bin p, sub-point k at x1 + (p + (k + 0.5) / s) * bw / pw
        fx = (torch.arange(pw * s, dtype=features.dtype, device=features.device) + 0.5) / (pw * s)  # (PW s,)
        fy = (torch.arange(ph * s, dtype=features.dtype, device=features.device) + 0.5) / (ph * s)
        xs = x1[:, None] + fx[None] * bw[:, None]  # (K, PW s)
        ys = y1[:, None] + fy[None] * bh[:, None]  # (K, PH s)
        valid = ((ys >= -1) & (ys <= h))[:, :, None] & ((xs >= -1) & (xs <= w))[:, None, :]  # (K, PH s, PW s)
        # clamp into [0, size - 1] and interpolate between cell centres: grid_sample with
        # align_corners=True maps -1 / +1 to the centres of the first / last cell, so it is exactly
        # the bilinear rule above; (size - 1) floored at 1 handles a 1-cell-wide map.
        gx = xs.clamp(0, w - 1) / max(w - 1, 1) * 2 - 1
        gy = ys.clamp(0, h - 1) / max(h - 1, 1) * 2 - 1
        grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), -1)  # (K, PH s, PW s, 2)
        k = len(bx)
        v = F.grid_sample(features[b:b + 1], grid.reshape(1, k * ph * s, pw * s, 2), mode="bilinear",
                          padding_mode="border", align_corners=True)  # (1, C, K PH s, PW s)
        v = v.reshape(c, k, ph * s, pw * s).transpose(0, 1) * valid[:, None]  # (K, C, PH s, PW s)
        out.append(F.avg_pool2d(v, s) if s > 1 else v)  # (K, C, PH, PW): mean of each bin's s x s points
    if not out:
        return features.new_zeros(0, c, ph, pw)
    return torch.cat(out)
