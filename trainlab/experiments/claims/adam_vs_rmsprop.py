"""Deck 001: "In practice: Adam is a good default choice in most cases ... Adam often works slightly
better than RMSProp; SGD + Nesterov momentum is worth trying".

The deck's convnet trained with Adam, RMSProp and SGD with Nesterov momentum, each at the learning
rate Keras ships as its default (Adam 1e-3, RMSprop 1e-3, SGD 0.01 with momentum 0.9): a rule fixed
before any run, not a tuned rate per optimizer. Judged on the best validation accuracy, Adam
against RMSProp, paired by seed; Nesterov's numbers are shown beside. Swapped: Adam and RMSProp
exchange their numbers.
"""
from .arms import FASHION, best, paired_claim
from .base import register

register(__file__, paired_claim(
    id="adam-beats-rmsprop", deck="001", topic="optimization: Adam, RMSProp, Nesterov",
    text="Adam is a good default choice in most cases; Adam often works slightly better than RMSProp; "
         "SGD + Nesterov momentum is worth trying",
    measures="best validation accuracy of a small convnet, Adam against RMSProp (Nesterov SGD beside), each at "
             "Keras's default learning rate",
    why="a real (small) convnet, 5 epochs, each optimizer at the rate its users start from",
    caveat="with a learning rate tuned per optimizer the order can change; 'slightly' means a small effect that "
           "needs many seeds",
    quick_note="8x8 digits put all three optimizers above 99% validation accuracy: no room for a slight difference",
    full_why="Fashion-MNIST (4,000 training images for 3 epochs, 1,200 for validation): the deck's 'in practice' "
             "is about real image data; a convnet on 28x28 images costs about a minute a run on one CPU thread",
    base={"dataset": "digits", "model": "convnet", "batch_size": 32, "epochs": 5, "dropout": 0.0},
    arms={"rmsprop": {"optimizer": "rmsprop", "lr": 1e-3}, "adam": {"optimizer": "adam", "lr": 1e-3},
          "nesterov": {"optimizer": "nesterov", "lr": 0.01}},
    quantities={"val_acc": best("val_acc")}, arm="adam", against="rmsprop", quantity="val_acc", direction="higher",
    title="Adam against RMSProp (Nesterov beside), default rates", qlabel="best val acc",
    quick={"seeds": 5}, full={"seeds": 8, "set": {**FASHION, "train_subset": 4000, "epochs": 3, "val_fraction": 0.02}}))
