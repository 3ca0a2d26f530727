"""Deck 002: data normalization makes training converge much faster (the CIFAR-10 before/after table).

The same MLP and optimizer on digits, inputs scaled to [0, 1] only ("none") against standardized
per feature; judged on the validation accuracy after the first epoch.
"""
from .arms import FASHION, at_epoch, paired_claim
from .base import register

register(__file__, paired_claim(
    id="standardize-speeds-convergence", deck="002", topic="data normalization",
    text="Data normalization (standardization: (x - mean) / std): after normalization it converges much faster!",
    measures="validation accuracy after 1 epoch, standardized inputs against inputs in [0, 1]",
    why="one epoch of plain SGD shows the speed of convergence, which is the deck's claim (not the final accuracy)",
    caveat="adaptive optimizers (Adam) and batch norm absorb much of the input scale; pixels already in [0, 1] "
           "are less badly scaled than the deck's raw CIFAR values",
    base={"dataset": "digits", "model": "mlp", "optimizer": "sgd", "lr": 0.05, "batch_size": 32, "epochs": 1,
          "dropout": 0.0, "eval_every": 10},
    arms={"none": {"preprocessing": "none"}, "standardize": {"preprocessing": "standardize"}},
    quantities={"val_acc_1": at_epoch("val_acc", 1.0)}, arm="standardize", against="none", quantity="val_acc_1",
    direction="higher", title="standardized inputs converge faster", qlabel="val acc after 1 epoch",
    full={"seeds": 10, "set": {**FASHION, "train_subset": 10000}},
    full_why="28x28 Fashion-MNIST pixels in [0, 1] against standardized, one epoch of plain SGD on 10,000 images"))
