"""Deck 002: random search beats grid search (Bergstra and Bengio's picture: when one
hyperparameter matters and the other hardly does, a 3x3 grid tries only 3 values of the one that
matters; 9 random trials try 9).

No training: Optuna's GridSampler and RandomSampler, 9 trials each, on an objective of two
hyperparameters in [0, 1] where only the first matters much: f(x, y) = (sin(12 x) + 1.2 x) +
0.05 y, maximised. Random search is repeated over 40 sampler seeds; judged on the best value
found, random's seeds against the grid's one value (one-sample t-test at 5%).
Swapped: the two samplers exchange their numbers.
"""
from __future__ import annotations

import math

import numpy as np

from .. import stats
from ..optuna import optuna
from .base import INCONCLUSIVE, REFUTED, SUPPORTED, Claim, Verdict, register
from .plots import figure, save_figure


def objective(x: float, y: float) -> float:
    return math.sin(12 * x) + 1.2 * x + 0.05 * y


def study(sampler, trials: int) -> list[list[float]]:
    s = optuna.create_study(direction="maximize", sampler=sampler)
    s.optimize(lambda t: objective(t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), n_trials=trials)
    return [[t.params["x"], t.params["y"], t.value] for t in s.trials]


def run(settings, ctx) -> dict:
    n = settings["trials"]
    side = round(math.sqrt(n))
    grid_values = [i / (side - 1) for i in range(side)]
    grid = study(optuna.samplers.GridSampler({"x": grid_values, "y": grid_values}, seed=0), side * side)
    randoms = [study(optuna.samplers.RandomSampler(seed=s), n) for s in range(settings["repeats"])]
    return {"trials": n, "grid": [max(t[2] for t in grid)], "random": [max(t[2] for t in r) for r in randoms],
            "grid_points": grid, "random_points": randoms[0]}


def judge(data):
    r, g = data["random"], data["grid"][0]
    p = stats.paired(r, [g] * len(r)) if len(set(r)) > 1 else {"significant": False, "mean_diff": 0, "p_t": 1, "ci": [0, 0]}
    diff = sum(r) / len(r) - g
    because = (f"best of {data['trials']} trials: random {sum(r) / len(r):.4f} (mean of {len(r)} seeds) vs grid "
               f"{g:.4f}, difference {diff:+.4f} (95% CI {p['ci'][0]:+.4f} to {p['ci'][1]:+.4f}, p={p['p_t']:.3g})")
    test = "one-sample t-test at 5% of random's best values against grid's best; supported if random is higher"
    verdict = SUPPORTED if p["significant"] and diff > 0 else REFUTED if p["significant"] and diff < 0 else INCONCLUSIVE
    return Verdict(verdict, because, test, {"random_mean": sum(r) / len(r), "grid": g, "p": p["p_t"]})


def swap(data):
    r, g = data["random"], data["grid"][0]
    return {**data, "random": [2 * g - v for v in r]}  # random's results mirrored below the grid's


def plot(data, path):
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
    run=run, judge=judge, plot=plot, swap=swap, quick={"trials": 9, "repeats": 40}))
