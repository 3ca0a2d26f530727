"""The report layer: plots read from run folders (`plots`, `surface`), the one page writer
(`page`) that runs, comparisons, searches and the claims catalogue all write with, and the
training progress display (`progress`).

Layer: above runs (it reads run folders) and optim (trajectories); below training, which calls
it at the end of a run, and experiments.
"""
from __future__ import annotations

from pathlib import Path

from ..runs import Run
from .page import run_page
from .plots import plot_curves, plot_diagnostics


def write_report(run: Run, extra: list[Path] = ()) -> Path:
    """(Re)make every plot of a run from its files and write `report.html`; pictures already in
    plots/ (a segmentation run's masks, a confusion matrix) and `extra` are shown too."""
    images = plot_curves(run) + plot_diagnostics(run)
    more = sorted(p for p in (run.path / "plots").glob("*.png") if p not in images) if (run.path / "plots").is_dir() else []
    return run_page(run, images + [p for p in list(extra) + more if p not in images])
