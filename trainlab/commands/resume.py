"""Continue an interrupted run from its newest checkpoint (bit-identical on CPU)."""
from __future__ import annotations

NAME = "resume"
HELP = "continue an interrupted run from its last checkpoint"
ORDER = 2


def add_arguments(p) -> None:
    p.add_argument("run", help="run folder, e.g. runs/convnet-fashion-mnist")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def run(args) -> int:
    from ..trainer import resume

    result = resume(args.run, quiet=args.quiet)
    return 1 if result.summary.get("status") == "diverged" else 0
