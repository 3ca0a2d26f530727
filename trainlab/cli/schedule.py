"""Plot a learning-rate schedule: lr against t, exactly as a run with these settings would use it.

    trainlab schedule cosine --lr 0.1 --epochs 30 --warmup 2 --out lr.png
    trainlab schedule onecycle --lr 0.1 --epochs 6 --out lr.png
    trainlab schedule step --set gamma=0.5 --set every=3 --epochs 12 --out step.png

The curve is built by the trainer's own code from the run keys it names: `--lr` is a run's `lr`
(the rate the schedule starts from or peaks at), `--epochs` its `epochs` (the schedule's length,
`total`, unless `--set total=` says otherwise), `--warmup` its `warmup_epochs`, and `--set` its
`schedule_options`.
"""
from __future__ import annotations

from ..training.preview import draw_schedule
from ..values import parse_pairs


def add_arguments(p) -> None:
    p.add_argument("name", help="schedule name (see `trainlab list schedules`)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="a schedule option (a run's schedule_options), e.g. gamma=0.5, every=3, boundaries=[30,60] "
                        "(repeatable)")
    p.add_argument("--lr", type=float, default=None, help="the run's lr: where the schedule starts or peaks "
                                                         "(default: a run's default lr)")
    span = p.add_mutually_exclusive_group()
    span.add_argument("--epochs", type=int, default=None, help="the run's epochs (default: a run's default epochs)")
    span.add_argument("--steps", type=int, default=None,
                      help="t in optimizer steps 0..N-1 instead, total = N (a schedule given to create_optimizer "
                           "as its lr counts steps)")
    p.add_argument("--warmup", type=float, default=0.0, help="the run's warmup_epochs (default 0)")
    p.add_argument("--log", action="store_true", help="logarithmic lr axis")
    p.add_argument("--out", default="lr.png", help="output PNG path (default lr.png)")


def run(args) -> int:
    options = parse_pairs(args.sets, "--set", "gamma=0.5")
    cfg, t, lr = draw_schedule(args.name, options, lr=args.lr, epochs=args.epochs, steps=args.steps,
                               warmup=args.warmup, log=args.log, out=args.out)
    unit = "step" if args.steps else "epoch"
    print(f"{args.out}: {cfg.schedule} with lr {cfg.lr:g} over {cfg.epochs} {unit}s"
          + (f", warmup {cfg.warmup_epochs:g}" if cfg.warmup_epochs else "")
          + (f", {cfg.schedule_options}" if cfg.schedule_options else "")
          + f"; lr from {lr[0]:.4g} (max {max(lr):.4g}, min {min(lr):.4g}) to {lr[-1]:.4g}")
    return 0
