"""Deck 001: tanh is zero-centred "but still kills gradients when saturated".

No training: tanh'(x) = 1 - tanh(x)^2 at x = 0 (1.0) and x = +-5 (about 1.8e-4). Swapped: the
rule is applied to ReLU, whose derivative at +5 is 1.
"""
from __future__ import annotations

import torch

from .base import Claim, register, threshold_rule, toggle
from .plots import figure, save_figure


def run(settings, ctx) -> dict:
    xs = torch.linspace(-6, 6, 241)
    out = {}
    for act in ("tanh", "relu"):
        x = xs.clone().requires_grad_(True)
        getattr(torch, act)(x).sum().backward()
        at = float(x.grad[(xs - settings["x"]).abs().argmin()])
        out[act] = {"at": at, "curve": [xs.tolist(), x.grad.tolist()]}
    return {"x": settings["x"], "under_test": "tanh", "acts": out}


def judge(data):
    a = data["acts"][data["under_test"]]
    return threshold_rule(a["at"], "<", 1e-2, f"{data['under_test']}'({data['x']:g})")


swap = toggle("under_test", "tanh", "relu")


def plot(data, path):
    fig, (ax,) = figure(1, 6)
    for act, a in data["acts"].items():
        ax.plot(*a["curve"], label=f"{act}'(x)")
    ax.axvline(data["x"], color="gray", ls="--", lw=0.8, label=f"x = {data['x']:g}")
    ax.set_yscale("symlog", linthresh=1e-4), ax.set_ylim(0, 2), ax.set_xlabel("x"), ax.set_ylabel("derivative"), ax.legend(fontsize=8)
    ax.set_title("tanh is zero-centred but saturates", fontsize=11)
    save_figure(fig, path)


register(__file__, Claim(
    id="tanh-saturates", deck="001", topic="activation functions",
    text="tanh: squashes numbers to range [-1, 1]; zero centered (nice); still kills gradients when saturated :(",
    measures="tanh'(5) against 1e-2",
    why="no training: 1 - tanh(5)^2 is a formula",
    caveat="always holds; how often units saturate in practice depends on init and normalization",
    run=run, judge=judge, plot=plot, swap=swap, quick={"x": 5.0}))
