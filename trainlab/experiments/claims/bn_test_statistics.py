"""Decks 000/001: at test time batch norm "functions differently": it uses fixed statistics (running
averages from training), not the batch's, so a test example's output does not depend on the
other examples in its batch.

No training: a BatchNorm layer after some training steps; the output of one example inside two
different batches, in training mode (batch statistics) and evaluation mode (running statistics).
The rule: in evaluation mode the two outputs agree to 1e-6, in training mode they differ by more
than 1e-2. Swapped: the two modes exchange roles.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import Claim, all_of, register, swap_roles, threshold_rule
from .plots import figure, save_figure


def run(settings, ctx) -> dict:
    g = torch.Generator().manual_seed(0)
    bn = nn.BatchNorm1d(16)
    for _ in range(50):  # running averages from 50 training batches
        bn(torch.randn(32, 16, generator=g) * 2 + 1)
    x = torch.randn(1, 16, generator=g) * 2 + 1
    a = torch.cat([x, torch.randn(31, 16, generator=g) * 2 + 1])
    b = torch.cat([x, torch.randn(31, 16, generator=g) * 5 - 3])  # other companions
    out = {}
    with torch.no_grad():
        for mode in ("train", "eval"):
            bn.train(mode == "train")
            out[mode] = float((bn(a)[0] - bn(b)[0]).abs().max())
    return {"diff": out, "fixed": "eval", "batch": "train"}


def judge(data):
    return all_of([threshold_rule(data["diff"][data["fixed"]], "<", 1e-6, f"|change| of one example's output ({data['fixed']} mode)"),
                   threshold_rule(data["diff"][data["batch"]], ">", 1e-2, f"|change| ({data['batch']} mode)")],
                  "evaluation mode ignores the batch (< 1e-6); training mode does not (> 1e-2)")


swap = swap_roles("fixed", "batch")


def plot(data, path):
    fig, (ax,) = figure(1, 5.5)
    k = list(data["diff"])
    ax.bar(k, [max(data["diff"][m], 1e-9) for m in k], color=["tab:orange", "tab:blue"])
    ax.set_yscale("log"), ax.set_ylabel("max |change| of one example's output")
    ax.set_title("same example, other batch companions", fontsize=10)
    save_figure(fig, path)


register(__file__, Claim(
    id="bn-test-statistics", deck="001", topic="batch normalization",
    text="Note: at test time BatchNorm layer functions differently: the mean/std are not computed based on the batch. "
         "Instead, a single fixed empirical mean of activations during training is used",
    measures="change of one example's BN output when its batch companions change, in training and evaluation mode",
    why="no training of a network: a BN layer with running averages from 50 batches is enough",
    caveat="with too few training batches or a shift between training and test data the running averages are poor "
           "estimates (deck 000 recomputes them over the whole training set)",
    run=run, judge=judge, plot=plot, swap=swap))
