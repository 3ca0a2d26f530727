"""Run optimizers on a 2-D test function and draw their paths on its contours, beside loss against step.

    trainlab trajectories --function ill_conditioned --opt sgd momentum adam --lr 0.05 --steps 100 --out trajectories.png
    trainlab trajectories --function ill_conditioned:condition=100 --opt sgd momentum:lr=0.005 --lr 0.019
    trainlab trajectories --function saddle --opt sgd adagrad rmsprop adam --lr 0.05 --csv saddle.csv
    trainlab trajectories --opt adam adam:bias_correction=false --lr 0.1 --steps 30

Each --opt is a recipe (see `trainlab list optimizers`) with optional hyperparameters,
NAME[:KEY=VALUE...]; its own lr wins over --lr, and without either the recipe's default is used.
Test functions and their options: `trainlab list functions`.
"""
from __future__ import annotations

import csv
from pathlib import Path

from ..errors import check
from ..optim.trajectory import create_surface, descend, parse_spec
from ..report.surface import plot_trajectories


def add_arguments(p) -> None:
    p.add_argument("--function", default="ill_conditioned", metavar="NAME[:KEY=VALUE...]",
                   help="test function and its options, e.g. ill_conditioned:condition=100, rosenbrock, saddle, beale "
                        "(default ill_conditioned; see `trainlab list functions`)")
    p.add_argument("--opt", "--optimizers", dest="opts", nargs="+", action="extend", metavar="NAME[:KEY=VALUE...]",
                   help="optimizers to compare, e.g. sgd momentum:momentum=0.5 adam:lr=0.1:betas=[0.9,0.99] "
                        "(repeatable; default: sgd momentum adam)")
    p.add_argument("--lr", type=float, help="learning rate for every optimizer without its own lr= (default: each recipe's)")
    p.add_argument("--steps", type=int, default=100, help="optimizer steps (default 100)")
    p.add_argument("--start", type=float, nargs=2, metavar=("X", "Y"), help="start point (default: the function's)")
    p.add_argument("--noise", type=float, default=0.0,
                   help="std of Gaussian noise added to each gradient coordinate, like minibatch gradients (default 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the gradient noise; every optimizer sees the same noise (default 0)")
    p.add_argument("--csv", help="also write every step (optimizer, t, x, y, loss, grad_norm, step_length) to this CSV")
    p.add_argument("--out", default="trajectories.png", help="output PNG path (default trajectories.png)")


def run(args) -> int:
    check(args.steps >= 1, f"--steps {args.steps} must be >= 1")
    if args.lr is not None:
        check(args.lr > 0, f"--lr {args.lr:g} must be > 0, e.g. --lr 0.05")
    check(args.noise >= 0, f"--noise {args.noise:g} must be >= 0 (0: exact gradients)")
    check(Path(args.out).suffix.lower() == ".png", f"--out {args.out!r} must end in .png, e.g. --out trajectories.png")
    name, options = parse_spec(args.function, "--function", "ill_conditioned:condition=100")
    surface = create_surface(name, **options)
    specs = args.opts or ["sgd", "momentum", "adam"]
    check(len(set(specs)) == len(specs), f"--opt {' '.join(specs)}: an optimizer is given twice; give each once")
    # build every optimizer's arguments first, so a typo in the last one fails before any work
    arms = []
    for spec in specs:
        opt, hp = parse_spec(spec, "--opt", "adam:lr=0.1:betas=[0.9,0.99]")
        lr = hp.pop("lr", args.lr)
        if isinstance(lr, (int, float)) and not isinstance(lr, bool):
            check(lr > 0, f"--opt {spec!r}: lr={lr!r} must be > 0, e.g. {opt}:lr=0.05")
        arms.append((spec, opt, lr, hp))

    print(f"{surface.label}: f = {surface.formula}; {args.steps} steps from "
          f"({', '.join(f'{v:g}' for v in (args.start or surface.start))})"
          + (f", gradient noise std {args.noise:g} (seed {args.seed})" if args.noise else ""))
    runs = []
    for spec, opt, lr, hp in arms:
        r = descend(surface, opt, args.steps, lr, args.start, noise=args.noise, seed=args.seed, label=spec, **hp)
        runs.append(r)
        if r.diverged_at is not None:
            end = f"diverged at step {r.diverged_at} (try a smaller lr)"
        else:
            end = (f"f - f* {float(r.gap[0]):.3g} -> {float(r.gap[-1]):.3g}; step length "
                   f"{float(r.step_length[0]):.3g} -> {float(r.step_length[-1]):.3g}")
        print(f"  {spec} (lr={r.lr:g}): {end}")


    out = plot_trajectories(runs, Path(args.out))
    print(f"wrote {out}")
    if args.csv:
        path = Path(args.csv)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [row for r in runs for row in r.rows()]
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        print(f"wrote {path} ({len(rows)} rows)")
    return 0
