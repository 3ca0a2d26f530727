"""Figures of a run folder: `plt`, the one way every layer reaches matplotlib, and the figure of a
run's curves, which `Run.plot()` returns in a notebook and the report layer saves as curves.png.

It sits in the runs layer, below report/, so that `Run` (here) can draw itself without importing a
layer above it; the report layer saves the same figure to files (one drawing, two uses).

Outside a notebook pyplot runs on the Agg backend (files, never a window). In a Jupyter kernel it
keeps the kernel's inline backend, and a figure returned by a `.plot()` is closed in pyplot first:
Jupyter then shows it once, as the cell's value, not a second time as an open figure.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .files import write_bytes

TRAIN_C, VAL_C = "#1f77b4", "#d62728"
NAMES = {"map50": "mAP@0.5"}  # metric keys shown under another name


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython with a kernel), where figures and HTML show inline."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and hasattr(shell, "kernel")


class _Pyplot:
    """matplotlib.pyplot, imported when a picture is first drawn: importing it costs ~0.8 s, which
    every worker process of an experiment would pay at start-up although its runs draw nothing."""

    def __getattr__(self, name: str) -> Any:
        import matplotlib  # lazy: ~0.8 s with pyplot (see the class docstring)

        if not in_notebook():
            matplotlib.use("Agg")  # files, never a window
        import matplotlib.pyplot as pyplot  # lazy: as above

        return getattr(pyplot, name)


plt = _Pyplot()


def save_figure(fig, path: Path, tight: bool = True, dpi: int = 110) -> Path:
    """Draw `fig` into `path` atomically, like every file of a run folder: a run killed while
    drawing its report leaves the old picture or the new one, never half a PNG."""
    if tight:  # not for figures that place their own colorbar axes (Optuna's contour plot)
        fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)
    write_bytes(Path(path), buf.getvalue())
    return path


def shown(fig):
    """A figure to return from a `.plot()`: laid out, and closed in pyplot, so a notebook shows it once
    (as the cell's value) and a script can still save it (`fig.savefig(...)`)."""
    fig.tight_layout()
    plt.close(fig)
    return fig


def _col(rows: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([r.get(key, np.nan) if r.get(key) is not None else np.nan for r in rows], dtype=float)


def series(rows: list[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values) of the rows that have `key`: train rows (log_every) and validation rows
    (eval_every, eval_at_start) come at different steps."""
    have = [r for r in rows if r.get(key) is not None]
    return _col(have, "epoch"), _col(have, key)


def curves_figure(name: str, rows: list[dict[str, Any]], best_epoch: float | None = None):
    """Loss and accuracy (or mean IoU, or a detector's mAP@0.5 and mAP@[.5:.95] with its named
    training losses beside the total) against epochs, train against validation, with the best
    evaluation marked; a regression run, which logs losses alone, gets the loss panel alone."""
    acc_keys = [k for k in ("acc", "miou", "map50") if any(f"val_{k}" in r for r in rows)]
    parts = sorted({k for r in rows for k in r if k.startswith("train_loss_")})  # a detector's named losses
    fig, axes = plt.subplots(1, 1 + len(acc_keys), figsize=(5.2 * (1 + len(acc_keys)), 3.8))
    axes = np.atleast_1d(axes)
    for ax, key in zip(axes, ["loss"] + acc_keys):
        if any(f"train_{key}" in r for r in rows):
            ax.plot(*series(rows, f"train_{key}"), "-o", ms=3, c=TRAIN_C, label=f"train {key}")
        ax.plot(*series(rows, f"val_{key}"), "-o", ms=3, c=VAL_C, label=f"validation {NAMES.get(key, key)}")
        if key == "acc" and any("val_top5" in r for r in rows):  # more than 5 classes: top-5 beside top-1
            ax.plot(*series(rows, "val_top5"), "--o", ms=3, c=VAL_C, alpha=0.6, label="validation top-5")
        if key == "map50":  # COCO's mAP@[.5:.95] beside mAP@0.5
            ax.plot(*series(rows, "val_map"), "--o", ms=3, c=VAL_C, alpha=0.6, label="validation mAP@[.5:.95]")
        if key == "loss":
            for j, part in enumerate(parts):
                ax.plot(*series(rows, part), ":", lw=1.2, c=plt.get_cmap("tab10")(2 + j), label=part.replace("_", " "))
        if best_epoch is not None:
            ax.axvline(best_epoch, ls="--", c="gray", lw=1, label=f"best (epoch {best_epoch:g})")
        ax.set_xlabel("epoch")
        ax.set_ylabel("mAP" if key == "map50" else key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_title(f"{name}: loss")
    if len(axes) > 1:
        axes[1].set_title({"acc": "accuracy", "miou": "mean IoU", "map50": "mean average precision"}[acc_keys[0]])
    return fig
