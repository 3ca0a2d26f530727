"""Activation functions, one registry entry each (the lecture formulas are the definitions).

Every entry is a factory `(channels=None, conv=False, **hp) -> nn.Module`; torch's own
module is used wherever torch has one. `channels`/`conv` only matter for activations
with parameters: Maxout (k linear pieces over `channels` features) and PReLU.

    >>> from trainlab.nn.activations import create_activation
    >>> act = create_activation("leaky_relu", a=0.1)      # max(0.1 x, x), as in the lecture
    >>> mx = create_activation("maxout", channels=64, k=2) # max(w1^T x + b1, w2^T x + b2)
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import check
from ..registry import Registry
from . import check_kwargs

ACTIVATIONS = Registry("activation")


class Maxout(nn.Module):
    """max over k affine pieces: y_o = max_j (W_j x + b_j)_o  (Goodfellow et al. 2013).

    Linear: (B, in) -> (B, out). Conv (1x1 pieces, per pixel): (B, in, H, W) -> (B, out, H, W).
    Piece j uses rows [j*out, (j+1)*out) of the inner layer's weight.

        >>> m = Maxout(16, 8, k=3)
        >>> m(torch.randn(4, 16)).shape
        torch.Size([4, 8])
    """

    def __init__(self, in_features: int, out_features: int, k: int = 2, conv: bool = False):
        super().__init__()
        check(isinstance(k, int) and k >= 1, f"maxout k={k!r} must be an integer >= 1 (number of pieces)")
        check(in_features >= 1 and out_features >= 1, "maxout needs channels >= 1; pass channels=C")
        self.k, self.out_features, self.conv = k, out_features, conv
        # One layer computes all k pieces at once (a single matmul / 1x1 conv).
        self.pieces = nn.Conv2d(in_features, k * out_features, 1) if conv else nn.Linear(in_features, k * out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.pieces(x)  # conv: (B, k*out, H, W); linear: (..., k*out); piece index major
        dim = 1 if self.conv else -1
        z = z.unflatten(dim, (self.k, self.out_features))  # (B, k, out, H, W) or (..., k, out)
        return z.amax(dim=1 if self.conv else -2)  # (B, out, H, W) or (..., out)

    def extra_repr(self) -> str:
        return f"k={self.k}, conv={self.conv}"


@ACTIVATIONS.register("sigmoid", description="1 / (1 + exp(-x))")
def sigmoid(channels=None, conv=False) -> nn.Module:
    return nn.Sigmoid()


@ACTIVATIONS.register("tanh", description="tanh(x) = (e^x - e^-x) / (e^x + e^-x)")
def tanh(channels=None, conv=False) -> nn.Module:
    return nn.Tanh()


@ACTIVATIONS.register("relu", description="max(0, x)")
def relu(channels=None, conv=False) -> nn.Module:
    return nn.ReLU()


@ACTIVATIONS.register("leaky_relu", description="max(a x, x); a=0.01 (lecture deck 002 uses a=0.1)")
def leaky_relu(channels=None, conv=False, a: float = 0.01) -> nn.Module:
    # 0 <= a < 1 keeps max(a x, x) equal to torch's "x if x >= 0 else a x".
    check(0 <= a < 1, f"leaky_relu a={a!r} must be in [0, 1) (slope for x < 0)")
    return nn.LeakyReLU(a)


@ACTIVATIONS.register("prelu", description="max(a x, x) with a learned (init 0.25; one a, or one per channel)")
def prelu(channels=None, conv=False, num_parameters: int = 1, init: float = 0.25) -> nn.Module:
    # num_parameters=-1 means "one slope per channel" (needs `channels`).
    if num_parameters == -1:
        check(channels is not None, "prelu num_parameters=-1 (per channel) needs channels=C")
        num_parameters = channels
    check(num_parameters >= 1, f"prelu num_parameters={num_parameters!r} must be >= 1 or -1 (per channel)")
    return nn.PReLU(num_parameters, init)


@ACTIVATIONS.register("elu", description="x if x >= 0 else alpha (e^x - 1); alpha=1")
def elu(channels=None, conv=False, alpha: float = 1.0) -> nn.Module:
    check(alpha >= 0, f"elu alpha={alpha!r} must be >= 0")
    return nn.ELU(alpha)


@ACTIVATIONS.register("maxout", description="max(w1^T x + b1, ..., wk^T x + bk); k=2 pieces, keeps `channels`")
def maxout(channels=None, conv=False, k: int = 2) -> nn.Module:
    check(channels is not None, "maxout needs channels=C (it has k linear pieces over C features)")
    return Maxout(channels, channels, k, conv=conv)


@ACTIVATIONS.register("gelu", description="x * Phi(x), Phi = standard normal CDF")
def gelu(channels=None, conv=False, approximate: str = "none") -> nn.Module:
    check(approximate in ("none", "tanh"), f"gelu approximate={approximate!r} must be 'none' or 'tanh'")
    return nn.GELU(approximate=approximate)


@ACTIVATIONS.register("silu", description="x * sigmoid(x) (swish)")
def silu(channels=None, conv=False) -> nn.Module:
    return nn.SiLU()


def create_activation(name: str, channels: int | None = None, conv: bool = False, **kw) -> nn.Module:
    """Build activation `name`; `channels`/`conv` are used by maxout and per-channel prelu.

    Example:
        >>> create_activation("elu", alpha=0.5)
        ELU(alpha=0.5)
    """
    fn = ACTIVATIONS.get(name)
    check_kwargs(f"activation {name!r}", fn, kw, skip=("channels", "conv"))
    return fn(channels=channels, conv=conv, **kw)


__all__ = ["ACTIVATIONS", "Maxout", "create_activation"]
