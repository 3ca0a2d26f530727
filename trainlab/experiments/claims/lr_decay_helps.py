"""Deck 001: learning rate decay over time (step, exponential alpha0 e^{-kt}, 1/t alpha0 / (1 + kt))
against a constant rate.

Plain SGD at a rate that makes progress but rattles (0.2) for 10 epochs; each decay ends lower in
training loss than the constant rate. Judged on the final training loss: all three decays must
beat the constant rate (paired by seed). Swapped: the constant and the step arm exchange numbers.
"""
from . import register
from .arms import arms_run, best, last
from .base import Claim, all_of, paired_rule, swap_arms
from .plots import dots_and_curves

ARMS = {"constant": {}, "step": {"schedule": "step", "schedule_options": {"gamma": 0.5, "every": 2}},
        "exponential": {"schedule": "exponential", "schedule_options": {"k": 0.3}},
        "inverse_time": {"schedule": "inverse_time", "schedule_options": {"k": 0.5}}}

register(Claim(
    id="lr-decay-helps", deck="001", topic="optimization: learning rate schedules",
    text="Learning rate decay over time! step decay: e.g. decay learning rate by half every few epochs; exponential "
         "decay: alpha = alpha0 e^(-kt); 1/t decay: alpha = alpha0 / (1 + kt)",
    measures="training loss at the end of 10 epochs of SGD (lr 0.2), each decay against a constant rate",
    why="a rate high enough to rattle around the minimum: decaying it lets the loss settle lower within 10 epochs",
    caveat="with a small constant rate, decay only slows training; the best schedule depends on the epoch budget",
    run=arms_run({"dataset": "digits", "model": "mlp", "optimizer": "sgd", "lr": 0.2, "batch_size": 32, "epochs": 10,
                  "dropout": 0.0}, ARMS, {"train_loss": last("train_loss"), "val_acc": best("val_acc")},
                 curve="train_loss"),
    judge=lambda d: all_of([paired_rule(d, arm, "constant", "train_loss", "lower")
                            for arm in ("step", "exponential", "inverse_time")],
                           "each decay ends with a lower training loss than the constant rate (paired t, 5%)"),
    plot=lambda d, p: dots_and_curves(d, "train_loss", p, "learning-rate decay against a constant rate",
                                      qlabel="final train loss", log=True),
    swap=swap_arms("step", "constant"), quick={"seeds": 5}, full={"seeds": 10}))
