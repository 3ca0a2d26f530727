"""Small building blocks shared by the zoo: conv-norm-activation and linear-norm-activation-dropout.

Both are nn.Sequential with named children, so a summary shows `conv`, `norm`, `act`
rows and the forward is the plain sequence of those children.

    >>> ConvNormAct(3, 16)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 16, 32, 32])
"""
from __future__ import annotations

import torch  # noqa: F401  (used in the docstring example)
from torch import nn

from ..nn.activations import create_activation
from ..nn.layers import create_dropout, create_norm


class ConvNormAct(nn.Sequential):
    """conv (k x k, 'same' padding for stride 1) -> norm -> activation: (B, C_in, H, W) -> (B, C_out, H/s, W/s).

    The conv has no bias under batch norm, which subtracts the per-channel mean and with it
    any bias (a layer or group norm does not, so there the bias stays).
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 3, stride: int = 1, dilation: int = 1,
                 norm: str = "batch", activation: str | None = "relu"):
        pad = dilation * (kernel_size - 1) // 2  # keeps H x W at stride 1; ceil(H / 2) at stride 2
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, stride, pad, dilation, bias=norm != "batch")
        self.norm = create_norm(norm, c_out, conv=True)
        self.act = create_activation(activation, channels=c_out, conv=True) if activation else nn.Identity()


class Dense(nn.Sequential):
    """linear -> norm -> activation -> dropout: (B, n_in) -> (B, n_out). Dropout acts on this layer's output."""

    def __init__(self, n_in: int, n_out: int, norm: str = "none", activation: str = "relu", dropout: float = 0.0):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out, bias=norm != "batch")
        self.norm = create_norm(norm, n_out, conv=False)
        self.act = create_activation(activation, channels=n_out, conv=False)
        self.drop = create_dropout(dropout)
