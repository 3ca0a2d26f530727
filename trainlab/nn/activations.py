"""Activation functions, one registry entry each (the lecture formulas are the definitions).

Every entry is a factory `(channels=None, conv=False, **hp) -> nn.Module`; torch's own
module is used wherever torch has one, with torch's hyperparameter names. `channels`/`conv`
only matter for activations with parameters: Maxout (k linear pieces over `channels`
features) and PReLU with one slope per channel.

An activation is named by a spec string, the `name:key=value` form augmentations use, so
config files and `--set activation=...` reach every hyperparameter (values are YAML, read by
trainlab.values.parse_value):

    >>> from trainlab.nn.activations import create_activation
    >>> create_activation("leaky_relu:negative_slope=0.1")    # max(0.1 x, x), as in deck 002
    LeakyReLU(negative_slope=0.1)
    >>> create_activation("prelu:num_parameters=per_channel", channels=16).weight.shape
    torch.Size([16])
    >>> create_activation("maxout:k=3", channels=64)          # max(w1^T x + b1, ..., w3^T x + b3)
    Maxout(
      k=3, conv=False
      (pieces): Linear(in_features=64, out_features=192, bias=True)
    )
    >>> check_activation("elu:alpah=0.5")
    Traceback (most recent call last):
    trainlab.errors.TrainlabError: unknown hyperparameter 'alpah' for activation 'elu:alpah=0.5' (did you mean 'alpha'?); accepted: alpha; write e.g. 'elu:alpha=1.0'
"""
from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from ..errors import TrainlabError, check
from ..registry import Registry, accepted_kwargs, check_kwargs
from ..values import parse_value

ACTIVATIONS = Registry("activation")
PER_CHANNEL = ("per_channel", -1)  # prelu num_parameters: one slope per channel (-1: the older spelling)


class NeedsChannels(TrainlabError):
    """The hyperparameters are fine, but building this activation needs `channels` (maxout, per-channel prelu)."""


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
        check(isinstance(k, int) and not isinstance(k, bool) and k >= 1,
              f"maxout k={k!r} must be an integer >= 1 (number of pieces)")
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


class _Heaviside(torch.autograd.Function):
    """1 for x > 0 else 0, with the derivative it has almost everywhere: 0 (torch.heaviside has none at all)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(grad)  # dg/dx = 0 for x != 0 (undefined at 0): nothing flows back


class Step(nn.Module):
    """The step activation of the first neurons, g(y) = 1 if y > 0 else 0 (deck 004).

    Its derivative is zero almost everywhere, so backpropagation passes exact zeros through it:
    every layer below a step gets zero gradient and never learns, only the layers above it
    do. That is why smooth activations (sigmoid, tanh, ReLU) replaced it.

        >>> x = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
        >>> y = Step()(x); y.sum().backward()
        >>> y.tolist(), x.grad.tolist()
        ([0.0, 0.0, 1.0], [0.0, 0.0, 0.0])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Heaviside.apply(x)


def _number(what: str, x: Any, lo: float, hi: float | None = None, lo_open: bool = False) -> float:
    """x as a float in [lo, hi) (or (lo, hi) when lo_open), else a one-line TrainlabError."""
    ok = isinstance(x, (int, float)) and not isinstance(x, bool) and (x > lo if lo_open else x >= lo)
    ok = ok and (hi is None or x < hi)
    span = f"{'(' if lo_open else '['}{lo}, {hi if hi is not None else 'inf'})"
    check(ok, f"{what}={x!r} must be a number in {span}")
    return float(x)


@ACTIVATIONS.register("sigmoid", description="1 / (1 + exp(-x))")
def sigmoid(channels=None, conv=False) -> nn.Module:
    return nn.Sigmoid()


@ACTIVATIONS.register("step", description="1 if x > 0 else 0 (Heaviside, deck 004); gradient 0: layers below never learn")
def step(channels=None, conv=False) -> nn.Module:
    return Step()


@ACTIVATIONS.register("tanh", description="tanh(x) = (e^x - e^-x) / (e^x + e^-x)")
def tanh(channels=None, conv=False) -> nn.Module:
    return nn.Tanh()


@ACTIVATIONS.register("relu", description="max(0, x)")
def relu(channels=None, conv=False) -> nn.Module:
    return nn.ReLU()


@ACTIVATIONS.register(
    "leaky_relu", description="max(a x, x), a = negative_slope = 0.01 (deck 002: 0.1): 'leaky_relu:negative_slope=0.1'")
def leaky_relu(channels=None, conv=False, negative_slope: float = 0.01, a: float | None = None) -> nn.Module:
    # `a` is the lecture's (and trainlab's older) name for torch's negative_slope.
    check(a is None or negative_slope == 0.01, "leaky_relu: give negative_slope or its alias a, not both")
    slope = negative_slope if a is None else a
    # 0 <= slope < 1 keeps max(a x, x) equal to torch's "x if x >= 0 else a x".
    return nn.LeakyReLU(_number(f"leaky_relu {'a' if a is not None else 'negative_slope'}", slope, 0.0, 1.0))


@ACTIVATIONS.register(
    "prelu",
    description="max(a x, x), a learned, init 0.25; one a shared, or one per channel: 'prelu:num_parameters=per_channel'")
def prelu(channels=None, conv=False, num_parameters: int | str = 1, init: float = 0.25) -> nn.Module:
    init = _number("prelu init", init, 0.0, 1.0)
    per_channel = num_parameters in PER_CHANNEL and not isinstance(num_parameters, bool)
    check(per_channel or (isinstance(num_parameters, int) and not isinstance(num_parameters, bool) and num_parameters >= 1),
          f"prelu num_parameters={num_parameters!r} must be 1 (one shared slope) or per_channel (one per channel)")
    if per_channel:
        if channels is None:
            raise NeedsChannels("prelu num_parameters=per_channel needs channels=C")
        num_parameters = channels
    check(channels is None or num_parameters in (1, channels),
          f"prelu num_parameters={num_parameters!r} must be 1 or the channel count {channels} (write per_channel)")
    return nn.PReLU(num_parameters, init)


@ACTIVATIONS.register("elu", description="x if x >= 0 else alpha (e^x - 1); alpha = 1: 'elu:alpha=0.5'")
def elu(channels=None, conv=False, alpha: float = 1.0) -> nn.Module:
    return nn.ELU(_number("elu alpha", alpha, 0.0))


@ACTIVATIONS.register("maxout", description="max(w1^T x + b1, ..., wk^T x + bk); k = 2 pieces, keeps `channels`: 'maxout:k=3'")
def maxout(channels=None, conv=False, k: int = 2) -> nn.Module:
    check(isinstance(k, int) and not isinstance(k, bool) and k >= 1, f"maxout k={k!r} must be an integer >= 1 (number of pieces)")
    if channels is None:
        raise NeedsChannels("maxout needs channels=C (it has k linear pieces over C features)")
    return Maxout(channels, channels, k, conv=conv)


@ACTIVATIONS.register("gelu", description="x * Phi(x), Phi = standard normal CDF ('gelu:approximate=tanh' for the tanh form)")
def gelu(channels=None, conv=False, approximate: str = "none") -> nn.Module:
    check(approximate in ("none", "tanh"), f"gelu approximate={approximate!r} must be 'none' or 'tanh'")
    return nn.GELU(approximate=approximate)


@ACTIVATIONS.register("silu", description="x * sigmoid(x) (swish)")
def silu(channels=None, conv=False) -> nn.Module:
    return nn.SiLU()


def parse_activation(spec: str) -> tuple[str, dict[str, Any]]:
    """'name:key=value:key=value' -> (name, {key: value}); values are YAML (parse_value).

    Example:
        >>> parse_activation("leaky_relu:negative_slope=0.1")
        ('leaky_relu', {'negative_slope': 0.1})
    """
    check(isinstance(spec, str) and spec.strip() != "",
          f"activation {spec!r} must be a name like 'relu' or a spec like 'leaky_relu:negative_slope=0.1'")
    name, *items = (t.strip() for t in spec.strip().split(":"))
    kw: dict[str, Any] = {}
    for item in items:
        key, eq, raw = item.partition("=")
        if not eq or not key.strip():
            raise TrainlabError(f"activation {spec!r}: {item!r} is not key=value; write e.g. "
                                f"{_example(name) if name in ACTIVATIONS else 'leaky_relu:negative_slope=0.1'!r}")
        kw[key.strip()] = parse_value(raw)
    return name, kw


def _example(name: str) -> str:
    """A valid spec for `name` with its first hyperparameter at its default, e.g. 'elu:alpha=1.0'."""

    fn = ACTIVATIONS.get(name)
    keys = accepted_kwargs(fn, skip=("channels", "conv"))
    if not keys:
        return name
    default = inspect.signature(fn).parameters[keys[0]].default
    return f"{name}:{keys[0]}={default}"


def create_activation(spec: str, channels: int | None = None, conv: bool = False, **kw) -> nn.Module:
    """Build the activation named by `spec` ('name' or 'name:key=value:...'); keyword
    arguments add to (and override) the spec's. `channels`/`conv` are used by maxout and
    per-channel prelu.

    Example:
        >>> create_activation("elu", alpha=0.5)
        ELU(alpha=0.5)
        >>> create_activation("elu:alpha=0.5")
        ELU(alpha=0.5)
    """
    name, spec_kw = parse_activation(spec)
    fn = ACTIVATIONS.get(name)
    kw = {**spec_kw, **kw}
    example = _example(name)
    try:
        check_kwargs(f"activation {spec!r}", fn, kw, skip=("channels", "conv"))
        return fn(channels=channels, conv=conv, **kw)
    except NeedsChannels:
        raise
    except TrainlabError as e:  # name the spec and show a valid one
        msg = str(e) if f"activation {spec!r}" in str(e) else f"activation {spec!r}: {e}"
        raise TrainlabError(f"{msg}; write e.g. {example!r}" if example != name else f"{msg}; write {name!r}") from None


def check_activation(spec: str) -> None:
    """Raise a one-line TrainlabError if `spec` is not a valid activation (unknown name, key,
    or value); builds nothing that needs channels. For checking a config before loading data.

    Example:
        >>> check_activation("leaky_relu:negative_slope=0.1")
        >>> check_activation("maxout:k=3")
    """
    try:
        create_activation(spec)
    except NeedsChannels:
        pass  # everything checkable without channels was checked


__all__ = ["ACTIVATIONS", "Maxout", "Step", "create_activation", "check_activation", "parse_activation"]
