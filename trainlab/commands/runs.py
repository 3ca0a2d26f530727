"""List the runs in a folder as a table."""
from __future__ import annotations

NAME = "runs"
HELP = "list runs (status, model, dataset, best validation and test scores)"
ORDER = 4


def add_arguments(p) -> None:
    p.add_argument("--dir", default="runs", help="runs folder (default: runs)")


def run(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from ..runs import iter_runs

    table = Table(title=f"runs in {args.dir}")
    for c in ("run", "status", "model", "dataset", "epochs", "best val_acc", "test acc", "time (s)"):
        table.add_column(c, justify="right" if c[0] in "ebt" and c != "run" else "left")
    n = 0
    for r in iter_runs(args.dir):
        try:
            cfg, s = r.config, r.summary
        except Exception:  # a half-written or foreign folder: list it, don't crash the listing
            table.add_row(r.name, "unreadable", "", "", "", "", "", "")
            continue
        best, test = s.get("best", {}), s.get("test", {})
        fmt = lambda v: "" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))  # noqa: E731
        table.add_row(r.name, s.get("status", "?"), str(cfg.get("model")), str(cfg.get("dataset")),
                      fmt(s.get("epochs_run")), fmt(best.get("val_acc")), fmt(test.get("acc")),
                      fmt(s.get("train_time_s")))
        n += 1
    Console().print(table if n else f"no runs in {args.dir}")
    return 0
