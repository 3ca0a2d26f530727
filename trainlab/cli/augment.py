"""Preview data augmentation: a grid with original training images in the top row and
several augmented versions below (segmentation datasets also show the moved masks).

    trainlab augment --dataset fashion-mnist --ops crop,rotate:magnitude=20,noise --out grid.png
    trainlab augment --dataset shapes --op rotate:p=1:magnitude=30 --op shear:p=1 --out seg.png
    trainlab augment --dataset shapes --option channels=3 --ops color_jitter:p=1,resized_crop --out rgb.png

Ops that can change the label on this dataset (vflip on digits: a 6 becomes a 9) print a warning line.
"""
from __future__ import annotations

from ..report.previews import preview_augmentation
from ..values import parse_pairs


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
    specs = [s for group in args.ops for s in group.split(",")]
    options = parse_pairs(args.options, flag="--option", example="channels=3")
    out, ds, aug = preview_augmentation(args.dataset, specs, options=options, out=args.out, n=args.n,
                                        versions=args.versions, seed=args.seed)
    print(f"{out}: {min(args.n, len(ds.train.y))} {args.dataset} images, {args.versions} augmented versions of each "
          f"with {aug}")
    return 0
