"""Deck 001: on a loss that is steep vertically and shallow horizontally, SGD makes "very slow
progress along the flat direction, jitter along the steep one"; momentum fixes it.

No training of a network: trainlab's sgd and momentum recipes (mu = 0.9) on the ill-conditioned
quadratic 0.5 (x^2 + 100 y^2), same learning rate (0.019, just under SGD's stability limit 2/100),
100 steps from the surface's start. The rule: SGD jitters (y changes sign at more than half of its
steps) AND momentum ends at least 10x closer to the minimum (f - f*). Swapped: the optimizers
exchange their numbers.
"""
from __future__ import annotations

from ...optim.trajectory import FUNCTIONS, descend
from ...report.surface import plot_trajectories
from .base import Claim, all_of, register, swap_roles, threshold_rule


def paths(settings):
    s = FUNCTIONS.create("ill_conditioned", condition=settings["condition"])
    return [descend(s, opt, settings["steps"], settings["lr"], label=opt) for opt in ("sgd", "momentum")]


def run(settings, ctx) -> dict:
    out = {}
    for t in paths(settings):
        y = t.points[:, 1]
        out[t.label] = {"gap": float(t.gap[-1]), "flips": float(((y[1:] * y[:-1]) < 0).float().mean()),
                        "x_end": float(t.points[-1, 0])}
    return {"settings": settings, "runs": out, "plain": "sgd", "fixed": "momentum"}


def judge(data):
    p, f = data["runs"][data["plain"]], data["runs"][data["fixed"]]
    return all_of([threshold_rule(p["flips"], ">", 0.5, f"share of {data['plain']} steps where y changes sign"),
                   threshold_rule(f["gap"] / p["gap"], "<", 0.1, f"final f - f* of {data['fixed']} / {data['plain']}")],
                  "SGD jitters along the steep axis, and momentum ends 10x closer to the minimum in the same steps")


swap = swap_roles("plain", "fixed")


def plot(data, path):
    plot_trajectories(paths(data["settings"]), path, title="SGD jitters on an ill-conditioned loss; momentum fixes it")


register(__file__, Claim(
    id="momentum-fixes-jitter", deck="001", topic="optimization: momentum",
    text="Suppose loss function is steep vertically but shallow horizontally: very slow progress along flat direction, "
         "jitter along steep one (SGD); momentum update: v = mu * v - learning_rate * dx; x += v",
    measures="sign changes of y per step and final f - f* of SGD and momentum on 0.5 (x^2 + 100 y^2), lr 0.019, 100 steps",
    why="no training: a 2-D quadratic with condition number 100 is the deck's picture; lr just under 2/100 makes SGD "
        "bounce in y while it crawls in x",
    caveat="momentum 0.9 with too high a learning rate overshoots instead (at condition 25 and lr 0.05 it does no "
           "better than SGD); on a well-conditioned loss there is no jitter to fix",
    run=run, judge=judge, plot=plot, swap=swap, quick={"condition": 100, "lr": 0.019, "steps": 100}))
