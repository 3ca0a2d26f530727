"""Plots made from a run folder's files (never from inside the training loop). `plt` and
`save_figure`, the way every layer above reaches matplotlib (pyplot imported at first use, on the
Agg backend outside a notebook), and the figure of a run's curves live in the runs layer
(trainlab.runs.figures), so that a `Run` can draw itself; they are used from here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..runs import Run
from ..runs.figures import TRAIN_C, curves_figure, plt, save_figure, series

__all__ = ["plot_boxes", "plot_confusion", "plot_curves", "plot_diagnostics", "plot_lr_find", "plot_masks", "plot_schedule",
           "plt", "save_figure"]


def plot_curves(run: Run) -> list[Path]:
    """Loss and accuracy (train against validation; no accuracy panel for a regression run, which
    logs losses alone; a detection run has mAP@0.5 and mAP@[.5:.95] instead, and its named training
    losses beside the total), learning rate, gradient norm."""
    rows = run.metrics
    if not rows:
        return []
    out = [save_figure(curves_figure(run.name, rows, run.summary.get("best", {}).get("epoch")),
                       run.path / "plots" / "curves.png")]

    fig, axes = plt.subplots(1, 2, figsize=(10.4, 3.4))
    axes[0].plot(*series(rows, "lr"), "-o", ms=3, c="#2ca02c")
    axes[0].set_title("learning rate (at each row)")
    axes[1].plot(*series(rows, "grad_norm"), "-o", ms=3, c="#9467bd")
    axes[1].set_title("gradient norm (mean over the period, before clipping)")
    axes[1].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    out.append(save_figure(fig, run.path / "plots" / "lr_gradnorm.png"))
    return out


def _short(name: str) -> str:
    return name.replace(".weight", "").replace("layers.", "").replace("blocks.", "b")[-18:]


def plot_diagnostics(run: Run) -> list[Path]:
    """Gradient flow across depth, update/weight ratios, dead/saturated units, activation histograms."""
    rows = run.diagnostics
    if not rows:
        return []
    out = []
    cmap = plt.get_cmap("viridis")
    steps = [r for r in rows if r.get("grad_norm") and r.get("update_ratio")]  # rows with a measured step
    layers = list(steps[-1]["grad_norm"]) if steps else []
    if layers:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4))
        pick = steps if len(steps) <= 8 else [steps[i] for i in np.linspace(0, len(steps) - 1, 8).round().astype(int)]
        for i, r in enumerate(pick):
            c = cmap(i / max(1, len(pick) - 1))
            axes[0].plot(range(len(layers)), [r["grad_norm"][n] for n in layers], "-o", ms=3, c=c,
                         label=f"epoch {r['epoch']:g}")
            axes[1].plot(range(len(layers)), [r["update_ratio"][n] for n in layers], "-o", ms=3, c=c)
        axes[0].set_title("gradient flow: gradient norm per layer (input → output)")
        axes[1].set_title("update / weight ratio per layer")
        axes[1].axhline(1e-3, ls="--", c="gray", lw=1, label="1e-3 rule of thumb")
        for ax in axes:
            ax.set_yscale("log")
            ax.set_xticks(range(len(layers)))
            ax.set_xticklabels([_short(n) for n in layers], rotation=60, ha="right", fontsize=7)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        out.append(save_figure(fig, run.path / "plots" / "gradient_flow.png"))

    acts = rows[-1].get("activations", {})
    if acts:
        names = list(acts)
        fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
        ep = [r["epoch"] for r in rows]
        for j, n in enumerate(names):
            c = cmap(j / max(1, len(names) - 1))
            for ax, key in zip(axes, ("dead", "saturated")):
                vals = [r["activations"].get(n, {}).get(key) for r in rows]
                if any(v is not None for v in vals):
                    ax.plot(ep, [np.nan if v is None else v for v in vals], "-o", ms=3, c=c, label=_short(n))
        axes[0].set_title("dead units (never positive on the batch)")
        axes[1].set_title("saturated activations (sigmoid/tanh)")
        for ax in axes:
            ax.set_xlabel("epoch")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7, ncol=2)
            else:
                ax.text(0.5, 0.5, "no such units in this model", ha="center", va="center", transform=ax.transAxes)
        out.append(save_figure(fig, run.path / "plots" / "dead_saturated.png"))

        k = len(names)
        cols = min(k, 4)
        fig, axes = plt.subplots((k + cols - 1) // cols, cols, figsize=(3.2 * cols, 2.4 * ((k + cols - 1) // cols)),
                                 squeeze=False)
        for ax, n in zip(axes.flat, names):
            a = acts[n]
            lo, hi = a["range"]
            edges = np.linspace(lo, hi, len(a["hist"]) + 1)
            ax.bar(edges[:-1], a["hist"], width=edges[1] - edges[0], align="edge", color="#1f77b4")
            ax.set_yscale("log")  # ReLU layers pile up at zero: a log count keeps the tail visible
            ax.set_title(f"{_short(n)} ({a['kind']})\nmean {a['mean']:.2f} std {a['std']:.2f}", fontsize=8)
            ax.tick_params(labelsize=7)
        for ax in list(axes.flat)[k:]:
            ax.axis("off")
        fig.suptitle(f"activation histograms per layer (epoch {rows[-1]['epoch']:g})", fontsize=10)
        out.append(save_figure(fig, run.path / "plots" / "activation_histograms.png"))
    return out


def plot_schedule(f, cfg, path: Path, t: Sequence[float], unit: str = "epoch", log: bool = False) -> list[float]:
    """lr against t for schedule `f` (t -> lr) built from `cfg`; integer steps are drawn as steps.
    Returns the values drawn."""
    lr = [float(f(x)) for x in t]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    (ax.step(t, lr, where="post", lw=1.6) if unit == "step" else ax.plot(t, lr, lw=1.6))
    if log:
        ax.set_yscale("log")
    opts = ", ".join(f"{k}={v}" for k, v in cfg.schedule_options.items())
    warm = f", warmup_epochs={cfg.warmup_epochs:g}" if cfg.warmup_epochs else ""
    ax.set_title(f"{cfg.schedule}: lr={cfg.lr:g}, {cfg.epochs} {unit}s{warm}" + (f", {opts}" if opts else ""),
                 fontsize=10)
    ax.set_xlabel(unit)
    ax.set_ylabel("learning rate")
    ax.set_xlim(t[0], t[-1])
    if not log:
        ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    save_figure(fig, Path(path))
    return lr


def plot_lr_find(lrs: Sequence[float], losses: Sequence[float], smoothed: Sequence[float],
                 suggestions: dict[str, float], chosen: str, used: tuple[int, int], path: Path,
                 title: str = "") -> Path:
    """The lr finder's curve: training loss (raw, faint; smoothed, solid) against lr on a log axis,
    the stretch the suggestions read (`used`: first and past-the-last index) solid, each suggestion
    a marked point on the smoothed curve with its value, `chosen` named as the one `lr: find` uses."""
    lrs, losses, smoothed = (np.asarray(v, dtype=float) for v in (lrs, losses, smoothed))
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    ax.plot(lrs, losses, c="#aaaaaa", lw=0.8, label="loss of each step")
    ax.plot(lrs, smoothed, c=TRAIN_C, lw=1, ls=":")
    lo, hi = used
    ax.plot(lrs[lo:hi], smoothed[lo:hi], c=TRAIN_C, lw=2, label="smoothed (the part the suggestions read)")
    for (name, lr), c in zip(suggestions.items(), ("#d62728", "#2ca02c", "#9467bd")):
        i = int(np.argmin(np.abs(np.log(lrs) - np.log(lr))))
        tag = " (lr: find uses it)" if name == chosen else ""
        ax.plot([lr], [smoothed[i]], "o", ms=8, c=c, label=f"{name} {lr:.3g}{tag}", zorder=3)
        ax.axvline(lr, c=c, lw=1, ls="--", alpha=0.6)
    top = max(smoothed[: max(lo, 1)].max(), smoothed[lo:hi].max()) if hi > lo else smoothed.max()
    ax.set_ylim(min(losses.min(), smoothed.min()) * 0.95, top * 1.25)  # the blow-up at the end would flatten the rest
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, Path(path))


def plot_confusion(conf, classes: Sequence[str], path: Path, title: str = "") -> Path:
    conf = np.asarray(conf, dtype=float)
    norm = conf / np.maximum(conf.sum(1, keepdims=True), 1)
    k = len(conf)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * k, 0.8 + 0.5 * k))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            if conf[i, j]:
                ax.text(j, i, f"{int(conf[i, j])}", ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
    labels = [str(c)[:14] for c in classes] if len(classes) == k else list(range(k))
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    return save_figure(fig, Path(path))


def plot_masks(images, true_masks, pred_masks, num_classes: int, path: Path) -> Path:
    """Rows: image, true mask, predicted mask; one column per example."""
    n = len(images)
    fig, axes = plt.subplots(3, n, figsize=(1.6 * n, 5), squeeze=False)
    for j in range(n):
        img = np.asarray(images[j], dtype=float)
        img = img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)
        axes[0, j].imshow(img, cmap="gray" if img.ndim == 2 else None)
        axes[1, j].imshow(np.asarray(true_masks[j]), cmap="tab10", vmin=0, vmax=9, interpolation="nearest")
        axes[2, j].imshow(np.asarray(pred_masks[j]), cmap="tab10", vmin=0, vmax=9, interpolation="nearest")
        for i in range(3):
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
    for i, t in enumerate(("image", "true mask", "predicted")):
        axes[i, 0].set_ylabel(t)
    return save_figure(fig, Path(path))


BOX_COLOURS = ("tab:red", "tab:green", "tab:blue", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive",
               "tab:cyan", "tab:gray")  # class k: BOX_COLOURS[k % 10]


def plot_boxes(images, truths: Sequence[dict], detections: Sequence[dict], classes: Sequence[str], path: Path,
               title: str = "", min_score: float = 0.3, cols: int = 8) -> Path:
    """A grid of images (N, C, H, W) in [0, 1] with their true boxes (dashed white) and the detections
    scoring at least `min_score` (solid, one colour per class, labelled with class and score; instance
    masks shaded where the detections carry them). truths: per image {"boxes" (n, 4), "labels" (n,)}."""
    from matplotlib.colors import to_rgba  # lazy: matplotlib loads with pyplot, at first drawing
    from matplotlib.patches import Rectangle  # lazy: as above

    n = len(images)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2.0 * cols, 2.1 * rows + 0.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, ax in enumerate(axes.flat[:n]):
        img = np.asarray(images[i], dtype=float)
        h, w = img.shape[-2:]
        ax.imshow(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0), cmap="gray" if img.shape[0] == 1 else None,
                  extent=(0, w, h, 0), vmin=0, vmax=1)
        for b in np.asarray(truths[i]["boxes"], dtype=float).reshape(-1, 4):
            ax.add_patch(Rectangle(b[:2], b[2] - b[0], b[3] - b[1], fill=False, ls="--", ec="white", lw=1))
        det = detections[i]
        for j, (b, s, k) in enumerate(zip(np.asarray(det["boxes"], dtype=float).reshape(-1, 4),
                                          np.asarray(det["scores"], dtype=float), np.asarray(det["labels"]))):
            if s < min_score:
                continue
            colour = BOX_COLOURS[int(k) % len(BOX_COLOURS)]
            if "masks" in det:  # the instance mask as a translucent layer of the class colour
                layer = np.zeros((h, w, 4))
                layer[np.asarray(det["masks"][j], dtype=bool)] = to_rgba(colour, 0.45)
                ax.imshow(layer, extent=(0, w, h, 0))
            ax.add_patch(Rectangle(b[:2], b[2] - b[0], b[3] - b[1], fill=False, ec=colour, lw=1.5))
            ax.text(b[0], b[1] - 1, f"{str(classes[int(k)])[:8]} {s:.2f}", color=colour, fontsize=6,
                    bbox=dict(facecolor="white", alpha=0.6, pad=0.5, lw=0))
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
    key = ", ".join(f"{c} {BOX_COLOURS[k % len(BOX_COLOURS)].removeprefix('tab:')}" for k, c in enumerate(classes[:10]))
    fig.suptitle((title + "\n" if title else "") + f"dashed white: true boxes; solid: detections with score >= "
                 f"{min_score:g} ({key})", fontsize=9)
    return save_figure(fig, Path(path))
