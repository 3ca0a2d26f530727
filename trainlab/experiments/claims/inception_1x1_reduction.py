"""Deck 003: GoogLeNet's 1x1 convolutions reduce the channels before the 3x3 and 5x5 convolutions,
cutting the cost of an Inception module.

No training: trainlab's Inception module with the paper's 3a sizes (192 input channels, 28x28),
against the same module with the 1x1 reductions removed (3x3 and 5x5 on all 192 channels).
Counted: parameters and multiply-accumulates. The rule: the reductions cut the MACs by more than
half. Swapped: the two modules exchange numbers.
"""
from __future__ import annotations

from ...models.inception import TABLE, Inception
from ...models.summary import summarize
from .base import Claim, register, swap_roles, threshold_rule
from .plots import figure, save_figure


def costs(reduce: bool) -> dict:
    n1, r3, n3, r5, n5, npool = TABLE["3a"]
    c_in = 192
    m = Inception(c_in, n1, r3 if reduce else c_in, n3, r5 if reduce else c_in, n5, npool, norm="none", act="relu")
    if not reduce:  # no reduction: the 3x3 and 5x5 see the input itself (drop the 1x1 in front)
        m.branch3 = m.branch3[1]
        m.branch5 = m.branch5[1]
    s = summarize(m, (c_in, 28, 28))
    return {"params": s.trainable, "macs": s.macs}


def run(settings, ctx) -> dict:
    return {"modules": {"with 1x1": costs(True), "without": costs(False)}, "reduced": "with 1x1", "plain": "without"}


def judge(data):
    a, b = data["modules"][data["reduced"]], data["modules"][data["plain"]]
    return threshold_rule(a["macs"] / b["macs"], "<", 0.5, f"MACs of {data['reduced']} / MACs of {data['plain']}",
                          {"params_ratio": a["params"] / b["params"]})


swap = swap_roles("reduced", "plain")


def plot(data, path):
    fig, (ax, bx) = figure(2, 4.5)
    k = list(data["modules"])
    ax.bar(k, [data["modules"][x]["params"] / 1e3 for x in k], color=["tab:green", "tab:red"])
    ax.set_ylabel("parameters (thousands)"), ax.set_title("parameters", fontsize=10)
    bx.bar(k, [data["modules"][x]["macs"] / 1e6 for x in k], color=["tab:green", "tab:red"])
    bx.set_ylabel("MACs (millions) at 28x28"), bx.set_title("compute", fontsize=10)
    fig.suptitle("Inception 3a with and without 1x1 reductions", fontsize=11)
    save_figure(fig, path)


register(__file__, Claim(
    id="inception-1x1-reduction", deck="003", topic="architectures: GoogLeNet",
    text="GoogLeNet: 1x1 convolutions are used to compute reductions before the expensive 3x3 and 5x5 convolutions",
    measures="parameters and MACs of Inception 3a (192 channels in, 28x28) with and without the 1x1 reductions",
    why="no training: a count of the paper's own module",
    caveat="always holds for these sizes; a reduction to as many channels as the input saves nothing",
    run=run, judge=judge, plot=plot, swap=swap))
