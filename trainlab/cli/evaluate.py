"""Score a run's best weights on a split and draw its confusion matrix."""
from __future__ import annotations

from ..training.saved import evaluate


def add_arguments(p) -> None:
    p.add_argument("run", help="run folder")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--bn-stats", default="running", choices=["running", "full"],
                   help="batch-norm mean and variance: the running averages kept in training (default), or "
                        "recomputed over the whole training set (deck 000)")
    p.add_argument("--tta", default=None, metavar="OPS",
                   help="test-time augmentation, comma-separated (e.g. hflip,shift; `trainlab list tta`): "
                        "the mean softmax over the image and its views is scored; default: the run's own tta "
                        "(as its recorded scores used); none: the image alone")


def run(args) -> int:
    tta = None if args.tta is None else [op.strip() for op in args.tta.split(",") if op.strip() not in ("", "none")]
    res = evaluate(args.run, split=args.split, device=args.device, bn_stats=args.bn_stats, tta=tta)
    names = (("acc", "accuracy"), ("top5", "top-5 accuracy"), ("miou", "mean IoU"), ("map50", "mAP@0.5"),
             ("map", "mAP@[.5:.95]"))
    bn = "  (batch norm: training-set statistics)" if args.bn_stats == "full" else ""
    source = "the run's tta" if args.tta is None else "--tta"
    bn += f"  (test-time augmentation: {', '.join(res['tta'])}, from {source})" if res["tta"] else (
        "  (no test-time augmentation: --tta none)" if args.tta is not None else "")
    print(f"{args.split}: loss {res['loss']:.4f}" + "".join(f"  {n} {res[k]:.4f}" for k, n in names if k in res) + bn)
    if "confusion_png" in res:
        print(f"confusion matrix: {res['confusion_png']}")
    if "ap50" in res:  # detection: AP of each class (nan: no object of the class in the split)
        width = max(map(len, res["ap50"]))
        print(f"  {'class':<{width}}  AP@0.5  AP@[.5:.95]")
        for name, ap in res["ap50"].items():
            print(f"  {name:<{width}}  {ap:6.4f}  {res['ap'][name]:11.4f}")
        print(f"boxes: {res['boxes_png']}")
    return 0
