"""GoogLeNet (Szegedy et al. 2015): a stack of Inception modules.

An Inception module runs 1x1, 3x3, 5x5 convs and a 3x3 max pool side by side and
concatenates them ("add all of them"); 1x1 convs first reduce the channels the 3x3 and 5x5
convs see (the lecture's dimensionality reduction). The paper's nine modules (3a-5b) and
their channel table are kept, times `width` (0.25 by default, so it trains on a CPU); the
7x7/2 stem becomes one 3x3 conv + max pool for 28-32 px images. Conv units have batch
norm by default (the 2015 net had none; Inception-v2 added it).

    >>> from trainlab.models import create_model
    >>> create_model("googlenet", in_shape=(3, 32, 32), num_classes=10, width=0.125)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..nn.layers import create_dropout
from .blocks import ConvNormAct
from .common import MODELS, check_float, finish, require_size, scaled

# name -> (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj) output channels, from the paper's Table 1
TABLE = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64), "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64), "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}
POOL_AFTER = ("stem", "3b", "4e")  # each followed by a 3x3/2 max pool


class Inception(nn.Module):
    """Four parallel branches, concatenated: (B, C_in, H, W) -> (B, n1 + n3 + n5 + npool, H, W)."""

    def __init__(self, c_in: int, n1: int, r3: int, n3: int, r5: int, n5: int, npool: int, norm: str, act: str):
        super().__init__()
        self.branch1 = ConvNormAct(c_in, n1, 1, norm=norm, activation=act)
        self.branch3 = nn.Sequential(ConvNormAct(c_in, r3, 1, norm=norm, activation=act),  # 1x1 reduction
                                     ConvNormAct(r3, n3, 3, norm=norm, activation=act))
        self.branch5 = nn.Sequential(ConvNormAct(c_in, r5, 1, norm=norm, activation=act),
                                     ConvNormAct(r5, n5, 5, norm=norm, activation=act))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, 1, padding=1),  # keeps H x W
                                         ConvNormAct(c_in, npool, 1, norm=norm, activation=act))
        self.out_channels = n1 + n3 + n5 + npool

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, H, W)
        y1 = self.branch1(x)  # (B, n1, H, W)
        y3 = self.branch3(x)  # (B, n3, H, W)
        y5 = self.branch5(x)  # (B, n5, H, W)
        yp = self.branch_pool(x)  # (B, npool, H, W)
        return torch.cat([y1, y3, y5, yp], dim=1)  # (B, n1 + n3 + n5 + npool, H, W)


@MODELS.register("googlenet", description="3x3 stem, 9 Inception modules (1x1/3x3/5x5/pool in parallel), GAP, head")
def googlenet(in_shape, num_classes, *, width: float = 0.25, activation: str = "relu", norm: str = "batch",
              dropout: float = 0.4) -> nn.Module:
    """GoogLeNet with the paper's channel table times `width`; dropout 0.4 before the head as in the paper."""
    check_float("googlenet width", width)
    c, _, _ = require_size(in_shape, len(POOL_AFTER))
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["stem"] = ConvNormAct(c, scaled(192, width), 3, norm=norm, activation=activation)  # (B, 192w, H, W)
    layers["pool_stem"] = nn.MaxPool2d(3, 2, padding=1)  # (B, 192w, H/2, W/2)
    c = scaled(192, width)
    for name, channels in TABLE.items():
        module = Inception(c, *(scaled(n, width) for n in channels), norm=norm, act=activation)
        layers[f"inception{name}"], c = module, module.out_channels  # 3x: H/2, 4x: H/4, 5x: H/8
        if name in POOL_AFTER:
            layers[f"pool{name}"] = nn.MaxPool2d(3, 2, padding=1)  # (B, C, ceil(H/2), ceil(W/2))
    layers["pool"] = nn.AdaptiveAvgPool2d(1)  # (B, C, 1, 1); C = 1024w
    layers["flatten"] = nn.Flatten()  # (B, C)
    layers["dropout"] = create_dropout(dropout)
    layers["head"] = nn.Linear(c, num_classes)  # (B, K)
    return finish(nn.Sequential(layers), activation)
