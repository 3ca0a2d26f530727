"""Deck 003: overfitting, and early stopping picking the best epoch on the validation set.

A wide MLP on 10 digits per class (momentum SGD, lr 0.1, 100 epochs), trained far past the point
where it fits the training set;
the validation loss falls, then rises. Judged: the best epoch's validation loss against the last
epoch's, paired by seed (early stopping keeps the former), on the log scale: an overconfident
net's last validation loss can be 2x or 50x its best, so ratios are what compare. Swapped: best and last exchange.
"""
from .arms import arms_run, best, last
from .base import Claim, paired_rule, register, swap_arms
from .plots import dots_and_curves

_run = arms_run({"dataset": "digits", "model": "mlp", "model_options": {"width": 512}, "train_per_class": 10,
                 "optimizer": "momentum", "lr": 0.1, "batch_size": 20, "epochs": 100, "dropout": 0.0},
                {"overfit": {}}, {"best": best("val_loss"), "last": last("val_loss")}, curve="val_loss")


def run(settings, ctx):
    d = _run(settings, ctx)
    per = d["arms"]["overfit"]
    return {"arms": {"best epoch": {"val_loss": per["best"]}, "last epoch": {"val_loss": per["last"]}},
            "curves": d["curves"], "curve": "val_loss"}


register(__file__, Claim(
    id="early-stopping-best-epoch", deck="003", topic="validation and early stopping",
    text="Early stopping: stop training when the validation error starts to increase, and keep the best model",
    measures="validation loss at the best epoch (what early stopping keeps) against the last epoch, 100 epochs",
    why="10 examples per class and a 512-wide MLP trained for 100 epochs become overconfident: the validation loss climbs",
    caveat="with strong regularization or little training the last epoch may be the best one, and stopping early gains "
           "nothing",
    run=run, judge=lambda d: paired_rule(d, "best epoch", "last epoch", "val_loss", "lower", log=True),
    plot=lambda d, p: dots_and_curves(d, "val_loss", p, "early stopping keeps the best epoch",
                                      qlabel="validation loss", log=True),
    swap=swap_arms("best epoch", "last epoch"), quick={"seeds": 10}, full={"seeds": 20}))
