"""Previews drawn before training: augmentation ops applied to a dataset's images, as a grid with
the originals on top and augmented versions below (segmentation masks move with them, and detection
boxes, drawn on the images). The command `trainlab augment` calls `preview_augmentation`.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ..data import Augmentation, Dataset, build_augmentation, label_risk_warnings, load_dataset, to_float
from ..data.augment import check_box_ops
from ..errors import TrainlabError, check
from .plots import BOX_COLOURS, plt, save_figure


def preview_augmentation(dataset: str, ops: Sequence[str], *, options: dict[str, Any] | None = None,
                         out: str | Path = "augment.png", n: int = 8, versions: int = 4, seed: int = 0
                         ) -> tuple[Path, Dataset, Augmentation]:
    """Draw `versions` augmented copies of `n` training images of `dataset` (one per class in turn)
    under the ops (each NAME[:p=P][:magnitude=M]) into `out`; ops that can change a label on this
    dataset (vflip on digits) print a warning line. Returns the picture's path, the data and the ops.

        >>> preview_augmentation("fashion-mnist", ["crop", "rotate:magnitude=20"], out="grid.png")  # doctest: +SKIP
    """
    specs = [s for s in ops if s.strip()]
    check(bool(specs), "give at least one op with --ops OP[,OP...] or --op OP, e.g. --ops hflip,rotate")
    check(1 <= n <= 32, f"--n {n} must be between 1 and 32")
    check(1 <= versions <= 8, f"--versions {versions} must be between 1 and 8")
    aug = build_augmentation(specs)  # validates before any data is loaded
    ds = load_dataset(dataset, **(options or {}))
    if not ds.is_image:
        raise TrainlabError(f"dataset {dataset!r} is tabular {ds.input_shape}; augmentation previews need images")
    for line in label_risk_warnings(aug, dataset, ds.classes):  # e.g. vflip on digits: a 6 becomes a 9
        print(line, file=sys.stderr)
    detect = ds.task == "detection"
    if detect:  # boxes move with the pixels: ops that cannot keep them valid are refused, as in a run
        check_box_ops(aug)
    idx = pick_examples(ds.train.y, n, ds.task in ("segmentation", "detection"))
    x = to_float(ds.train.x[idx])  # (n, C, H, W)
    mask = ds.train.y[idx] if ds.task == "segmentation" else None
    boxes = ds.train.y[idx] if detect else None
    g = torch.Generator().manual_seed(seed)
    if aug.mixes:  # mixup, cutmix: the shown images are the batch, mixed with each other; titles give the weights
        if ds.task != "classification":
            what = "masks" if ds.task == "segmentation" else "boxes"
            raise TrainlabError(f"{dataset!r} is a {ds.task} dataset; mixup and cutmix mix class labels, which its "
                                f"{what} are not: preview them on a classification dataset")
        targets = F.one_hot(ds.train.y[idx], ds.num_classes).to(x.dtype)
        rows = [(x, None, None)]
        for _ in range(versions):
            mixed, t = aug(x, g, targets=targets)
            rows.append((mixed, None, t))
    else:
        extra = boxes if detect else mask
        rows = [(x, extra, None)] + [(*aug(x, g, mask=mask, boxes=boxes), None) for _ in range(versions)]
    return draw_grid(rows, ds, idx, aug, Path(out)), ds, aug


def pick_examples(y, n: int, segmentation: bool):
    """Indices of n training samples, cycling through the classes so each column differs (the first n
    when each sample has many labels: segmentation masks, detection boxes)."""
    if segmentation:
        return torch.arange(min(n, len(y)))
    order = torch.argsort(y, stable=True)
    counts = torch.bincount(y)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(y)) - starts[y[order]]  # position of each sample within its class
    ranked = order[torch.argsort(rank, stable=True)]  # first of each class, then second of each, ...
    return ranked[:n]


def mix_title(t: torch.Tensor, classes: list[str]) -> str:
    """A mixed image's label as its two largest class weights, e.g. '0.62 Shirt' over '0.38 Bag'
    (a weight under 0.005 is left out: it would read 0.00)."""
    w, k = t.topk(min(2, len(t)))
    return "\n".join(f"{float(a):.2f} {classes[int(c)][:9]}" for a, c in zip(w, k) if a >= 0.005)


def draw_grid(rows, ds: Dataset, idx: torch.Tensor, aug: Augmentation, out: Path) -> Path:
    """The grid: a row per version (and its masks for segmentation, its boxes drawn on the images for
    detection), a column per image; rows of (images, masks, boxes or None, targets or None). A mixed
    image (mixup, cutmix) is titled with the weights of its label's two largest classes."""

    seg, detect = ds.task == "segmentation", ds.task == "detection"
    n = len(idx)
    lines = []  # (label, image tensor (C, H, W) list or mask list, is a mask, targets (n, K) or None)
    for r, (x, m, t) in enumerate(rows):
        label = "original" if r == 0 else f"augmented {r}"
        lines.append((label, x, m if detect else False, t))
        if seg:
            lines.append(("mask" if r == 0 else f"mask {r}", m, True, None))
    fig, axes = plt.subplots(len(lines), n, figsize=(1.05 * n + 0.9, 1.05 * len(lines) + 0.6), dpi=110,
                             squeeze=False)
    for row, (label, data, is_mask, targets) in enumerate(lines):
        for col in range(n):
            ax = axes[row, col]
            if is_mask is True:
                ax.imshow(data[col].numpy(), cmap="tab10", vmin=0, vmax=9, interpolation="nearest")
            elif data.shape[1] == 1:
                ax.imshow(data[col, 0].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            else:
                ax.imshow(data[col].permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
            if detect and is_mask is not False:  # the targets (n, M, 5): a rectangle per object, class colours
                for x1, y1, x2, y2, k in is_mask[col, :, :5].tolist():
                    if k >= 0:
                        ax.add_patch(plt.matplotlib.patches.Rectangle(
                            (x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, lw=1,
                            ec=BOX_COLOURS[int(k) % len(BOX_COLOURS)]))
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0 and not (seg or detect):
                ax.set_title(ds.classes[int(ds.train.y[idx[col]])], fontsize=7)
            elif targets is not None and targets[col].max() < 1:  # a mixed image: its label's weights
                ax.set_title(mix_title(targets[col], ds.classes), fontsize=6, linespacing=0.9)
        axes[row, 0].set_ylabel(label, fontsize=8)
    ops = ", ".join(str(op) for op in aug.ops)
    title = f"{ds.name}: {ops}"
    if detect:
        title += "; boxes: " + ", ".join(f"{c} {BOX_COLOURS[k % len(BOX_COLOURS)][4:]}" for k, c in enumerate(ds.classes))
    if seg:
        colors = plt.get_cmap("tab10")
        handles = [plt.matplotlib.patches.Patch(color=colors(k), label=c) for k, c in enumerate(ds.classes)]
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout(rect=(0, 0.04 if seg else 0, 1, 1))
    return save_figure(fig, out, tight=False)
