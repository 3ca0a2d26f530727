"""`Augmentation`, the sequence of ops applied to whole batches, and building one from specs
('rotate:p=0.5:magnitude=15' strings or dicts)."""
from __future__ import annotations

from dataclasses import fields

import torch

from ...errors import TrainlabError
from ...values import parse_value
from .boxes import move_targets
from .geometric import warp
from .ops import AUGMENTATIONS, Op


class Augmentation:
    """A sequence of ops applied in order to whole batches.

    Example:
        >>> aug = build_augmentation(["rotate:p=1:magnitude=30"])
        >>> x, m = aug(torch.rand(2, 1, 8, 8), torch.Generator().manual_seed(0),
        ...            mask=torch.zeros(2, 8, 8, dtype=torch.long))
        >>> m.shape
        torch.Size([2, 8, 8])
    """

    def __init__(self, ops: list[Op]):
        self.ops = list(ops)

    def __bool__(self) -> bool:
        return bool(self.ops)

    def __len__(self) -> int:
        return len(self.ops)

    def __repr__(self) -> str:
        return "Augmentation(" + ", ".join(map(str, self.ops)) + ")"

    def specs(self) -> list[dict]:
        """The ops as plain dicts (for configs); `build_augmentation(aug.specs())` rebuilds it."""
        return [op.spec() for op in self.ops]

    @property
    def mixes(self) -> bool:
        """True when an op mixes images and labels (mixup, cutmix): the batch's targets must come along."""
        return any(op.mixes for op in self.ops)

    def __call__(self, x: torch.Tensor, generator: torch.Generator, mask: torch.Tensor | None = None,
                 boxes: torch.Tensor | None = None,
                 targets: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The batch x (B, C, H, W) augmented, with what goes with it: (x, the moved `mask` or `boxes`, or
        the mixed `targets`; None when none is given). A segmentation mask (B, H, W) int64, or detection
        targets (B, M, 5 [+ H W]) float (trainlab.data.detection), move with the pixels (boxes.py; the ops
        must keep boxes valid: boxes.check_box_ops). With `targets`, (B, K) class probabilities (one-hot
        rows of the class ids), mixing ops blend them as they blend the images; a pipeline that mixes
        needs them."""
        _check_inputs(x, generator, mask, boxes)
        if sum(t is not None for t in (mask, boxes, targets)) > 1:
            raise TrainlabError("augmentation takes segmentation masks, detection boxes or class targets, "
                                "one of them, not several")
        if self.mixes:
            _check_targets(self, x, mask, targets)
        b, _, h, w = x.shape
        pending = None  # composed geometric maps (B, 3, 3) not yet applied
        for op in self.ops:
            on = torch.rand(b, generator=generator) < op.p  # (B,) CPU bool; drawn for every op
            if op.geometric:
                m = torch.where(on.view(-1, 1, 1), op.matrices(generator, b, h, w), torch.eye(3, dtype=torch.float64))
                pending = m if pending is None else pending @ m  # apply earlier op last: in = T1 T2 out
                continue
            if pending is not None:
                x, mask = warp(x, mask, pending)
                boxes = move_targets(boxes, pending, (h, w)) if boxes is not None else None
                pending = None
            if op.mixes:
                x, targets = op.mix(x, targets, generator, on.to(x.device))
            else:
                x = op.apply(x, generator, on.to(x.device))
        if pending is not None:
            x, mask = warp(x, mask, pending)
            boxes = move_targets(boxes, pending, (h, w)) if boxes is not None else None
        return x, next((t for t in (boxes, targets, mask) if t is not None), None)


def _check_inputs(x, g, mask, boxes=None) -> None:
    if not (isinstance(x, torch.Tensor) and x.dim() == 4 and x.is_floating_point()):
        got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise TrainlabError(f"augmentation needs float images (B, C, H, W) in [0, 1], got {got}; "
                            "use to_float on uint8 images (tabular data cannot be augmented)")
    if not isinstance(g, torch.Generator) or g.device.type != "cpu":
        raise TrainlabError("augmentation needs a CPU torch.Generator, e.g. torch.Generator().manual_seed(seed)")
    if mask is not None and (mask.shape != (x.shape[0], *x.shape[2:]) or mask.dtype != torch.int64):
        raise TrainlabError(f"augmentation mask must be int64 (B, H, W) = {(x.shape[0], *x.shape[2:])}, "
                            f"got {mask.dtype} {tuple(mask.shape)}")
    if boxes is not None and (mask is not None or boxes.dim() != 3 or len(boxes) != len(x) or boxes.shape[-1] < 5
                              or not boxes.is_floating_point()):
        raise TrainlabError(f"augmentation boxes must be float detection targets (B, M, 5) with B = {len(x)} (and no "
                            f"mask), got {boxes.dtype} {tuple(boxes.shape)}")


def _check_targets(aug: Augmentation, x, mask, targets) -> None:
    name = next(op.name for op in aug.ops if op.mixes)
    if mask is not None:
        raise TrainlabError(f"augmentation {name!r} mixes whole images and their class labels; segmentation masks "
                            f"cannot be mixed: remove {name}")
    if targets is None or targets.dim() != 2 or len(targets) != len(x) or not targets.is_floating_point():
        got = f"{targets.dtype} {tuple(targets.shape)}" if isinstance(targets, torch.Tensor) else "none"
        raise TrainlabError(f"augmentation {name!r} mixes labels too: pass targets=(B, K) class probabilities "
                            f"(e.g. F.one_hot(y, K).float()), got {got}")


def parse_op_spec(s: str) -> dict:
    """'rotate:p=0.5:magnitude=15' -> {'name': 'rotate', 'p': 0.5, 'magnitude': 15.0}.

    A bare number is the magnitude: 'rotate:15'. Values are read by `trainlab.values.parse_value`
    (so 1e-3 is a number) and must be numbers; their ranges are checked by `build_augmentation`.

    Example:
        >>> parse_op_spec("crop:p=1:magnitude=4")
        {'name': 'crop', 'p': 1.0, 'magnitude': 4.0}
    """
    parts = [t.strip() for t in str(s).strip().split(":")]
    if not parts[0]:
        raise TrainlabError(f"augmentation spec {s!r} has no op name; write e.g. 'rotate:p=0.5:magnitude=15'")
    out: dict = {"name": parts[0]}
    for t in parts[1:]:
        key, eq, val = t.partition("=")
        key, val = (key.strip(), val.strip()) if eq else ("magnitude", key.strip())
        v = parse_value(val)  # the project's one value parser: 1e-3 is a float, as in --set and configs
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise TrainlabError(f"augmentation spec {s!r}: {key}={val!r} is not a number; "
                                "write e.g. 'rotate:p=0.5:magnitude=15'")
        out[key] = float(v)
    return out


def build_augmentation(specs: list[str | dict] | None) -> Augmentation:
    """Validated `Augmentation` from specs ('name:key=value...' strings or dicts with 'name').

    Unknown ops or options, p outside [0, 1] and out-of-range magnitudes raise TrainlabError.

    Example:
        >>> build_augmentation(["hflip", {"name": "noise", "magnitude": 0.1}])
        Augmentation(hflip(p=0.5), noise(p=0.5, 0.1 std of intensity (0..1)))
    """
    ops = []
    for spec in specs or []:
        d = parse_op_spec(spec) if isinstance(spec, str) else dict(spec)
        name = d.pop("name", None)
        cls = AUGMENTATIONS.get(name)
        known = {f.name for f in fields(cls)}
        bad = [k for k in d if k not in known]
        if bad:
            raise TrainlabError(f"augmentation {name!r} has no option {', '.join(map(repr, bad))}; "
                                f"options: {', '.join(sorted(known))}")
        ops.append(cls(**d))
    return Augmentation(ops)
