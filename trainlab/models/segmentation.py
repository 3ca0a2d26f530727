"""Segmentation nets: a class score for every pixel, (B, C, H, W) -> (B, K, H, W).

fcn  (Long et al. 2015, FCN-8s in spirit): a conv encoder down to 1/8 resolution, then
     coarse scores upsampled x2 and fused (summed) with 1x1 scores of the 1/4 and 1/2
     feature maps, upsampled to H x W (bilinear, fixed). The fused maps have `embed`
     channels and a final 1x1 conv `head` maps them to K classes: the same linear score
     fusion, factored so the classifier is one layer (K <= embed keeps FCN's capacity).
unet (Ronneberger et al. 2015): contraction (2 convs + 2x2 max pool per level) and
     expansion (2x2 up-convolution, concatenation with the skip of the same level, 2 convs),
     then a 1x1 `head`. Skips feed high-resolution detail straight to the decoder.

Odd sizes (28 -> 14 -> 7 -> 4) are handled by cropping the upsampled map to the skip's size.

    >>> from trainlab.models import create_model
    >>> create_model("unet", in_shape=(1, 28, 28), num_classes=3, base=8)(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 3, 28, 28])
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import TrainlabError
from ..nn.layers import create_dropout
from .blocks import ConvNormAct
from .common import MODELS, check_int, finish, require_size


def double_conv(c_in: int, c_out: int, norm: str, act: str) -> nn.Sequential:
    """Two 3x3 conv-norm-act units: (B, C_in, H, W) -> (B, C_out, H, W)."""
    return nn.Sequential(ConvNormAct(c_in, c_out, 3, norm=norm, activation=act),
                         ConvNormAct(c_out, c_out, 3, norm=norm, activation=act))


def upsample_to(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Bilinear upsampling of x to ref's H x W."""
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


class FCN(nn.Module):
    """Encoder at 1/2, 1/4, 1/8; scores fused coarse to fine; 1x1 head at full resolution."""

    def __init__(self, c_in: int, num_classes: int, width: int, embed: int, norm: str, act: str, dropout: float):
        super().__init__()
        pool = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.enc1 = nn.Sequential(double_conv(c_in, width, norm, act), pool)  # 1/2
        self.enc2 = nn.Sequential(double_conv(width, 2 * width, norm, act), pool)  # 1/4
        self.enc3 = nn.Sequential(double_conv(2 * width, 4 * width, norm, act), pool)  # 1/8
        # FCN's fc6/fc7 turned into convs, with their dropout
        self.middle = nn.Sequential(ConvNormAct(4 * width, 8 * width, 3, norm=norm, activation=act),
                                    create_dropout(dropout, kind="spatial"))
        self.score3 = nn.Conv2d(8 * width, embed, 1)  # linear scores of each level
        self.score2 = nn.Conv2d(2 * width, embed, 1)
        self.score1 = nn.Conv2d(width, embed, 1)
        self.head = nn.Conv2d(embed, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        f1 = self.enc1(x)  # (B, w, H/2, W/2)
        f2 = self.enc2(f1)  # (B, 2w, H/4, W/4)
        f3 = self.middle(self.enc3(f2))  # (B, 8w, H/8, W/8)
        s = self.score3(f3)  # (B, E, H/8, W/8)
        s = upsample_to(s, f2) + self.score2(f2)  # (B, E, H/4, W/4): fuse the 1/4 skip
        s = upsample_to(s, f1) + self.score1(f1)  # (B, E, H/2, W/2): fuse the 1/2 skip
        s = upsample_to(s, x)  # (B, E, H, W)
        return self.head(s)  # (B, K, H, W)


class Up(nn.Module):
    """2x2 up-conv halving the channels, crop, concat the skip, two convs: (B, 2C, h, w) + (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, c_in: int, c_out: int, norm: str, act: str, use_skip: bool = True):
        super().__init__()
        self.up = nn.ConvTranspose2d(c_in, c_out, 2, stride=2)
        self.conv = double_conv(2 * c_out, c_out, norm, act)
        self.use_skip = use_skip  # False: zeros take the skip's place (same layers, no high-resolution path)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)  # (B, C, 2h, 2w), 2h >= H
        x = x[..., : skip.shape[-2], : skip.shape[-1]]  # (B, C, H, W): drop the ceil-mode extra row/column
        skip = skip if self.use_skip else torch.zeros_like(skip)
        return self.conv(torch.cat([skip, x], dim=1))  # (B, 2C, H, W) -> (B, C, H, W)


class UNet(nn.Module):
    """`depth` levels of contraction and expansion with base, 2*base, ... channels."""

    def __init__(self, c_in: int, num_classes: int, base: int, depth: int, norm: str, act: str, dropout: float,
                 skips: bool = True):
        super().__init__()
        widths = [base * 2**i for i in range(depth + 1)]
        self.inc = double_conv(c_in, base, norm, act)
        for i in range(1, depth + 1):  # down1 .. down{depth}
            self.add_module(f"down{i}", nn.Sequential(nn.MaxPool2d(2, 2, ceil_mode=True),
                                                      double_conv(widths[i - 1], widths[i], norm, act)))
        self.drop = create_dropout(dropout, kind="spatial")  # the paper's dropout at the end of the contraction
        for i in range(depth, 0, -1):  # up{depth} (coarsest) .. up1, registered in the order they run
            self.add_module(f"up{i}", Up(widths[i], widths[i - 1], norm, act, use_skip=skips))
        self.head = nn.Conv2d(base, num_classes, 1)
        self.depth = depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        skips = [self.inc(x)]  # level 0: (B, base, H, W)
        for i in range(1, self.depth + 1):
            skips.append(getattr(self, f"down{i}")(skips[-1]))  # level i: (B, base*2^i, H/2^i, W/2^i)
        y = self.drop(skips.pop())  # bottleneck
        for i in range(self.depth, 0, -1):
            y = getattr(self, f"up{i}")(y, skips.pop())  # (B, base*2^(i-1), H/2^(i-1), W/2^(i-1))
        return self.head(y)  # (B, K, H, W)


@MODELS.register("fcn", description="FCN: conv encoder to 1/8, 1x1 scores fused with 1/4 and 1/2 skips, "
                                    "upsampled to H x W, 1x1 head; outputs (B, K, H, W)")
def fcn(in_shape, num_classes, *, width: int = 32, embed: int = 32, activation: str = "relu", norm: str = "batch",
        dropout: float = 0.0) -> nn.Module:
    """FCN with encoder widths width, 2*width, 4*width (and 8*width for the conv'd fc layer)."""
    check_int("fcn width", width)
    check_int("fcn embed", embed)
    c, _, _ = require_size(in_shape, 3)
    return finish(FCN(c, num_classes, width, embed, norm, activation, dropout), activation)


@MODELS.register("unet", description="U-Net: contraction, expansion with up-convs and skip concatenations, 1x1 head; "
                                     "outputs (B, K, H, W)")
def unet(in_shape, num_classes, *, base: int = 16, depth: int = 3, activation: str = "relu", norm: str = "batch",
         dropout: float = 0.0, skips: bool = True) -> nn.Module:
    """U-Net with `depth` poolings (4 in the paper) and `base` channels at full resolution (64 in the paper).
    skips=False feeds zeros where the skip connections go: the same layers and parameters, no
    high-resolution path (the ablation of deck 000's "high resolution information is fed through")."""
    check_int("unet base", base)
    check_int("unet depth", depth)
    if not isinstance(skips, bool):
        raise TrainlabError(f"unet skips={skips!r} must be true or false")
    c, _, _ = require_size(in_shape, depth)
    return finish(UNet(c, num_classes, base, depth, norm, activation, dropout, skips), activation)
