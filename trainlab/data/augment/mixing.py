"""Mixing ops: mixup and CutMix blend each chosen image with a partner from the same batch and
blend the two labels by the same weight; random erasing hides a random rectangle (labels kept).

Soft targets. Mixing ops work on targets given as a (B, K) float tensor of class probabilities
(the training loop passes one-hot rows of the class ids) and return them mixed: sample i, mixed
with partner j = partner[i] by weight lam_i, gets the target lam_i t_i + (1 - lam_i) t_j. A
probability tensor rather than a pair of labels with a weight, because ops compose (mixup then
cutmix mixes up to four labels) and cross-entropy takes probabilities directly (label smoothing
included: torch's `F.cross_entropy` with probability targets).

Partners are `torch.randperm(B)` of the augmentation generator (an image may draw itself: then it
stays as it was). lam ~ Beta(alpha, alpha), alpha = the op's magnitude, drawn by numpy's generator
seeded with one draw of the augmentation generator (torch's Beta sampler takes no generator), so
runs stay reproducible and resume bit for bit. Magnitude 0 is the identity (lam = 1).

Example:
    >>> from trainlab.data.augment import build_augmentation
    >>> aug = build_augmentation(["mixup:p=1:magnitude=0.4"])
    >>> t = torch.eye(4)                                   # (B, K) one-hot targets of 4 images
    >>> x, t = aug(torch.rand(4, 1, 8, 8), torch.Generator().manual_seed(0), targets=t)
    >>> bool(torch.allclose(t.sum(1), torch.ones(4)))      # still class probabilities
    True
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ...errors import TrainlabError
from .ops import MixingOp, PhotometricOp, _rand, _register


def beta(g: torch.Generator, alpha: float, n: int) -> torch.Tensor:
    """n draws of Beta(alpha, alpha), float64 on the CPU, reproducible from `g` (one draw of g seeds
    numpy's generator: torch's Beta sampler cannot take a generator). alpha 0: all 1 (no mixing)."""
    seed = int(torch.randint(0, 2**62, (), generator=g))
    if alpha == 0:
        return torch.ones(n, dtype=torch.float64)
    return torch.from_numpy(np.random.default_rng(seed).beta(alpha, alpha, n))


def _blend(t: torch.Tensor, partner: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """lam_i t_i + (1 - lam_i) t_partner[i] along the first dimension of t (images (B, C, H, W) or targets
    (B, K)); lam (B,) float64 on the CPU; rows with lam = 1 stay exactly t_i."""
    w = lam.to(device=t.device, dtype=t.dtype).view(-1, *[1] * (t.dim() - 1))
    return torch.where(w == 1, t, w * t + (1 - w) * t[partner.to(t.device)])


@_register("mixup", "blend a sample with a partner of the batch: x = lam x_i + (1-lam) x_j, target = lam t_i + "
           "(1-lam) t_j, lam ~ Beta(a, a), a = m (m=0.2, p=1); soft labels, classification only")
class Mixup(MixingOp):
    p: float = 1.0
    magnitude: float = 0.2
    unit = "alpha of Beta(alpha, alpha)"
    max_magnitude = 100.0

    def mix(self, x, t, g, on):
        b = len(x)
        partner = torch.randperm(b, generator=g)
        lam = torch.where(on.cpu(), beta(g, self.magnitude, b), torch.ones(b, dtype=torch.float64))  # own share
        return _blend(x, partner, lam), _blend(t, partner, lam)


@_register("cutmix", "paste a rectangle of a partner image: sides sqrt(1-lam) x H, W at a uniform centre (clipped), "
           "lam ~ Beta(a, a), a = m (m=1, p=0.5); target = area-weighted t_i, t_j; classification only")
class CutMix(MixingOp):
    p: float = 0.5
    magnitude: float = 1.0
    unit = "alpha of Beta(alpha, alpha)"
    max_magnitude = 100.0

    def mix(self, x, t, g, on):
        b, _, h, w = x.shape
        partner = torch.randperm(b, generator=g)
        lam = beta(g, self.magnitude, b)
        cy, cx = torch.randint(0, h, (b,), generator=g), torch.randint(0, w, (b,), generator=g)  # box centre, pixels
        side = torch.sqrt(1 - lam)  # the box is (1 - lam) of the area before clipping (CutMix's rand_bbox)
        half_h, half_w = (h * side).floor().long() // 2, (w * side).floor().long() // 2
        y1, y2 = (cy - half_h).clamp(0, h), (cy + half_h).clamp(0, h)
        x1, x2 = (cx - half_w).clamp(0, w), (cx + half_w).clamp(0, w)
        ys, xs = torch.arange(h).view(1, -1, 1), torch.arange(w).view(1, 1, -1)
        box = ((ys >= y1.view(-1, 1, 1)) & (ys < y2.view(-1, 1, 1)) & (xs >= x1.view(-1, 1, 1))
               & (xs < x2.view(-1, 1, 1)) & on.cpu().view(-1, 1, 1))  # (B, H, W)
        kept = 1 - box.flatten(1).sum(1).double() / (h * w)  # the share of the sample's own pixels, after clipping
        box = box.to(x.device).unsqueeze(1)
        return torch.where(box, x[partner.to(x.device)], x), _blend(t, partner, kept)


@_register("random_erasing", "erase a rectangle of area s HW, s uniform in [0.02, m] (m=0.4, p=0.5), aspect "
           "log-uniform in [0.3, 1/0.3], inside the image, filled with uniform noise (value=-1) or `value`")
class RandomErasing(PhotometricOp):
    magnitude: float = 0.4
    value: float = -1.0  # fill intensity in [0, 1]; -1: uniform noise per pixel (Zhong et al.'s choice)
    unit = "max fraction of the area"
    max_magnitude = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.value != -1 and not 0 <= self.value <= 1:
            raise TrainlabError(f"augmentation 'random_erasing': value={self.value:g} must be an intensity in [0, 1], "
                                "or -1 for uniform noise")

    def apply(self, x, g, on):
        b, c, h, w = x.shape
        area = _rand(g, b, lo=min(0.02, self.magnitude), hi=self.magnitude) * h * w  # pixels
        aspect = torch.exp(_rand(g, b, lo=math.log(0.3), hi=-math.log(0.3)))  # height / width
        eh = torch.sqrt(area * aspect).round().long().clamp(0, h)  # kept inside the image (the paper retries;
        ew = torch.sqrt(area / aspect).round().long().clamp(0, w)  # here a box too long in one axis is cut to it)
        top = (_rand(g, b, lo=0.0, hi=1.0) * (h - eh + 1)).floor().long()
        left = (_rand(g, b, lo=0.0, hi=1.0) * (w - ew + 1)).floor().long()
        ys, xs = torch.arange(h).view(1, -1, 1), torch.arange(w).view(1, 1, -1)
        box = ((ys >= top.view(-1, 1, 1)) & (ys < (top + eh).view(-1, 1, 1)) & (xs >= left.view(-1, 1, 1))
               & (xs < (left + ew).view(-1, 1, 1)))
        box = (box.to(x.device) & on.view(-1, 1, 1)).unsqueeze(1)  # (B, 1, H, W)
        if self.value != -1:
            return torch.where(box, torch.full_like(x, self.value), x)
        idx = box.flatten(1).any(1).nonzero().squeeze(1)  # noise only for the samples erased (as `noise` does)
        if len(idx) == 0:
            return x
        fill = torch.rand((len(idx), c, h, w), generator=g).to(device=x.device, dtype=x.dtype)
        out = x.clone()
        out[idx] = torch.where(box[idx], fill, x[idx])
        return out
