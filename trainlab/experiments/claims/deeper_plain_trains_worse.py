"""Deck 003 (and 000's skip connections): a deeper plain network trains worse than a shallower
one ("the degradation problem"): plain-56 against plain-20 on the training loss itself.
"""
from .arms import last, paired_claim
from .base import register

register(__file__, paired_claim(
    id="deeper-plain-trains-worse", deck="003", topic="architectures: ResNet",
    text="Is learning better networks as easy as stacking more layers? A 56-layer plain network has higher training "
         "error than a 20-layer one (not overfitting: optimization)",
    measures="training loss after 4 epochs, plain56 against plain20 (batch norm in both, as in the paper)",
    why="the degradation shows on training loss from the first epochs; 8x8 digits keep 56 layers affordable",
    caveat="with long enough training or careful init the gap narrows; on tiny inputs both may fit eventually",
    base={"dataset": "digits", "model": "plain20", "optimizer": "momentum", "lr": 0.05, "batch_size": 64,
          "epochs": 4},
    arms={"plain20": {"model": "plain20"}, "plain56": {"model": "plain56"}},
    quantities={"train_loss": last("train_loss")}, arm="plain56", against="plain20", quantity="train_loss",
    direction="higher", curve="train_loss", title="deeper plain nets train worse", qlabel="train loss after 4 epochs",
    log=True, quick={"seeds": 3}, full={"seeds": 6, "set": {"epochs": 10}},
    full_why="depth is the lecture's condition, not the data: 56 layers stay on 8x8 digits (on 28x28 Fashion-MNIST a "
             "run costs minutes of CPU each), with twice the seeds and 10 epochs"))
