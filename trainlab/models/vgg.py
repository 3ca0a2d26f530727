"""VGG (Simonyan & Zisserman 2014): only 3x3 convs, in blocks each followed by a 2x2 max pool;
channels double as the resolution halves (64-128-256-512-512 x `width`), then three fully
connected layers. Norm defaults to batch norm (VGG-BN), which trains from scratch reliably.

Five poolings: a 32 px image ends at 1x1; 28 px works too (28-14-7-4-2-1, ceil mode).

    >>> from trainlab.models import create_model
    >>> create_model("vgg11", in_shape=(3, 32, 32), num_classes=10, width=0.125)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
"""
from __future__ import annotations

from collections import OrderedDict
from functools import partial

import torch  # noqa: F401  (used in the docstring example)
from torch import nn

from ..errors import check
from .blocks import ConvNormAct, Dense
from .common import MODELS, check_float, check_int, finish, halve, require_size, scaled

# depth (weight layers = convs + 3 fc) -> convs per block
CONVS_PER_BLOCK = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
CHANNELS = (64, 128, 256, 512, 512)


@MODELS.register("vgg", description="blocks of 3x3 conv-norm-relu + 2x2 max pool, channels x2 per block; 3 fc")
def vgg(in_shape, num_classes, *, depth: int = 11, width: float = 1.0, hidden: int = 512,
        activation: str = "relu", norm: str = "batch", dropout: float = 0.5) -> nn.Module:
    """VGG-`depth` (11, 13, 16, 19); fc layers have `hidden` units (4096 in the paper, 512 for CIFAR-sized inputs)."""
    check(depth in CONVS_PER_BLOCK, f"vgg depth={depth!r} must be one of: {', '.join(map(str, CONVS_PER_BLOCK))}")
    check_float("vgg width", width)
    check_int("vgg hidden", hidden)
    c, h, w = require_size(in_shape, len(CHANNELS))
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, (n_convs, c_out) in enumerate(zip(CONVS_PER_BLOCK[depth], CHANNELS), 1):
        block = nn.Sequential()
        for j in range(1, n_convs + 1):
            block.add_module(f"conv{j}", ConvNormAct(c, scaled(c_out, width), 3, norm=norm, activation=activation))
            c = scaled(c_out, width)
        block.add_module("pool", nn.MaxPool2d(2, 2, ceil_mode=True))  # (B, C, ceil(H/2), ceil(W/2))
        layers[f"block{i}"] = block
    layers["flatten"] = nn.Flatten()  # (B, C * H/32 * W/32)
    layers["fc1"] = Dense(c * halve(h, 5) * halve(w, 5), hidden, "none", activation, dropout)  # (B, hidden)
    layers["fc2"] = Dense(hidden, hidden, "none", activation, dropout)  # (B, hidden)
    layers["head"] = nn.Linear(hidden, num_classes)  # (B, K)
    return finish(nn.Sequential(layers), activation)


vgg11 = MODELS.register("vgg11", description="VGG-11: 8 convs (1-1-2-2-2 per block) + 3 fc", fn=partial(vgg, depth=11))
vgg16 = MODELS.register("vgg16", description="VGG-16: 13 convs (2-2-3-3-3 per block) + 3 fc", fn=partial(vgg, depth=16))
