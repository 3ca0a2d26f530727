"""(Re)draw a run's plots and report.html from its folder, e.g. after `train(..., report=False)`.

    trainlab report runs/NAME [runs/OTHER ...]
    trainlab report runs/sweep --all        # every run below a group folder
"""
from __future__ import annotations

from pathlib import Path

from ..errors import TrainlabError
from ..runs import iter_runs, load_run
from ..training.saved import write_run_report


def add_arguments(p) -> None:
    p.add_argument("runs", nargs="+", help="run folders (with --all: folders to search for runs)")
    p.add_argument("--all", action="store_true", help="report every run found below the given folders")


def run(args) -> int:
    if args.all:
        runs = [r for p in args.runs for r in iter_runs(p)]
        if not runs:
            raise TrainlabError(f"no runs below {', '.join(args.runs)}; pass folders made by `trainlab train`")
    else:
        runs = [load_run(p) for p in args.runs]  # every path is checked before anything is drawn
    for i, r in enumerate(runs, 1):
        out = write_run_report(r)
        print(f"[{i}/{len(runs)}] {Path(out)}", flush=True)
    return 0
