"""Batched, seeded augmentation for detection: the pixels, the boxes and the masks move together.

Every op here is an axis-aligned map of each image, x' = a x + b and y' = c y + d in pixels (a, c < 0
for flips), so a box's corners map to the corners of the moved box exactly: the new box is as tight
as the old one. Ops that tilt the axes (rotate, shear, elastic, perspective) cannot do that: the
object's new box is not the moved box's corners, and the enclosing box of the moved corners is loose
by up to 40% of its side. `check_detection_ops` refuses them in one line.

The ops of a pipeline are composed into one map per image and applied with one grid_sample (bilinear
for images, nearest for masks, zeros outside = background). Box rule: boxes are clipped to the image,
and an object is dropped (label -1, then Targets.compact) when less than `min_visible` (0.5) of its box
area stays inside or its clipped box is under 1 pixel wide or high: half an object is still an object
to find, a sliver at the border is not. A clipped box is the moved box cut at the border, which can be
looser than the visible part of a round or tilted object (a circle's clipped corner).

Op names and magnitudes follow trainlab's image augmentation (`crop:p=1:magnitude=4`):
    hflip, vflip      mirror (p only)
    crop          m   shift by a whole number of pixels in [-m, m] per axis (pad and crop back; m=4)
    translate     m   shift by u m size per axis, u uniform in [-1, 1] (m=0.1)
    scale         m   zoom about the image centre by a factor in [1 - m, 1 + m] (m=0.25)
    resized_crop  m   zoom by a factor z in [1 - m, 1 + m] about a random point: z > 1 cuts a random window
                      of side size / z and enlarges it (the random crop), z < 1 shrinks the image into a random spot

    >>> aug = DetectionAugment.from_specs(["hflip", "resized_crop:p=0.5:magnitude=0.3"])
    >>> images, targets = aug(images, targets, torch.Generator().manual_seed(0))  # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F

from ...errors import TrainlabError, check
from ..detection import Targets

GEOMETRIC = {"hflip": (0.5, 0.0), "vflip": (0.5, 0.0), "crop": (1.0, 4.0), "translate": (0.5, 0.1),
             "scale": (0.5, 0.25), "resized_crop": (0.5, 0.25)}  # name -> default (p, magnitude)
# trainlab's pixel-only ops: they move no pixel, so boxes stay valid; they run in the image pipeline
PIXEL_ONLY = ("brightness", "contrast", "color_jitter", "noise", "blur", "sobel", "cutout")
REFUSED = {
    "rotate": "a rotated object's box is not the rotated box's corners, and their enclosing box is loose",
    "shear": "a sheared box is a parallelogram; its enclosing box is loose",
    "elastic": "a locally warped object has no box computable from the old one",
    "perspective": "a box under perspective is a quadrilateral; its enclosing box is loose",
    "affine": "a general affine map tilts the axes; boxes become parallelograms",
}


def _spec(s: str | dict) -> dict:
    """'crop:p=0.5:magnitude=4' (or 'crop:4', or a dict) -> {'name': 'crop', 'p': 0.5, 'magnitude': 4.0}."""
    if isinstance(s, dict):
        return dict(s)
    parts = [t.strip() for t in str(s).split(":")]
    out: dict = {"name": parts[0]}
    for t in parts[1:]:
        key, eq, val = t.partition("=")
        key, val = (key.strip(), val.strip()) if eq else ("magnitude", key.strip())
        try:
            out[key] = float(val)
        except ValueError:
            raise TrainlabError(f"augmentation spec {s!r}: {key}={val!r} is not a number; "
                                "write e.g. 'resized_crop:p=0.5:magnitude=0.3'") from None
    return out


def check_detection_ops(specs: Sequence[str | dict]) -> list[str]:
    """The op names of `specs`, or a one-line TrainlabError for an op that cannot keep boxes valid.

    >>> check_detection_ops(["hflip", "crop:4", "brightness"])
    ['hflip', 'crop', 'brightness']
    """
    names = []
    for s in specs:
        name = _spec(s)["name"]
        safe = ", ".join(list(GEOMETRIC) + list(PIXEL_ONLY))
        if name in REFUSED:
            raise TrainlabError(f"augmentation {name!r} cannot keep boxes valid for detection ({REFUSED[name]}); "
                                f"remove it, and use box-safe ops: {safe}")
        check(name in GEOMETRIC or name in PIXEL_ONLY,
              f"unknown augmentation {name!r} for detection; choose from: {safe}")
        names.append(name)
    return names


@dataclass
class DetectionAugment:
    """A sequence of geometric ops [(name, p, magnitude)], applied per image with probability p each."""

    ops: list[tuple[str, float, float]] = field(default_factory=lambda: [("hflip", 0.5, 0.0)])
    min_visible: float = 0.5  # keep a box if at least this fraction of its area stays in the image

    @staticmethod
    def from_specs(specs: Sequence[str | dict], min_visible: float = 0.5) -> "DetectionAugment":
        """Validated ops from 'name:p=..:magnitude=..' specs; pixel-only ops belong to the image pipeline."""
        ops = []
        for name, s in zip(check_detection_ops(specs), specs):
            d = _spec(s)
            check(name in GEOMETRIC, f"augmentation {name!r} moves no pixel, so boxes need no care: apply it "
                  "with the image augmentation (trainlab.data.augment), not DetectionAugment")
            bad = sorted(set(d) - {"name", "p", "magnitude"})
            if bad:
                raise TrainlabError(f"augmentation {name!r} has no option {bad[0]!r}; it takes p and magnitude")
            p, m = d.get("p", GEOMETRIC[name][0]), d.get("magnitude", GEOMETRIC[name][1])
            check(0 <= p <= 1, f"augmentation {name!r}: p={p:g} must be a probability in [0, 1]")
            zoom = name in ("scale", "resized_crop")  # a zoom factor 1 - m must stay > 0
            check(0 <= m < (1 if zoom else float("inf")),
                  f"augmentation {name!r}: magnitude={m:g} must be >= 0" + (" and < 1" if zoom else ""))
            ops.append((name, float(p), float(m)))
        check(0 <= min_visible <= 1, f"min_visible={min_visible:g} must be a fraction in [0, 1]")
        return DetectionAugment(ops, min_visible)

    def maps(self, g: torch.Generator, n: int, h: int, w: int) -> torch.Tensor:
        """Per-image maps (n, 4) = (a, b, c, d): x' = a x + b, y' = c y + d, the ops composed in order.

        Every op draws the same random numbers whether or not it fires, so one op's p does not shift
        the draws of the ops after it.
        """
        a, b = torch.ones(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
        c, d = a.clone(), b.clone()
        size = torch.tensor([w, h], dtype=torch.float64)[:, None]  # (2, 1) sizes along x, y
        for name, p, m in self.ops:
            fire = torch.rand(n, generator=g, dtype=torch.float64) < p
            u = torch.rand(2, n, generator=g, dtype=torch.float64) * 2 - 1  # (2, n) uniform in [-1, 1]
            z = 1 + m * torch.rand(n, generator=g, dtype=torch.float64).mul(2).sub(1)  # (n,) zoom factors
            scale, shift = torch.ones(2, n, dtype=torch.float64), torch.zeros(2, n, dtype=torch.float64)
            if name == "hflip":
                scale[0], shift[0] = -1, w
            elif name == "vflip":
                scale[1], shift[1] = -1, h
            elif name == "crop":
                k = int(round(m))
                shift = torch.floor((u + 1) / 2 * (2 * k + 1)).clamp(max=2 * k) - k  # whole pixels in [-k, k]
            elif name == "translate":
                shift = u * m * size
            elif name == "scale":  # x' = z (x - W/2) + W/2
                scale = z.expand(2, n)
                shift = (1 - z) * size / 2
            elif name == "resized_crop":  # x' = z (x - x0), x0 uniform between 0 and W - W / z
                scale = z.expand(2, n)
                x0 = (u + 1) / 2 * size * (1 - 1 / z)
                shift = -z * x0
            scale = torch.where(fire, scale, 1.0)
            shift = torch.where(fire, shift, 0.0)
            a, b = scale[0] * a, scale[0] * b + shift[0]  # compose: x' = s (a x + b) + t
            c, d = scale[1] * c, scale[1] * d + shift[1]
        return torch.stack([a, b, c, d], 1)

    def __call__(self, images: torch.Tensor, targets: Targets, g: torch.Generator) -> tuple[torch.Tensor, Targets]:
        """images (N, C, H, W) float -> the moved images, and the moved, clipped, compacted targets."""
        n, _, h, w = images.shape
        m = self.maps(g, n, h, w)
        return warp(images, m, "bilinear"), move_targets(targets, m, (h, w), self.min_visible)


def warp(x: torch.Tensor, maps: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H, W): output pixel (x', y') samples the input at ((x' - b) / a, (y' - d) / c)."""
    n, _, h, w = x.shape
    a, b, c, d = maps.to(torch.float64).unbind(1)
    xs = torch.arange(w, dtype=torch.float64) + 0.5  # output pixel centres
    ys = torch.arange(h, dtype=torch.float64) + 0.5
    gx = ((xs[None] - b[:, None]) / a[:, None]) * (2 / w) - 1  # (N, W) input x in grid_sample's [-1, 1]
    gy = ((ys[None] - d[:, None]) / c[:, None]) * (2 / h) - 1  # (N, H)
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), -1)  # (N, H, W, 2)
    dtype = x.dtype if x.is_floating_point() else torch.float32
    out = F.grid_sample(x.to(dtype), grid.to(dtype=dtype, device=x.device), mode=mode, padding_mode="zeros",
                        align_corners=False)
    return out if x.is_floating_point() else out.round().to(x.dtype)


def move_targets(t: Targets, maps: torch.Tensor, size: tuple[int, int], min_visible: float = 0.5) -> Targets:
    """Boxes through the maps (corners re-sorted after a flip), clipped, dropped by the box rule; masks warped."""
    h, w = size
    a, b, c, d = maps.to(t.boxes.dtype).to(t.boxes.device)[:, None, :].unbind(-1)  # each (N, 1)
    xa, xb = a * t.boxes[..., 0] + b, a * t.boxes[..., 2] + b
    ya, yb = c * t.boxes[..., 1] + d, c * t.boxes[..., 3] + d
    moved = torch.stack([torch.minimum(xa, xb), torch.minimum(ya, yb),
                         torch.maximum(xa, xb), torch.maximum(ya, yb)], -1)  # a flip swaps x1 and x2
    clipped = torch.stack([moved[..., 0].clamp(0, w), moved[..., 1].clamp(0, h),
                           moved[..., 2].clamp(0, w), moved[..., 3].clamp(0, h)], -1)
    cw, ch = clipped[..., 2] - clipped[..., 0], clipped[..., 3] - clipped[..., 1]
    area = (moved[..., 2] - moved[..., 0]) * (moved[..., 3] - moved[..., 1])
    keep = t.valid & (cw >= 1) & (ch >= 1) & (cw * ch >= min_visible * area)
    labels = torch.where(keep, t.labels, -1)
    masks = None
    if t.masks is not None:
        n, k = t.masks.shape[:2]
        warped = warp(t.masks.reshape(n, k, h, w).float(), maps, "nearest") > 0.5  # (N, M, H, W)
        masks = warped & keep[..., None, None]
    return Targets(clipped * keep[..., None], labels, masks).compact()
