"""Score a run's best weights on a split and draw its confusion matrix."""
from __future__ import annotations

NAME = "evaluate"
HELP = "report a run's metrics on a split (test by default) with a confusion-matrix picture"
ORDER = 3


def add_arguments(p) -> None:
    p.add_argument("run", help="run folder")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--bn-stats", default="running", choices=["running", "full"],
                   help="batch-norm mean and variance: the running averages kept in training (default), or "
                        "recomputed over the whole training set (deck 000)")
    p.add_argument("--tta", default="", metavar="OPS",
                   help="test-time augmentation, comma-separated (e.g. hflip,shift; `trainlab list tta`): "
                        "the mean softmax over the image and its views is scored")


def run(args) -> int:
    from ..saved import evaluate

    tta = [op.strip() for op in args.tta.split(",") if op.strip()]
    res = evaluate(args.run, split=args.split, device=args.device, bn_stats=args.bn_stats, tta=tta)
    names = (("acc", "accuracy"), ("top5", "top-5 accuracy"), ("miou", "mean IoU"))
    bn = "  (batch norm: training-set statistics)" if args.bn_stats == "full" else ""
    bn += f"  (test-time augmentation: {', '.join(tta)})" if tta else ""
    print(f"{args.split}: loss {res['loss']:.4f}" + "".join(f"  {n} {res[k]:.4f}" for k, n in names if k in res) + bn)
    if "confusion_png" in res:
        print(f"confusion matrix: {res['confusion_png']}")
    return 0
