"""Deck 001: "Dropout is training a large ensemble of models (that share parameters)", and at test
time the scaled network stands in for that ensemble ("approximate this integral").

An MLP trained with dropout 0.5; on the test set, three predictions from the same weights: a single
sampled mask (one member of the ensemble), the average of the class probabilities over 100 sampled
masks (a Monte-Carlo estimate of the ensemble), and the deterministic scaled network (dropout
off, as trainlab evaluates). Judged: the mask average beats a single member (paired by seed: an
ensemble, not one model), and the scaled network's accuracy is within 1 point of the mask
average (both ends of the 95% CI of their paired difference inside +-1 point: it stands in for
it). Swapped: the single member and the mask average exchange their numbers.
"""
from __future__ import annotations

import torch

from ...data import to_float
from ...nn.layers import Dropout
from ...runs import load_run
from ...training.saved import load_saved
from .. import stats
from .arms import FASHION, arms_run
from .base import INCONCLUSIVE, REFUTED, SUPPORTED, Claim, Verdict, all_of, paired_rule, register, swap_arms
from .plots import dots, figure, save_figure

BASE = {"dataset": "digits", "model": "mlp", "model_options": {"width": 512, "depth": 2}, "dropout": 0.5,
        "optimizer": "adam", "lr": 0.001, "batch_size": 32, "epochs": 10}
WAYS = ("single mask", "mask average", "scaled net")
_train = arms_run(BASE, {"dropout": {}}, {}, curve=None)


def accuracies(path: str, masks: int, seed: int) -> dict[str, float]:
    p = load_saved(load_run(path))
    x, y = p.preprocess(to_float(p.data.test.x)), p.data.test.y
    with torch.no_grad():
        scaled = p.model(x).argmax(1)
        for m in p.model.modules():
            if isinstance(m, Dropout):
                m.train()  # only the dropout layers sample masks; everything else stays in eval mode
        torch.manual_seed(seed)
        probs = torch.zeros(len(x), p.data.num_classes)
        single = []
        for _ in range(masks):
            q = p.model(x).softmax(1)
            single.append(float((q.argmax(1) == y).float().mean()))
            probs += q
    return {"single mask": sum(single) / len(single), "mask average": float(((probs.argmax(1)) == y).float().mean()),
            "scaled net": float((scaled == y).float().mean())}


def run(settings, ctx) -> dict:
    d = _train(settings, ctx, paths=True)
    if d is None:
        return None
    arms = {w: {"test_acc": []} for w in WAYS}
    for seed, path in enumerate(d["paths"]["dropout"]):
        for w, a in accuracies(path, settings["masks"], seed).items():
            arms[w]["test_acc"].append(a)
    return {"arms": arms, "masks": settings["masks"]}


def judge(data) -> Verdict:
    member = paired_rule(data, "mask average", "single mask", "test_acc", "higher")
    p = stats.paired(data["arms"]["scaled net"]["test_acc"], data["arms"]["mask average"]["test_acc"])
    lo, hi = p["ci"]
    close = -0.01 <= lo and hi <= 0.01
    because = (f"scaled net minus mask average {p['mean_diff']:+.4f} (95% CI {lo:+.4f} to {hi:+.4f}): "
               f"{'within' if close else 'not within'} +-0.01")
    apart = lo > 0.01 or hi < -0.01
    stands_in = Verdict(SUPPORTED if close else REFUTED if apart else INCONCLUSIVE, because, "the CI of (scaled - mask average) inside "
                        "+-0.01 (refuted if wholly outside)", {"mean_diff": p["mean_diff"], "ci": [lo, hi], "p": None})
    return all_of([member, stands_in], "the average over masks beats one mask (paired t, 5%) and the scaled net is "
                                       "within 1 point of the average (95% CI of the paired difference)")


def plot(data, path):
    fig, (ax,) = figure(1, width=6)
    dots(ax, data, "test_acc", WAYS, label="test accuracy")
    ax.set_title(f"one mask, the average of {data['masks']} masks, the scaled net", fontsize=10)
    save_figure(fig, path)


register(__file__, Claim(
    id="dropout-is-an-ensemble", deck="001", topic="regularization: dropout",
    text="Another interpretation: dropout is training a large ensemble of models (that share parameters); at test "
         "time, scale the activations to approximate the average over masks",
    measures="test accuracy of one sampled mask, of the average over 100 masks, and of the scaled net, same weights",
    why="a dropout-0.5 MLP: each mask is one of 2^1024 thinned networks; their average is the ensemble",
    caveat="the scaled net equals the mask average exactly only for one linear layer; with deep nonlinear nets it "
           "is an approximation that can drift",
    full_why="Fashion-MNIST with 10,000 training images: a harder task where single masks err more often",
    run=run, judge=judge, plot=plot, swap=swap_arms("mask average", "single mask"),
    quick={"seeds": 5, "masks": 100}, full={"seeds": 8, "masks": 100, "set": {**FASHION, "train_subset": 10000}}))
