"""What a storage's queue holds: each experiment, its runs waiting, running (and on which worker),
done, pruned, failed (with the message) and retried after a worker died.

    trainlab queue --storage sqlite:///runs/queue.db
"""
from __future__ import annotations

from rich.table import Table

from ..console import make_console
from ..experiments.worker import status


def add_arguments(p) -> None:
    p.add_argument("--storage", required=True, metavar="URL", help="the queue: sqlite:///PATH or postgresql://...")


def run(args) -> int:
    rows = status(args.storage)
    console = make_console()
    if not rows:
        console.print("the queue is empty")
        return 0
    table = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold")
    heads = ["experiment", "kind", "waiting", "running", "done", "pruned", "failed", "retried"]
    for i, h in enumerate(heads):
        table.add_column(h, justify="left" if i < 2 else "right", no_wrap=True)
    for r in rows:
        table.add_row(r["name"], r["kind"], *(str(r[k]) for k in heads[2:]))
    console.print(table)
    for r in rows:
        for number, worker, what in r["running_on"]:
            console.print(f"{r['name']}: {what} running on {worker}")
        for number, error in r["errors"]:
            console.print(f"{r['name']}: trial {number} failed: {error}")
    return 0
