"""Deck 000: "think twice" before augmenting: a transformation may alter the content (a 6 turned
upside down is a 9).

Digits 6 and 9 only; arms: no augmentation against flipping both axes half the time each (so a
quarter of the 6s become 9s and the reverse, with their old labels). Judged on the best validation
accuracy (lower with the label-changing augmentation).
"""
from .arms import best, paired_claim
from .base import register

register(__file__, paired_claim(
    id="augment-label-change-hurts", deck="000", topic="data augmentation",
    text="Rotation (and other operations) may or may not alter the content, so we need to think twice before we do it",
    measures="best validation accuracy on digits 6 vs 9, hflip + vflip (a 180-degree turn) against none",
    why="6 and 9 are each other's 180-degree rotation, the deck's own example of an augmentation that changes the label",
    caveat="on classes without such a symmetry the same flips can help",
    base={"dataset": "digits", "model": "mlp", "classes": [6, 9], "optimizer": "adam", "lr": 0.003, "batch_size": 32,
          "epochs": 10},
    arms={"none": {}, "flip": {"augment": ["hflip", "vflip"]}},
    quantities={"val_acc": best("val_acc")}, arm="flip", against="none", quantity="val_acc", direction="lower",
    title="a label-changing augmentation hurts (6 vs 9)", qlabel="best val acc", full={"seeds": 10},
    full_why="the claim needs two classes that a flip turns into each other (6 and 9): it stays on digits, with "
             "twice the seeds"))
