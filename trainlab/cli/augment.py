"""Preview data augmentation: a grid with original training images in the top row and
several augmented versions below (segmentation datasets also show the moved masks).

    trainlab augment --dataset fashion-mnist --ops crop,rotate:magnitude=20,noise --out grid.png
    trainlab augment --dataset shapes --op rotate:p=1:magnitude=30 --op shear:p=1 --out seg.png
    trainlab augment --dataset shapes --option channels=3 --ops color_jitter:p=1,resized_crop --out rgb.png

Ops that can change the label on this dataset (vflip on digits: a 6 becomes a 9) print a warning line.
"""
from __future__ import annotations

import sys

from ..errors import TrainlabError, check

NAME = "augment"
HELP = "preview augmentations on a dataset as a PNG grid (originals on top, augmented below)"
ORDER = 70


def add_arguments(p) -> None:
    p.add_argument("--dataset", required=True, help="dataset name (see `trainlab list datasets`)")
    p.add_argument("--ops", action="append", default=[], metavar="OP[,OP...]",
                   help="comma-separated ops, each NAME[:p=P][:magnitude=M] (see `trainlab list augmentations`)")
    p.add_argument("--op", dest="ops", action="append", metavar="OP", help="one op (repeatable)")
    p.add_argument("--option", dest="options", action="append", default=[], metavar="KEY=VALUE",
                   help="a dataset option, e.g. channels=3 for shapes (repeatable)")
    p.add_argument("--out", default="augment.png", help="output PNG path (default augment.png)")
    p.add_argument("--n", type=int, default=8, help="number of original images (columns, default 8)")
    p.add_argument("--versions", type=int, default=4, help="augmented rows below the originals (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of the augmentation generator (default 0)")


def run(args) -> int:
    import torch

    from ..data import build_augmentation, label_risk_warnings, load_dataset, to_float

    specs = [s for group in args.ops for s in group.split(",") if s.strip()]
    check(bool(specs), "give at least one op with --ops OP[,OP...] or --op OP, e.g. --ops hflip,rotate")
    check(1 <= args.n <= 32, f"--n {args.n} must be between 1 and 32")
    check(1 <= args.versions <= 8, f"--versions {args.versions} must be between 1 and 8")
    aug = build_augmentation(specs)  # validates before any data is loaded
    ds = load_dataset(args.dataset, **_options(args.options))
    if not ds.is_image:
        raise TrainlabError(f"dataset {args.dataset!r} is tabular {ds.input_shape}; augmentation previews need images")
    for line in label_risk_warnings(aug, args.dataset, ds.classes):  # e.g. vflip on digits: a 6 becomes a 9
        print(line, file=sys.stderr)
    idx = _pick(ds.train.y, args.n, ds.task == "segmentation")
    x = to_float(ds.train.x[idx])  # (n, C, H, W)
    mask = ds.train.y[idx] if ds.task == "segmentation" else None
    g = torch.Generator().manual_seed(args.seed)
    rows = [(x, mask)] + [aug(x, g, mask=mask) for _ in range(args.versions)]
    _draw(rows, ds, idx, aug, args)
    print(f"{args.out}: {len(idx)} {args.dataset} images, {args.versions} augmented versions of each with {aug}")
    return 0


def _options(items: list[str]) -> dict:
    """["channels=3"] -> {"channels": 3}, read by the project's one value parser (`trainlab.values`)."""
    from ..values import parse_pairs

    return parse_pairs(items, flag="--option", example="channels=3")


def _pick(y, n: int, segmentation: bool):
    """Indices of n training samples, cycling through the classes so each column differs."""
    import torch

    if segmentation:
        return torch.arange(min(n, len(y)))
    order = torch.argsort(y, stable=True)
    counts = torch.bincount(y)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(y)) - starts[y[order]]  # position of each sample within its class
    ranked = order[torch.argsort(rank, stable=True)]  # first of each class, then second of each, ...
    return ranked[:n]


def _draw(rows, ds, idx, aug, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seg = ds.task == "segmentation"
    n = len(idx)
    lines = []  # (label, image tensor (C, H, W) list or mask list)
    for r, (x, m) in enumerate(rows):
        label = "original" if r == 0 else f"augmented {r}"
        lines.append((label, x, False))
        if seg:
            lines.append(("mask" if r == 0 else f"mask {r}", m, True))
    fig, axes = plt.subplots(len(lines), n, figsize=(1.05 * n + 0.9, 1.05 * len(lines) + 0.6), dpi=110,
                             squeeze=False)
    for row, (label, data, is_mask) in enumerate(lines):
        for col in range(n):
            ax = axes[row, col]
            if is_mask:
                ax.imshow(data[col].numpy(), cmap="tab10", vmin=0, vmax=9, interpolation="nearest")
            elif data.shape[1] == 1:
                ax.imshow(data[col, 0].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            else:
                ax.imshow(data[col].permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0 and not seg:
                ax.set_title(ds.classes[int(ds.train.y[idx[col]])], fontsize=7)
        axes[row, 0].set_ylabel(label, fontsize=8)
    ops = ", ".join(str(op) for op in aug.ops)
    title = f"{ds.name}: {ops}"
    if seg:
        colors = plt.get_cmap("tab10")
        handles = [matplotlib.patches.Patch(color=colors(k), label=c) for k, c in enumerate(ds.classes)]
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout(rect=(0, 0.04 if seg else 0, 1, 1))
    fig.savefig(args.out)
    plt.close(fig)
