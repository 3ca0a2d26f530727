"""Decks 000/002: data augmentation helps when data are few ("small dataset -> large dataset,
prevent overfitting").

A small convnet on 10 digits per class, without and with label-safe augmentation (shifts of one
pixel and small rotations); judged on the best validation accuracy.
"""
from .arms import best, paired_claim
from .base import register

register(__file__, paired_claim(
    id="augment-helps-small-data", deck="002", topic="data augmentation",
    text="Image augmentation: 1. small dataset -> large dataset; 2. prevent overfitting; 3. but take a right way!",
    measures="best validation accuracy, crop (1 px) + rotate (10 degrees) against none, 10 examples per class",
    why="10 examples per class is where a convnet overfits and shifted copies add real information",
    caveat="with plenty of data the gain shrinks; a transformation that changes the label hurts instead",
    base={"dataset": "digits", "model": "convnet", "train_per_class": 10, "optimizer": "adam", "lr": 0.003,
          "batch_size": 20, "epochs": 40},
    arms={"none": {}, "augment": {"augment": ["crop:magnitude=1", "rotate:magnitude=10"]}},
    quantities={"val_acc": best("val_acc")}, arm="augment", against="none", quantity="val_acc", direction="higher",
    title="augmentation helps small data", qlabel="best val acc", quick={"seeds": 10}, full={"seeds": 20}))
