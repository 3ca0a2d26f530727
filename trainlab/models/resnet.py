"""ResNet (He et al. 2016) with basic blocks, and the PLAIN network of the same depth and width.

CIFAR-style (the paper's section 4.2): a 3x3 stem, then stages of basic blocks at widths
w, 2w, 4w (w=16), each later stage starting with stride 2; depth = 6n + 2 layers
(resnet20/32/44/56/110 have n = 3/5/7/9/18 blocks per stage). resnet18/34 use four stages
of 64-128-256-512 (a 3x3 stem instead of the 7x7/2 + max pool, for small images).

`residual=False` removes the skip connections and nothing else: same layers, same
parameter count, the "plain" nets of the lecture's Figure 1. Shortcuts that change shape are
option A (parameter free: subsample by 2, zero-pad the new channels) by default, as in the
paper's CIFAR experiments; `shortcut="conv"` uses a 1x1 conv + norm projection (option B).

    >>> from trainlab.models import create_model
    >>> net = create_model("resnet20", in_shape=(3, 32, 32), num_classes=10)
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
"""
from __future__ import annotations

from collections import OrderedDict
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import check
from ..nn.activations import create_activation
from ..nn.layers import create_dropout, create_norm
from .blocks import ConvNormAct
from .common import MODELS, check_choice, check_int, finish, int_tuple, require_size


class PadShortcut(nn.Module):
    """Option A: x[:, :, ::s, ::s] with zero channels appended: (B, C_in, H, W) -> (B, C_out, H/s, W/s)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.extra, self.stride = c_out - c_in, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]  # (B, C_in, ceil(H/s), ceil(W/s))
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))  # (B, C_out, ...): zeros in the new channels


class BasicBlock(nn.Module):
    """conv3x3-norm-act-conv3x3-norm, + shortcut(x) when residual, then act. (B, C_in, H, W) -> (B, C_out, H/s, W/s)."""

    def __init__(self, c_in: int, c_out: int, stride: int, residual: bool, shortcut: str,
                 norm: str, activation: str, drop_path: float):
        super().__init__()
        self.residual = residual
        self.conv1 = ConvNormAct(c_in, c_out, 3, stride, norm=norm, activation=activation)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=norm != "batch")
        self.norm2 = create_norm(norm, c_out)
        if residual:  # a plain block has neither shortcut nor stochastic depth
            self.drop_path = create_dropout(drop_path, kind="path")  # drops the residual branch per sample
            if stride != 1 or c_in != c_out:
                self.shortcut = (PadShortcut(c_in, c_out, stride) if shortcut == "pad" else nn.Sequential(
                    nn.Conv2d(c_in, c_out, 1, stride, bias=False), create_norm(norm, c_out)))
            else:
                self.shortcut = nn.Identity()
        self.act = create_activation(activation, channels=c_out, conv=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, H, W)
        out = self.conv1(x)  # (B, C_out, H/s, W/s)
        out = self.norm2(self.conv2(out))  # (B, C_out, H/s, W/s)
        if self.residual:
            out = self.drop_path(out) + self.shortcut(x)  # F(x) + x: the skip connection
        return self.act(out)


def stage_blocks(depth: int | None, blocks) -> tuple[int, ...]:
    """Blocks per stage from `blocks` or a CIFAR depth 6n+2 (default 20 -> (3, 3, 3))."""
    if blocks is None:
        depth = 20 if depth is None else check_int("resnet depth", depth, lo=8)
        check((depth - 2) % 6 == 0, f"resnet depth={depth} must be 6n+2 (20, 32, 44, 56, 110) or pass blocks=[...]")
        return ((depth - 2) // 6,) * 3
    blocks = int_tuple("resnet blocks", blocks)
    check(depth is None or depth == 2 * sum(blocks) + 2,
          f"resnet depth={depth} does not match blocks={list(blocks)} (depth = 2 * sum(blocks) + 2); give one")
    return blocks


@MODELS.register("resnet", description="3x3 stem, stages of basic blocks (x + F(x)), GAP, linear head; depth 6n+2")
def resnet(in_shape, num_classes, *, depth: int | None = None, blocks=None, width: int = 16, residual: bool = True,
           shortcut: str = "pad", drop_path: float = 0.0, activation: str = "relu", norm: str = "batch",
           dropout: float = 0.0) -> nn.Module:
    """Stage i has blocks[i] basic blocks at width * 2**i channels; stages after the first start with stride 2."""
    blocks = stage_blocks(depth, blocks)
    check_int("resnet width", width)
    check_choice("resnet shortcut", shortcut, ("pad", "conv"))
    check(residual or not drop_path, f"resnet drop_path={drop_path} needs residual=True (it drops the residual branch)")
    c, h, w = require_size(in_shape, len(blocks) - 1)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["stem"] = ConvNormAct(c, width, 3, norm=norm, activation=activation)  # (B, width, H, W)
    c = width
    for i, n in enumerate(blocks):
        c_out, stride = width * 2**i, 1 if i == 0 else 2
        stage = nn.Sequential()
        for j in range(n):
            stage.add_module(str(j), BasicBlock(c, c_out, stride if j == 0 else 1, residual, shortcut,
                                                norm, activation, drop_path))
            c = c_out
        layers[f"stage{i + 1}"] = stage  # (B, width * 2**i, H / 2**i, W / 2**i)
    layers["pool"] = nn.AdaptiveAvgPool2d(1)  # (B, C, 1, 1)
    layers["flatten"] = nn.Flatten()  # (B, C)
    layers["dropout"] = create_dropout(dropout)
    layers["head"] = nn.Linear(c, num_classes)  # (B, K)
    return finish(nn.Sequential(layers), activation)


# CIFAR ResNets (6n+2 layers, widths 16-32-64) and their plain twins.
resnet20 = MODELS.register("resnet20", description="CIFAR ResNet-20: 3 x 3 basic blocks, 16-32-64, 0.27M params",
                           fn=partial(resnet, depth=20))
resnet32 = MODELS.register("resnet32", description="CIFAR ResNet-32: 3 x 5 basic blocks, 16-32-64",
                           fn=partial(resnet, depth=32))
resnet44 = MODELS.register("resnet44", description="CIFAR ResNet-44: 3 x 7 basic blocks, 16-32-64",
                           fn=partial(resnet, depth=44))
resnet56 = MODELS.register("resnet56", description="CIFAR ResNet-56: 3 x 9 basic blocks, 16-32-64",
                           fn=partial(resnet, depth=56))
resnet110 = MODELS.register("resnet110", description="CIFAR ResNet-110: 3 x 18 basic blocks, 16-32-64",
                            fn=partial(resnet, depth=110))
plain20 = MODELS.register("plain20", description="resnet20 without skip connections (same layers and parameters)",
                          fn=partial(resnet, depth=20, residual=False))
plain56 = MODELS.register("plain56", description="resnet56 without skip connections (same layers and parameters)",
                          fn=partial(resnet, depth=56, residual=False))
# ResNet-18 with a 3x3 stem for small images; its projection shortcuts are the only layers plain18 lacks.
resnet18 = MODELS.register("resnet18", description="ResNet-18: 4 x 2 basic blocks, 64-128-256-512, 1x1-conv shortcuts",
                           fn=partial(resnet, blocks=(2, 2, 2, 2), width=64, shortcut="conv"))
plain18 = MODELS.register("plain18", description="resnet18 without skip connections (so without its 1x1 shortcuts)",
                          fn=partial(resnet, blocks=(2, 2, 2, 2), width=64, residual=False))
