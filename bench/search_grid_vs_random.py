"""Deck 002's case for random search: when only one of two hyperparameters matters, a grid of
n x n tries only n values of the one that matters, random search tries n^2. Same budget, several
seeds of the search itself (and of training), compared with `trainlab compare`'s paired statistics.

The hyperparameter that does not matter is `eval_batch_size`: it changes how validation batches
are cut, never a weight. The one that matters is the learning rate.

    .venv/bin/python bench/search_grid_vs_random.py [--seeds 5] [--budget 9] [--out grid_vs_random.png]
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time

from trainlab.experiments.search import search
from trainlab.experiments.stats import paired, summarize, verdict

SPACE = {"lr": {"log_uniform": [1e-3, 1.0]}, "eval_batch_size": {"int": [64, 1024]}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=9)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--out", default="grid_vs_random.png")
    a = ap.parse_args()
    d = tempfile.mkdtemp()
    best = {"grid": [], "random": []}
    tried = {"grid": [], "random": []}
    t0 = time.perf_counter()
    try:
        for seed in range(a.seeds):
            base = {"dataset": "digits", "model": "mlp", "epochs": a.epochs, "batch_size": 64, "seed": seed,
                    "optimizer": "sgd", "runs_dir": d}
            for sampler in best:
                r = search(base, SPACE, sampler=sampler, trials=a.budget, seed=seed, name=f"{sampler}-{seed}",
                           objective="val_loss", pruner="none")
                best[sampler].append(r.best_value)
                tried[sampler].append(sorted({round(t["params"]["lr"], 6) for t in r.trials()}))
                print(f"seed {seed} {sampler:>6}: best val_loss {r.best_value:.4f}, "
                      f"{len(tried[sampler][-1])} distinct learning rates tried", flush=True)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    for sampler, v in best.items():
        s = summarize(v)
        print(f"{sampler:>6}: best val_loss {s['mean']:.4f} ± {s['std']:.4f} [95% CI {s['ci'][0]:.4f}, {s['ci'][1]:.4f}]")
    p = paired(best["random"], best["grid"])
    print("random vs grid (paired by seed): " + verdict(p, "best val_loss")
          + f"; Wilcoxon p={p['p_wilcoxon']:.3g}  ({time.perf_counter() - t0:.0f} s)")
    plot(tried, best, a.out)
    print(f"picture: {a.out}")


def plot(tried, best, out) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.8))
    for i, (sampler, color) in enumerate((("grid", "#1f77b4"), ("random", "#d62728"))):
        for k, lrs in enumerate(tried[sampler]):
            axes[0].scatter(lrs, [k + (0.15 if i else -0.15)] * len(lrs), s=14, color=color,
                            label=sampler if k == 0 else None)
        axes[1].scatter([i] * len(best[sampler]), best[sampler], color=color, s=24)
        axes[1].errorbar(i + 0.15, sum(best[sampler]) / len(best[sampler]), fmt="s", color="black")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("learning rate tried (the hyperparameter that matters)")
    axes[0].set_ylabel("search seed")
    axes[0].set_title("distinct learning rates tried at the same budget", fontsize=9)
    axes[0].legend(fontsize=8)
    axes[1].set_xticks([0, 1], ["grid", "random"])
    axes[1].set_ylabel("best validation loss (lower is better)")
    axes[1].set_title("best of each search, one dot per seed; square = mean", fontsize=9)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
