"""Deck 002: batch normalization's parameters, as in the deck's Keras tables.

The deck's network (32x32x3 input; the kernel sizes follow from its counts, 832 = 3*64*2*2 + 64):
conv 2x2 64 -> BN -> max pool -> conv 2x2 64 -> BN -> max pool -> dense 1024 -> dense 10. Keras counts 4 numbers per BN channel (gamma, beta trainable; the
moving mean and variance not): 256 per 64-channel BN layer, 128 of them non-trainable. Built here
in torch and counted (parameters + running statistics). The rule: the counts equal the deck's
first table exactly (total 4,223,370, trainable 4,223,114, non-trainable 256).
Swapped: the network without BN is held against the same numbers and must not match. (Its
total is 4,222,858; the deck's second table prints 4,223,858, a typo: its own rows add up to
4,222,858.)
"""
from __future__ import annotations

from torch import nn

from .base import Claim, register, threshold_rule, toggle
from .plots import figure, save_figure

DECK = {"total": 4_223_370, "trainable": 4_223_114, "non_trainable": 256}


def net(bn: bool) -> nn.Sequential:
    layers = [nn.Conv2d(3, 64, 2, padding="same")] + ([nn.BatchNorm2d(64)] if bn else []) + [nn.MaxPool2d(2),
              nn.Conv2d(64, 64, 2, padding="same")] + ([nn.BatchNorm2d(64)] if bn else [])
    return nn.Sequential(*layers, nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 8 * 8, 1024), nn.Linear(1024, 10))


def count(model: nn.Module) -> dict:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    stats = sum(b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var")))
    rows = [(type(m).__name__, sum(p.numel() for p in m.parameters())
             + sum(b.numel() for n, b in m.named_buffers() if n.endswith(("running_mean", "running_var"))))
            for m in model]
    return {"total": trainable + stats, "trainable": trainable, "non_trainable": stats, "rows": rows}


def run(settings, ctx) -> dict:
    return {"deck": DECK, "under_test": "with_bn", "nets": {"with_bn": count(net(True)), "without_bn": count(net(False))}}


def judge(data):
    c = data["nets"][data["under_test"]]
    wrong = sum(abs(c[k] - data["deck"][k]) for k in ("total", "trainable", "non_trainable"))
    v = threshold_rule(wrong, "<", 1, f"{data['under_test']}: total |difference| from the deck's table",
                       {k: c[k] for k in ("total", "trainable", "non_trainable")})
    return v


swap = toggle("under_test", "with_bn", "without_bn")


def plot(data, path):
    fig, (ax,) = figure(1, 8, 3.4)
    rows = data["nets"]["with_bn"]["rows"]
    names = [f"{i}: {n}" for i, (n, _) in enumerate(rows)]
    ax.barh(names, [max(c, 1) for _, c in rows], color=["tab:orange" if "BatchNorm" in n else "tab:blue" for n, _ in rows])
    for i, (_, c) in enumerate(rows):
        ax.text(max(c, 1) * 1.1, i, f"{c:,}", va="center", fontsize=8)
    ax.set_xscale("log"), ax.invert_yaxis(), ax.set_xlabel("parameters + BN statistics (log)")
    c = data["nets"]["with_bn"]
    ax.set_title(f"total {c['total']:,}, trainable {c['trainable']:,}, non-trainable {c['non_trainable']:,} "
                 f"(deck: {data['deck']['total']:,} / {data['deck']['trainable']:,} / {data['deck']['non_trainable']})",
                 fontsize=9)
    save_figure(fig, path)


register(__file__, Claim(
    id="bn-parameter-count", deck="002", topic="batch normalization",
    text="Keras summary with BatchNormalization: 256 params per BN layer; Total params 4,223,370; "
         "Trainable params 4,223,114; Non-trainable params 256",
    measures="parameters and running statistics of the deck's network built in torch, against the deck's table",
    why="no training: a count",
    caveat="Keras reports gamma, beta, moving mean and moving variance; torch keeps the last two as buffers "
           "(plus a step counter, not counted), so a plain parameter count in torch shows 128 per BN layer",
    run=run, judge=judge, plot=plot, swap=swap))
