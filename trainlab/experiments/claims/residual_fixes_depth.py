"""Decks 000/003: skip connections fix it: resnet56 against plain56, same depth, same budget.
"""
from .arms import last, paired_claim
from .base import register

register(__file__, paired_claim(
    id="residual-fixes-depth", deck="000", topic="architectures: skip connections",
    text="Problem: gradient vanishing; a very deep network is difficult to train. Solution: make skip connections, so "
         "back-propagation can be done without gradient vanishing problem",
    measures="training loss after 4 epochs, resnet56 against plain56",
    why="the same 56 layers with and without identity shortcuts, trained identically for a few epochs",
    caveat="at modest depth (20 layers) plain and residual nets train about equally well",
    base={"dataset": "digits", "model": "plain56", "optimizer": "momentum", "lr": 0.05, "batch_size": 64,
          "epochs": 4},
    arms={"plain56": {"model": "plain56"}, "resnet56": {"model": "resnet56"}},
    quantities={"train_loss": last("train_loss")}, arm="resnet56", against="plain56", quantity="train_loss",
    direction="lower", curve="train_loss", title="residual connections fix depth", qlabel="train loss after 4 epochs",
    log=True, quick={"seeds": 3}, full={"seeds": 6, "set": {"epochs": 10}},
    full_why="depth is the lecture's condition, not the data: 56 layers stay on 8x8 digits (on 28x28 Fashion-MNIST a "
             "run costs minutes of CPU each), with twice the seeds and 10 epochs"))
