"""`yolo`, the one-stage detector (Redmon et al.): one pass of a conv net predicts, for each cell of a
grid and each of its anchor boxes, the box's offsets and log-scales, an objectness and class scores.
The two-stage detectors are in rcnn.py; what they share (the contract, the trunk) in detector.py.

    >>> net = create_model("yolo", in_shape=(3, 64, 64), num_classes=3)
    >>> [sorted(d) for d in net.eval()(torch.zeros(1, 3, 64, 64))]
    [['boxes', 'labels', 'scores']]
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..data.detection import Targets
from ..errors import check
from .blocks import ConvNormAct
from .common import MODELS
from .detection_losses import yolo_decode, yolo_loss
from .detector import DETECTION, as_targets, check_threshold, make_trunk, select, to_float


class YOLO(nn.Module):
    """trunk -> conv -> 1x1 conv: for each cell and each of A anchors, [tx, ty, tw, th, objectness, K class logits].

    (B, C, H, W) -> raw (B, h, w, A, 5 + K). Box: centre ((j + sigmoid(tx)) s, (i + sigmoid(ty)) s), size
    (wa exp(tw), ha exp(th)); score of class k: sigmoid(objectness) softmax(logits)_k. Loss: detection_losses.yolo_loss.
    nms_threshold None: no NMS at inference (every box above score_threshold, best first).
    """

    loss_names = ("box", "objectness", "class")

    def __init__(self, trunk: nn.Module, channels: int, stride: float, num_classes: int, anchors: torch.Tensor,
                 score_threshold: float, nms_threshold: float | None, max_detections: int, ignore_threshold: float):
        super().__init__()
        self.trunk = trunk
        self.neck = ConvNormAct(channels, channels, 3)
        self.head = nn.Conv2d(channels, len(anchors) * (5 + num_classes), 1)
        self.register_buffer("anchors", anchors)  # (A, 2) widths, heights in pixels
        self.stride, self.num_classes = stride, num_classes
        self.score_threshold, self.nms_threshold, self.max_detections = score_threshold, nms_threshold, max_detections
        self.ignore_threshold = ignore_threshold
        with torch.no_grad():  # objectness starts at sigmoid = 0.01: most cells hold no object (RetinaNet's prior)
            self.head.bias.view(len(anchors), 5 + num_classes)[:, 4] = -4.6

    def raw(self, images: torch.Tensor) -> torch.Tensor:
        x = self.head(self.neck(self.trunk(to_float(images))))  # (B, A (5 + K), h, w)
        b, _, h, w = x.shape
        return x.reshape(b, len(self.anchors), 5 + self.num_classes, h, w).permute(0, 3, 4, 1, 2)  # (B, h, w, A, 5 + K)

    def forward(self, images: torch.Tensor, targets: Targets | torch.Tensor | None = None):
        raw = self.raw(images)
        if targets is not None:
            t = as_targets(targets, tuple(images.shape[-2:]), raw.device)
            return yolo_loss(raw, t, self.anchors, self.stride, self.ignore_threshold)
        boxes = yolo_decode(raw, self.anchors, self.stride).flatten(1, 3)  # (B, h w A, 4)
        probs = raw[..., 4:5].sigmoid() * raw[..., 5:].softmax(-1)  # (B, h, w, A, K)
        scores, labels = probs.flatten(1, 3).max(-1)  # (B, h w A): the best class of each box
        size = tuple(images.shape[-2:])
        return [select(boxes[n], scores[n], labels[n], size, self.score_threshold, self.nms_threshold,
                       self.max_detections) for n in range(len(images))]


@MODELS.register("yolo", tags=(DETECTION,), description="detection, one stage: a grid of cells x anchors, each "
                 "predicting box offsets, log scales, objectness and class scores (YOLO v2/v3)")
def yolo(in_shape: Sequence[int] = (3, 64, 64), num_classes: int = 3, *, backbone: str = "tiny", width: int = 16,
         halvings: int = 3, anchors: Sequence[Sequence[float]] | None = None, score_threshold: float = 0.05,
         nms_threshold: float | None = 0.5, max_detections: int = 100, ignore_threshold: float = 0.5,
         backbone_options: dict | None = None) -> YOLO:
    """anchors: (w, h) pairs in pixels; default three squares of 0.15, 0.3 and 0.5 of the shorter image side.
    backbone "tiny" (width, halvings: a stride-8 grid by default) or a trainlab model with backbone_options.
    nms_threshold: IoU above which a lower-scored box of the same class is suppressed; null: no NMS."""
    check(len(in_shape) == 3, f"yolo needs image inputs (C, H, W), got {tuple(in_shape)}")
    for name, v in (("score_threshold", score_threshold), ("ignore_threshold", ignore_threshold)):
        check_threshold(name, v)
    check_threshold("nms_threshold", nms_threshold, none_ok=True)
    check(isinstance(max_detections, int) and max_detections >= 1, f"max_detections={max_detections!r} must be an "
          "integer >= 1")
    side = min(in_shape[1:])
    anchors = anchors or [(f * side, f * side) for f in (0.15, 0.3, 0.5)]
    ok = all(isinstance(a, (list, tuple)) and len(a) == 2 and all(isinstance(v, (int, float)) and v > 0 for v in a)
             for a in anchors)
    check(ok, f"anchors={anchors!r} must be a list of [width, height] pairs in pixels, e.g. [[10, 10], [20, 10]]")
    trunk, c, stride = make_trunk(backbone, in_shape, width, halvings, **(backbone_options or {}))
    return YOLO(trunk, c, stride, num_classes, torch.tensor(anchors, dtype=torch.float32), score_threshold,
                nms_threshold, max_detections, ignore_threshold)
