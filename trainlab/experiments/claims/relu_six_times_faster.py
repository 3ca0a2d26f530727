"""Deck 004 (AlexNet): ReLU reaches a training error "6x faster" than tanh (Krizhevsky et al.,
Figure 1: a 4-layer convnet on CIFAR-10 reached 25% training error six times sooner).

The deck's convnet with ReLU and with tanh, the same seeds, momentum SGD at one learning rate for
both (the paper tuned each separately: a caveat). Training accuracy is logged every 5 steps (the
running accuracy of those steps); each run's speed is the first step where it reaches 75% (25%
training error); a run that never does within its budget counts at its last step, so its ratio is
a lower bound. Judged on the ratio tanh steps / ReLU steps: its geometric mean over seeds with a
95% t-interval on the log ratios; supported when the interval lies above 1 (ReLU faster), refuted
when below. Whether 6 lies inside the interval is reported, not judged: 6 was one network on one
dataset. Swapped: the two activations exchange their step counts.
"""
from __future__ import annotations

import math

from .. import stats
from .arms import FASHION, arms_run
from .base import INCONCLUSIVE, REFUTED, SUPPORTED, Claim, Verdict, register, swap_arms
from .plots import dots_and_curves

TARGET = 0.75  # training accuracy: AlexNet's 25% training error


def steps_to(target: float):
    def get(run) -> float:
        rows = [r for r in run.metrics if r.get("train_acc") is not None]
        hit = [r["step"] for r in rows if r["train_acc"] >= target]
        if hit:
            return float(hit[0])
        return float(rows[-1]["step"]) if rows else math.nan  # never reached: the budget, a lower bound
    return get


def reached(target: float):
    return lambda run: float(any((r.get("train_acc") or 0) >= target for r in run.metrics))


BASE = {"dataset": "digits", "model": "convnet", "optimizer": "momentum", "lr": 0.01, "batch_size": 64,
        "epochs": 3, "dropout": 0.0, "log_every": 5}
_run = arms_run(BASE, {"tanh": {"activation": "tanh"}, "relu": {"activation": "relu"}},
                {"steps": steps_to(TARGET), "reached": reached(TARGET)}, curve="train_acc")


def judge(data) -> Verdict:
    t, r = data["arms"]["tanh"]["steps"], data["arms"]["relu"]["steps"]
    logs = [math.log(a / b) for a, b in zip(t, r) if a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b)]
    s = stats.summarize(logs)
    ratio, lo, hi = (math.exp(s["mean"]), *(math.exp(x) for x in s["ci"])) if logs else (math.nan,) * 3
    censored = sum(1 for x in data["arms"]["tanh"]["reached"] if not x)
    six = "inside" if lo <= 6 <= hi else "outside"
    because = (f"tanh needs {ratio:.2f}x the steps of ReLU to reach {TARGET:.0%} training accuracy (95% CI {lo:.2f} to "
               f"{hi:.2f}, {len(logs)} seeds; the paper's 6 is {six} the interval"
               + (f"; {censored} tanh run(s) never got there: their ratio is a lower bound" if censored else "") + ")")
    test = (f"t-interval of log(steps tanh / steps ReLU) to {TARGET:.0%} training accuracy over seeds; supported if "
            "the ratio's 95% CI lies above 1, refuted if below 1")
    p = stats.paired(logs, [0.0] * len(logs))["p_t"] if len(logs) > 1 else math.nan  # the same t, as a p-value
    nums = {"ratio": ratio, "ci": [lo, hi], "p": p, "n": len(logs), "six_inside": six == "inside",
            "censored_tanh": censored}
    if len(logs) < stats.MIN_SEEDS:
        return Verdict(INCONCLUSIVE, because + ": too few seeds", test, nums)
    return Verdict(SUPPORTED if lo > 1 else REFUTED if hi < 1 else INCONCLUSIVE, because, test, nums)


register(__file__, Claim(
    id="relu-6x-faster", deck="004", topic="activation functions",
    text="ReLU: converges much faster than sigmoid/tanh in practice (e.g. 6x) (AlexNet: six times faster to 25% "
         "training error)",
    measures="steps to 75% training accuracy, tanh over ReLU, as a ratio with its 95% CI (convnet, momentum SGD)",
    why="the paper's measurement (steps to a training error) on the deck's convnet: training accuracy every 5 steps "
        "resolves the early phase where the two activations differ",
    caveat="one learning rate for both (the paper tuned each); with batch norm or Adam the gap narrows; 6x was one "
           "network on CIFAR-10",
    full_why="28x28 Fashion-MNIST (5,000 training images, 2 epochs, 1,200 for validation) at the same rule: a real "
             "image task closer to the paper's than 8x8 digits",
    run=_run, judge=judge,
    plot=lambda d, p: dots_and_curves(d, "steps", p, f"steps to {TARGET:.0%} training accuracy: tanh against ReLU",
                                      qlabel=f"steps to {TARGET:.0%} train acc"),
    swap=swap_arms("tanh", "relu"), quick={"seeds": 5},
    full={"seeds": 8, "set": {**FASHION, "train_subset": 5000, "val_fraction": 0.02, "epochs": 2}}))
