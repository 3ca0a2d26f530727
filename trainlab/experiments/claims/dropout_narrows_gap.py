"""Decks 000/001: dropout, "a simple technique to prevent overfitting", narrows the gap between
training and validation accuracy.

A wide MLP on 20 digits per class overfits fast (train accuracy 100% within a few epochs). Arms:
no dropout against dropout 0.5, same seeds. Judged: the accuracy gap train_acc - val_acc at the end,
as Keras and trainlab log it (the training accuracy is the running one, measured with dropout on,
which the deck itself asks about: "is this training accuracy or validation accuracy?"), paired by seed.
Swapped: the arms exchange their numbers.
"""
from .arms import FASHION, arms_run, best, gap
from .base import Claim, paired_rule, register, swap_arms
from .plots import dots_and_curves

BASE = {"dataset": "digits", "model": "mlp", "model_options": {"width": 512, "depth": 2}, "train_per_class": 20,
        "optimizer": "adam", "lr": 0.001, "batch_size": 32, "epochs": 40}
ARMS = {"none": {"dropout": 0.0}, "dropout": {"dropout": 0.5}}

register(__file__, Claim(
    id="dropout-narrows-gap", deck="001", topic="regularization: dropout",
    text="Dropout: a simple technique to prevent overfitting; in each forward pass, randomly set some neurons to zero",
    measures="training accuracy (running, dropout on) minus validation accuracy at the end, 0.5 dropout against none",
    why="20 examples per class and a 512-wide MLP overfit within a few epochs, so the gap is large without dropout",
    caveat="with plenty of data or a small model there is little gap to narrow; too much dropout underfits instead; "
           "part of the narrower gap is the training accuracy being measured with dropout on",
    run=arms_run(BASE, ARMS, {"gap": gap("acc"), "loss_gap": gap("loss"), "val_acc": best("val_acc")}, curve="val_loss"),
    judge=lambda d: paired_rule(d, "dropout", "none", "gap", "lower"),
    plot=lambda d, p: dots_and_curves(d, "gap", p, "dropout narrows the train-validation gap",
                                      qlabel="train acc - val acc (end)", clabel="val_loss", log=True),
    swap=swap_arms("dropout", "none"),
    quick={"seeds": 10, "set": {"epochs": 40}},
    full={"seeds": 10, "set": {**FASHION, "train_per_class": 100, "epochs": 60}},
    full_why="100 Fashion-MNIST images per class (1,000) and 60 epochs: the 512-wide MLP reaches ~100% training "
             "accuracy while validation stays far lower, so without dropout there is a wide gap to narrow",
    quick_note="8x8 digits are easy: 200 images already give a 512-wide MLP over 90% validation accuracy, so the gap "
               "without dropout is only a few points and the two arms' gaps overlap"))
