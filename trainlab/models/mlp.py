"""Multilayer perceptron: images are flattened, tabular rows used as they are.

    >>> from trainlab.models import create_model
    >>> create_model("mlp", in_shape=(1, 28, 28), num_classes=10, depth=2, width=64)(torch.zeros(5, 1, 28, 28)).shape
    torch.Size([5, 10])
"""
from __future__ import annotations

import math
from collections import OrderedDict

import torch  # noqa: F401  (used in the docstring example)
from torch import nn

from .blocks import Dense
from .common import MODELS, check_int, finish


@MODELS.register("mlp", description="flatten -> depth x [linear -> norm -> activation -> dropout] -> linear head")
def mlp(in_shape, num_classes, *, depth: int = 2, width: int = 256, activation: str = "relu",
        norm: str = "none", dropout: float = 0.0) -> nn.Module:
    """`depth` hidden layers of `width` units; depth=0 is multinomial logistic regression."""
    check_int("mlp depth", depth, lo=0)
    check_int("mlp width", width)
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())  # (B, D), D = C*H*W
    n_in = math.prod(in_shape)
    for i in range(1, depth + 1):
        layers[f"fc{i}"] = Dense(n_in, width, norm, activation, dropout)  # (B, width)
        n_in = width
    layers["head"] = nn.Linear(n_in, num_classes)  # (B, K) logits
    return finish(nn.Sequential(layers), activation)
