"""Deck 001: batch normalization "allows higher learning rates".

A 4-layer MLP on digits trained with momentum SGD at a learning rate too high for it without
normalisation (lr 0.5); the same net with batch norm after each linear layer. Judged on the best
validation accuracy (a diverged run counts as chance, 0.1).
"""
from .arms import FASHION, paired_claim, score
from .base import register

register(__file__, paired_claim(
    id="bn-higher-lr", deck="001", topic="batch normalization",
    text="Batch normalization: improves gradient flow through the network; allows higher learning rates; "
         "reduces the strong dependence on initialization",
    measures="best validation accuracy at lr 0.5 (momentum 0.9), with batch norm against without",
    why="lr 0.5 with momentum is past what the plain 4-layer MLP tolerates, so the effect shows in 5 epochs",
    caveat="at a learning rate both tolerate the two arms are close; BN's benefit shrinks for shallow nets",
    base={"dataset": "digits", "model": "mlp", "model_options": {"depth": 4, "width": 128}, "optimizer": "momentum",
          "lr": 0.5, "batch_size": 64, "epochs": 5, "dropout": 0.0},
    arms={"none": {"norm": "none"}, "batch_norm": {"norm": "batch"}},
    quantities={"score": score()}, arm="batch_norm", against="none", quantity="score", direction="higher",
    title="batch norm allows a higher learning rate", qlabel="best val acc (diverged = 0.1)",
    full={"seeds": 10, "set": {**FASHION, "train_subset": 10000}},
    full_why="10,000 Fashion-MNIST images at the same rate and depth: the failure it guards against on a real task"))
