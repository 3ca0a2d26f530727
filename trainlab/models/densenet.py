"""DenseNet-BC (Huang et al. 2017): "ResNet's idea taken to the extreme".

Inside a dense block every layer sees the concatenation of all earlier feature maps and
adds `growth_rate` (k) new channels. BC = Bottleneck (a 1x1 conv to 4k channels before each
3x3) + Compression (transitions keep a fraction `compression` of the channels, then 2x2
average pool). Layers are pre-activation: norm -> act -> conv. CIFAR layout: 3x3 stem with
2k channels, three dense blocks; depth = 6 * layers_per_block + 4 (the default, DenseNet-BC-40: 6 per block).

    >>> from trainlab.models import create_model
    >>> net = create_model("densenet", in_shape=(3, 32, 32), num_classes=10, block_config=[2, 2, 2])
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
"""
from __future__ import annotations

from collections import OrderedDict
from functools import partial

import torch
from torch import nn

from ..errors import check
from ..nn.activations import create_activation
from ..nn.layers import create_dropout, create_norm
from .common import MODELS, check_int, finish, int_tuple, require_size


def norm_act_conv(c_in: int, c_out: int, k: int, norm: str, act: str, dropout: float) -> nn.Sequential:
    """Pre-activation unit: norm -> act -> conv (k x k, 'same') -> dropout."""
    return nn.Sequential(OrderedDict(
        norm=create_norm(norm, c_in), act=create_activation(act, channels=c_in, conv=True),
        conv=nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False), drop=create_dropout(dropout)))


class DenseLayer(nn.Module):
    """[1x1 to 4k] -> 3x3 to k, output appended to the input: (B, C, H, W) -> (B, C + k, H, W)."""

    def __init__(self, c_in: int, growth: int, bottleneck: bool, norm: str, act: str, dropout: float):
        super().__init__()
        c_mid = 4 * growth if bottleneck else c_in
        self.reduce = norm_act_conv(c_in, c_mid, 1, norm, act, dropout) if bottleneck else nn.Identity()
        self.conv = norm_act_conv(c_mid, growth, 3, norm, act, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        new = self.conv(self.reduce(x))  # (B, k, H, W)
        return torch.cat([x, new], dim=1)  # (B, C + k, H, W): every later layer sees all earlier maps


def transition(c_in: int, c_out: int, norm: str, act: str, dropout: float) -> nn.Sequential:
    """Compression and downsampling between dense blocks: (B, C, H, W) -> (B, theta*C, ceil(H/2), ceil(W/2))."""
    unit = norm_act_conv(c_in, c_out, 1, norm, act, dropout)
    unit.add_module("pool", nn.AvgPool2d(2, 2, ceil_mode=True))
    return unit


@MODELS.register("densenet", description="DenseNet-BC-40 (k=12, 3 x 6 layers): dense blocks concatenate all "
                                         "earlier maps; 1x1 bottlenecks, compressing transitions")
def densenet(in_shape, num_classes, *, growth_rate: int = 12, block_config=(6, 6, 6), compression: float = 0.5,
             bottleneck: bool = True, activation: str = "relu", norm: str = "batch", dropout: float = 0.0) -> nn.Module:
    """Dense blocks of block_config[i] layers; `dropout` follows every conv, as in the paper."""
    k = check_int("densenet growth_rate", growth_rate)
    block_config = int_tuple("densenet block_config", block_config)
    check(isinstance(compression, (int, float)) and 0 < compression <= 1,
          f"densenet compression={compression!r} must be in (0, 1] (fraction of channels a transition keeps)")
    c, _, _ = require_size(in_shape, len(block_config) - 1)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["stem"] = nn.Conv2d(c, 2 * k, 3, padding=1, bias=False)  # (B, 2k, H, W)
    c = 2 * k
    for i, n in enumerate(block_config, 1):
        block = nn.Sequential()
        for j in range(n):
            block.add_module(str(j), DenseLayer(c, k, bottleneck, norm, activation, dropout))
            c += k
        layers[f"block{i}"] = block  # (B, C + n*k, H_i, W_i)
        if i < len(block_config):
            c_out = int(c * compression)  # floor, as in the paper's code
            layers[f"transition{i}"], c = transition(c, c_out, norm, activation, dropout), c_out
    layers["norm"] = create_norm(norm, c)  # the pre-activation stack ends with one more norm -> act
    layers["act"] = create_activation(activation, channels=c, conv=True)
    layers["pool"] = nn.AdaptiveAvgPool2d(1)  # (B, C, 1, 1)
    layers["flatten"] = nn.Flatten()  # (B, C)
    layers["head"] = nn.Linear(c, num_classes)  # (B, K)
    return finish(nn.Sequential(layers), activation)


densenet100 = MODELS.register("densenet100", description="DenseNet-BC-100, k=12: 3 blocks x 16 bottleneck layers "
                                                         "(0.8M params)", fn=partial(densenet, block_config=(16, 16, 16)))
