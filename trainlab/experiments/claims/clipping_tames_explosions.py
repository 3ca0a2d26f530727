"""Deck 003: gradient clipping against exploding gradients.

A deep plain MLP (8 layers, no normalization) at a learning rate where its gradients blow up;
arms: no clipping against clipping the global norm at 1. Judged on the best validation accuracy
(a diverged run counts as chance, 0.1).
"""
from .arms import FASHION, diverged, paired_claim, score
from .base import register

register(__file__, paired_claim(
    id="clipping-tames-explosions", deck="003", topic="optimization: gradient clipping",
    text="Gradient clipping: when the gradient norm exceeds a threshold, scale it down, which prevents exploding "
         "gradients",
    measures="best validation accuracy (diverged = 0.1) at lr 0.3 with momentum, clip_norm 1 against none",
    why="an 8-layer MLP without normalization at lr 0.3 with momentum has gradient spikes that blow it up",
    caveat="clipping helps against spikes, not against a learning rate that is simply too high everywhere",
    base={"dataset": "digits", "model": "mlp", "model_options": {"depth": 8, "width": 128}, "optimizer": "momentum",
          "lr": 0.3, "batch_size": 64, "epochs": 5, "dropout": 0.0, "norm": "none"},
    arms={"none": {}, "clip": {"clip_norm": 1.0}},
    quantities={"score": score(), "diverged": diverged()}, arm="clip", against="none", quantity="score",
    direction="higher", title="gradient clipping tames exploding gradients", qlabel="best val acc (diverged = 0.1)",
    full={"seeds": 10, "set": {**FASHION, "train_subset": 10000}},
    full_why="10,000 Fashion-MNIST images at the same rate and depth: the failure it guards against on a real task"))
