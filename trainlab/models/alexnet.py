"""AlexNet (Krizhevsky et al. 2012) scaled to 28-32 px images.

The lecture's outline, kept: (conv + max pool) x 2, 3 convs, max pool, 3 fully connected
layers with dropout, ReLU, overlapping 3x3/2 max pooling, optional local response norm.
Scaled: the 11x11/4 first conv becomes 5x5/1 (inputs are ~7x smaller than 224), the fc
layers have `hidden`=1024 units instead of 4096. Channels 64-192-384-256-256 (x `width`).

    >>> from trainlab.models import create_model
    >>> create_model("alexnet", in_shape=(3, 32, 32), num_classes=10, width=0.25)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
"""
from __future__ import annotations

from collections import OrderedDict

import torch  # noqa: F401  (used in the docstring example)
from torch import nn

from .blocks import ConvNormAct, Dense
from .common import MODELS, check_float, check_int, finish, halve, require_size, scaled

CHANNELS = (64, 192, 384, 256, 256)
KERNELS = (5, 5, 3, 3, 3)
POOL_AFTER = (1, 2, 5)  # conv indices followed by a max pool


@MODELS.register("alexnet", description="(conv-pool) x 2, 3 conv, pool, 3 fc with dropout; optional LRN")
def alexnet(in_shape, num_classes, *, width: float = 1.0, hidden: int = 1024, lrn: bool = False,
            activation: str = "relu", norm: str = "none", dropout: float = 0.5) -> nn.Module:
    """AlexNet for small images; `lrn=True` adds local response norm after conv1 and conv2 as in the paper."""
    check_float("alexnet width", width)
    check_int("alexnet hidden", hidden)
    c, h, w = require_size(in_shape, len(POOL_AFTER))
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, (c_out, k) in enumerate(zip(CHANNELS, KERNELS), 1):
        layers[f"conv{i}"] = ConvNormAct(c, scaled(c_out, width), k, norm=norm, activation=activation)
        c = scaled(c_out, width)
        if lrn and i <= 2:
            # the paper's constants: k=2, n=5 neighbouring channels, alpha=1e-4, beta=0.75
            layers[f"lrn{i}"] = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
        if i in POOL_AFTER:
            layers[f"pool{i}"] = nn.MaxPool2d(3, 2, padding=1)  # overlapping pooling: (B, C, ceil(H/2), ceil(W/2))
    layers["flatten"] = nn.Flatten()  # (B, C * H/8 * W/8); 256*4*4 = 4096 for 28 or 32 px
    n = c * halve(h, 3) * halve(w, 3)
    layers["fc6"] = Dense(n, hidden, "none", activation, dropout)  # (B, hidden)
    layers["fc7"] = Dense(hidden, hidden, "none", activation, dropout)  # (B, hidden)
    layers["head"] = nn.Linear(hidden, num_classes)  # (B, K)
    return finish(nn.Sequential(layers), activation)
