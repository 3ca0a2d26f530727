"""Deck 004: the step function (the perceptron's activation) has a derivative of zero wherever it
is defined, so gradient descent cannot train the layers below it; sigmoid, its smooth version, can.

A 2-layer MLP on digits (trainlab's mlp with `activation: step` against `sigmoid`, same seed and
init), 100 steps of SGD through trainlab's optimizer. Measured: how far the first layer's weights
moved (relative L2 change) and the training loss. The rule: the step net's first layer does not
move at all (< 1e-12) while the sigmoid net's moves (> 1e-3). Swapped: the activations exchange.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...data import load_dataset, to_float
from ...models import create_model
from ...optim.recipes import create_optimizer
from .base import Claim, all_of, register, swap_roles, threshold_rule
from .plots import figure, save_figure


def train(act: str, steps: int) -> dict:
    data = load_dataset("digits", val_fraction=0.1, seed=0)
    x, y = to_float(data.train.x), data.train.y
    x = (x - x.mean()) / x.std()
    torch.manual_seed(0)
    model = create_model("mlp", in_shape=data.input_shape, num_classes=10, depth=2, width=64, activation=act,
                         dropout=0.0)
    first = next(p for n, p in model.named_parameters() if n.endswith("weight"))
    w0 = first.detach().clone()
    opt = create_optimizer("sgd", model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, len(y), (64,), generator=g)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return {"moved": float((first.detach() - w0).norm() / w0.norm()), "losses": losses}


def run(settings, ctx) -> dict:
    return {"nets": {act: train(act, settings["steps"]) for act in ("step", "sigmoid")}, "stuck": "step",
            "learns": "sigmoid"}


def judge(data):
    s, l = data["nets"][data["stuck"]], data["nets"][data["learns"]]
    return all_of([threshold_rule(s["moved"], "<", 1e-12, f"relative change of the first layer ({data['stuck']})"),
                   threshold_rule(l["moved"], ">", 1e-3, f"relative change of the first layer ({data['learns']})")],
                  "no gradient reaches the layers below a step activation; a sigmoid passes one")


swap = swap_roles("stuck", "learns")


def plot(data, path):
    fig, (ax, bx) = figure(2)
    for act, r in data["nets"].items():
        ax.plot(r["losses"], label=act, alpha=0.8)
    ax.set_xlabel("step"), ax.set_ylabel("training loss (batch)"), ax.legend(fontsize=8), ax.grid(alpha=0.3)
    ax.set_title("only the head learns behind a step", fontsize=10)
    acts = list(data["nets"])
    bx.bar(acts, [max(data["nets"][a]["moved"], 1e-16) for a in acts], color=["tab:red", "tab:blue"])
    bx.set_yscale("log"), bx.set_ylabel("relative change of layer 1 (0 shown as 1e-16)")
    bx.set_title("first layer after 100 steps", fontsize=10)
    save_figure(fig, path)


register(__file__, Claim(
    id="step-activation-cannot-learn", deck="004", topic="activation functions",
    text="Step function: the derivative is 0 everywhere except at 0 (undefined), so gradient descent cannot be used; "
         "sigmoid is its smooth, differentiable version",
    measures="relative change of the first layer's weights and the training loss over 100 SGD steps, step against "
             "sigmoid",
    why="100 steps are plenty: a zero gradient moves nothing from the first step on",
    caveat="the output layer above the last step activation still learns, so a step net's loss does fall a little",
    run=run, judge=judge, plot=plot, swap=swap, quick={"steps": 100}))
