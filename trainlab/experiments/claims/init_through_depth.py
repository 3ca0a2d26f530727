"""Decks 002/003: Xavier initialization for tanh, He for ReLU, through depth.

No training: a 10-layer MLP of width 256 on standard normal inputs; the standard deviation of the
activations layer by layer, for tanh + Xavier, ReLU + He and ReLU + Xavier. The rule: with the
matched init the last layer's activation scale stays within a factor 3 of the first layer's; ReLU
with Xavier loses more than a factor 10 over the 10 layers (each ReLU halves the variance).
Swapped: ReLU's two inits exchange roles.
"""
from __future__ import annotations

import math

import torch

from .base import Claim, all_of, register, swap_roles, threshold_rule
from .plots import figure, save_figure

CASES = {"tanh + xavier": ("tanh", "xavier"), "relu + he": ("relu", "he"), "relu + xavier": ("relu", "xavier")}


def stds(act: str, init: str, layers: int, width: int) -> list[float]:
    g = torch.Generator().manual_seed(0)
    h = torch.randn(1024, width, generator=g)
    out = []
    for _ in range(layers):
        gain = math.sqrt(2.0) if init == "he" else 1.0  # He: Var(w) = 2 / fan_in; Xavier: 1 / fan_in here (square)
        w = torch.randn(width, width, generator=g) * gain / math.sqrt(width)
        h = getattr(torch, act)(h @ w)
        out.append(float(h.std()))
    return out


def run(settings, ctx) -> dict:
    return {"stds": {k: stds(a, i, settings["layers"], 256) for k, (a, i) in CASES.items()},
            "relu_good": "relu + he", "relu_bad": "relu + xavier"}


def judge(data):
    ratio = {k: v[-1] / v[0] for k, v in data["stds"].items()}
    good, bad = data["relu_good"], data["relu_bad"]
    return all_of([threshold_rule(abs(math.log(ratio["tanh + xavier"])), "<", math.log(3), "|log(last/first std)|, tanh + xavier"),
                   threshold_rule(abs(math.log(ratio[good])), "<", math.log(3), f"|log(last/first std)|, {good}"),
                   threshold_rule(ratio[bad], "<", 0.1, f"last/first std, {bad}")],
                  "matched inits keep the scale within 3x over 10 layers; ReLU with Xavier loses > 10x")


swap = swap_roles("relu_good", "relu_bad")


def plot(data, path):
    fig, (ax,) = figure(1, 6.5)
    for k, v in data["stds"].items():
        ax.plot(range(1, len(v) + 1), v, marker="o", label=k)
    ax.set_yscale("log"), ax.set_xlabel("layer"), ax.set_ylabel("std of activations"), ax.grid(alpha=0.3)
    ax.legend(fontsize=8), ax.set_title("activation scale through depth, by init", fontsize=11)
    save_figure(fig, path)


register(__file__, Claim(
    id="init-through-depth", deck="003", topic="initialization",
    text="Xavier initialization (W = randn(fan_in, fan_out) / sqrt(fan_in)) for tanh; He initialization "
         "(sqrt(2 / fan_in)) for ReLU, which halves the variance at each layer",
    measures="std of activations layer by layer in a 10-layer, 256-wide MLP: tanh + Xavier, ReLU + He, ReLU + Xavier",
    why="no training: the forward pass at initialization is where the init decides the scale",
    caveat="batch norm removes most of the dependence on init; tanh + Xavier still drifts slowly with depth",
    run=run, judge=judge, plot=plot, swap=swap, quick={"layers": 10}))
