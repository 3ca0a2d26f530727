"""What the detectors share: the contract, the convolutional trunk, and the last step of inference.

A detector is a model registered in MODELS with the tag "detection" (`list_models("detection")`):
`fn(in_shape, num_classes, **options) -> nn.Module`, like every builder of the zoo, whose
`forward(images, targets=None)`
    with targets: a dict of named scalar losses (names in `model.loss_names`), their sum the
        training loss. targets are a `trainlab.data.detection.Targets` or the padded tensor the
        trainer slices, float32 (B, M, 5) rows (x1, y1, x2, y2, class), class -1 in empty slots
        (with instance masks flattened after the class: (B, M, 5 + H W));
    without: a list of per-image dicts {"boxes" (D, 4) pixels, "scores" (D,), "labels" (D,) 0..K-1}
        after a score threshold and per-class NMS, best first, at most max_detections.
images are (B, C, H, W), uint8 (divided by 255 here) or float (the trainer's preprocessed batch).
Detectors have no classifier `head` of K outputs, so `replace_head` and the classification checks
do not apply to them; the trainer calls them with targets (trainlab.training.loop).

    >>> net = create_model("yolo", in_shape=(3, 64, 64), num_classes=3)
    >>> losses = net(images, targets)                # {"box": ..., "objectness": ..., "class": ...}   # doctest: +SKIP
    >>> detections = net.eval()(images)              # [{"boxes", "scores", "labels"}, ...]           # doctest: +SKIP
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

import torch
from torch import nn

from ..data.detection import Targets
from ..errors import TrainlabError, check
from ..nn.boxes import batched_nms, clip_boxes
from ..registry import check_kwargs
from .blocks import ConvNormAct
from .common import MODELS, InputTooSmall

DETECTION = "detection"  # the MODELS tag of a detector


def as_targets(targets: Targets | torch.Tensor, size: tuple[int, int], device: torch.device) -> Targets:
    """Targets on `device` from a Targets or the trainer's padded tensor (B, M, 5 [+ H W])."""
    t = targets if isinstance(targets, Targets) else Targets.from_tensor(targets, size)
    return t.to(device)


def make_trunk(backbone: str, in_shape: Sequence[int], width: int = 16, halvings: int = 3,
               **options: Any) -> tuple[nn.Module, int, float]:
    """A feature extractor (B, C, H, W) -> (B, C_f, H / s, W / s); returns (module, C_f, stride s).

    "tiny": `halvings` blocks of conv-BN-ReLU + 2x2 max pool at widths w, 2w, 4w, ... (w = width),
    then one more conv-BN-ReLU at the last width (more context per cell without shrinking the map).
    Any other name is a trainlab model (resnet20, vgg11, convnet, ...) cut before its global pooling,
    flatten or classifier head: its top-level children up to the first of those (`options` go to
    the model's builder). The stride is measured by running a zero image through it.
    """
    c, h, w = in_shape
    if backbone == "tiny":
        check(isinstance(halvings, int) and halvings >= 1, f"halvings={halvings!r} must be an integer >= 1")
        check(isinstance(width, int) and width >= 1, f"width={width!r} must be an integer >= 1")
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
        MODELS.get(backbone)  # an unknown name: one line with the choices
        check(backbone not in MODELS.list(DETECTION),
              f"backbone {backbone!r} is a detector; use tiny or a classifier's trunk (resnet20, vgg11, convnet)")
        check_kwargs(f"backbone {backbone!r}", MODELS.get(backbone), options, skip=("in_shape", "num_classes"))
        try:
            model = MODELS.create(backbone, tuple(in_shape), 2, **options)
        except InputTooSmall as e:
            raise TrainlabError(f"backbone {backbone!r} {e}; use larger images or backbone tiny") from None
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
           score_threshold: float, nms_threshold: float | None, max_detections: int, pre_nms: int = 1000) -> dict:
    """One image's candidates (N, 4), (N,), (N,) -> its detections: clip, score threshold, the best
    pre_nms, per-class NMS, the best max_detections. nms_threshold=None skips NMS (every candidate
    above the threshold is kept, best first): what the duplicates NMS removes look like."""
    boxes = clip_boxes(boxes, size)
    keep = (scores >= score_threshold) & (boxes[:, 2] - boxes[:, 0] >= 1e-2) & (boxes[:, 3] - boxes[:, 1] >= 1e-2)
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    top = torch.argsort(scores, descending=True, stable=True)[:pre_nms]
    boxes, scores, labels = boxes[top], scores[top], labels[top]
    if nms_threshold is None:
        keep = torch.arange(min(len(boxes), max_detections), device=boxes.device)
    else:
        keep = batched_nms(boxes, scores, labels, nms_threshold, max_keep=max_detections)
    return {"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]}


def check_threshold(name: str, value: Any, none_ok: bool = False) -> None:
    """A threshold in [0, 1] (None too where it switches the step off), or a one-line error."""
    ok = (value is None and none_ok) or (isinstance(value, (int, float)) and not isinstance(value, bool)
                                         and 0 <= value <= 1)
    check(ok, f"{name}={value!r} must be a number in [0, 1]" + (" or null (no NMS)" if none_ok else ""))
