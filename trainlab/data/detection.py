"""Detection data: the target container (`Targets`), a dataset (`DetectionSet`), the synthetic
`detection_shapes` set (circles, squares and triangles with boxes, classes and instance masks), and
`shapes-boxes`, that set registered in DATASETS for the trainer (task "detection").

Class ids are 0..K-1 for the K object classes, as in YOLO text files; there is no background id in
the data. A detector that needs a background class adds it itself (faster_rcnn's head puts it at
column 0 of its scores and shifts the object classes by one, inside the model).

Targets of a batch are padded tensors, not a list of dicts: (N, M, 4) boxes and (N, M) labels, M the
largest object count, with label -1 in the unused slots and the real objects first. Slicing a batch is
one indexing op, augmentation moves every box of every image with tensor ops, and the whole set
stays one tensor in memory (2 cores: no DataLoader). `Targets.image(i)` gives one image's objects.

The trainer's form (a Split's y, what the loop slices by index): one float32 tensor (N, M, 5), rows
(x1, y1, x2, y2, class) with class -1 in the empty slots, from `Targets.to_tensor()`; with instance
masks (N, M, 5 + H W), each object's mask (0 or 1) flattened after its class (4 bytes a pixel: 64 MB
for 1000 images of 64x64 with 4 slots, so masks are asked for, `masks: true`, not made by default).

    >>> ds = detection_shapes(n=8, size=64, seed=0)
    >>> ds.images.shape, ds.images.dtype, ds.classes
    (torch.Size([8, 3, 64, 64]), torch.uint8, ('circle', 'square', 'triangle'))
    >>> ds.targets.image(0)["boxes"].shape[1]
    4
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch

from ..errors import check
from .core import DATASETS

DETECTION_CLASSES = ("circle", "square", "triangle")  # class ids 0, 1, 2
_CHUNK = 256  # images drawn per generator: bounds the memory of the (chunk, M, H, W) temporaries


@dataclass
class Targets:
    """The objects of N images, padded to M slots per image.

    boxes  (N, M, 4) float32, (x1, y1, x2, y2) in pixels; rows of padding slots are 0.
    labels (N, M) int64, class ids 0..K-1; -1 marks a padding slot. Real objects come first.
    masks  (N, M, H, W) bool instance masks, or None.
    """

    boxes: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor | None = None

    @property
    def valid(self) -> torch.Tensor:
        """(N, M) bool: which slots hold an object."""
        return self.labels >= 0

    @property
    def counts(self) -> torch.Tensor:
        """(N,) int64: objects per image."""
        return self.valid.sum(1)

    def __len__(self) -> int:
        return self.labels.shape[0]

    def __getitem__(self, idx) -> "Targets":
        """The targets of a subset of images: an int, slice, index tensor or list."""
        if isinstance(idx, int):
            idx = slice(idx, idx + 1)
        return Targets(self.boxes[idx], self.labels[idx], None if self.masks is None else self.masks[idx])

    def image(self, i: int) -> dict[str, torch.Tensor]:
        """One image's objects: {"boxes": (n, 4), "labels": (n,), "masks": (n, H, W) if any}."""
        keep = self.labels[i] >= 0
        out = {"boxes": self.boxes[i][keep], "labels": self.labels[i][keep]}
        if self.masks is not None:
            out["masks"] = self.masks[i][keep]
        return out

    def per_image(self) -> list[dict[str, torch.Tensor]]:
        return [self.image(i) for i in range(len(self))]

    def to(self, device) -> "Targets":
        return Targets(self.boxes.to(device), self.labels.to(device),
                       None if self.masks is None else self.masks.to(device))

    def compact(self) -> "Targets":
        """Real objects first in each row (stable), padding rows zeroed, M cut to the largest count."""
        order = torch.argsort((~self.valid).to(torch.int8), dim=1, stable=True)  # (N, M) valid slots first
        m = max(int(self.counts.max()) if len(self) else 0, 1)
        order = order[:, :m]
        labels = self.labels.gather(1, order)
        boxes = self.boxes.gather(1, order[..., None].expand(-1, -1, 4)) * (labels >= 0)[..., None]
        masks = None
        if self.masks is not None:
            masks = self.masks[torch.arange(len(self))[:, None], order] & (labels >= 0)[..., None, None]
        return Targets(boxes, labels, masks)

    def to_tensor(self) -> torch.Tensor:
        """The trainer's padded tensor: float32 (N, M, 5) rows (x1, y1, x2, y2, class), class -1 in empty
        slots (their boxes 0); with masks (N, M, 5 + H W), each mask flattened after the class."""
        valid = self.valid[..., None]
        cols = [self.boxes.float() * valid, torch.where(valid, self.labels[..., None], -1).float()]
        if self.masks is not None:
            cols.append((self.masks.flatten(2) & valid).float())
        return torch.cat(cols, -1)

    @staticmethod
    def from_tensor(y: torch.Tensor, size: tuple[int, int] | None = None) -> "Targets":
        """The inverse of `to_tensor`: y (N, M, 5 [+ H W]); size (H, W) shapes the masks (default square)."""
        check(y.dim() == 3 and y.shape[-1] >= 5, f"detection targets must be (N, M, 5 + ...) rows (x1, y1, x2, y2, "
              f"class), got shape {tuple(y.shape)}")
        labels = y[..., 4].long()
        labels = torch.where(labels >= 0, labels, -1)
        masks = None
        if y.shape[-1] > 5:
            h, w = size if size is not None else (int(round((y.shape[-1] - 5) ** 0.5)),) * 2
            check(h * w == y.shape[-1] - 5, f"detection targets carry {y.shape[-1] - 5} mask values per object, "
                  f"not {h}x{w}")
            masks = y[..., 5:].reshape(*y.shape[:2], h, w) > 0.5
        return Targets(y[..., :4].float(), labels, masks)

    @staticmethod
    def from_lists(boxes: Sequence, labels: Sequence, masks: Sequence | None = None) -> "Targets":
        """Pad per-image (n_i, 4) boxes, (n_i,) labels and optional (n_i, H, W) masks into one Targets."""
        m = max([len(b) for b in labels] + [1])
        n = len(labels)
        tb, tl = torch.zeros(n, m, 4), torch.full((n, m), -1, dtype=torch.int64)
        tm = None
        if masks is not None:
            h, w = next((np.shape(x)[-2:] for x in masks if len(x)), (0, 0))
            tm = torch.zeros(n, m, h, w, dtype=torch.bool)
        for i, (b, lab) in enumerate(zip(boxes, labels)):
            k = len(lab)
            if k:
                tb[i, :k] = torch.as_tensor(np.asarray(b, dtype=np.float32).reshape(k, 4))
                tl[i, :k] = torch.as_tensor(np.asarray(lab, dtype=np.int64))
                if tm is not None:
                    tm[i, :k] = torch.as_tensor(np.asarray(masks[i], dtype=bool))
        return Targets(tb, tl, tm)


@dataclass
class DetectionSet:
    """Images (N, C, H, W) uint8, their Targets, and the class names of ids 0..K-1."""

    images: torch.Tensor
    targets: Targets
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, idx) -> "DetectionSet":
        if isinstance(idx, int):
            idx = slice(idx, idx + 1)
        return replace(self, images=self.images[idx], targets=self.targets[idx])

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def detection_shapes(n: int = 1000, size: int = 64, channels: int = 3, max_objects: int = 4,
                     min_radius: float = 0.08, max_radius: float = 0.2, max_overlap: float = 0.3,
                     masks: bool = True, stretch: float = 1.0, seed: int = 0) -> DetectionSet:
    """n images (C, size, size) uint8, each with 1..max_objects circles, squares and triangles.

    An object's half-size r is uniform in [min_radius, max_radius] x size pixels, its colour random
    (so the class is the shape, not the colour), squares and triangles randomly rotated, the whole
    shape inside the image. Objects may overlap: a placement is accepted if its outer box (centre
    +- 1.2 r) covers at most max_overlap of the smaller of itself and each earlier outer box
    (intersection over the smaller area; 10 tries, then the slot stays empty); a later object covers
    an earlier one. The instance mask is an object's visible pixels and its box the tight box of that
    mask (x2 = last column + 1), so boxes, masks and pixels agree. Gaussian noise (sigma 10 in 0..255
    units) is added. Draws come from numpy default_rng([seed, chunk]), one generator per chunk of 256
    images (a chunk's arrays stay small), so the same arguments give the same arrays on every machine.
    stretch > 1 draws objects of several shapes: each (after its rotation) is stretched by sqrt(a) along
    x and shrunk by sqrt(a) along y, its aspect a log-uniform in [1 / stretch, stretch] (a circle becomes an
    ellipse whose box is a times as wide as high; the area stays). stretch = 1 draws nothing more, so the
    images are those of earlier versions.
    """
    check(isinstance(stretch, (int, float)) and 1 <= stretch <= 4, f"stretch={stretch!r} must be a number in "
          "[1, 4] (the largest width / height ratio of an object)")
    parts = [_chunk(min(_CHUNK, n - start), size, channels, max_objects, min_radius, max_radius, max_overlap,
                    float(stretch), np.random.default_rng([seed, start // _CHUNK])) for start in range(0, n, _CHUNK)]
    images = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    vis = np.concatenate([p[1] for p in parts])  # (n, max_objects, H, W) visible masks
    kinds = np.concatenate([p[2] for p in parts])  # (n, max_objects), -1 = no object
    cols, rows = vis.any(2), vis.any(3)  # (n, M, W), (n, M, H): columns / rows the object touches
    x1, x2 = cols.argmax(-1), size - cols[..., ::-1].argmax(-1)  # first column, last column + 1
    y1, y2 = rows.argmax(-1), size - rows[..., ::-1].argmax(-1)
    boxes = np.stack([x1, y1, x2, y2], -1).astype(np.float32) * (kinds >= 0)[..., None]
    t = Targets(torch.from_numpy(boxes), torch.from_numpy(kinds), torch.from_numpy(vis) if masks else None)
    return DetectionSet(images, t.compact(), DETECTION_CLASSES)


def _chunk(n, size, channels, max_objects, r_lo, r_hi, max_overlap, stretch, rng):
    """One chunk: images (n, C, S, S) uint8, visible masks (n, M, S, S) bool, kinds (n, M) int64 (-1 none)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5  # pixel centres (H, W)
    img = rng.uniform(0, 60, (n, channels, 1, 1)).astype(np.float32) * np.ones((1, 1, size, size), np.float32)
    count = rng.integers(1, max_objects + 1, n)
    full = np.zeros((n, max_objects, size, size), dtype=bool)
    kinds = np.full((n, max_objects), -1, dtype=np.int64)
    placed = np.zeros((n, max_objects, 4), dtype=np.float32)  # outer boxes (centre +- 1.2 r) of placed objects
    for slot in range(max_objects):
        kind = rng.integers(0, 3, n)  # 0 circle, 1 square, 2 triangle
        r = rng.uniform(r_lo, r_hi, n) * size  # half-size in pixels
        sx = np.sqrt(np.exp(rng.uniform(-1, 1, n) * np.log(stretch))) if stretch > 1 else np.ones(n)  # (n,)
        # farthest point from the centre along x and y: a rotated square's corner, a triangle's vertex
        reach = 1.2 * r[:, None] * np.stack([sx, 1 / sx], 1)  # (n, 2)
        tries = rng.uniform(0, 1, (n, 10, 2)) * (size - 2 * reach)[:, None] + reach[:, None]
        cand = np.concatenate([tries - reach[:, None], tries + reach[:, None]], -1)  # (n, 10, 4)
        ok = _max_cover(cand, placed[:, :slot]) <= max_overlap  # (n, 10)
        pick = ok.argmax(1)
        use = ok.any(1) & (slot < count)
        cx, cy = tries[np.arange(n), pick].T
        angle = rng.uniform(0, 2 * np.pi, n)
        color = rng.uniform(110, 255, (n, channels)).astype(np.float32)
        if channels == 3:  # saturated colours: scale one random channel down
            color[np.arange(n), rng.integers(0, 3, n)] *= rng.uniform(0.1, 0.6, n).astype(np.float32)
        dx, dy = (xx - cx[:, None, None]) / sx[:, None, None], (yy - cy[:, None, None]) * sx[:, None, None]
        inside = _inside(kind, dx, dy, r, angle) & use[:, None, None]
        full[:, slot], kinds[:, slot] = inside, np.where(use, kind, -1)
        placed[:, slot] = np.where(use[:, None], cand[np.arange(n), pick], 0)
        img = np.where(inside[:, None], color[:, :, None, None], img)
    img = img + rng.normal(0, 10, img.shape).astype(np.float32)  # sensor noise, 0..255 units
    later = np.flip(np.logical_or.accumulate(np.flip(full, 1), 1), 1)  # (n, M, H, W): covered at this slot or later
    covered = np.concatenate([later[:, 1:], np.zeros_like(later[:, :1])], 1)  # by a later slot only
    vis = full & ~covered
    kinds = np.where(vis.any((2, 3)), kinds, -1)  # (max_overlap < 1 keeps most of every object visible)
    return np.clip(np.round(img), 0, 255).astype(np.uint8), vis, kinds


def _max_cover(cand: np.ndarray, placed: np.ndarray) -> np.ndarray:
    """(n, T, 4) candidates, (n, P, 4) placed boxes (zeros = none) -> (n, T): the largest intersection of a
    candidate with a placed box, over the smaller of the two areas (IoU would let a small box hide inside a big one)."""
    if placed.shape[1] == 0:
        return np.zeros(cand.shape[:2], dtype=np.float32)
    c, p = cand[:, :, None], placed[:, None]  # (n, T, 1, 4), (n, 1, P, 4)
    iw = np.clip(np.minimum(c[..., 2], p[..., 2]) - np.maximum(c[..., 0], p[..., 0]), 0, None)
    ih = np.clip(np.minimum(c[..., 3], p[..., 3]) - np.maximum(c[..., 1], p[..., 1]), 0, None)
    inter = iw * ih
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return (inter / np.maximum(np.minimum(area(c), area(p)), 1e-9)).max(-1)


def _inside(kind, dx, dy, r, angle) -> np.ndarray:
    """Boolean (n, H, W): is each pixel (offset dx, dy from the centre) inside shape `kind` (0, 1, 2).

    The same shapes as trainlab.data.synthetic.shapes (a square of half-side 0.85 r, an equilateral
    triangle of inradius 0.6 r) with class ids from 0; a stretched object comes in as stretched offsets.
    """
    r, c, s = r[:, None, None], np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u, v = c * dx + s * dy, -s * dx + c * dy  # rotated coordinates
    circle = dx**2 + dy**2 <= r**2
    square = (np.abs(u) <= 0.85 * r) & (np.abs(v) <= 0.85 * r)  # 0.85: similar area to the circle
    tri = np.ones_like(circle)
    for k in range(3):  # inside three half-planes
        a = 2 * np.pi * k / 3
        tri &= u * np.cos(a) + v * np.sin(a) <= 0.6 * r
    k = kind[:, None, None]
    return np.where(k == 0, circle, np.where(k == 1, square, tri))


@DATASETS.register("shapes-boxes", description="detection: 3x64x64 images (n=2000, size=64) with 1..4 circles, "
                   "squares and triangles, their boxes and classes (masks=true adds instance masks; stretch > 1 "
                   "elongates them); test = fixed 20%")
def shapes_boxes(n: int = 2000, size: int = 64, channels: int = 3, max_objects: int = 4, masks: bool = False,
                 stretch: float = 1.0, data_seed: int = 0) -> dict:
    """`detection_shapes` as a trainer's dataset: x uint8 (n, C, size, size), y the padded targets (n, M, 5)
    (`Targets.to_tensor`; with masks (n, M, 5 + size^2))."""
    check(isinstance(n, int) and n >= 10, f"shapes-boxes: n={n!r} must be an integer of at least 10")
    check(channels in (1, 3) and isinstance(size, int) and size >= 16,
          f"shapes-boxes: channels={channels!r} must be 1 or 3 and size={size!r} an integer of at least 16")
    check(isinstance(max_objects, int) and max_objects >= 1, f"shapes-boxes: max_objects={max_objects!r} must be an "
          "integer >= 1")
    ds = detection_shapes(n=n, size=size, channels=channels, max_objects=max_objects, masks=bool(masks),
                          stretch=stretch, seed=data_seed)
    return {"train": (ds.images.numpy(), ds.targets.to_tensor().numpy()), "test": None, "classes": list(ds.classes),
            "task": "detection"}
