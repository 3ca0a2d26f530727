"""Decks 000/002: data augmentation helps when data are few ("small dataset -> large dataset,
prevent overfitting").

A small convnet on 10 digits per class, without and with label-safe augmentation (shifts of one
pixel and small rotations); judged on the best validation accuracy.
"""
from .arms import FASHION, best, paired_claim
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
    title="augmentation helps small data", qlabel="best val acc", quick={"seeds": 10},
    full={"seeds": 10, "set": {**FASHION, "train_per_class": 20, "epochs": 40, "eval_every": 40, "val_fraction": 0.02}},
    full_why="20 Fashion-MNIST images per class (200 in all) for 40 epochs: the convnet fits them perfectly within a "
             "few epochs and overfits, which is the lecture's condition; 1-pixel shifts and 10-degree turns keep every "
             "class's label; evaluated every 4 epochs on 1,200 validation images",
    quick_note="on 8x8 digits a 1-pixel shift moves the digit by an eighth of the image and a 10-degree turn of 8 "
               "pixels mostly blurs it: the augmented copies may add little information at this resolution"))
