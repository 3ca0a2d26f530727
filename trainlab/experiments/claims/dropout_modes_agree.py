"""Decks 000/001: dropout at test time: "output at test time = expected output at training time",
whether the scaling is done at test time (classic: multiply by p_keep) or during training
(inverted: divide by p_keep).

No training: one dropout layer (p = 0.5) on fixed activations; the training-time output averaged
over 20,000 masks against the test-time output, for trainlab's classic and inverted modes, and for
a broken variant that forgets the scaling. The rule: both real modes match within 2%; the swap
puts the unscaled variant in the classic mode's place, which must then fail.
"""
from __future__ import annotations

import torch

from ...nn.layers import Dropout
from .base import Claim, register, threshold_rule
from .plots import figure, save_figure


def mismatch(mode: str | None, masks: int) -> float:
    torch.manual_seed(0)
    x = torch.rand(64) + 0.5
    d = Dropout(0.5, mode=mode or "classic")
    d.train()
    train_mean = torch.stack([d(x) for _ in range(masks)]).mean(0)
    d.eval()
    test = x if mode is None else d(x)  # None: classic training without the test-time scaling
    return float(((test - train_mean).abs() / train_mean.abs()).mean())


def run(settings, ctx) -> dict:
    m = settings["masks"]
    return {"errors": {"inverted": mismatch("inverted", m), "classic": mismatch("classic", m), "unscaled": mismatch(None, m)},
            "compared": ["inverted", "classic"]}


def judge(data):
    worst = max(data["errors"][k] for k in data["compared"])
    return threshold_rule(worst, "<", 0.02, f"largest relative |test output - mean training output| ({', '.join(data['compared'])})",
                          dict(data["errors"]))


def swap(data):
    return {**data, "compared": ["inverted", "unscaled"] if data["compared"][1] == "classic" else ["inverted", "classic"]}


def plot(data, path):
    fig, (ax,) = figure(1, 6)
    k = list(data["errors"])
    ax.bar(k, [data["errors"][x] for x in k], color=["tab:green", "tab:green", "tab:red"])
    ax.axhline(0.02, color="gray", ls="--", lw=0.8, label="2% rule")
    ax.set_ylabel("relative mismatch"), ax.legend(fontsize=8)
    ax.set_title("test output against the average training output (p = 0.5)", fontsize=10)
    save_figure(fig, path)


register(__file__, Claim(
    id="dropout-test-scaling", deck="001", topic="regularization: dropout",
    text="At test time all neurons are active always => we must scale the activations so that for each neuron: "
         "output at test time = expected output at training time",
    measures="relative difference between the test-time output and the mean training output over 20,000 masks",
    why="no training: the expectation over masks is what the scaling must match; 20,000 masks make it ~0.5% exact",
    caveat="matching the expectation of one layer does not make a deep net's test output its average over masks "
           "(nonlinearities in between); that is why MC dropout can differ",
    run=run, judge=judge, plot=plot, swap=swap, quick={"masks": 20000}))
