"""Two-stage detectors: `faster_rcnn` (Ren et al. 2015) and `mask_rcnn` (He et al. 2017).

images -> trunk -> features (B, C, h, w), stride s
  RPN:   3x3 conv + ReLU, then per cell and anchor an objectness logit and 4 offsets (boxes.encode)
         -> decode, clip, the best pre_nms, NMS at 0.7, the best post_nms: the proposals (no gradient
         flows through their coordinates: "approximate joint training" of the paper)
  head:  RoI align of each proposal to roi_size x roi_size, two fully connected layers, then K + 1
         class scores (0 = background, k + 1 = class k) and class-specific box offsets (weights 10, 10, 5, 5)
  mask:  (mask_rcnn) RoI align to mask_size x mask_size, two 3x3 convs, a 1x1 conv to K mask logits;
         the channel of the RoI's class is its mask (losses.mask_loss)
Training is end to end: one backward through rpn_objectness + rpn_box + roi_class + roi_box (+ mask).
Sampling of anchors and RoIs uses torch's global generator (seed it with torch.manual_seed).

    >>> net = create_model("faster_rcnn", in_shape=(3, 64, 64), num_classes=3)
    >>> sorted(net(images, targets))                                    # doctest: +SKIP
    ['roi_box', 'roi_class', 'rpn_box', 'rpn_objectness']
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data.detection import Targets
from ..errors import check
from ..nn.boxes import clip_boxes, decode, make_anchors, nms, roi_align
from .common import MODELS
from .detection_losses import mask_loss, roi_loss, roi_targets, rpn_loss
from .detector import DETECTION, as_targets, check_threshold, make_trunk, select, to_float

HEAD_WEIGHTS = (10.0, 10.0, 5.0, 5.0)  # box-head offsets scaled to about unit variance (Fast R-CNN)


class RPN(nn.Module):
    """(B, C, h, w) -> objectness (B, h w A) logits and offsets (B, h w A, 4), rows in make_anchors' order."""

    def __init__(self, channels: int, num_anchors: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.objectness = nn.Conv2d(channels, num_anchors, 1)
        self.deltas = nn.Conv2d(channels, 4 * num_anchors, 1)
        for layer in (self.conv, self.objectness, self.deltas):  # the paper's init: N(0, 0.01^2), zero bias
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.relu(self.conv(f))  # (B, C, h, w)
        b, _, h, w = x.shape
        obj = self.objectness(x).permute(0, 2, 3, 1).reshape(b, -1)  # (B, h w A)
        d = self.deltas(x).view(b, -1, 4, h, w).permute(0, 3, 4, 1, 2).reshape(b, -1, 4)  # (B, h w A, 4)
        return obj, d


class BoxHead(nn.Module):
    """RoI features (R, C, p, p) -> class logits (R, K + 1) and class-specific offsets (R, K, 4)."""

    def __init__(self, channels: int, roi_size: int, hidden: int, num_classes: int):
        super().__init__()
        self.fc1 = nn.Linear(channels * roi_size * roi_size, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.cls = nn.Linear(hidden, num_classes + 1)
        self.box = nn.Linear(hidden, 4 * num_classes)
        nn.init.normal_(self.cls.weight, std=0.01)
        nn.init.normal_(self.box.weight, std=0.001)  # start with the proposals as they are
        nn.init.zeros_(self.cls.bias)
        nn.init.zeros_(self.box.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.relu(self.fc2(F.relu(self.fc1(x.flatten(1)))))  # (R, hidden)
        return self.cls(x), self.box(x).view(len(x), -1, 4)


class MaskHead(nn.Sequential):
    """RoI features (R, C, m, m) -> mask logits (R, K, m, m): two 3x3 conv + ReLU, then a 1x1 conv."""

    def __init__(self, channels: int, hidden: int, num_classes: int):
        super().__init__(nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, num_classes, 1))


class FasterRCNN(nn.Module):
    """trunk -> RPN -> proposals -> RoI align -> box head (and, for mask_rcnn, the mask head); see the module
    docstring. `o` holds the options of `faster_rcnn` (sampling sizes, thresholds, head widths)."""

    def __init__(self, trunk: nn.Module, channels: int, stride: float, num_classes: int, sizes: Sequence[float],
                 ratios: Sequence[float], opts: dict, mask_head: bool = False):
        super().__init__()
        self.trunk, self.stride, self.num_classes = trunk, stride, num_classes
        self.sizes, self.ratios, self.o = tuple(sizes), tuple(ratios), opts
        self.rpn = RPN(channels, len(self.sizes) * len(self.ratios))
        self.box_head = BoxHead(channels, opts["roi_size"], opts["hidden"], num_classes)
        self.mask_head = MaskHead(channels, opts["mask_hidden"], num_classes) if mask_head else None
        self.loss_names = ("rpn_objectness", "rpn_box", "roi_class", "roi_box") + (("mask",) if mask_head else ())

    @property
    def nms_threshold(self) -> float | None:
        """The IoU of the final per-class NMS (None: no NMS), settable on a trained model like yolo's."""
        return self.o["nms_threshold"]

    @nms_threshold.setter
    def nms_threshold(self, value: float | None) -> None:
        check_threshold("nms_threshold", value, none_ok=True)
        self.o["nms_threshold"] = value

    def anchors(self, f: torch.Tensor) -> torch.Tensor:
        return make_anchors(f.shape[2], f.shape[3], self.stride, self.sizes, self.ratios).to(f.device)  # (N, 4)

    def proposals(self, obj: torch.Tensor, deltas: torch.Tensor, anchors: torch.Tensor,
                  size: tuple[int, int]) -> list[torch.Tensor]:
        """Per image: decode, clip, drop boxes under 1 px, the best pre_nms, NMS, the best post_nms; detached."""
        mode = "train" if self.training else "test"
        pre, post = self.o[f"pre_nms_{mode}"], self.o[f"post_nms_{mode}"]
        boxes = clip_boxes(decode(deltas.detach(), anchors), size)  # (B, N, 4)
        out = []
        for b, s in zip(boxes, obj.detach()):
            ok = ((b[:, 2] - b[:, 0]) >= 1) & ((b[:, 3] - b[:, 1]) >= 1)
            b, s = b[ok], s[ok]
            top = torch.argsort(s, descending=True, stable=True)[:pre]
            b, s = b[top], s[top]
            out.append(b[nms(b, s, self.o["rpn_nms"], max_keep=post)])
        return out

    def forward(self, images: torch.Tensor, targets: Targets | torch.Tensor | None = None):
        f = self.trunk(to_float(images))  # (B, C, h, w)
        size = tuple(images.shape[-2:])
        anchors = self.anchors(f)
        obj, deltas = self.rpn(f)
        props = self.proposals(obj, deltas, anchors, size)
        scale, o = 1.0 / self.stride, self.o
        if targets is not None:
            targets = as_targets(targets, size, f.device)
            losses = rpn_loss(obj, deltas, anchors, targets, o["rpn_batch"], 0.5)
            rois, t = roi_targets(props, targets, o["roi_batch"], o["roi_positive_fraction"], 0.5, HEAD_WEIGHTS)
            logits, box = self.box_head(roi_align(f, rois, o["roi_size"], scale, o["sampling_ratio"]))
            losses.update(roi_loss(logits, box, t))
            if self.mask_head is not None:
                losses["mask"] = self._mask_loss(f, rois, t, targets)
            return losses
        # inference: score every proposal for every class, keep the good ones per class
        logits, box = self.box_head(roi_align(f, props, o["roi_size"], scale, o["sampling_ratio"]))
        probs = logits.softmax(-1)[:, 1:]  # (R, K) without background
        out, start = [], 0
        for n, p in enumerate(props):
            r = len(p)
            boxes = decode(box[start:start + r], p[:, None, :], HEAD_WEIGHTS)  # (r, K, 4): one box per class
            labels = torch.arange(self.num_classes, device=f.device).expand(r, -1)
            det = select(boxes.reshape(-1, 4), probs[start:start + r].reshape(-1), labels.reshape(-1), size,
                         o["score_threshold"], o["nms_threshold"], o["max_detections"])
            if self.mask_head is not None:
                det["masks"] = self._paste_masks(f[n:n + 1], det, size)
            out.append(det)
            start += r
        return out

    def _mask_loss(self, f: torch.Tensor, rois: list[torch.Tensor], t: dict, targets: Targets) -> torch.Tensor:
        """Mask targets: each foreground RoI's object mask, RoI-aligned to m x m and thresholded at 0.5."""
        check(targets.masks is not None, "mask_rcnn needs instance masks in the targets; use dataset shapes-boxes "
              "with dataset_options: {masks: true}, or faster_rcnn for data with boxes only")
        m = self.o["mask_size"]
        fg_rois, fg_masks, start = [], [], 0
        for n, r in enumerate(rois):
            fg = torch.nonzero(t["labels"][start:start + len(r)] > 0).flatten()
            fg_rois.append(r[fg])
            slot = t["matched"][start:start + len(r)][fg]
            gt = targets.masks[n:n + 1].float()  # (1, M, H, W): the image's masks as channels
            sampled = roi_align(gt, [r[fg]], m, 1.0, 2)  # (F, M, m, m)
            fg_masks.append(sampled[torch.arange(len(fg)), slot] >= 0.5)
            start += len(r)
        labels = t["labels"][t["labels"] > 0] - 1  # in the same order: images, then RoIs within an image
        logits = self.mask_head(roi_align(f, fg_rois, m, 1.0 / self.stride, self.o["sampling_ratio"]))  # (F, K, m, m)
        return mask_loss(logits, labels, torch.cat(fg_masks).float())

    def _paste_masks(self, f: torch.Tensor, det: dict, size: tuple[int, int]) -> torch.Tensor:
        """Mask probabilities of the detections, resampled from their boxes into the image: (D, H, W) bool."""
        h, w = size
        boxes, d, m = det["boxes"], len(det["boxes"]), self.o["mask_size"]
        if d == 0:
            return torch.zeros(0, h, w, dtype=torch.bool, device=f.device)
        logits = self.mask_head(roi_align(f, [boxes], m, 1.0 / self.stride, self.o["sampling_ratio"]))  # (D, K, m, m)
        probs = logits[torch.arange(d), det["labels"]].sigmoid()[:, None]  # (D, 1, m, m)
        bw, bh = (boxes[:, 2] - boxes[:, 0]).clamp(min=1e-3), (boxes[:, 3] - boxes[:, 1]).clamp(min=1e-3)
        xs = torch.arange(w, device=f.device) + 0.5  # pixel centres, mapped into each box's [-1, 1]
        ys = torch.arange(h, device=f.device) + 0.5
        gx = (xs[None] - boxes[:, 0:1]) / bw[:, None] * 2 - 1  # (D, W)
        gy = (ys[None] - boxes[:, 1:2]) / bh[:, None] * 2 - 1  # (D, H)
        grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), -1)  # (D, H, W, 2)
        pasted = F.grid_sample(probs, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return pasted[:, 0] >= 0.5


def _build(in_shape, num_classes, mask, backbone, width, halvings, anchor_sizes, anchor_ratios, backbone_options,
           opts) -> FasterRCNN:
    name = "mask_rcnn" if mask else "faster_rcnn"
    check(len(in_shape) == 3, f"{name} needs image inputs (C, H, W), got {tuple(in_shape)}")
    for key in ("rpn_nms", "roi_positive_fraction", "score_threshold"):
        check_threshold(key, opts[key])
    check_threshold("nms_threshold", opts["nms_threshold"], none_ok=True)
    for key in ("pre_nms_train", "post_nms_train", "pre_nms_test", "post_nms_test", "rpn_batch", "roi_batch",
                "roi_size", "sampling_ratio", "hidden", "mask_size", "mask_hidden", "max_detections"):
        check(isinstance(opts[key], int) and not isinstance(opts[key], bool) and opts[key] >= 1,
              f"{name}: {key}={opts[key]!r} must be an integer >= 1")
    positive = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0  # noqa: E731
    check(anchor_sizes is None or (len(anchor_sizes) > 0 and all(map(positive, anchor_sizes))),
          f"anchor_sizes={anchor_sizes!r} must be a list of sizes in pixels, e.g. [10, 20, 32]")
    check(len(anchor_ratios) > 0 and all(map(positive, anchor_ratios)),
          f"anchor_ratios={anchor_ratios!r} must be a list of height / width ratios, e.g. [0.5, 1, 2]")
    trunk, c, stride = make_trunk(backbone, in_shape, width, halvings, **(backbone_options or {}))
    side = min(in_shape[1:])
    sizes = anchor_sizes or [f * side for f in (0.15, 0.3, 0.5)]
    return FasterRCNN(trunk, c, stride, num_classes, sizes, anchor_ratios, opts, mask_head=mask)


@MODELS.register("faster_rcnn", tags=(DETECTION,), description="detection, two stages: RPN (objectness + offsets "
                 "per anchor) -> NMS proposals -> RoI align -> classifier (K + 1) and box refinement")
def faster_rcnn(in_shape: Sequence[int] = (3, 64, 64), num_classes: int = 3, *, backbone: str = "tiny",
                width: int = 16, halvings: int = 2, anchor_sizes: Sequence[float] | None = None,
                anchor_ratios: Sequence[float] = (0.5, 1.0, 2.0), backbone_options: dict | None = None,
                pre_nms_train: int = 400, post_nms_train: int = 64, pre_nms_test: int = 200, post_nms_test: int = 50,
                rpn_nms: float = 0.7, rpn_batch: int = 256, roi_batch: int = 64, roi_positive_fraction: float = 0.25,
                roi_size: int = 7, sampling_ratio: int = 1, hidden: int = 128, score_threshold: float = 0.05,
                nms_threshold: float | None = 0.5, max_detections: int = 100) -> FasterRCNN:
    """anchor sizes default to 0.15, 0.3, 0.5 of the shorter image side; ratios h / w 0.5, 1, 2 (the paper's).
    halvings=2: a stride-4 map, so an object of 10 pixels still spans a few cells for RoI align.
    RPN: the best pre_nms_* proposals by objectness, NMS at rpn_nms, the best post_nms_* (train / test);
    rpn_batch anchors sampled per image (at most half positive). Head: roi_batch RoIs per image (at most
    roi_positive_fraction foreground), RoI align to roi_size x roi_size, two layers of `hidden` units;
    detections above score_threshold, per-class NMS at nms_threshold (null: none), at most max_detections.
    sampling_ratio=1: one bilinear sample per RoI bin. The bins here are under a feature cell wide (a
    20-pixel object on a stride-4 map is 5 cells over 7 bins), where torchvision's adaptive rule,
    ceil(bin width), also takes 1; 2 costs 4-5 times as much on a CPU."""
    opts = dict(pre_nms_train=pre_nms_train, post_nms_train=post_nms_train, pre_nms_test=pre_nms_test,
                post_nms_test=post_nms_test, rpn_nms=rpn_nms, rpn_batch=rpn_batch, roi_batch=roi_batch,
                roi_positive_fraction=roi_positive_fraction, roi_size=roi_size, sampling_ratio=sampling_ratio,
                hidden=hidden, mask_size=14, mask_hidden=16, score_threshold=score_threshold,
                nms_threshold=nms_threshold, max_detections=max_detections)
    return _build(in_shape, num_classes, False, backbone, width, halvings, anchor_sizes, anchor_ratios,
                  backbone_options, opts)


@MODELS.register("mask_rcnn", tags=(DETECTION,), description="detection and instance masks: faster_rcnn plus a "
                 "mask head (per RoI a mask per class; the RoI's class channel is its instance mask)")
def mask_rcnn(in_shape: Sequence[int] = (3, 64, 64), num_classes: int = 3, *, backbone: str = "tiny",
              width: int = 16, halvings: int = 2, anchor_sizes: Sequence[float] | None = None,
              anchor_ratios: Sequence[float] = (0.5, 1.0, 2.0), backbone_options: dict | None = None,
              pre_nms_train: int = 400, post_nms_train: int = 64, pre_nms_test: int = 200, post_nms_test: int = 50,
              rpn_nms: float = 0.7, rpn_batch: int = 256, roi_batch: int = 64, roi_positive_fraction: float = 0.25,
              roi_size: int = 7, sampling_ratio: int = 1, hidden: int = 128, score_threshold: float = 0.05,
              nms_threshold: float | None = 0.5, max_detections: int = 100, mask_size: int = 14,
              mask_hidden: int = 16) -> FasterRCNN:
    """faster_rcnn's options plus mask_size (14: the m x m mask of each RoI) and mask_hidden (16 channels);
    it trains on targets with instance masks (dataset shapes-boxes with dataset_options: {masks: true})."""
    opts = dict(pre_nms_train=pre_nms_train, post_nms_train=post_nms_train, pre_nms_test=pre_nms_test,
                post_nms_test=post_nms_test, rpn_nms=rpn_nms, rpn_batch=rpn_batch, roi_batch=roi_batch,
                roi_positive_fraction=roi_positive_fraction, roi_size=roi_size, sampling_ratio=sampling_ratio,
                hidden=hidden, mask_size=mask_size, mask_hidden=mask_hidden, score_threshold=score_threshold,
                nms_threshold=nms_threshold, max_detections=max_detections)
    return _build(in_shape, num_classes, True, backbone, width, halvings, anchor_sizes, anchor_ratios,
                  backbone_options, opts)
