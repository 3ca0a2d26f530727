"""Deck 001: saturated sigmoid neurons "kill" the gradients.

No training: the derivative f'(x) = f(x)(1 - f(x)) at the deck's three points (x = -10, 0, 10),
and the gradient that reaches the input of a stack of 5 sigmoid layers (the product of the
local derivatives: at most 0.25 each, so at most 0.25^5 ~ 1e-3 of it gets through).
Swapped: the same measurement with ReLU (derivative 1 where active) must not pass the rule.
"""
from __future__ import annotations

import torch

from .base import Claim, all_of, register, threshold_rule, toggle
from .plots import figure, save_figure


def derivative(act: str, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    getattr(torch, act)(x).sum().backward()
    return x.grad


def run(settings, ctx) -> dict:
    pts = torch.tensor([-10.0, 0.0, 10.0])
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 64, generator=g).requires_grad_(True)
    out = {}
    for act in ("sigmoid", "relu"):
        h = x
        for _ in range(settings["layers"]):
            w = torch.randn(64, 64, generator=g) / 64 ** 0.5
            h = getattr(torch, act)(h @ w)
        (grad,) = torch.autograd.grad(h.sum(), x)
        xs = torch.linspace(-10, 10, 201)
        out[act] = {"at": derivative(act, pts).tolist(), "max": float(derivative(act, xs).max()),
                    "input_grad": float(grad.abs().mean()), "curve": [xs.tolist(), derivative(act, xs).tolist()]}
    return {"layers": settings["layers"], "under_test": "sigmoid", "acts": out}


def judge(data):
    a = data["acts"][data["under_test"]]
    edge = max(abs(a["at"][0]), abs(a["at"][2]))
    return all_of([threshold_rule(edge, "<", 1e-3, f"{data['under_test']}'(+-10)"),
                   threshold_rule(a["max"], "<", 0.3, f"largest {data['under_test']}' on [-10, 10]")],
                  "saturated derivative below 1e-3 at x = +-10 and no derivative above 0.3 anywhere")


swap = toggle("under_test", "sigmoid", "relu")


def plot(data, path):
    fig, (ax, bx) = figure(2)
    for act, a in data["acts"].items():
        ax.plot(*a["curve"], label=f"{act}'(x)")
    ax.scatter([-10, 0, 10], data["acts"]["sigmoid"]["at"], color="black", zorder=3, label="deck's points")
    ax.set_xlabel("x"), ax.set_ylabel("derivative"), ax.legend(fontsize=8), ax.grid(alpha=0.3)
    ax.set_title("local derivative", fontsize=10)
    acts = list(data["acts"])
    bx.bar(acts, [data["acts"][a]["input_grad"] for a in acts], color=["tab:blue", "tab:orange"])
    bx.set_yscale("log"), bx.set_ylabel("mean |gradient| at the input")
    bx.set_title(f"through {data['layers']} layers", fontsize=10)
    fig.suptitle("sigmoid saturation kills gradients", fontsize=11)
    save_figure(fig, path)


register(__file__, Claim(
    id="sigmoid-saturation", deck="001", topic="activation functions",
    text="Saturated neurons \"kill\" the gradients (sigmoid: what happens when x = -10? x = 0? x = 10?)",
    measures="sigmoid'(x) at -10, 0, 10 and its maximum; gradient reaching the input through 5 sigmoid layers",
    why="no training: the derivative is a formula; 5 random layers of width 64 show the product of small factors",
    caveat="always holds for sigmoid; batch norm or careful init keep pre-activations out of the flat tails",
    run=run, judge=judge, plot=plot, swap=swap, quick={"layers": 5}))
