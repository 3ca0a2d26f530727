"""Continue an interrupted run from its newest checkpoint (bit-identical on CPU)."""
from __future__ import annotations

from ..distributed import check
from ..distributed.launch import launch
from ..runs import load_run
from ..training.checks import run_config
from ..training.run import resume


def add_arguments(p) -> None:
    p.add_argument("run", help="run folder, e.g. runs/convnet-fashion-mnist")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--nproc", type=int, metavar="N",
                   help="resume on N processes (bit for bit with the number the run was written by)")


def run(args) -> int:
    if args.nproc is not None:
        check(run_config(load_run(args.run)), args.nproc)
        return launch(args.nproc, ["resume", args.run] + (["--quiet"] if args.quiet else []), run=args.run)
    result = resume(args.run, quiet=args.quiet)
    if result is None:  # a rank other than 0 of a distributed run: rank 0 reports
        return 0
    return 1 if result.summary.get("status") == "diverged" else 0
