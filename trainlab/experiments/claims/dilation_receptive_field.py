"""Deck 004: dilated convolutions grow the receptive field without adding parameters.

No training: three 3x3 convolutions (16 channels) stacked, with dilations 1, 1, 1 against 1, 2, 4;
receptive fields per layer from `trainlab.models.receptive.receptive_fields` (the same numbers
`trainlab summary` prints), parameters counted. The rule: the same parameter count, and the dilated
stack's last receptive field at least twice the plain one's (7 against 15 by r += (k-1) d j).
Swapped: the stacks exchange their numbers.
"""
from __future__ import annotations

from torch import nn

from ...models.summary import receptive_fields
from .base import Claim, all_of, register, swap_roles, threshold_rule
from .plots import figure, save_figure


def stack(dilations) -> nn.Sequential:
    layers = []
    for i, d in enumerate(dilations):
        layers += [nn.Conv2d(1 if i == 0 else 16, 16, 3, dilation=d, padding=d), nn.ReLU()]
    return nn.Sequential(*layers)


def run(settings, ctx) -> dict:
    out = {}
    for name, dil in (("plain 1-1-1", (1, 1, 1)), ("dilated 1-2-4", (1, 2, 4))):
        m = stack(dil)
        rfs = [r["rf"] for r in receptive_fields(m, (1, 32, 32)) if r["type"] == "Conv2d"]
        out[name] = {"rf": rfs, "params": sum(p.numel() for p in m.parameters())}
    return {"stacks": out, "grown": "dilated 1-2-4", "plain": "plain 1-1-1"}


def judge(data):
    g, p = data["stacks"][data["grown"]], data["stacks"][data["plain"]]
    return all_of([threshold_rule(abs(g["params"] - p["params"]), "<", 1, "|parameter difference|"),
                   threshold_rule(g["rf"][-1] / p["rf"][-1], ">", 2, f"last receptive field, {data['grown']} / {data['plain']}")],
                  "same parameters, and the receptive field at least doubles")


swap = swap_roles("grown", "plain")


def plot(data, path):
    fig, (ax,) = figure(1, 6)
    for name, s in data["stacks"].items():
        ax.plot(range(1, len(s["rf"]) + 1), s["rf"], marker="o", label=f"{name} ({s['params']:,} params)")
    ax.set_xticks([1, 2, 3]), ax.set_xlabel("conv layer"), ax.set_ylabel("receptive field (input pixels)")
    ax.legend(fontsize=8), ax.grid(alpha=0.3), ax.set_title("dilation grows the receptive field", fontsize=11)
    save_figure(fig, path)


register(__file__, Claim(
    id="dilation-receptive-field", deck="004", topic="convolution: dilation",
    text="Dilated (atrous) convolution: a larger receptive field with the same number of parameters",
    measures="receptive field per layer and parameters of three 3x3 convs, dilations 1-1-1 against 1-2-4",
    why="no training: receptive fields and parameter counts follow from the layers",
    caveat="the dilated field is sparse (gridding): it covers 15x15 pixels but samples them with holes",
    run=run, judge=judge, plot=plot, swap=swap))
