"""Pictures of a comparison: every seed as a dot with the arm's mean and CI, learning curves as
mean with a band, and the paired differences against the baseline."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..report.plots import plt, save_figure

COLORS = plt.get_cmap("tab10").colors


def primary(metrics: list[str], split: str = "val") -> str | None:
    for m in (f"{split}_acc", f"{split}_miou", f"{split}_loss"):
        if m in metrics:
            return m
    return None


def dots_figure(c):
    """Every seed as a dot per arm, with the arm's mean and 95% CI (validation at the best epoch, and test)."""
    metrics = [m for m in (primary(c.metrics(), "val"), primary(c.metrics(), "test")) if m]
    table = c.table()
    arms = list(c.runs)
    fig, axes = plt.subplots(1, len(metrics), figsize=(max(3.6, 1.2 * len(arms) + 1.6) * len(metrics), 4.0),
                             squeeze=False)
    fig.suptitle(f"{c.spec['name']}: one dot per seed; black square = mean with 95% bootstrap CI", fontsize=10)
    rng = np.random.default_rng(0)
    for ax, m in zip(axes[0], metrics):
        for i, arm in enumerate(arms):
            vals = list(c.values(arm, m).values())
            x = i + rng.uniform(-0.12, 0.12, len(vals))
            ax.scatter(x, vals, s=22, color=COLORS[i % 10], alpha=0.75, zorder=3, label=None)
            s = table[arm][m]
            if s["n"]:
                lo, hi = s["ci"]
                ax.errorbar(i + 0.28, s["mean"], yerr=[[s["mean"] - lo], [hi - s["mean"]]], fmt="s", ms=6,
                            color="black", capsize=4, zorder=4)
        ax.set_xticks(range(len(arms)), [f"{a}\n(n={table[a][m]['n']})" for a in arms])
        ax.set_ylabel(m)
        ax.set_title(m + (" (best epoch)" if m.startswith("val_") else " (reported, not chosen on)"), fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.set_xlim(-0.5, len(arms) - 0.3)
    return fig


def curves_figure(c):
    """Validation loss (and accuracy) against epochs: each arm's mean over seeds with a +-1 std band."""
    # a regression run logs no accuracy: then the loss panel alone, not an empty accuracy panel
    acc = any(p[1] is not None for runs in c.runs.values() for r in runs.values() for p in r["curve"] or ())
    fig, axes = plt.subplots(1, 1 + acc, figsize=(5.2 * (1 + acc), 3.8), squeeze=False)
    axes = axes[0]
    detection = any("val_map50" in r["metrics"] for runs in c.runs.values() for r in runs.values())
    score = "val_map50" if detection else "val_acc"  # the curve's score: accuracy, or a detector's mAP@0.5
    panels = ((axes[0], 2, "val_loss"),) + (((axes[1], 1, score),) if acc else ())
    drew = False
    for i, (arm, runs) in enumerate(c.runs.items()):
        for ax, col, name in panels:
            curves = [r["curve"] for r in runs.values() if r["curve"]]
            if not curves:
                continue
            n = min(len(cv) for cv in curves)  # seeds that stopped early end the band where the shortest ends
            ep = np.array([p[0] for p in curves[0][:n]], dtype=float)
            ys = np.array([[p[col] if p[col] is not None else np.nan for p in cv[:n]] for cv in curves], dtype=float)
            if np.isnan(ys).all():
                continue
            mean, sd = np.nanmean(ys, 0), np.nanstd(ys, 0)
            ax.plot(ep, mean, "-o", ms=3, color=COLORS[i % 10], label=f"{arm} (n={len(curves)})")
            ax.fill_between(ep, mean - sd, mean + sd, color=COLORS[i % 10], alpha=0.18)
            ax.set_ylabel(name)
            drew = True
    if not drew:
        plt.close(fig)
        return None
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_title("validation loss: mean over seeds, band = +-1 std", fontsize=9)
    if acc:
        axes[1].set_title(f"validation {'mAP@0.5' if detection else 'accuracy'}: mean over seeds, band = +-1 std",
                          fontsize=9)
    return fig


def paired_figure(c):
    """Each arm minus the baseline, paired by seed: the differences, their mean and 95% CI, the p-value."""
    m = primary(c.metrics(), "val")
    others = [a for a in c.runs if a != c.baseline]
    if not m or not others:
        return None
    paired = c.paired()
    fig, ax = plt.subplots(figsize=(max(4.5, 1.4 * len(others) + 2), 3.8))
    base = c.values(c.baseline, m)
    for i, arm in enumerate(others):
        a = c.values(arm, m)
        d = [a[s] - base[s] for s in sorted(set(a) & set(base))]
        ax.scatter(np.full(len(d), i) + np.linspace(-0.1, 0.1, len(d)), d, s=22, color=COLORS[(i + 1) % 10], zorder=3)
        p = paired[arm][m]
        if p["n"] >= 2:
            lo, hi = p["ci"]
            ax.errorbar(i + 0.25, p["mean_diff"], yerr=[[p["mean_diff"] - lo], [hi - p["mean_diff"]]], fmt="s",
                        ms=6, color="black", capsize=4, zorder=4)
            ax.annotate(f"p={p['p_t']:.3g}", (i + 0.3, p["mean_diff"]), fontsize=8, xytext=(6, 0),
                        textcoords="offset points", va="center")
    ax.axhline(0, color="gray", lw=1, ls="--")
    ax.set_xticks(range(len(others)), others)
    ax.set_xlim(-0.5, len(others) - 0.2)
    ax.set_ylabel(f"{m} - {c.baseline}")
    ax.set_title(f"{m} minus {c.baseline!r}, paired by seed\n(dots: seeds; square: mean, 95% CI; p: paired t)",
                 fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    return fig


FIGURES = {"dots": dots_figure, "curves": curves_figure, "paired": paired_figure}


def plot_comparison(c) -> list[Path]:
    """The comparison's pictures, as files in its plots/ folder."""
    made = [(name, fn(c)) for name, fn in FIGURES.items()]
    return [save_figure(fig, c.folder / "plots" / f"{name}.png") for name, fig in made if fig is not None]


def plot_size(res: dict, path: Path) -> Path:
    """Ensemble accuracy against ensemble size (mean and range over member subsets), beside the members."""
    cv = res["size_curve"]
    k = [c["size"] for c in cv]
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot(k, [c["mean"] for c in cv], "-o", color="#d62728", label="ensemble (mean over member subsets)")
    ax.fill_between(k, [c["min"] for c in cv], [c["max"] for c in cv], color="#d62728", alpha=0.15,
                    label="min to max over subsets")
    ax.axhline(res["mean_member"]["acc"], color="#1f77b4", ls="--", label="mean member")
    ax.axhline(res["best_member"]["acc"], color="#2ca02c", ls=":", label="best member (chosen on validation)")
    ax.set_xlabel("ensemble size")
    ax.set_ylabel("test accuracy")
    ax.set_xticks(k)
    ax.set_title(f"ensemble ({res['combine']}): gain {res['gain']['acc']:+.4f} over the mean member", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
