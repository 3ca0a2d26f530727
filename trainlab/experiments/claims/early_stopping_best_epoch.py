"""Deck 003: overfitting, and early stopping picking the best epoch on the validation set.

A wide MLP on 10 digits per class (momentum SGD, lr 0.1, 100 epochs), trained far past the point
where it fits the training set;
the validation loss falls, then rises. Judged per seed: is the last epoch's validation loss more
than 5% above the best epoch's (what early stopping keeps)? An exact sign test over the seeds
decides. The rule is a count, not a mean, on purpose: an overconfident net's last validation loss
ranges from 1.1x to e^16 times its best across seeds and machines, and a t-test on such numbers
(even on their logarithms) changes its verdict with one seed; with the sign test each seed is one
vote. Swapped: best and last exchange, and no seed then rises.
"""
from .arms import FASHION, arms_run, best, last
from .base import Claim, register, rises_rule, swap_arms
from .plots import dots_and_curves

_run = arms_run({"dataset": "digits", "model": "mlp", "model_options": {"width": 512}, "train_per_class": 10,
                 "optimizer": "momentum", "lr": 0.1, "batch_size": 20, "epochs": 100, "dropout": 0.0},
                {"overfit": {}}, {"best": best("val_loss"), "last": last("val_loss")}, curve="val_loss")


def run(settings, ctx):
    d = _run(settings, ctx)
    if d is None:
        return None
    per = d["arms"]["overfit"]
    return {"arms": {"best epoch": {"val_loss": per["best"]}, "last epoch": {"val_loss": per["last"]}},
            "curves": d["curves"], "curve": "val_loss"}


register(__file__, Claim(
    id="early-stopping-best-epoch", deck="003", topic="validation and early stopping",
    text="Early stopping: stop training when the validation error starts to increase, and keep the best model",
    measures="on how many seeds the last epoch's validation loss is more than 5% above the best epoch's (what early "
             "stopping keeps), 100 epochs",
    why="10 examples per class and a 512-wide MLP trained for 100 epochs become overconfident: the validation loss climbs",
    caveat="with strong regularization or little training the last epoch may be the best one, and stopping early gains "
           "nothing",
    run=run, judge=lambda d: rises_rule(d, "last epoch", "best epoch", "val_loss", by=0.05),
    plot=lambda d, p: dots_and_curves(d, "val_loss", p, "early stopping keeps the best epoch",
                                      qlabel="validation loss", log=True),
    swap=swap_arms("best epoch", "last epoch"), quick={"seeds": 10},
    full={"seeds": 10, "set": {**FASHION, "train_per_class": 100}},
    full_why="1,000 Fashion-MNIST images (100 per class) for 100 epochs at the same rate: the MLP fits them in a few "
             "epochs, then grows overconfident on the validation set"))
