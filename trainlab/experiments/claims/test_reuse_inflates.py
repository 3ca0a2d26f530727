"""Deck 003: keep a validation set for choices; a test set used to choose is no longer a fair test.

Twelve small MLPs with different learning rates and widths are trained on digits. The test split
is cut at random into halves A and B, 500 times: the model that is best on A is "chosen on the
test set"; its accuracy on A (what one would report) against its accuracy on B (fresh data). The
rule: the mean optimism A - B, with a bootstrap CI over the 500 cuts, is above 0. Swapped: the
optimism's sign is flipped.
"""
from __future__ import annotations

import shutil

import numpy as np
import torch

from ...runs import load_run
from ...training.run import train
from ...training.saved import load_saved
from ..ensemble import predict_probabilities
from ..stats import summarize
from .base import INCONCLUSIVE, REFUTED, SUPPORTED, Claim, Verdict, register
from .plots import figure, save_figure


def predictions(ctx, i: int, lr: float, width: int) -> torch.Tensor:
    name = f"model-{i}"
    path = ctx.folder / name
    if not (path / "summary.json").is_file() or load_run(path).summary.get("status") != "finished":
        shutil.rmtree(path, ignore_errors=True)
        train({"dataset": "digits", "model": "mlp", "model_options": {"width": width}, "lr": lr, "epochs": 2,
                        "optimizer": "sgd", "batch_size": 64, "seed": i, "threads": 1, "runs_dir": str(ctx.folder),
                        "name": name}, quiet=True, report=False)
    parts = load_saved(load_run(path))
    return predict_probabilities(parts, "test").argmax(1), parts.data.test.y


def run(settings, ctx) -> dict:
    rng = np.random.default_rng(0)
    configs = [(float(10 ** rng.uniform(-1.3, -0.3)), int(rng.choice([16, 64, 256]))) for _ in range(settings["models"])]
    preds, y = [], None
    for i, (lr, width) in enumerate(configs):
        p, y = predictions(ctx, i, lr, width)
        preds.append((p == y).numpy())
    hits = np.stack(preds)  # (models, test examples)
    n = hits.shape[1]
    optimism, chosen_a = [], []
    for _ in range(settings["cuts"]):
        a = rng.permutation(n)[: n // 2]
        b = np.setdiff1d(np.arange(n), a)
        best = int(hits[:, a].mean(1).argmax())
        optimism.append(float(hits[best, a].mean() - hits[best, b].mean()))
        chosen_a.append(float(hits[best, a].mean()))
    return {"optimism": optimism, "model_accs": hits.mean(1).tolist(), "configs": configs,
            "reported": float(np.mean(chosen_a))}


def judge(data):
    s = summarize(data["optimism"])
    lo, hi = s["ci"]
    because = (f"the model chosen on half A scores {100 * s['mean']:+.2f} points more on A than on fresh half B "
               f"(95% bootstrap CI {100 * lo:+.2f} to {100 * hi:+.2f}, {s['n']} random cuts)")
    v = SUPPORTED if lo > 0 else REFUTED if hi < 0 else INCONCLUSIVE
    return Verdict(v, because, "bootstrap CI of the mean optimism (accuracy on the choosing half minus the fresh "
                   "half) excludes 0", {"mean": s["mean"], "ci": [lo, hi]})


def swap(data):
    return {**data, "optimism": [-v for v in data["optimism"]]}


def plot(data, path):
    fig, (ax, bx) = figure(2)
    ax.hist(np.array(data["optimism"]) * 100, bins=30, color="tab:red", alpha=0.7)
    ax.axvline(0, color="black", lw=0.8), ax.set_xlabel("accuracy on choosing half - fresh half (points)")
    ax.set_title("optimism of choosing on the test set", fontsize=10)
    bx.bar(range(len(data["model_accs"])), data["model_accs"], color="tab:blue")
    bx.set_ylim(min(data["model_accs"]) - 0.05, 1), bx.set_xlabel("model"), bx.set_ylabel("test accuracy (all)")
    bx.set_title("the candidates", fontsize=10)
    save_figure(fig, path)


register(__file__, Claim(
    id="test-reuse-inflates", deck="003", topic="validation sets",
    text="Split the data into training, validation and test sets: choose hyperparameters on the validation set and "
         "use the test set only once, at the end",
    measures="accuracy of the model chosen on one half of the test split, on that half against the other half",
    why="12 candidates of similar accuracy on 180-example halves: the choice picks up the half's luck",
    caveat="with one candidate, or a huge test set, the optimism is tiny; it grows with the number of choices made",
    run=run, judge=judge, plot=plot, swap=swap, quick={"models": 12, "cuts": 500}, full={"models": 24},
    full_why="24 models instead of 12: more candidates to choose from on the test set, the case where the choice "
             "flatters most"))
