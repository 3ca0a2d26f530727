"""Deck 004: pooling makes a representation approximately invariant to small translations.

No training: digits images (8x8) through a fixed random 3x3 convolution layer with ReLU; each image
shifted by one pixel; the relative change of the features without pooling and after 2x2 max
pooling (both compared at the same positions). The rule: pooling lowers the relative change,
paired over 200 images (t-test at 5%). Swapped: the two representations exchange numbers.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...data import load_dataset, to_float
from .base import Claim, paired_rule, register, swap_arms
from .plots import dots, figure, save_figure


def run(settings, ctx) -> dict:
    data = load_dataset("digits", val_fraction=0.1, seed=0)
    x = to_float(data.train.x[: settings["images"]])
    g = torch.Generator().manual_seed(0)
    w = torch.randn(16, 1, 3, 3, generator=g)
    shifted = torch.roll(x, shifts=1, dims=3)  # one pixel to the right (digits have empty borders)

    def change(f) -> list[float]:
        a, b = f(x), f(shifted)
        return ((a - b).flatten(1).norm(dim=1) / a.flatten(1).norm(dim=1).clamp_min(1e-9)).tolist()

    conv = lambda t: F.relu(F.conv2d(t, w, padding=1))  # noqa: E731
    return {"arms": {"no pooling": {"change": change(conv)},
                     "max pool 2x2": {"change": change(lambda t: F.max_pool2d(conv(t), 2))}}}


def plot(data, path):
    fig, (ax,) = figure(1, 5.5)
    dots(ax, data, "change", label="relative feature change, 1-pixel shift")
    ax.set_title("pooling and small shifts", fontsize=11)
    save_figure(fig, path)


register(__file__, Claim(
    id="pooling-small-shifts", deck="004", topic="convolution and pooling",
    text="Pooling: makes the representation approximately invariant to small translations of the input",
    measures="relative change of conv features under a 1-pixel shift, with and without 2x2 max pooling, 200 digits",
    why="no training: a random 3x3 filter bank shows the effect of the pooling operation itself",
    caveat="invariance holds for shifts smaller than the pooling window; a shift across the window's border or "
           "a larger one changes the pooled features too",
    run=run, judge=lambda d: paired_rule(d, "max pool 2x2", "no pooling", "change", "lower"),
    plot=plot, swap=swap_arms("max pool 2x2", "no pooling"), quick={"images": 200}))
