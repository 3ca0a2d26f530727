"""Deck 002: random search beats grid search (Bergstra and Bengio's picture: when one
hyperparameter matters and the other hardly does, a 3x3 grid tries only 3 values of the one that
matters; 9 random trials try 9).

Quick mode, no training: Optuna's GridSampler and RandomSampler, 9 trials each, on an objective
of two hyperparameters in [0, 1] where only the first matters much: f(x, y) = (sin(12 x) + 1.2 x) +
0.05 y, maximised. Random search is repeated over 40 sampler seeds; judged on the best value
found, random's seeds against the grid's one value (one-sample t-test at 5%).

Full mode, real training runs: `trainlab.search` with the grid and the random sampler at an equal
budget of 9 trials, over the learning rate (log-uniform 1e-3 to 1, which matters) and label
smoothing (0 to 0.1, which hardly does after 3 epochs), an MLP on 5,000 Fashion-MNIST images;
repeated over independent studies, study k training with seed k and drawing its random points
with sampler seed k. Judged on the best validation accuracy each study found, random against grid
paired by study (paired t at 5%).
Swapped: the two samplers exchange their numbers.
"""
from __future__ import annotations

import math

import numpy as np

from .. import stats
from ..optuna import optuna
from ..search import search
from .base import INCONCLUSIVE, REFUTED, SUPPORTED, Claim, Verdict, register
from .plots import figure, save_figure


def objective(x: float, y: float) -> float:
    return math.sin(12 * x) + 1.2 * x + 0.05 * y


def study(sampler, trials: int) -> list[list[float]]:
    s = optuna.create_study(direction="maximize", sampler=sampler)
    s.optimize(lambda t: objective(t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), n_trials=trials)
    return [[t.params["x"], t.params["y"], t.value] for t in s.trials]


REAL = {"dataset": "fashion-mnist", "model": "mlp", "train_subset": 5000, "optimizer": "momentum", "batch_size": 64,
        "epochs": 3, "dropout": 0.0, "threads": 1, "precision": "fp32"}
SPACE = {"lr": {"log_uniform": [1e-3, 1.0]}, "label_smoothing": {"uniform": [0.0, 0.1]}}


def real_studies(settings, ctx) -> dict:
    """Grid against random on training runs: per study k, both samplers at the same budget and seed k."""
    best: dict[str, list[float]] = {"grid": [], "random": []}
    points: dict[str, list[list[float]]] = {}
    for k in range(settings["repeats"]):
        for sampler in ("grid", "random"):
            r = search({**REAL, "seed": k, "runs_dir": str(ctx.folder)}, SPACE, sampler=sampler,
                       trials=settings["trials"], name=f"{sampler}-{k}", pruner="none", seed=k, quiet=True,
                       storage=ctx.storage, jobs=ctx.jobs or 2)
            best[sampler].append(float(r.best_value))
            if k == 0:
                points[sampler] = [[t["params"]["lr"], t["params"]["label_smoothing"], t["value"]] for t in r.trials()
                                   if t["value"] is not None]
    return {"trials": settings["trials"], "real": True, "grid": best["grid"], "random": best["random"],
            "grid_points": points["grid"], "random_points": points["random"]}


def run(settings, ctx) -> dict:
    if settings.get("real"):
        return None if ctx.enqueue_only else real_studies(settings, ctx)
    n = settings["trials"]
    side = round(math.sqrt(n))
    grid_values = [i / (side - 1) for i in range(side)]
    grid = study(optuna.samplers.GridSampler({"x": grid_values, "y": grid_values}, seed=0), side * side)
    randoms = [study(optuna.samplers.RandomSampler(seed=s), n) for s in range(settings["repeats"])]
    return {"trials": n, "grid": [max(t[2] for t in grid)], "random": [max(t[2] for t in r) for r in randoms],
            "grid_points": grid, "random_points": randoms[0]}


def judge(data):
    if data.get("real"):
        return judge_real(data)
    r, g = data["random"], data["grid"][0]
    p = stats.paired(r, [g] * len(r)) if len(set(r)) > 1 else {"significant": False, "mean_diff": 0, "p_t": 1, "ci": [0, 0]}
    diff = sum(r) / len(r) - g
    because = (f"best of {data['trials']} trials: random {sum(r) / len(r):.4f} (mean of {len(r)} seeds) vs grid "
               f"{g:.4f}, difference {diff:+.4f} (95% CI {p['ci'][0]:+.4f} to {p['ci'][1]:+.4f}, p={p['p_t']:.3g})")
    test = "one-sample t-test at 5% of random's best values against grid's best; supported if random is higher"
    verdict = SUPPORTED if p["significant"] and diff > 0 else REFUTED if p["significant"] and diff < 0 else INCONCLUSIVE
    return Verdict(verdict, because, test, {"random_mean": sum(r) / len(r), "grid": g, "p": p["p_t"]})


def judge_real(data):
    r, g = data["random"], data["grid"]
    p = stats.paired(r, g)
    because = (f"best val acc in {data['trials']} trials: random {sum(r) / len(r):.4f} vs grid {sum(g) / len(g):.4f} "
               f"(means over {len(r)} studies), difference {p['mean_diff']:+.4f} (95% CI {p['ci'][0]:+.4f} to "
               f"{p['ci'][1]:+.4f}, p={p['p_t']:.3g})")
    test = "paired t-test at 5% over independent studies of random's best against grid's best; supported if higher"
    d = p["mean_diff"]
    verdict = SUPPORTED if p["significant"] and d > 0 else REFUTED if p["significant"] and d < 0 else INCONCLUSIVE
    return Verdict(verdict, because, test, {"random_mean": sum(r) / len(r), "grid_mean": sum(g) / len(g),
                                            "mean_diff": d, "ci": p["ci"], "p": p["p_t"], "n": len(r)})


def swap(data):
    if data.get("real"):
        return {**data, "random": data["grid"], "grid": data["random"]}
    r, g = data["random"], data["grid"][0]
    return {**data, "random": [2 * g - v for v in r]}  # random's results mirrored below the grid's


def plot_real(data, path):
    fig, (ax, bx) = figure(2)
    for name, marker, color in (("grid", "s", "white"), ("random", "o", "red")):
        pts = np.array(data["grid_points" if name == "grid" else "random_points"])
        sc = ax.scatter(pts[:, 0], pts[:, 1], c=pts[:, 2], cmap="viridis", marker=marker, edgecolor="black", s=50,
                        label=f"{name} (study 0)")
    ax.set_xscale("log"), ax.set_xlabel("lr (matters)"), ax.set_ylabel("label smoothing (hardly matters)")
    fig.colorbar(sc, ax=ax, label="val acc"), ax.legend(fontsize=8), ax.set_title("where the trials go", fontsize=10)
    for i, (g, r) in enumerate(zip(data["grid"], data["random"])):
        bx.plot([0, 1], [g, r], color="gray", alpha=0.5, marker="o")
    bx.set_xticks([0, 1], ["grid", "random"]), bx.set_ylabel("best val acc of the study"), bx.grid(alpha=0.3)
    bx.set_title(f"best of {data['trials']} trials, paired by study", fontsize=10)
    save_figure(fig, path)


def plot(data, path):
    if data.get("real"):
        return plot_real(data, path)
    fig, (ax, bx) = figure(2)
    xs = np.linspace(0, 1, 200)
    X, Y = np.meshgrid(xs, xs)
    ax.contourf(X, Y, np.sin(12 * X) + 1.2 * X + 0.05 * Y, levels=20, cmap="viridis", alpha=0.8)
    gp, rp = np.array(data["grid_points"]), np.array(data["random_points"])
    ax.scatter(gp[:, 0], gp[:, 1], marker="s", color="white", edgecolor="black", label="grid (9)")
    ax.scatter(rp[:, 0], rp[:, 1], marker="o", color="red", edgecolor="black", label="random (9, seed 0)")
    ax.set_xlabel("x (matters)"), ax.set_ylabel("y (hardly matters)"), ax.legend(fontsize=8, loc="lower right")
    ax.set_title("where the trials go", fontsize=10)
    bx.scatter(np.random.default_rng(0).uniform(-0.1, 0.1, len(data["random"])), data["random"], alpha=0.6,
               label="random, per seed")
    bx.axhline(data["grid"][0], color="black", ls="--", label="grid")
    bx.set_xticks([]), bx.set_ylabel("best value found"), bx.legend(fontsize=8)
    bx.set_title("best of 9 trials", fontsize=10)
    save_figure(fig, path)


register(__file__, Claim(
    id="random-beats-grid", deck="002", topic="hyperparameter search",
    text="Hyperparameter search: grid search against random search (random search tries more distinct values of the "
         "hyperparameter that matters)",
    measures="best objective value in 9 trials, Optuna's random sampler (40 seeds) against its grid sampler (3 x 3)",
    why="no training: an objective where one of two hyperparameters matters is the case the deck's picture draws",
    caveat="when every hyperparameter matters equally, or the grid happens to hit the optimum, grid search can win",
    run=run, judge=judge, plot=plot, swap=swap, quick={"trials": 9, "repeats": 40},
    full={"real": True, "repeats": 10},
    full_why="real training runs, as the issue asks: trainlab.search with the grid and random samplers at 9 trials "
             "each, on an MLP (5,000 Fashion-MNIST images, 3 epochs) where the learning rate matters and label "
             "smoothing in [0, 0.1] hardly does, over 10 independent studies paired by seed"))
