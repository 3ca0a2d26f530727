"""Deck 001/004: the learning rate: too low learns slowly, too high diverges (the deck's loss
curves for very high, high, low and good learning rates).

Momentum SGD on an MLP for 3 epochs at lr 1e-4, 0.05 and 5.0; judged on the best validation
accuracy (a diverged run scores chance, 0.1): the good rate must beat both the low and the high one.
Swapped: the good and the low arm exchange their numbers.
"""
from .arms import FASHION, arms_run, diverged, score
from .base import Claim, all_of, paired_rule, register, swap_arms
from .plots import dots_and_curves

ARMS = {"low": {"lr": 1e-4}, "good": {"lr": 0.05}, "high": {"lr": 5.0}}

register(__file__, Claim(
    id="lr-too-low-too-high", deck="001", topic="optimization: learning rate",
    text="SGD, SGD+Momentum, Adagrad, RMSProp, Adam all have learning rate as a hyperparameter. Q: Which one of these "
         "learning rates is best to use? (low: slow progress; high: the loss explodes)",
    measures="best validation accuracy (diverged = 0.1) after 3 epochs at lr 1e-4, 0.05 and 5",
    why="three rates two orders of magnitude apart around a known good one show both failure modes in 3 epochs",
    caveat="which rate is good depends on the model, batch size and optimizer: the point is the U shape, not 0.05",
    run=arms_run({"dataset": "digits", "model": "mlp", "optimizer": "momentum", "batch_size": 64, "epochs": 3,
                  "dropout": 0.0}, ARMS, {"score": score(), "diverged": diverged()}, curve="val_acc"),
    judge=lambda d: all_of([paired_rule(d, "good", "low", "score", "higher"),
                            paired_rule(d, "good", "high", "score", "higher")],
                           "the good rate beats the low one and the high one (paired t-tests at 5%)"),
    plot=lambda d, p: dots_and_curves(d, "score", p, "learning rate: too low, good, too high",
                                      qlabel="best val acc (diverged = 0.1)"),
    swap=swap_arms("good", "low"), quick={"seeds": 5},
    full={"seeds": 10, "set": {**FASHION, "train_subset": 10000}},
    full_why="10,000 Fashion-MNIST images, the same three rates: the U shape on a real image task"))
