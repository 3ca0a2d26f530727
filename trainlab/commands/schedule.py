"""Plot a learning-rate schedule: lr against t (steps or epochs).

    trainlab schedule cosine --set lr0=0.1 --set total=30 --set warmup=2 --epochs 30 --out lr.png
    trainlab schedule step --set every=10 --steps 50 --out step.png
"""
from __future__ import annotations


from ..errors import check

NAME = "schedule"
HELP = "plot a learning-rate schedule (lr against step or epoch) to a PNG"
ORDER = 60


def add_arguments(p) -> None:
    p.add_argument("name", help="schedule name (see `trainlab list schedules`)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="a hyperparameter, e.g. lr0=0.1, total=30, warmup=2, boundaries=[30,60] (repeatable)")
    span = p.add_mutually_exclusive_group()
    span.add_argument("--steps", type=int, help="plot t = 0, 1, ..., N-1 (integer steps)")
    span.add_argument("--epochs", type=float, help="plot t continuous in [0, N] (epochs)")
    p.add_argument("--log", action="store_true", help="logarithmic lr axis")
    p.add_argument("--out", default="lr.png", help="output PNG path (default lr.png)")


def parse_sets(sets: list[str]) -> dict:
    """["lr0=0.1", "boundaries=[30, 60]"] -> {"lr0": 0.1, "boundaries": [30, 60]} (see trainlab.values)."""
    from ..values import parse_pairs

    return parse_pairs(sets, "--set", "lr0=0.1")


def run(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..optim.schedules import create_schedule

    hp = parse_sets(args.sets)
    f = create_schedule(args.name, **hp)
    if args.steps is not None:
        check(args.steps >= 1, f"--steps {args.steps} must be >= 1")
        t, unit = np.arange(args.steps, dtype=float), "step"
    else:
        n = args.epochs if args.epochs is not None else float(hp.get("total", 100))
        check(n > 0, f"--epochs {n} must be > 0")
        t, unit = np.linspace(0.0, n, 1001), "epoch" if args.epochs is not None else "t"
    lr = np.array([f(x) for x in t])

    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
    if args.steps is not None:
        ax.step(t, lr, where="post", lw=1.6)
    else:
        ax.plot(t, lr, lw=1.6)
    if args.log:
        check(bool((lr > 0).all()), "--log needs lr > 0 everywhere (this schedule reaches 0); drop --log")
        ax.set_yscale("log")
    settings = ", ".join(f"{k}={v}" for k, v in hp.items())
    ax.set_title(f"{args.name}({settings})", fontsize=10)
    ax.set_xlabel(unit)
    ax.set_ylabel("learning rate")
    ax.set_xlim(t[0], t[-1])
    ax.set_ylim(bottom=None if args.log else 0)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out)
    plt.close(fig)
    print(f"{args.out}: {args.name} over {len(t)} points of t ({unit}); lr from {lr[0]:.4g} "
          f"(max {lr.max():.4g}, min {lr.min():.4g}) to {lr[-1]:.4g}")
    return 0
