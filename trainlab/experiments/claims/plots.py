"""Pictures most claims share: seeds as dots per arm (with the mean and its 95% CI), and curves per
arm (one thin line per seed, the mean thick). A claim with its own picture draws it itself."""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ...report.plots import plt, save_figure  # pyplot on Agg (in a notebook, the kernel's backend)
from .. import stats

COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def dots(ax, data: dict[str, Any], quantity: str, arms: Sequence[str] | None = None, label: str | None = None) -> None:
    """One column per arm: a dot per seed, a bar for the mean's 95% bootstrap CI."""
    arms = list(arms or data["arms"])
    rng = np.random.default_rng(0)
    for i, arm in enumerate(arms):
        v = [x for x in data["arms"][arm][quantity] if isinstance(x, (int, float)) and math.isfinite(x)]
        if not v:
            continue
        jitter = rng.uniform(-0.08, 0.08, len(v))
        ax.scatter(i + jitter, v, s=22, color=COLORS[i % len(COLORS)], alpha=0.75, zorder=3)
        s = stats.summarize(v)
        ax.errorbar(i + 0.22, s["mean"], yerr=[[s["mean"] - s["ci"][0]], [s["ci"][1] - s["mean"]]], fmt="o",
                    color="black", capsize=4, ms=5, zorder=4)
    ax.set_xticks(range(len(arms)), arms, rotation=15 if len(arms) > 3 else 0)
    ax.set_ylabel(label or quantity)
    ax.grid(axis="y", alpha=0.3)


def curves(ax, data: dict[str, Any], arms: Sequence[str] | None = None, label: str | None = None,
           log: bool = False) -> None:
    """Each arm's curve of data["curve"] against epochs: seeds thin, their mean thick."""
    arms = list(arms or data["curves"])
    for i, arm in enumerate(arms):
        color = COLORS[i % len(COLORS)]
        per_seed = [np.array(c, dtype=float) for c in data["curves"].get(arm, []) if len(c)]
        for c in per_seed:
            ax.plot(c[:, 0], c[:, 1], color=color, alpha=0.25, lw=0.8)
        if per_seed:  # the mean over the seeds that reached each row (a diverged run stops early)
            longest = max(per_seed, key=len)
            padded = np.full((len(per_seed), len(longest)), np.nan)
            for i, c in enumerate(per_seed):
                padded[i, :len(c)] = c[:, 1]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # columns no seed reached: nan
                mean = np.nanmean(padded, axis=0)
            ax.plot(longest[:, 0], mean, color=color, lw=2, label=arm, marker="." if len(longest) < 3 else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel(label or str(data.get("curve")))
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def dots_and_curves(data: dict[str, Any], quantity: str, path: Path, title: str, arms: Sequence[str] | None = None,
                    qlabel: str | None = None, clabel: str | None = None, log: bool = False) -> Path:
    """The usual picture of an arms claim: seeds as dots for the judged quantity, curves beside."""
    fig, axes = plt.subplots(1, 2 if data.get("curves") else 1, figsize=(10 if data.get("curves") else 5, 3.6))
    axes = np.atleast_1d(axes)
    dots(axes[0], data, quantity, arms, qlabel)
    axes[0].set_title(qlabel or quantity, fontsize=10)
    if data.get("curves"):
        curves(axes[1], data, arms, clabel, log)
        axes[1].set_title(f"{clabel or data['curve']} per epoch (thin: seeds)", fontsize=10)
    fig.suptitle(title, fontsize=11)
    return save_figure(fig, path)


def figure(ncols: int = 1, width: float = 5.0, height: float = 3.6):
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height))
    return fig, np.atleast_1d(axes)
