"""The augmentation op base classes and their registry.

An op is a dataclass with a per-sample probability `p` and a `magnitude` in its documented
`unit`; magnitude 0 is the identity. Geometric ops return per-sample affine maps (composed and
applied once, see `geometric.warp`); photometric ops change pixel values and leave masks alone;
mixing ops (mixup, cutmix) blend each chosen image with another of the batch and blend the two
targets, (B, K) class probabilities, by the same weight.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import ClassVar

import torch

from ...errors import TrainlabError
from ...registry import Registry

AUGMENTATIONS = Registry("augmentation")


@dataclass
class Op:
    """One augmentation: applied to each sample with probability `p`; strength `magnitude`."""

    p: float = 0.5
    magnitude: float = 0.0
    name: ClassVar[str] = ""
    unit: ClassVar[str] = ""  # what magnitude measures, for messages and the CLI
    geometric: ClassVar[bool] = False
    mixes: ClassVar[bool] = False  # mixes images and their labels (needs targets, refuses masks)
    has_magnitude: ClassVar[bool] = True
    max_magnitude: ClassVar[float] = math.inf
    # The symmetry of the CLASSES this op relies on to keep labels: "hflip", "vflip" or "rotation" (a key of
    # trainlab.data.datasets.SYMMETRIES), None for ops that assume nothing about class identity. With
    # `assumes_above`, only magnitudes above it assume it (rotate: up to 15 degrees is safe even for digits).
    assumes: ClassVar[str | None] = None
    assumes_above: ClassVar[float | None] = None
    # Why this op cannot keep detection boxes valid (rotate, shear: the axes tilt); "" for the ops that can
    # (flips, crops, shifts, zooms move a box's corners to the new box's corners; photometric ops move nothing).
    breaks_boxes: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                raise TrainlabError(f"augmentation {self.name!r}: {f.name}={v!r} must be a finite number")
            setattr(self, f.name, float(v))
        if not 0.0 <= self.p <= 1.0:
            raise TrainlabError(f"augmentation {self.name!r}: p={self.p:g} must be a probability in [0, 1]")
        if self.magnitude < 0:
            raise TrainlabError(f"augmentation {self.name!r}: magnitude={self.magnitude:g} must be >= 0 ({self.unit})")
        if self.magnitude > self.max_magnitude:
            raise TrainlabError(f"augmentation {self.name!r}: magnitude={self.magnitude:g} must be at most "
                                f"{self.max_magnitude:g} ({self.unit})")
        if not self.has_magnitude and self.magnitude != 0:
            raise TrainlabError(f"augmentation {self.name!r} has no magnitude; set only p (probability)")

    def assumed_symmetries(self) -> set[str]:
        """The class symmetries this op, as configured, needs to keep every label (empty when p=0).

        Example:
            >>> AUGMENTATIONS.create("rotate", magnitude=90).assumed_symmetries()
            {'rotation'}
        """
        if self.assumes is None or self.p == 0:
            return set()
        if self.assumes_above is not None and self.magnitude <= self.assumes_above:
            return set()
        return {self.assumes}

    @classmethod
    def assumes_text(cls) -> str:
        """The assumption in words, for listings: 'hflip', 'rotation above 15 degrees' or 'nothing'."""
        if cls.assumes is None:
            return "nothing"
        return cls.assumes + (f" above {cls.assumes_above:g} {cls.unit}" if cls.assumes_above is not None else "")

    def spec(self) -> dict:
        return {"name": self.name, **asdict(self)}

    def __str__(self) -> str:
        extra = "".join(f", {k}={v:g}" for k, v in asdict(self).items() if k not in ("p", "magnitude"))
        mag = f", {self.magnitude:g} {self.unit}" if self.has_magnitude else ""
        return f"{self.name}(p={self.p:g}{mag}{extra})"


class GeometricOp(Op):
    """Returns per-sample affine maps (B, 3, 3) in centred pixel units: output coord -> input coord."""

    geometric = True

    def matrices(self, g: torch.Generator, b: int, h: int, w: int) -> torch.Tensor:
        raise NotImplementedError


class PhotometricOp(Op):
    """Changes pixel values only; masks are left alone."""

    def apply(self, x: torch.Tensor, g: torch.Generator, on: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class MixingOp(Op):
    """Blends each chosen sample with a partner from the same batch, images and targets alike.

    `mix(x, t, g, on)` takes images (B, C, H, W) and targets t (B, K), class probabilities whose
    rows sum to 1 (one-hot before any mixing), and returns both mixed: sample i becomes
    lam_i x_i + (1 - lam_i) x_j in its pixels (mixup) or in area (cutmix), and its target
    lam_i t_i + (1 - lam_i) t_j, where j = partner[i] is a seeded permutation of the batch.
    Unchosen samples keep lam = 1: their image and target stay exactly as they were.
    """

    mixes = True

    def mix(self, x: torch.Tensor, t: torch.Tensor, g: torch.Generator,
            on: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


def _rand(g: torch.Generator, *shape: int, lo: float = -1.0, hi: float = 1.0) -> torch.Tensor:
    """Uniform [lo, hi) on CPU in float64 (matrices are built on CPU, then moved)."""
    return torch.rand(*shape, generator=g, dtype=torch.float64) * (hi - lo) + lo


def _affine(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, d: torch.Tensor,
            tx: torch.Tensor | float = 0.0, ty: torch.Tensor | float = 0.0) -> torch.Tensor:
    """Stack per-sample [[a, b, tx], [c, d, ty], [0, 0, 1]] -> (B, 3, 3)."""
    m = torch.zeros(len(a), 3, 3, dtype=torch.float64)
    m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = a, b, tx
    m[:, 1, 0], m[:, 1, 1], m[:, 1, 2] = c, d, ty
    m[:, 2, 2] = 1.0
    return m


def _register(name: str, description: str):
    def deco(cls):
        cls.name = name
        return AUGMENTATIONS.register(name, description=description)(dataclass(cls))
    return deco

