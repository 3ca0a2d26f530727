"""Polynomial regression: a linear model on the powers x, x^2, ..., x^degree of every input.

Deck 004's f_theta(x) = sum_{k=0}^{K} theta_k x^k is `polyfit` with degree=K on 1-D inputs
(theta_0 is the head's bias). With D input features each gets its own powers (no cross
terms), so the model is sum_d sum_k theta_{d,k} x_d^k; images are flattened first. With
more than one output it is a linear classifier on the same features.

    >>> from trainlab.models import create_model
    >>> net = create_model("polyfit", in_shape=(1,), num_classes=1, degree=3)
    >>> net.features(torch.tensor([[2.0]]))
    tensor([[2., 4., 8.]])
"""
from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

from .common import MODELS, check_int


class PowerFeatures(nn.Module):
    """(B, D) -> (B, D * degree): x_d^1 .. x_d^degree for each feature d, in that order. No parameters."""

    def __init__(self, degree: int):
        super().__init__()
        self.degree = degree

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        powers = [x]
        for _ in range(self.degree - 1):
            powers.append(powers[-1] * x)  # x^(k+1) = x^k * x
        return torch.stack(powers, 2).flatten(1)  # (B, D, degree) -> (B, D * degree)

    def extra_repr(self) -> str:
        return f"degree={self.degree}"


@MODELS.register("polyfit", description="linear regression on x, x^2, ..., x^degree of each input (deck 004's "
                 "polynomial fit): flatten -> powers -> linear head")
def polyfit(in_shape, num_classes, *, degree: int = 3) -> nn.Module:
    """`degree` powers of every input feature, then one linear layer (weights theta_1..K, bias theta_0)."""
    check_int("polyfit degree", degree)
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())  # (B, D), D = C*H*W
    layers["features"] = PowerFeatures(degree)  # (B, D * degree)
    layers["head"] = nn.Linear(math.prod(in_shape) * degree, num_classes)  # (B, T) predictions (or K scores)
    return nn.Sequential(layers)
