"""List the runs in a folder (group folders included) as a table, with filters and sorting.

    trainlab runs                                  # every run under runs/
    trainlab runs --group compare-dropout --status finished --sort val_acc
    trainlab runs --where dropout=0.5 --where optimizer=adam
"""
from __future__ import annotations

import argparse

from rich.table import Table

from ..console import fmt_epochs, fmt_score, fmt_time, make_console
from ..errors import TrainlabError
from ..runs.table import select_runs
from ..values import parse_pairs


def add_arguments(p) -> None:
    p.add_argument("path", nargs="?", default=None, help="runs folder (default: runs)")
    p.add_argument("--dir", default=None, help=argparse.SUPPRESS)  # the older spelling `--dir PATH` still works
    p.add_argument("--group", help="only runs of this group (and the groups inside it)")
    p.add_argument("--status", choices=["running", "finished", "early_stopped", "stopped", "diverged"],
                   help="only runs with this status")
    p.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                   help="only runs whose config (or column) has this value, e.g. --where dropout=0.5 (repeatable)")
    p.add_argument("--sort", metavar="COLUMN", help="sort by a column, best first for scores (e.g. val_acc)")
    p.add_argument("--reverse", action="store_true", help="reverse the sort order")


def run(args) -> int:
    if args.reverse and not args.sort:
        raise TrainlabError("--reverse reverses a --sort; give --sort COLUMN with it")
    root = args.path or args.dir or "runs"
    rows = select_runs(root, group=args.group, status=args.status,
                       where=parse_pairs(args.where, "--where", "dropout=0.5"), sort=args.sort, reverse=args.reverse)
    console = make_console()
    if not rows:
        console.print(f"no runs in {root}" + (" match the filters" if args.group or args.status or args.where else ""))
        return 0
    seg = any("test_miou" in r for r in rows)
    kind = "accuracy" if any("val_acc" in r or "test_acc" in r for r in rows) else "loss"  # loss: regression runs
    kind = "mAP@0.5" if kind == "loss" and any("val_map50" in r for r in rows) else kind  # detection runs
    # model and dataset: a column only when they differ between the rows, else said once in the title
    same = {k: {str(r.get(k)) for r in rows if r.get("status") != "unreadable"} for k in ("model", "dataset")}
    shared = ", ".join(f"{k} {next(iter(v))}" for k, v in same.items() if len(v) == 1)
    monitors = sorted({str(r["config"].get("monitor", "val_loss")) for r in rows if "config" in r})
    console.print(f"{len(rows)} runs in {root}" + (f" ({shared})" if shared else ""))
    console.print(f"val: validation {kind} at each run's best evaluation by its monitor ({', '.join(monitors)}), "
                  f"the weights it kept; test: test {kind} of those weights" + ("; IoU: test mean IoU" if seg else ""))
    table = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold")
    varying = [k for k, v in same.items() if len(v) > 1]
    scores = {"accuracy": ["val_acc", "test_acc"], "mAP@0.5": ["val_map50", "test_map50"]}.get(
        kind, ["val_loss", "test_loss"])
    scores += ["test_miou"] if seg else []
    heads = ["run", "status", "ep", "val", "test"] + (["IoU"] if seg else []) + ["time"]
    for i, h in enumerate(heads):
        table.add_column(h, justify="left" if i < 2 else "right", no_wrap=True)
    if varying:
        table.add_column("/".join(varying), no_wrap=True, overflow="ellipsis")
    for r in rows:
        status = r.get("status", "?") + (f" ({r['message']})" if r.get("status") == "stopped" and r.get("message") else "")
        cells = [r["run"], status, fmt_epochs(r.get("epochs"))]
        cells += [fmt_score(r.get(k)) for k in scores] + [fmt_time(r.get("time_s"))]
        table.add_row(*cells, *(["/".join(str(r.get(k) or "") for k in varying)] if varying else []))
    console.print(table)
    return 0
