"""Decks 003/004: transfer learning: with few labels, start from a network trained on related data
instead of from scratch.

A parent MLP is trained on digits 0-4 (all their examples); children learn digits 5-9 from 5
examples per class, either from scratch or starting from the parent's weights (a new head; every
layer trained). Judged on the children's best validation accuracy, paired by seed.
"""
from __future__ import annotations

import shutil

from ...runs import load_run
from ...training.run import train
from .arms import FASHION, arms_run, best, configured
from .base import Claim, paired_rule, register, swap_arms
from .plots import dots_and_curves

BASE = {"dataset": "digits", "model": "mlp", "optimizer": "adam", "lr": 0.003, "batch_size": 25, "dropout": 0.0,
        "threads": 1}


def run(settings, ctx) -> dict:
    parent = ctx.folder / "parent"
    if not (parent / "summary.json").is_file() or load_run(parent).summary.get("status") != "finished":
        shutil.rmtree(parent, ignore_errors=True)
        train({**configured(BASE, settings), "classes": [0, 1, 2, 3, 4], "epochs": settings.get("parent_epochs", 10),
               "runs_dir": str(ctx.folder), "name": "parent", **settings.get("parent", {})}, quiet=True, report=False)
    child = {**BASE, "classes": [5, 6, 7, 8, 9], "train_per_class": 5, "epochs": settings["epochs"]}
    return arms_run(child, {"scratch": {}, "transfer": {"init_from": str(parent.resolve())}},
                    {"val_acc": best("val_acc")}, curve="val_acc")(settings, ctx)


register(__file__, Claim(
    id="transfer-few-labels", deck="004", topic="transfer learning",
    text="Transfer learning: with a small dataset, use a network pretrained on a large dataset as a starting point "
         "(a new last layer), instead of training from scratch",
    measures="best validation accuracy on digits 5-9 from 5 labels per class, from the 0-4 parent against scratch",
    why="5 labels per class is where a random start cannot learn features; digits 0-4 share strokes with 5-9",
    caveat="if the parent's data are unrelated to the child's, or the child has plenty of labels, transfer helps "
           "little or not at all",
    run=run, judge=lambda d: paired_rule(d, "transfer", "scratch", "val_acc", "higher"),
    plot=lambda d, p: dots_and_curves(d, "val_acc", p, "transfer beats scratch with 5 labels per class",
                                      qlabel="best val acc (digits 5-9)"),
    swap=swap_arms("transfer", "scratch"), quick={"seeds": 10, "epochs": 30},
    full={"seeds": 10, "epochs": 60, "parent_epochs": 2, "parent": {"val_fraction": 0.1, "eval_every": 0},
          "set": {**FASHION, "model": "convnet", "val_fraction": 0.05, "eval_every": 10}},
    full_why="the lecture's 'pretrained on a large dataset': a convnet trained on all ~27,000 training images of "
             "Fashion-MNIST's classes 0-4 (tops, trousers, pullovers, dresses, coats) for 2 epochs; children learn "
             "classes 5-9 (sandals, shirts, sneakers, bags, ankle boots) from 5 labels per class, evaluated every 10 "
             "steps on 1,500 validation images",
    quick_note="the quick parent learns from ~650 images of digits 0-4 (8x8): not the large source the lecture means, "
               "and an MLP's first layer learns little that carries to other digits"))
