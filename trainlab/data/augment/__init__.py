"""Batched data augmentation on float images (B, C, H, W) in [0, 1], with optional
segmentation masks (B, H, W) int64 or detection targets (B, M, 5) (boxes.py) moved by the same
geometric transform, or (mixup, cutmix) targets (B, K) class probabilities mixed as the images are
(see `mixing`).

Every op has a per-sample probability `p` and a `magnitude` in a documented unit; magnitude 0
is the identity. Random numbers come from the CPU `torch.Generator` you pass (so its state
can be checkpointed) and are moved to the batch's device. Consecutive geometric ops are
composed into one affine map per sample and applied with a single `grid_sample`
(bilinear for images, nearest for masks, zeros outside = background class 0).

Ops that can change a label (a 6 upside down is a 9) declare the class symmetry they assume;
`label_risk_warnings(aug, dataset_name, classes)` lists the conflicts with a dataset's classes.

Example:
    >>> aug = build_augmentation(["hflip", "crop:magnitude=4", "rotate:p=0.5:magnitude=15"])
    >>> g = torch.Generator().manual_seed(0)
    >>> x, _ = aug(torch.rand(8, 1, 28, 28), g)
    >>> x.shape
    torch.Size([8, 1, 28, 28])
"""
from __future__ import annotations

import torch  # noqa: F401  (the example above uses it)

from .boxes import box_safe_ops, check_box_ops, move_targets
from .geometric import Crop, HFlip, ResizedCrop, Rotate, Shear, Translate, VFlip, warp
from .mixing import CutMix, Mixup, RandomErasing
from .ops import AUGMENTATIONS, GeometricOp, MixingOp, Op, PhotometricOp
from .photometric import Blur, Brightness, ColorJitter, Contrast, Cutout, Noise, Sobel, gaussian_blur, sobel_magnitude
from .pipeline import Augmentation, build_augmentation, parse_op_spec
from .symmetry import label_risk_warnings

__all__ = [
    "AUGMENTATIONS", "Op", "GeometricOp", "PhotometricOp", "MixingOp", "Augmentation", "build_augmentation",
    "parse_op_spec", "label_risk_warnings", "box_safe_ops", "check_box_ops", "move_targets",
    "warp", "gaussian_blur", "sobel_magnitude",
    "HFlip", "VFlip", "Crop", "ResizedCrop", "Translate", "Rotate", "Shear",
    "Brightness", "Contrast", "ColorJitter", "Noise", "Blur", "Sobel", "Cutout",
    "Mixup", "CutMix", "RandomErasing",
]
