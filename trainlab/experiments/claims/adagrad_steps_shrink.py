"""Deck 001: Adagrad's cache (the sum of squared gradients) only grows, so its steps keep shrinking
("the monotonic learning rate usually proves too aggressive and stops learning too early");
RMSprop's leaky cache does not.

No training: trainlab's adagrad and rmsprop recipes on the ill-conditioned quadratic with seeded
gradient noise (sd 1, the same for both), lr 0.1, 1000 steps. Step length |x_{t+1} - x_t|: the mean
of the last 50 steps over the mean of steps 10..50. The rule: Adagrad's ratio below 0.2 and
RMSprop's above 0.5. Swapped: the optimizers exchange their numbers.
"""
from __future__ import annotations

import numpy as np

from ...optim.trajectory import FUNCTIONS, descend
from .base import Claim, all_of, register, swap_roles, threshold_rule
from .plots import figure, save_figure


def run(settings, ctx) -> dict:
    s = FUNCTIONS.create("ill_conditioned", condition=100)
    out = {}
    for opt in ("adagrad", "rmsprop"):
        t = descend(s, opt, settings["steps"], settings["lr"], noise=settings["noise"], seed=0)
        sl = t.step_length
        out[opt] = {"ratio": float(sl[-50:].mean() / sl[10:50].mean()), "steps": sl.tolist()}
    return {"runs": out, "shrinks": "adagrad", "steady": "rmsprop"}


def judge(data):
    a, b = data["runs"][data["shrinks"]], data["runs"][data["steady"]]
    return all_of([threshold_rule(a["ratio"], "<", 0.2, f"late / early step length, {data['shrinks']}"),
                   threshold_rule(b["ratio"], ">", 0.5, f"late / early step length, {data['steady']}")],
                  "Adagrad's late steps are under a fifth of its early ones; RMSprop's keep more than half")


swap = swap_roles("shrinks", "steady")


def plot(data, path):
    fig, (ax,) = figure(1, 7)
    for opt, r in data["runs"].items():
        s = np.array(r["steps"])
        smooth = np.convolve(s, np.ones(20) / 20, mode="valid")
        ax.plot(s, alpha=0.2)
        ax.plot(np.arange(len(smooth)) + 10, smooth, label=f"{opt} (late/early {r['ratio']:.2f})", color=ax.lines[-1].get_color())
    ax.set_yscale("log"), ax.set_xlabel("step"), ax.set_ylabel("step length (20-step mean)"), ax.legend(fontsize=8)
    ax.grid(alpha=0.3), ax.set_title("noisy gradients: Adagrad's steps shrink, RMSprop's do not", fontsize=11)
    save_figure(fig, path)


register(__file__, Claim(
    id="adagrad-steps-shrink", deck="001", topic="optimization: Adagrad and RMSprop",
    text="Adagrad: cache += dx**2 ... the monotonic learning rate usually proves too aggressive and stops learning too "
         "early. RMSProp: the cache variable is leaky, so unlike Adagrad the updates do not get monotonically smaller",
    measures="step length late (last 50 of 1000 steps) over early (steps 10-50), Adagrad and RMSprop, noisy quadratic",
    why="no training: gradient noise keeps the squared gradients from vanishing, as minibatches do, so only the cache "
        "decides the step size",
    caveat="without noise both step sizes shrink as the gradient itself does near the minimum",
    run=run, judge=judge, plot=plot, swap=swap, quick={"steps": 1000, "lr": 0.1, "noise": 1.0}))
