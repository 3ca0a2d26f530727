"""Deck 001/004: dead ReLUs: with a learning rate too high, ReLU units get knocked into the region
where they never fire again ("an annoyance: 0 gradient when x < 0"); Leaky ReLU keeps them alive.

Two claims from one experiment family, each judged on the share of dead units (no input in a
fixed validation batch makes them fire) in the last diagnostics row, averaged over layers.
"""
from __future__ import annotations

import json

from ...runs import Run
from .arms import FASHION, best, paired_claim
from .base import register


def dead_fraction() -> callable:
    def get(run: Run) -> float:
        f = run.path / "diagnostics.jsonl"
        rows = [json.loads(line) for line in f.read_text().splitlines() if line.strip()] if f.is_file() else []
        if not rows:  # diverged before its first evaluation
            return float("nan")
        dead = [a["dead"] for a in rows[-1]["activations"].values() if "dead" in a]
        return sum(dead) / len(dead) if dead else float("nan")
    return get


BASE = {"dataset": "digits", "model": "mlp", "model_options": {"depth": 3, "width": 128}, "optimizer": "sgd",
        "batch_size": 32, "epochs": 3, "dropout": 0.0, "norm": "none", "diagnostics": True}

register(__file__, paired_claim(
    id="dead-relu-high-lr", deck="001", topic="activation functions",
    text="ReLU: an annoyance: what is the gradient when x < 0? (dead ReLU units, e.g. with a too high learning rate)",
    measures="share of hidden ReLU units dead on a validation batch after 3 epochs of SGD, lr 0.6 against lr 0.01",
    why="plain SGD at lr 0.6 on an unnormalized 3-layer MLP pushes many biases far negative within an epoch",
    caveat="batch norm before the ReLU, a moderate learning rate or Adam keep most units alive",
    base=BASE, arms={"lr_0.01": {"lr": 0.01}, "lr_0.6": {"lr": 0.6}},
    quantities={"dead": dead_fraction(), "val_acc": best("val_acc")}, arm="lr_0.6", against="lr_0.01",
    quantity="dead", direction="higher", curve="val_acc", title="a high learning rate kills ReLUs",
    qlabel="share of dead ReLU units", quick={"seeds": 10}, worst=1.0,
    full={"seeds": 20, "set": {**FASHION, "train_subset": 10000}},
    full_why="10,000 Fashion-MNIST images, 3 epochs of SGD at the same two rates: dead units on a real image task; a "
             "run that diverges counts as all units dead (it carries no signal), and the counts are shown"))

register(__file__, paired_claim(
    id="leaky-relu-stays-alive", deck="002", topic="activation functions",
    text="Leaky ReLU: max(0.1x, x): does not saturate, will not \"die\"",
    measures="share of dead units after 3 epochs of SGD at lr 0.4, Leaky ReLU (0.1) against ReLU",
    why="a high learning rate that kills ReLUs (at 0.6 most leaky nets diverge instead); a leaky unit still passes 0.1 "
        "of the gradient when x < 0",
    caveat="a leaky unit can still sit in its negative part for every input; 'dead' here means never positive",
    base={**BASE, "lr": 0.4}, arms={"relu": {"activation": "relu"}, "leaky": {"activation": "leaky_relu:negative_slope=0.1"}},
    quantities={"dead": dead_fraction(), "val_acc": best("val_acc")}, arm="leaky", against="relu",
    quantity="dead", direction="lower", curve="val_acc", title="Leaky ReLU stays alive at a high learning rate",
    qlabel="share of dead units", quick={"seeds": 20}, worst=1.0,
    full={"seeds": 40, "set": {**FASHION, "train_subset": 10000}},
    full_why="40 seeds on 10,000 Fashion-MNIST images: the quick run's difference was small against its spread; a run "
             "that diverges counts as all units dead, so an activation that diverges more is not flattered",
    quick_note="at lr 0.4 on digits both activations leave few units dead on most seeds, and a handful of seeds "
               "decide the mean: 20 seeds did not separate them"))
