"""Find a learning rate: train from the config's initial weights while the lr grows exponentially
(from --start-lr to --end-lr over --steps steps), stop when the smoothed loss passes 4x its best,
and suggest an lr: `steepest` (where the smoothed loss falls fastest against log lr) and fastai's
`valley` (half way down the longest falling stretch; what `lr: find` in a config trains with).

    trainlab lr-find configs/default.yaml
    trainlab lr-find configs/mlp-digits.yaml --set optimizer=adam --steps 200 --out adam-lr.png

The run the config describes is untouched: the test uses its own copy of the weights and its own
random streams. The picture is the loss against lr (log axis) with both suggestions marked.
"""
from __future__ import annotations

from ..config import load_config
from ..training.lr_find import RULE, lr_find


def add_arguments(p) -> None:
    p.add_argument("config", nargs="?", help="YAML config, e.g. configs/default.yaml (omit to use the defaults)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (repeatable), e.g. --set optimizer=adam")
    p.add_argument("--steps", type=int, default=100, help="steps of the ramp (default 100)")
    p.add_argument("--start-lr", type=float, default=1e-7, help="lr of the first step (default 1e-7)")
    p.add_argument("--end-lr", type=float, default=10.0, help="lr of the last step (default 10)")
    p.add_argument("--diverge", type=float, default=4.0,
                   help="stop once the smoothed loss passes this many times its best (default 4)")
    p.add_argument("--out", default="lr_find.png", help="output PNG path (default lr_find.png)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args) -> int:
    cfg = load_config(args.config, args.overrides)
    found = lr_find(cfg, start_lr=args.start_lr, end_lr=args.end_lr, steps=args.steps, diverge=args.diverge,
                    out=args.out, quiet=args.quiet)
    print(f"{found.stopped}\n"
          f"steepest: {found.steepest:.4g}   (the smoothed loss falls fastest here)\n"
          f"valley:   {found.valley:.4g}   (half way down the longest fall; `lr: find` trains with the {RULE})\n"
          f"{found.picture}: loss against lr with both suggestions marked")
    return 0
