"""Detection targets moved with the pixels: the same `augment:` ops, the boxes (and instance masks) follow.

An augmentation applies its geometric ops as composed per-image maps (`geometric.warp`: output pixel
-> input pixel, in centred pixel units). The box-safe ops (hflip, vflip, crop, translate, resized_crop)
compose to an axis-aligned map x_in - W/2 = a (x_out - W/2) + t_x (a < 0 for a flip), and likewise for y,
so a box's corners map to the corners of the moved box exactly: the new box is as tight as the old one:
    x_out = (x_in - W/2 - t_x) / a + W/2.
Ops that tilt the axes (rotate, shear) cannot do that: an object's new box is not the moved box's
corners, and the enclosing box of the moved corners is loose by up to 40% of its side. Each op says so
(`Op.breaks_boxes`), and `check_box_ops` refuses it for detection in one line. Photometric ops move no
pixel, so boxes need no care (cutout may hide part of an object; its box stays what it was).

Box rule: boxes are clipped to the image, and an object is dropped (class -1, box zeros) when less than
`min_visible` (0.5) of its box area stays inside or its clipped box is under 1 pixel wide or high: half
an object is still an object to find, a sliver at the border is not. A clipped box is the moved box
cut at the border, which can be looser than the visible part of a round or tilted object. Instance
masks (the columns after the class, trainlab.data.detection) are warped with nearest sampling.

    >>> aug = build_augmentation(["hflip", "resized_crop:p=0.5:magnitude=0.3"])
    >>> x, y = aug(images, torch.Generator().manual_seed(0), boxes=targets)  # doctest: +SKIP
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...errors import TrainlabError, check
from .geometric import _sampling_grid
from .ops import AUGMENTATIONS

MIN_VISIBLE = 0.5  # keep an object if at least this fraction of its box area stays in the image


def box_safe_ops() -> list[str]:
    """The registered ops that keep boxes valid, in registry order."""
    return [name for name in AUGMENTATIONS.list() if not AUGMENTATIONS.get(name).breaks_boxes]


def check_box_ops(aug) -> None:
    """Refuse, in one line, an op of `aug` (an Augmentation) that cannot keep boxes valid.

    >>> check_box_ops(build_augmentation(["hflip", "rotate"]))  # doctest: +SKIP
    TrainlabError: augmentation 'rotate' cannot keep boxes valid for detection (...); remove it ...
    """
    for op in aug.ops:
        if op.breaks_boxes:
            raise TrainlabError(f"augmentation {op.name!r} cannot keep boxes valid for detection ({op.breaks_boxes}); "
                                f"remove it, and use box-safe ops: {', '.join(box_safe_ops())}")


def move_targets(y: torch.Tensor, theta: torch.Tensor, size: tuple[int, int],
                 min_visible: float = MIN_VISIBLE) -> torch.Tensor:
    """Padded targets y (B, M, 5 [+ H W]) through the maps theta (B, 3, 3) (output -> input, centred pixel
    units, axis-aligned), clipped and dropped by the box rule; instance masks warped. Same shape out."""
    h, w = size
    th = theta.to(torch.float64)
    check(bool((th[:, 0, 1] == 0).all() and (th[:, 1, 0] == 0).all()),
          "boxes can follow only flips, crops, shifts and zooms (axis-aligned maps); remove rotate and shear")
    a, tx, d, ty = (th[:, i, j].to(y.device)[:, None] for i, j in ((0, 0), (0, 2), (1, 1), (1, 2)))  # each (B, 1)
    b = y[..., :4].to(torch.float64)
    xa, xb = (b[..., 0] - w / 2 - tx) / a + w / 2, (b[..., 2] - w / 2 - tx) / a + w / 2  # (B, M)
    ya, yb = (b[..., 1] - h / 2 - ty) / d + h / 2, (b[..., 3] - h / 2 - ty) / d + h / 2
    moved = torch.stack([torch.minimum(xa, xb), torch.minimum(ya, yb),
                         torch.maximum(xa, xb), torch.maximum(ya, yb)], -1)  # a flip swaps x1 and x2
    clipped = torch.stack([moved[..., 0].clamp(0, w), moved[..., 1].clamp(0, h),
                           moved[..., 2].clamp(0, w), moved[..., 3].clamp(0, h)], -1)
    cw, ch = clipped[..., 2] - clipped[..., 0], clipped[..., 3] - clipped[..., 1]
    area = (moved[..., 2] - moved[..., 0]) * (moved[..., 3] - moved[..., 1])
    keep = (y[..., 4] >= 0) & (cw >= 1) & (ch >= 1) & (cw * ch >= min_visible * area)  # (B, M)
    cols = [(clipped * keep[..., None]).to(y.dtype), torch.where(keep, y[..., 4], -1.0)[..., None]]
    if y.shape[-1] > 5:  # instance masks: (B, M, H W) -> warped with the pixels, nearest sampling
        bsz, m = y.shape[:2]
        grid = _sampling_grid(th.to(device=y.device, dtype=y.dtype), h, w)  # (B, H, W, 2)
        masks = F.grid_sample(y[..., 5:].reshape(bsz, m, h, w), grid, mode="nearest", padding_mode="zeros",
                              align_corners=False)
        cols.append(masks.reshape(bsz, m, h * w) * keep[..., None])
    return torch.cat(cols, -1)
