"""Optimizer trajectories drawn on a 2-D loss surface's contours, beside their losses per step.

    >>> from trainlab.optim.trajectory import descend
    >>> runs = [descend("ill_conditioned", name, steps=100, lr=0.05) for name in ("sgd", "momentum", "adam")]
    >>> plot_trajectories(runs, Path("trajectories.png"))  # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import check
from ..optim.trajectory import Surface, Trajectory
from .plots import plt, save_figure

GRID = 400  # contour grid points per axis
LEVELS = 24  # log-spaced contour levels of f - min f
GROW = 1.0  # a path may widen the window by this many window widths on each side; beyond, it is cut off


def _blew_up(run: Trajectory) -> bool:
    """Diverged, or ended far worse than it started: its path says only "too large an lr"."""
    return run.diverged_at is not None or not float(run.gap[-1]) <= 10 * float(run.gap[0])


def _window(surface: Surface, runs: Sequence[Trajectory]) -> tuple[float, float, float, float]:
    """The surface's window, widened to hold the paths' points (up to GROW widths on each side).
    Paths that blew up do not widen it: they would squeeze the others into a corner; they are cut off."""
    x_lo, x_hi, y_lo, y_hi = surface.window
    w, h = x_hi - x_lo, y_hi - y_lo
    kept = [r.points for r in runs if not _blew_up(r)]
    pts = torch.cat(kept).numpy() if kept else np.zeros((0, 2))
    pts = pts[np.isfinite(pts).all(axis=1)]
    inside = pts[(pts[:, 0] >= x_lo - GROW * w) & (pts[:, 0] <= x_hi + GROW * w)
                 & (pts[:, 1] >= y_lo - GROW * h) & (pts[:, 1] <= y_hi + GROW * h)]
    if len(inside):
        pad_x, pad_y = 0.04 * w, 0.04 * h  # a margin so markers at the edge stay whole
        x_lo, x_hi = min(x_lo, inside[:, 0].min() - pad_x), max(x_hi, inside[:, 0].max() + pad_x)
        y_lo, y_hi = min(y_lo, inside[:, 1].min() - pad_y), max(y_hi, inside[:, 1].max() + pad_y)
    return x_lo, x_hi, y_lo, y_hi


def _left_window(run: Trajectory, window: tuple[float, float, float, float]) -> bool:
    x_lo, x_hi, y_lo, y_hi = window
    p = run.points.numpy()
    p = p[np.isfinite(p).all(axis=1)]
    return bool(((p[:, 0] < x_lo) | (p[:, 0] > x_hi) | (p[:, 1] < y_lo) | (p[:, 1] > y_hi)).any())


def _fmt(v: float) -> str:
    return "nan" if not np.isfinite(v) else f"{v:.2g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.1e}"


def _legend_label(run: Trajectory, window) -> str:
    lr = "" if "lr=" in run.label else f" lr={run.lr:g}"  # a label 'adam:lr=0.1' already says it
    if run.diverged_at is not None:
        end = f"diverged at step {run.diverged_at}"
    else:
        end = f"f - f* = {_fmt(float(run.gap[-1]))}"
        if _left_window(run, window):
            end += ", left the plot"
    return f"{run.label}{lr}: {end}"


def plot_trajectories(runs: Sequence[Trajectory], path: Path, title: str | None = None) -> Path:
    """Left: contours of f - min f on log-spaced levels, one coloured path per run (a circle at the
    start, a square at the end, the minima as stars). Right: f(x_t) - min f against step t (log).
    Every run must be on the same surface."""
    check(len(runs) > 0, "plot_trajectories needs at least one trajectory")
    surface = runs[0].surface
    check(all(r.surface.label == surface.label for r in runs),
          "plot_trajectories: every trajectory must be on the same test function (one picture per function)")
    window = _window(surface, runs)
    x_lo, x_hi, y_lo, y_hi = window

    xs, ys = np.linspace(x_lo, x_hi, GRID), np.linspace(y_lo, y_hi, GRID)
    gx, gy = torch.meshgrid(torch.tensor(xs), torch.tensor(ys), indexing="xy")
    with torch.no_grad():
        gap = (surface.f(gx, gy) - surface.min_value).numpy()
    # log levels from just above the lowest grid value to the highest: dense near the minimum,
    # where the paths end, and still spanning the walls
    top = float(gap.max())
    low = max(float(np.quantile(gap, 0.001)), top * 1e-8, 1e-12)
    levels = np.geomspace(low, top, LEVELS)

    fig, (ax, ax_loss) = plt.subplots(1, 2, figsize=(12.8, 5.0), gridspec_kw={"width_ratios": [1.25, 1]})
    norm = plt.matplotlib.colors.LogNorm(vmin=low, vmax=top)
    ax.contourf(xs, ys, np.clip(gap, low, top), levels=levels, norm=norm, cmap="Blues_r", alpha=0.55)
    ax.contour(xs, ys, np.clip(gap, low, top), levels=levels, norm=norm, colors="#5a6b7c", linewidths=0.5, alpha=0.6)
    for i, (mx, my) in enumerate(surface.minima):
        ax.plot(mx, my, "*", ms=15, c="gold", mec="black", mew=0.8, zorder=5,
                label=("minimum" if len(surface.minima) == 1 else "minima") if i == 0 else None)

    colors = plt.get_cmap("tab10").colors
    steps = max(len(r.step_length) for r in runs)
    for i, run in enumerate(runs):
        c = colors[i % len(colors)]
        p = run.points.numpy()
        p = p[np.isfinite(p).all(axis=1)]
        dots = 2.5 if steps <= 200 else 0  # a dot per step shows the step lengths; too many blur into the line
        ax.plot(p[:, 0], p[:, 1], "-o", c=c, lw=1.4, ms=dots, alpha=0.9, zorder=3)
        ax.plot(*p[-1], "s", ms=7, c=c, mec="black", mew=0.8, zorder=6)
        t = np.arange(len(run.gap))
        g = run.gap.numpy()
        ax_loss.plot(t, np.where(g > 0, g, np.nan), c=c, lw=1.6, label=_legend_label(run, window))
    starts = {tuple(r.points[0].tolist()) for r in runs}
    for j, (sx, sy) in enumerate(starts):
        ax.plot(sx, sy, "o", ms=8, c="white", mec="black", mew=1.2, zorder=6, label="start" if j == 0 else None)
    ax.plot([], [], "s", ms=7, c="white", mec="black", mew=0.8, label="end")  # legend entry only

    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"{surface.label}: f = {surface.formula}", fontsize=10)
    ax.legend(loc="best", fontsize=8, framealpha=0.85)

    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step t")
    ax_loss.set_ylabel("f(x_t) - f*" if surface.min_value == 0 else f"f(x_t) - f*   (f* = {surface.min_value:g})")
    ax_loss.set_xlim(0, steps)
    calm = np.concatenate([r.gap.numpy() for r in runs if not _blew_up(r)] or [np.zeros(0)])
    calm = calm[np.isfinite(calm) & (calm > 0)]
    if len(calm) and any(_blew_up(r) for r in runs):  # a diverging curve would flatten the others: it runs off the top
        ax_loss.set_ylim(calm.min() / 3, 30 * calm.max())
    noise = {r.noise for r in runs}
    noisy = f" (gradient noise std {next(iter(noise)):g})" if len(noise) == 1 and noise != {0.0} else ""
    ax_loss.set_title(f"loss against step{noisy}", fontsize=10)
    ax_loss.grid(alpha=0.3, which="major")
    ax_loss.legend(fontsize=8, loc="best", framealpha=0.9)
    if title:
        fig.suptitle(title, fontsize=11)
    return save_figure(fig, Path(path))


__all__ = ["plot_trajectories"]
