"""Deck 001: Adam's bias correction compensates for m and v starting at zero in the first steps.

No training: trainlab's Adam link (scale_by_adam, bias_correction on and off) on a constant
gradient g. With correction the first update is lr * g / |g| = lr exactly (m_hat = g, v_hat = g^2);
without it the first update is lr * (1 - b1) / sqrt(1 - b2) = 3.16 lr for b1 = 0.9, b2 = 0.999,
and only approaches lr over thousands of steps. The rule: the corrected first-step size is within
1% of lr and the uncorrected one is off by more than 50%.
Swapped: the two variants exchange roles.
"""
from __future__ import annotations

import torch

from ...optim.optimizer import ChainOptimizer
from ...optim.transforms import chain, scale_by_adam, scale_by_lr
from .base import Claim, all_of, register, threshold_rule, toggle
from .plots import figure, save_figure


def steps(bias_correction: bool, n: int, lr: float) -> list[float]:
    w = torch.nn.Parameter(torch.zeros(1))
    opt = ChainOptimizer([w], chain(scale_by_adam(bias_correction=bias_correction), scale_by_lr(lr)))
    sizes = []
    for _ in range(n):
        before = float(w.detach())
        w.grad = torch.full((1,), 0.5)  # a constant gradient
        opt.step()
        sizes.append(abs(float(w.detach()) - before) / lr)
    return sizes


def run(settings, ctx) -> dict:
    n, lr = settings["steps"], 1e-3
    return {"lr": lr, "corrected": steps(True, n, lr), "uncorrected": steps(False, n, lr), "good": "corrected"}


def judge(data):
    good, bad = data["good"], "uncorrected" if data["good"] == "corrected" else "corrected"
    return all_of([threshold_rule(abs(data[good][0] - 1), "<", 0.01, f"|first step / lr - 1| ({good})"),
                   threshold_rule(abs(data[bad][0] - 1), ">", 0.5, f"|first step / lr - 1| ({bad})")],
                  "first step within 1% of lr with correction, off by > 50% without")


swap = toggle("good", "corrected", "uncorrected")


def plot(data, path):
    fig, (ax,) = figure(1, 6.5)
    t = range(1, len(data["corrected"]) + 1)
    ax.plot(t, data["corrected"], label="with bias correction")
    ax.plot(t, data["uncorrected"], label="without (m / sqrt(v))")
    ax.axhline(1, color="gray", lw=0.8, ls="--")
    ax.set_xscale("log"), ax.set_xlabel("step"), ax.set_ylabel("step size / lr"), ax.legend(fontsize=8)
    ax.set_title("Adam on a constant gradient: the first steps", fontsize=11), ax.grid(alpha=0.3)
    save_figure(fig, path)


register(__file__, Claim(
    id="adam-bias-correction", deck="001", topic="optimization: Adam",
    text="The full Adam update also includes a bias correction mechanism, which compensates for the fact that in "
         "the first few time steps the vectors m, v are both initialized and therefore biased at zero",
    measures="step size / lr of trainlab's Adam link with and without bias correction on a constant gradient",
    why="no training: a constant gradient isolates the effect of the zero initialisation",
    caveat="with b1 = b2 the two biases cancel in m / sqrt(v) only partly; with noisy gradients the effect is "
           "the same in the first steps and fades after about 1 / (1 - b2) steps",
    run=run, judge=judge, plot=plot, swap=swap, quick={"steps": 3000}))
