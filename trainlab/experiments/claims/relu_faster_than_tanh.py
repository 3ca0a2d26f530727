"""Decks 001/004: ReLU trains faster than tanh (AlexNet's 6x: "converges much faster").

A 3-layer MLP on digits with plain SGD (no momentum, so the activation's effect is not hidden by
the optimizer), the same seeds for both arms; judged on the training loss after 3 epochs.
"""
from .arms import FASHION, last, paired_claim
from .base import register

register(__file__, paired_claim(
    id="relu-faster-than-tanh", deck="004", topic="activation functions",
    text="ReLU: does not saturate (in +region), very computationally efficient, converges much faster than "
         "sigmoid/tanh in practice",
    measures="training loss after 3 epochs of plain SGD, ReLU against tanh (He init for both, the MLP's default)",
    why="plain SGD at a small learning rate for a few epochs: the early phase, where the deck's claim is about speed",
    caveat="with Adam, batch norm or a tuned learning rate per activation the difference can vanish",
    base={"dataset": "digits", "model": "mlp", "model_options": {"depth": 3, "width": 128}, "optimizer": "sgd",
          "lr": 0.02, "batch_size": 32, "epochs": 3, "dropout": 0.0},
    arms={"tanh": {"activation": "tanh"}, "relu": {"activation": "relu"}},
    quantities={"train_loss": last("train_loss")}, arm="relu", against="tanh", quantity="train_loss",
    direction="lower", curve="val_loss", title="ReLU trains faster than tanh", qlabel="train loss after 3 epochs",
    full={"seeds": 10, "set": {**FASHION, "train_subset": 10000}},
    full_why="10,000 Fashion-MNIST images, the same early phase (3 epochs of plain SGD) on a real image task"))
