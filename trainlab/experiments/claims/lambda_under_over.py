"""Deck 004: under- and over-fitting with the regularization strength lambda: a degree-9 polynomial
fitted to 16 noisy points of sin(pi x) overfits with lambda = 0, fits well with a small lambda and
underfits with a large one (the deck's low / medium / high lambda pictures).

Regression with the mean squared error (`loss: mse`, trainlab's `poly` data and `polyfit` model).
Eight samples of the 16 points (the dataset's data_seed 0..7) are each fitted with lambda 0, 1e-3
and 0.1; judged on the log of the error on 500 fresh points (an overfitted polynomial's error
ranges over orders of magnitude between samples, so ratios, not differences, are what compare):
the medium lambda beats both, paired by sample.
Swapped: the medium and the low arm exchange numbers.
"""
from __future__ import annotations

import math
import shutil

import numpy as np
import torch

from ...data import to_float
from ...runs import load_run
from ...training.run import train
from ...training.saved import load_saved
from .base import Claim, all_of, paired_rule, register, swap_arms
from .plots import dots, figure, save_figure

LAMBDAS = {"lambda 0": 0.0, "lambda 1e-3": 1e-3, "lambda 0.1": 0.1}


def fit(ctx, sample: int, arm: str, lam: float, epochs: int):
    name = f"sample-{sample}-{arm.replace(' ', '')}"
    path = ctx.folder / name
    if (path / "summary.json").is_file() and load_run(path).summary.get("status") == "finished":
        return load_run(path)

    shutil.rmtree(path, ignore_errors=True)
    cfg = {"dataset": "poly", "dataset_options": {"n_train": 16, "data_seed": sample}, "model": "polyfit",
           "model_options": {"degree": 9}, "loss": "mse", "preprocessing": "none", "optimizer": "adam", "lr": 0.05,
           "epochs": epochs, "eval_every": epochs, "val_fraction": 0.25, "threads": 1, "runs_dir": str(ctx.folder),
           "name": name, **({"penalty": "l2", "penalty_strength": lam} if lam else {})}
    return train(cfg, quiet=True, report=False)


def run(settings, ctx) -> dict:
    arms = {arm: {"test_mse": [], "log_test_mse": [], "train_mse": []} for arm in LAMBDAS}
    curves = {}
    xs = torch.linspace(-1, 1, 200)[:, None]
    for sample in range(settings["samples"]):
        for arm, lam in LAMBDAS.items():
            r = fit(ctx, sample, arm, lam, settings["epochs"])
            p = load_saved(r, weights="last")
            with torch.no_grad():
                train_out = p.model(p.preprocess(to_float(p.data.train.x)))
                arms[arm]["train_mse"].append(float(((train_out - p.data.train.y) ** 2).mean()))
                if sample == 0:
                    curves[arm] = p.model(p.preprocess(xs)).flatten().tolist()
            arms[arm]["test_mse"].append(float(r.summary["test"]["loss"]))
            arms[arm]["log_test_mse"].append(math.log(float(r.summary["test"]["loss"])))
            if sample == 0:
                curves["points"] = [p.data.train.x.flatten().tolist(), p.data.train.y.flatten().tolist()]
    return {"arms": arms, "fits": curves, "xs": xs.flatten().tolist()}


def plot(data, path):
    fig, (ax, bx) = figure(2)
    xs = np.array(data["xs"])
    ax.plot(xs, np.sin(np.pi * xs), color="black", lw=1, ls="--", label="truth sin(pi x)")
    for arm in LAMBDAS:
        ax.plot(xs, data["fits"][arm], label=arm)
    ax.scatter(*data["fits"]["points"], color="black", s=14, zorder=3, label="16 points (sample 0)")
    ax.set_ylim(-2, 2), ax.legend(fontsize=7), ax.set_title("degree-9 fits", fontsize=10)
    dots(bx, data, "test_mse", list(LAMBDAS), label="MSE on 500 fresh points")
    bx.set_yscale("log"), bx.set_title("test error per data sample", fontsize=10)
    save_figure(fig, path)


register(__file__, Claim(
    id="lambda-under-over", deck="004", topic="under- and overfitting",
    text="Weight decay: with lambda too low the model overfits, with lambda too high it underfits; a medium lambda "
         "fits (polynomial fit with low, medium and high lambda)",
    measures="MSE on 500 fresh points of a degree-9 polynomial fitted to 16 noisy points, lambda 0, 1e-3 and 0.1",
    why="16 points and 10 coefficients: without a penalty the polynomial chases the noise; 8 data samples pair the arms",
    caveat="'medium' is relative to the data: with more points lambda 0 overfits less and the best lambda shrinks",
    run=run, judge=lambda d: all_of([paired_rule(d, "lambda 1e-3", "lambda 0", "log_test_mse", "lower"),
                                     paired_rule(d, "lambda 1e-3", "lambda 0.1", "log_test_mse", "lower")],
                                    "the medium lambda has the lowest log error on fresh points (paired t over samples)"),
    plot=plot, swap=swap_arms("lambda 1e-3", "lambda 0"), quick={"samples": 8, "epochs": 2000},
    full={"samples": 40, "epochs": 4000},
    full_why="40 samples of the 16 points (five times the quick run) and twice the steps: each fit converges, and the "
             "paired comparison has the samples to decide between lambda 0 and the medium lambda",
    quick_note="with 8 samples the medium lambda beat lambda 0 on most but not enough of them: an overfitted fit's "
               "error swings over orders of magnitude between samples"))
