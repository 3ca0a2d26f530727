"""Deck 000: L2 regularization penalizes large absolute values of the parameters (weight decay).

The same MLP trained with and without an L2 penalty (lambda 1e-3 added to the loss); judged on the
L2 norm of the final weight matrices.
"""
from .arms import FASHION, best, paired_claim, weight_norm
from .base import register

register(__file__, paired_claim(
    id="l2-shrinks-weights", deck="000", topic="regularization: L2",
    text="L_new = L_original + lambda * sum_i w_i^2: add another term in our loss function to penalize for large "
         "absolute values of parameters",
    measures="L2 norm of the final weight matrices, penalty l2 (lambda 1e-3) against none",
    why="20 epochs on digits let the unpenalized weights grow while the penalty pulls them back",
    caveat="holds for any positive lambda; whether the smaller weights generalize better depends on the data",
    base={"dataset": "digits", "model": "mlp", "optimizer": "momentum", "lr": 0.05, "batch_size": 64, "epochs": 20,
          "dropout": 0.0},
    arms={"none": {}, "l2": {"penalty": "l2", "penalty_strength": 1e-3}},
    quantities={"weight_norm": weight_norm(), "val_acc": best("val_acc")}, arm="l2", against="none",
    quantity="weight_norm", direction="lower", curve="val_loss", title="L2 shrinks the weights",
    qlabel="L2 norm of the weights", full={"seeds": 10, "set": {**FASHION, "train_per_class": 100, "epochs": 40}},
    full_why="1,000 Fashion-MNIST images for 40 epochs: the unpenalized MLP overfits and its weights keep growing, "
             "the setting in which the lecture adds the penalty"))
