"""Detectors: the registry, the convolutional trunk, and `yolo` (one stage). Two stages: rcnn.py.

A detector is `fn(in_shape, num_classes, **options) -> nn.Module`, like the model zoo's builders, and
its `forward(images, targets=None)`:
    with targets (a data.Targets): a dict of named scalar losses, their sum the training loss;
    without: a list of per-image dicts {"boxes" (D, 4) pixels, "scores" (D,), "labels" (D,) 0..K-1},
    after a score threshold and per-class NMS, best first, at most max_detections.
images are (B, C, H, W), uint8 (divided by 255 here) or float in [0, 1].

    >>> net = create_detector("yolo", in_shape=(3, 64, 64), num_classes=3)
    >>> [sorted(d) for d in net.eval()(torch.zeros(1, 3, 64, 64))]
    [['boxes', 'labels', 'scores']]
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

import torch
from torch import nn

from ..data.detection import Targets
from ..errors import TrainlabError, check
from ..nn.boxes import batched_nms, clip_boxes
from ..registry import Registry, check_kwargs
from .blocks import ConvNormAct
from .common import MODELS
from .detection_losses import yolo_decode, yolo_loss

DETECTORS = Registry("detector")


def create_detector(name: str, **kw: Any) -> nn.Module:
    """Build the registered detector `name` (yolo, faster_rcnn, mask_rcnn) with its options."""
    return DETECTORS.create(name, **kw)


def make_trunk(backbone: str, in_shape: Sequence[int], width: int = 16, halvings: int = 3,
               **options: Any) -> tuple[nn.Module, int, float]:
    """A feature extractor (B, C, H, W) -> (B, C_f, H / s, W / s); returns (module, C_f, stride s).

    "tiny": `halvings` blocks of conv-BN-ReLU + 2x2 max pool at widths w, 2w, 4w, ... (w = width),
    then one more conv-BN-ReLU at the last width (more context per cell without shrinking the map).
    Any other name is a trainlab model (resnet20, vgg11, convnet, ...) cut before its global pooling,
    flatten or classifier head: its top-level children up to the first of those (`options` go to
    create_model). The stride is measured by running a zero image through it.
    """
    c, h, w = in_shape
    if backbone == "tiny":
        check(isinstance(halvings, int) and halvings >= 1, f"halvings={halvings!r} must be an integer >= 1")
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        c_in = c
        for k in range(halvings):
            c_out = width * 2 ** min(k, 2)  # w, 2w, 4w, 4w, ...
            block = ConvNormAct(c_in, c_out, 3)  # (B, c_out, H', W')
            block.add_module("pool", nn.MaxPool2d(2, 2, ceil_mode=True))  # (B, c_out, ceil(H'/2), ceil(W'/2))
            layers[f"block{k + 1}"], c_in = block, c_out
        layers[f"block{halvings + 1}"] = ConvNormAct(c_in, c_in, 3)
        trunk: nn.Module = nn.Sequential(layers)
    else:
        check_kwargs(f"backbone {backbone!r}", MODELS.get(backbone), options, skip=("in_shape", "num_classes"))
        model = MODELS.create(backbone, tuple(in_shape), 2, **options)
        kept: OrderedDict[str, nn.Module] = OrderedDict()
        for name, child in model.named_children():
            if name == "head" or isinstance(child, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten, nn.Linear)):
                break
            kept[name] = child
        trunk = nn.Sequential(kept)
    with torch.no_grad():
        was = trunk.training
        out = trunk.eval()(torch.zeros(1, c, h, w))
        trunk.train(was)
    check(out.dim() == 4, f"backbone {backbone!r} gives {tuple(out.shape)} features; "
          "detection needs a conv trunk with (B, C, H, W) outputs")
    return trunk, out.shape[1], h / out.shape[2]


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images / 255, float images unchanged."""
    return images.float() / 255 if images.dtype == torch.uint8 else images


def select(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, size: tuple[int, int],
           score_threshold: float, nms_threshold: float, max_detections: int, pre_nms: int = 1000) -> dict:
    """One image's candidates (N, 4), (N,), (N,) -> its detections: clip, score threshold, the best
    pre_nms, per-class NMS, the best max_detections."""
    boxes = clip_boxes(boxes, size)
    keep = (scores >= score_threshold) & (boxes[:, 2] - boxes[:, 0] >= 1e-2) & (boxes[:, 3] - boxes[:, 1] >= 1e-2)
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    top = torch.argsort(scores, descending=True, stable=True)[:pre_nms]
    boxes, scores, labels = boxes[top], scores[top], labels[top]
    keep = batched_nms(boxes, scores, labels, nms_threshold, max_keep=max_detections)
    return {"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]}


class YOLO(nn.Module):
    """trunk -> conv -> 1x1 conv: for each cell and each of A anchors, [tx, ty, tw, th, objectness, K class logits].

    (B, C, H, W) -> raw (B, h, w, A, 5 + K). Box: centre ((j + sigmoid(tx)) s, (i + sigmoid(ty)) s), size
    (wa exp(tw), ha exp(th)); score of class k: sigmoid(objectness) softmax(logits)_k. Loss: losses.yolo_loss.
    """

    def __init__(self, trunk: nn.Module, channels: int, stride: float, num_classes: int, anchors: torch.Tensor,
                 score_threshold: float, nms_threshold: float, max_detections: int, ignore_threshold: float):
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
        return x.view(b, len(self.anchors), 5 + self.num_classes, h, w).permute(0, 3, 4, 1, 2)  # (B, h, w, A, 5 + K)

    def forward(self, images: torch.Tensor, targets: Targets | None = None):
        raw = self.raw(images)
        if targets is not None:
            return yolo_loss(raw, targets.to(raw.device), self.anchors, self.stride, self.ignore_threshold)
        boxes = yolo_decode(raw, self.anchors, self.stride).flatten(1, 3)  # (B, h w A, 4)
        probs = raw[..., 4:5].sigmoid() * raw[..., 5:].softmax(-1)  # (B, h, w, A, K)
        scores, labels = probs.flatten(1, 3).max(-1)  # (B, h w A): the best class of each box
        size = tuple(images.shape[-2:])
        return [select(boxes[n], scores[n], labels[n], size, self.score_threshold, self.nms_threshold,
                       self.max_detections) for n in range(len(images))]


@DETECTORS.register("yolo", description="one stage: a grid of cells x anchors, each predicting box offsets, "
                    "log scales, objectness and class scores")
def yolo(in_shape: Sequence[int] = (3, 64, 64), num_classes: int = 3, *, backbone: str = "tiny", width: int = 16,
         halvings: int = 3, anchors: Sequence[Sequence[float]] | None = None, score_threshold: float = 0.05,
         nms_threshold: float = 0.5, max_detections: int = 100, ignore_threshold: float = 0.5,
         backbone_options: dict | None = None, **unknown: Any) -> YOLO:
    """anchors: (w, h) pairs in pixels; default three squares of 0.15, 0.3 and 0.5 of the shorter image side.
    backbone "tiny" (width, halvings: a stride-8 grid by default) or a trainlab model with backbone_options."""
    if unknown:
        raise TrainlabError(f"yolo has no option {sorted(unknown)[0]!r}; choose from: backbone, width, "
                            "halvings, anchors, score_threshold, nms_threshold, max_detections, ignore_threshold, "
                            "backbone_options")
    trunk, c, stride = make_trunk(backbone, in_shape, width, halvings, **(backbone_options or {}))
    side = min(in_shape[1:])
    anchors = anchors or [(f * side, f * side) for f in (0.15, 0.3, 0.5)]
    return YOLO(trunk, c, stride, num_classes, torch.tensor(anchors, dtype=torch.float32), score_threshold,
                nms_threshold, max_detections, ignore_threshold)
