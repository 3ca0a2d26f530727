"""Score a run's best weights on a split and draw its confusion matrix."""
from __future__ import annotations

NAME = "evaluate"
HELP = "report a run's metrics on a split (test by default) with a confusion-matrix picture"
ORDER = 3


def add_arguments(p) -> None:
    p.add_argument("run", help="run folder")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])


def run(args) -> int:
    from ..saved import evaluate

    res = evaluate(args.run, split=args.split, device=args.device)
    extra = f"  mean IoU {res['miou']:.4f}" if "miou" in res else ""
    print(f"{args.split}: loss {res['loss']:.4f}  accuracy {res['acc']:.4f}{extra}")
    print(f"confusion matrix: {res['confusion_png']}")
    return 0
