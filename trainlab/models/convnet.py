"""A plain CNN: blocks of conv -> norm -> activation -> pool, then a flatten or global-average-pool head.

Options show the lecture's ways to summarize space: max or average pooling, strided
convolution instead of pooling (`stride=2, pool="none"`), dilated convolution (`dilation=2`
widens the receptive field at the same parameter count).

    >>> from trainlab.models import create_model
    >>> net = create_model("convnet", in_shape=(1, 28, 28), num_classes=10, channels=[8, 16])
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
"""
from __future__ import annotations

from collections import OrderedDict

import torch  # noqa: F401  (used in the docstring example)
from torch import nn

from ..errors import check
from ..nn.layers import create_dropout
from ..nn.whitening import PatchWhitening
from .blocks import ConvNormAct, Dense
from .common import MODELS, check_choice, check_int, finish, halve, int_tuple, require_size

POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


@MODELS.register("convnet", description="N x [conv -> norm -> act -> pool] -> flatten (or GAP) -> [fc] -> head")
def convnet(in_shape, num_classes, *, channels=(32, 64, 128), kernel_size: int = 3, stride: int = 1,
            dilation: int = 1, pool: str = "max", global_pool: bool = False, hidden: int = 0,
            activation: str = "relu", norm: str = "batch", dropout: float = 0.0, whiten: int = 0,
            pool_first: bool = False, whiten_stride: int = 1) -> nn.Module:
    """One block per entry of `channels`; each block halves H, W once per stride-2 conv and once per pool.
    whiten=k puts a patch-whitening layer (k x k patches, fitted on the training images, not trained)
    in front of the first block, as speed-run recipes do; 0 = none. pool_first=True pools right after
    the conv (conv -> pool -> norm -> act, as airbench orders it): norm and activation then run on a
    quarter of the pixels, which on a CPU is a fifth of a small net's step; same parameters.
    whiten_stride=2 with whiten=2 cuts the image into non-overlapping 2x2 patches (a lossless
    "patchify" stem): every later layer runs on a quarter of the pixels."""
    channels = int_tuple("convnet channels", channels)
    check(check_int("convnet kernel_size", kernel_size) % 2 == 1,
          f"convnet kernel_size={kernel_size} must be odd (3, 5, ...) so 'same' padding keeps the size")
    check_choice("convnet stride", stride, (1, 2))
    check_int("convnet dilation", dilation)
    check_choice("convnet pool", pool, ("max", "avg", "none"))
    check_int("convnet hidden", hidden, lo=0)
    check(isinstance(pool_first, bool), f"convnet pool_first={pool_first!r} must be true or false")
    check(not (pool_first and pool == "none"), "convnet pool_first=true needs a pool; set pool: max or avg, "
          "or remove pool_first")
    per_block = (stride == 2) + (pool != "none")  # halvings per block
    check_int("convnet whiten", whiten, lo=0)
    check_choice("convnet whiten_stride", whiten_stride, (1, 2))
    check(whiten_stride == 1 or whiten >= 2, f"convnet whiten_stride={whiten_stride} needs whiten >= 2 (the patch "
          "size); set whiten: 2 or remove whiten_stride")
    halvings = per_block * len(channels) + (whiten_stride == 2)
    c, h, w = require_size(in_shape, halvings)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    if whiten:
        layers["whiten"] = PatchWhitening(c, whiten, stride=whiten_stride)  # (B, 2 C k k, H / s, W / s)
        c = layers["whiten"].out_channels
    for i, c_out in enumerate(channels, 1):
        block = ConvNormAct(c, c_out, kernel_size, stride, dilation, norm, activation)  # (B, c_out, H/s, W/s)
        if pool_first:  # conv -> pool -> norm -> act: the same modules, the norm on the pooled map
            block = nn.Sequential(OrderedDict(conv=block.conv, pool=POOLS[pool](2, 2, ceil_mode=True),
                                              norm=block.norm, act=block.act))
        elif pool != "none":
            block.add_module("pool", POOLS[pool](2, 2, ceil_mode=True))  # (B, c_out, ceil(H/2), ceil(W/2))
        layers[f"block{i}"], c = block, c_out
    h, w = halve(h, halvings), halve(w, halvings)
    if global_pool:
        layers["pool"] = nn.AdaptiveAvgPool2d(1)  # (B, C, 1, 1): average over space
        h = w = 1
    layers["flatten"] = nn.Flatten()  # (B, C*h*w)
    n = c * h * w
    if hidden:
        layers["fc"] = Dense(n, hidden, "none", activation, dropout)  # (B, hidden), dropout on its output
        n = hidden
    else:
        layers["dropout"] = create_dropout(dropout)
    layers["head"] = nn.Linear(n, num_classes)  # (B, K)
    return finish(nn.Sequential(layers), activation)
