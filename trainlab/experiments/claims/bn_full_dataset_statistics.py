"""Deck 000: for validation and testing, batch norm uses "mean and variance from the entire dataset
(not from a batch)"; torch, Keras and trainlab keep exponential running averages instead.

A convnet with batch norm on digits, trained for one epoch with the momentum SGD the running
averages are worst at following (the weights move fast; momentum 0.1 remembers old batches); each
run is then scored on the validation split twice: with its running averages, and with statistics
recomputed over the whole training set (`trainlab evaluate --bn-stats full`). Judged on the
validation loss, paired by seed: the full-dataset statistics give a lower loss.
Swapped: the two ways exchange numbers.
"""
from __future__ import annotations

from ...training.saved import evaluate
from ..compare import compare
from .arms import FASHION, configured
from .base import Claim, paired_rule, register, swap_arms
from .plots import dots, figure, save_figure

BASE = {"dataset": "digits", "model": "convnet", "norm": "batch", "optimizer": "momentum", "lr": 0.1,
        "batch_size": 32, "epochs": 1, "threads": 1}


def run(settings, ctx) -> dict:
    c = compare(configured(BASE, settings), {"trained": {}}, seeds=settings["seeds"], jobs=ctx.jobs, name=ctx.experiment(),
                runs_dir=str(ctx.folder), quiet=ctx.quiet, storage=ctx.storage, enqueue_only=ctx.enqueue_only)
    if c is None:  # enqueued only: the numbers come when workers have run them
        return None
    arms = {"running averages": {"val_loss": [], "val_acc": []}, "full training set": {"val_loss": [], "val_acc": []}}
    for _, r in sorted(c.runs["trained"].items()):
        for arm, how in (("running averages", "running"), ("full training set", "full")):
            res = evaluate(r["path"], split="val", bn_stats=how)
            arms[arm]["val_loss"].append(res["loss"])
            arms[arm]["val_acc"].append(res["acc"])
    return {"arms": arms}


def plot(data, path):
    fig, (ax, bx) = figure(2)
    dots(ax, data, "val_loss", label="validation loss")
    dots(bx, data, "val_acc", label="validation accuracy")
    fig.suptitle("batch norm at test time: running averages against the whole training set", fontsize=11)
    save_figure(fig, path)


register(__file__, Claim(
    id="bn-full-dataset-statistics", deck="000", topic="batch normalization",
    text="Batch normalization, testing: for validation & testing, we use mean and variance from the entire dataset "
         "(not from a batch)",
    measures="validation loss of the same weights with BN running averages against statistics recomputed over the "
             "whole training set, after 1 epoch",
    why="after one epoch at lr 0.1 the weights have moved faster than momentum-0.1 running averages follow",
    caveat="after long training at a small learning rate the running averages converge to the dataset's statistics "
           "and the two agree",
    run=run, judge=lambda d: paired_rule(d, "full training set", "running averages", "val_loss", "lower"),
    plot=plot, swap=swap_arms("full training set", "running averages"), quick={"seeds": 8}, full={"seeds": 10, "set": {**FASHION, "train_subset": 10000, "val_fraction": 0.02}},
    full_why="Fashion-MNIST, 10,000 training images, one epoch: more batches and a harder task, so the running "
             "averages have more to follow; 1,200 validation images keep the two evaluations cheap"))
