"""Deck 004: under- and over-fitting with capacity: a model too small cannot even fit its training
set; a large one fits it and generalizes worse than it fits (a gap opens).

MLPs of width 2 and width 512 (one hidden layer) on 10 digits per class, 40 epochs of Adam.
Judged: the large model's training accuracy is higher (the small one underfits) AND its
train-validation gap is larger (it overfits). Swapped: the arms exchange numbers.
"""
from .arms import FASHION, arms_run, best, gap, last
from .base import Claim, all_of, paired_rule, register, swap_arms
from .plots import dots_and_curves

register(__file__, Claim(
    id="capacity-under-over", deck="004", topic="under- and overfitting",
    text="Underfitting: the model is too simple to fit even the training data; overfitting: the model fits the training "
         "data too well and fails to generalize",
    measures="training accuracy and train-validation accuracy gap, MLP width 512 against width 2",
    why="width 2 is a bottleneck of 2 numbers for 10 classes; width 512 on 100 examples memorises",
    caveat="the gap needs few examples; with a big data set the large model may not overfit at all",
    run=arms_run({"dataset": "digits", "model": "mlp", "model_options": {"depth": 1}, "train_per_class": 10,
                  "optimizer": "adam", "lr": 0.003, "batch_size": 32, "epochs": 40, "dropout": 0.0},
                 {"small": {"model_options": {"depth": 1, "width": 2}}, "large": {"model_options": {"depth": 1, "width": 512}}},
                 {"train_acc": last("train_acc"), "gap": gap(), "val_acc": best("val_acc")}, curve="train_acc"),
    judge=lambda d: all_of([paired_rule(d, "large", "small", "train_acc", "higher"),
                            paired_rule(d, "large", "small", "gap", "higher")],
                           "the large model fits the training set better and has the larger gap (paired t, 5%)"),
    plot=lambda d, p: dots_and_curves(d, "gap", p, "capacity: underfitting and overfitting",
                                      qlabel="train acc - val acc (end)", log=False),
    swap=swap_arms("large", "small"), quick={"seeds": 5},
    full={"seeds": 10, "set": {**FASHION, "train_per_class": 100, "epochs": 60}},
    full_why="1,000 Fashion-MNIST images: width 2 cannot separate 10 classes, width 512 memorises 1,000 images in 60 "
             "epochs and shows the gap"))
