"""Fine-tune a trained run on new data (transfer learning, lecture deck 004).

The new run copies the parent's config (same model and options), starts from the parent's
best weights (`init_from`; a new head when the dataset or classes differ), and can freeze the
early layers (weights and batch-norm statistics) and scale the backbone's learning rate.

  trainlab finetune runs/pre --classes 5 6 7 8 9 --train-per-class 100 --freeze block1 --lr-mult 0.1
"""
from __future__ import annotations

from ..training.finetune import finetune


def add_arguments(p) -> None:
    p.add_argument("run", help="parent run folder (made by `trainlab train`)")
    p.add_argument("--dataset", help="dataset of the new run (default: the parent's)")
    p.add_argument("--classes", type=int, nargs="+", metavar="ID",
                   help="keep only these class ids, relabelled 0..k-1 (e.g. --classes 5 6 7 8 9)")
    p.add_argument("--train-per-class", type=int, metavar="N", help="labelled training examples per class")
    p.add_argument("--freeze", metavar="UP_TO_LAYER",
                   help="freeze this top-level layer and all before it (`trainlab summary` shows the names)")
    p.add_argument("--lr-mult", type=float, metavar="X", help="lr multiplier for every layer but the head (default 1)")
    p.add_argument("--epochs", type=int, help="epochs (default: the parent's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any other config key (repeatable), e.g. --set lr=0.01")
    p.add_argument("--name", help="run folder name (default <parent>-ft)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def run(args) -> int:
    child = finetune(args.run, dataset=args.dataset, classes=args.classes, train_per_class=args.train_per_class,
                     freeze=args.freeze, lr_mult=args.lr_mult, epochs=args.epochs, name=args.name,
                     overrides=args.overrides, quiet=args.quiet)
    if not args.quiet:
        print(f"parent: {child.config['init_from']} -> {child.path}")
    return 1 if child.summary.get("status") == "diverged" else 0
