"""What every dataset is: `Split`, `Dataset`, the DATASETS registry every loader registers in, and
`to_float`. The loaders are in datasets.py (built-ins), regression.py and textures.py (made from a
seed); each imports this module, and datasets.py imports them, so the registry has no circle.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..registry import Registry

DATASETS = Registry("dataset")


@dataclass
class Split:
    x: torch.Tensor  # images: uint8 (N, C, H, W); tabular: float32 (N, D)
    y: torch.Tensor  # int64 (N,) class labels; segmentation: int64 (N, H, W) masks; regression: float32 (N, T);
    # detection: float32 (N, M, 5) rows (x1, y1, x2, y2, class), class -1 in empty slots (data/detection.py)

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Dataset:
    name: str
    train: Split
    val: Split
    test: Split
    classes: list[str]  # class names; regression: target names (the model's T outputs)
    task: str  # "classification", "segmentation", "regression" or "detection"

    @property
    def input_shape(self) -> tuple:
        return tuple(self.train.x.shape[1:])  # (C, H, W) or (D,)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def is_image(self) -> bool:
        return self.train.x.dim() == 4


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [0, 1]; float input (tabular) is returned unchanged.

    Example:
        >>> to_float(torch.tensor([0, 255], dtype=torch.uint8))
        tensor([0., 1.])
    """
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x
