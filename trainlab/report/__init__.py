"""Plots and the HTML report, made from a run folder's files."""
from __future__ import annotations

from pathlib import Path

from ..runs import Run


def write_report(run: Run) -> Path:
    """(Re)make every plot of a run from its files and write `report.html`."""
    from .page import write_html
    from .plots import plot_curves, plot_diagnostics

    images = plot_curves(run) + plot_diagnostics(run)
    extra = sorted(p for p in (run.path / "plots").glob("*.png") if p not in images) if (run.path / "plots").is_dir() else []
    return write_html(run, images + extra)
