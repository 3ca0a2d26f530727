"""Tables of runs: what `trainlab runs` prints and `trainlab.load_runs` returns.

One row per run folder below a root (group folders are walked), with the run's path
relative to the root, its group, tags, arm hash and seed, status, model, dataset, epochs,
training time, best validation scores and test scores. Filters: `group` (that folder and
the ones inside it), `status`, and any config key or column as `key=value`.

    >>> rows = load_runs("runs", group="sweep", status="finished", dropout=0.5)   # doctest: +SKIP
    >>> sorted(rows, key=lambda r: -r["val_acc"])[0]["run"]                         # doctest: +SKIP
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import TrainlabError
from ..values import parse_value
from .folder import Run, iter_runs

HIGHER_IS_BETTER = ("acc", "top5", "miou", "map50", "map")  # map50, map: detection's mAP@0.5, mAP@[.5:.95]


def run_row(run: Run, root: Path) -> dict[str, Any]:
    """A run as one flat row; a folder that cannot be read gives status 'unreadable'."""
    row: dict[str, Any] = {"run": str(run.path.relative_to(root)) if run.path != root else run.name}
    try:
        cfg, s = run.config, run.summary
        if not isinstance(cfg, dict):
            raise ValueError("config.yaml is not a mapping")
    except Exception:  # a half-written or hand-edited folder: list it, do not crash the listing
        return {**row, "status": "unreadable"}
    best, test = s.get("best") or {}, s.get("test") or {}
    row.update({
        "status": s.get("status", "?"), "message": s.get("message") or "", "group": cfg.get("group"), "tags": cfg.get("tags") or [],
        "arm": s.get("arm"), "seed": cfg.get("seed"), "model": cfg.get("model"), "dataset": cfg.get("dataset"),
        "epochs": s.get("epochs_run"), "time_s": s.get("train_time_s"),
        **{k: v for k, v in best.items() if k.startswith("val_")},
        **{f"test_{k}": v for k, v in test.items() if isinstance(v, (int, float))},
        "config": cfg,
    })
    return row


_MISSING = object()


def _lookup(row: dict[str, Any], key: str) -> Any:
    """A config key (dotted keys reach into dicts: model_options.width) or, failing that, a column."""
    have: Any = row.get("config", {})
    for part in key.split("."):
        have = have.get(part, _MISSING) if isinstance(have, dict) else _MISSING
    return row.get(key, _MISSING) if have is _MISSING else have


def check_where(keys: list[str], rows: list[dict[str, Any]]) -> None:
    """Refuse a filter key that is neither a config key nor a column (a typo would match nothing)."""
    known = set(Config.model_fields) | {k for r in rows for k in r if k != "config"}
    for key in keys:
        head = key.split(".")[0]
        if head not in known:
            close = difflib.get_close_matches(head, sorted(known), n=1)
            raise TrainlabError(f"--where {key!r}: unknown key {head!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                                + "; use a config key (`trainlab train --help-config`), a dotted one such as "
                                "model_options.width, or a column of `trainlab runs`")


def _matches(row: dict[str, Any], key: str, want: Any) -> bool:
    have = _lookup(row, key)
    if have is _MISSING:
        return False
    if isinstance(want, str) and not isinstance(have, str):
        want = parse_value(want)
    if isinstance(have, list) and not isinstance(want, list):
        return want in have  # tags=foo matches a run tagged foo
    return have == want or str(have) == str(want)


def select_runs(root: str | Path = "runs", *, group: str | None = None, status: str | None = None,
                where: dict[str, Any] | None = None, sort: str | None = None, reverse: bool = False
                ) -> list[dict[str, Any]]:
    """Rows of the runs below `root` that pass the filters, sorted by `sort` (best first for
    scores: accuracy and IoU descending, losses and times ascending)."""
    root = Path(root)
    if not root.is_dir():
        raise TrainlabError(f"runs folder {str(root)!r} not found; pass the folder your runs are in (default: runs)")
    rows = [run_row(r, root) for r in iter_runs(root)]
    if group is not None:
        g = group.strip("/")
        rows = [r for r in rows if str(r.get("group") or "") == g or str(r.get("group") or "").startswith(g + "/")
                or r["run"].startswith(g + "/")]
    if status is not None:
        rows = [r for r in rows if r.get("status") == status]
    check_where(list(where or {}), rows)
    for key, want in (where or {}).items():
        rows = [r for r in rows if "config" in r and _matches(r, key, want)]
    if sort is not None:
        if rows and not any(sort in r for r in rows):
            cols = sorted({k for r in rows for k in r if k != "config"})
            raise TrainlabError(f"--sort {sort!r} is not a column; choose one of: {', '.join(cols)}")
        desc = sort.endswith(HIGHER_IS_BETTER) != reverse
        present = [r for r in rows if isinstance(r.get(sort), (int, float))]
        absent = [r for r in rows if not isinstance(r.get(sort), (int, float))]
        rows = sorted(present, key=lambda r: r[sort], reverse=desc) + absent
    return rows


def load_runs(path: str | Path = "runs", *, group: str | None = None, status: str | None = None,
              sort: str | None = None, as_frame: bool | None = None, **where: Any):
    """The runs below `path` as a list of dicts, or a pandas DataFrame when pandas is installed
    (as_frame=None) or asked for (as_frame=True). Keyword filters match config keys or columns.

    >>> trainlab.load_runs("runs", group="compare-dropout", dropout=0.5)   # doctest: +SKIP
    """
    rows = select_runs(path, group=group, status=status, where=where, sort=sort)
    if as_frame is False:
        return rows
    try:
        import pandas as pd  # lazy: optional (users who want a DataFrame have it), and slow to import
    except ImportError:
        if as_frame:
            raise TrainlabError("as_frame=True needs pandas: pip install pandas (or leave as_frame unset)") from None
        return rows
    return pd.DataFrame([{k: v for k, v in r.items() if k != "config"} for r in rows])
