"""Deck 001: sigmoid outputs are not zero-centred (tanh's are).

No training: the mean output for zero-mean inputs (sigmoid ~0.5, tanh ~0), and what that does to
the next layer: the gradient of a weight w_ij is delta_i * h_j; with every h_j > 0 all weights of a
unit get gradients of one sign (the zig-zag of the deck). Measured: the fraction of units whose
incoming weight gradients all share a sign, for one example at a time.
Swapped: the same rule applied to tanh must not come out supported.
"""
from __future__ import annotations

import numpy as np
import torch

from .base import Claim, all_of, register, threshold_rule, toggle
from .plots import figure, save_figure


def run(settings, ctx) -> dict:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(settings["n"], 32, generator=g)
    out = {}
    for act in ("sigmoid", "tanh"):
        h = getattr(torch, act)(z)  # the layer's inputs to the next one: (n, 32)
        delta = torch.randn(settings["n"], 16, generator=g)  # upstream gradients of 16 next-layer units
        grads = delta[:, :, None] * h[:, None, :]  # per example: (n, units, inputs)
        same = ((grads > 0).all(-1) | (grads < 0).all(-1)).float().mean()
        out[act] = {"mean": float(h.mean()), "same_sign": float(same), "hist": torch.histc(h, 40, -1, 1).tolist()}
    return {"under_test": "sigmoid", "acts": out}


def judge(data):
    a = data["acts"][data["under_test"]]
    return all_of([threshold_rule(abs(a["mean"] - 0.0), ">", 0.25, f"|mean {data['under_test']} output|"),
                   threshold_rule(a["same_sign"], ">", 0.9, "share of units whose weight gradients share one sign")],
                  "mean output farther than 0.25 from 0, and > 90% of units get one-signed weight gradients")


swap = toggle("under_test", "sigmoid", "tanh")


def plot(data, path):
    fig, (ax, bx) = figure(2)
    edges = np.linspace(-1, 1, 41)
    for act, a in data["acts"].items():
        ax.stairs(a["hist"], edges, label=f"{act} (mean {a['mean']:.2f})", fill=True, alpha=0.5)
    ax.axvline(0, color="black", lw=0.8), ax.set_xlabel("output for N(0,1) inputs"), ax.legend(fontsize=8)
    ax.set_title("outputs", fontsize=10)
    acts = list(data["acts"])
    bx.bar(acts, [data["acts"][a]["same_sign"] for a in acts], color=["tab:blue", "tab:orange"])
    bx.set_ylim(0, 1.05), bx.set_ylabel("units with one-signed weight gradients")
    bx.set_title("per example, next layer", fontsize=10)
    fig.suptitle("sigmoid outputs are not zero-centred", fontsize=11)
    save_figure(fig, path)


register(__file__, Claim(
    id="sigmoid-not-zero-centred", deck="001", topic="activation functions",
    text="Sigmoid outputs are not zero-centered; tanh squashes to [-1, 1] and is zero centered (nice)",
    measures="mean output for zero-mean inputs; share of next-layer units whose weight gradients all have one sign",
    why="no training: 4096 standard normal inputs and random upstream gradients give stable fractions",
    caveat="a batch of examples mixes signs across examples, so the zig-zag is per example, softened by batching",
    run=run, judge=judge, plot=plot, swap=swap, quick={"n": 4096}))
