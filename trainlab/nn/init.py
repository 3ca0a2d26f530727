"""Weight initialization schemes and `init_model`, which applies one to a whole network.

Var[w] for a layer with n_in = fan_in, n_out = fan_out (a k x k conv over c input channels
has fan_in = k*k*c, one output unit sees that many inputs):
  lecun_normal    1 / n_in                  (lecture deck 002's "Xavier": randn(fan_in, fan_out) / sqrt(fan_in))
  xavier_normal   2 / (n_in + n_out)        (Glorot & Bengio; uniform variant has the same variance)
  he_normal       gain^2 / n_fan, gain from the activation (relu: 2 / n_in)   (deck 003)
  orthogonal      gain * a (semi-)orthogonal matrix
The activation gain is applied by the schemes designed around it (He, orthogonal); Xavier and
LeCun are the paper definitions (gain 1, derived for linear/tanh-like units).

    >>> from torch import nn
    >>> net = init_model(nn.Sequential(nn.Linear(10, 20), nn.ReLU()), "he_normal")
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import check
from ..registry import Registry

INITS = Registry("init")
MODES = ("fan_in", "fan_out")


def fans(w: torch.Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a Linear (out, in) or Conv (out, in/groups, *k) weight."""
    receptive = math.prod(w.shape[2:])  # k*k for a 2d conv, 1 for Linear
    return w.shape[1] * receptive, w.shape[0] * receptive


def _second_moment_gain(f) -> float:
    """gain = 1 / sqrt(E[f(z)^2]), z ~ N(0, 1): keeps the forward second moment at 1.

    Used for activations torch has no gain for (elu, gelu, silu); for relu it gives sqrt(2)
    like torch. The expectation is a Riemann sum over [-12, 12] in float64 (error << 1e-6).
    """
    z = torch.linspace(-12, 12, 200_001, dtype=torch.float64)
    pdf = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return float(1.0 / torch.sqrt(torch.sum(f(z) ** 2 * pdf) * (z[1] - z[0])))


def gain(nonlinearity: str, param: float | None = None) -> float:
    """Std multiplier for the activation that follows the layer.

    torch.nn.init.calculate_gain where torch has one; leaky_relu/prelu use slope `param`
    (0.01 / 0.25 by default); maxout is a max of linear pieces -> 1; elu/gelu/silu use the
    second-moment gain above.

    Example:
        >>> round(gain("relu") ** 2, 6)
        2.0
    """
    torch_names = ("linear", "identity", "sigmoid", "tanh", "relu", "selu", "conv1d", "conv2d", "conv3d")
    if nonlinearity in torch_names:
        return nn.init.calculate_gain(nonlinearity)
    if nonlinearity in ("leaky_relu", "prelu"):
        slope = param if param is not None else (0.01 if nonlinearity == "leaky_relu" else 0.25)
        return nn.init.calculate_gain("leaky_relu", slope)
    if nonlinearity == "maxout":
        return 1.0
    computed = {"elu": lambda z: torch.nn.functional.elu(z, param if param is not None else 1.0),
                "gelu": torch.nn.functional.gelu, "silu": torch.nn.functional.silu}
    check(nonlinearity in computed, f"unknown nonlinearity {nonlinearity!r} for init; choose one of: "
          f"{', '.join(torch_names + ('leaky_relu', 'prelu', 'maxout') + tuple(computed))}")
    return _second_moment_gain(computed[nonlinearity])


# Each entry fills a weight tensor in place: fn(w, gain, mode). Under no_grad (see init_model).


@INITS.register("xavier_normal", description="N(0, 2 / (n_in + n_out))")
def xavier_normal(w: torch.Tensor, gain: float = 1.0, mode: str = "fan_in") -> None:
    nn.init.xavier_normal_(w)


@INITS.register("xavier_uniform", description="U(-a, a), a = sqrt(6 / (n_in + n_out)); Var = 2 / (n_in + n_out)")
def xavier_uniform(w: torch.Tensor, gain: float = 1.0, mode: str = "fan_in") -> None:
    nn.init.xavier_uniform_(w)


@INITS.register("he_normal", description="N(0, gain^2 / n_fan); relu: 2 / n_in")
def he_normal(w: torch.Tensor, gain: float = math.sqrt(2), mode: str = "fan_in") -> None:
    fan = fans(w)[MODES.index(mode)]
    nn.init.normal_(w, 0.0, gain / math.sqrt(fan))


@INITS.register("he_uniform", description="U(-a, a), a = gain sqrt(3 / n_fan); Var = gain^2 / n_fan")
def he_uniform(w: torch.Tensor, gain: float = math.sqrt(2), mode: str = "fan_in") -> None:
    fan = fans(w)[MODES.index(mode)]
    a = gain * math.sqrt(3.0 / fan)
    nn.init.uniform_(w, -a, a)


@INITS.register("lecun_normal", description="N(0, 1 / n_fan) (lecture's Xavier: randn / sqrt(fan_in))")
def lecun_normal(w: torch.Tensor, gain: float = 1.0, mode: str = "fan_in") -> None:
    fan = fans(w)[MODES.index(mode)]
    nn.init.normal_(w, 0.0, 1.0 / math.sqrt(fan))


@INITS.register("orthogonal", description="gain * Q, Q (semi-)orthogonal from QR of a Gaussian matrix")
def orthogonal(w: torch.Tensor, gain: float = 1.0, mode: str = "fan_in") -> None:
    nn.init.orthogonal_(w, gain)


@INITS.register("default", description="leave torch's default initialization untouched")
def default(w: torch.Tensor, gain: float = 1.0, mode: str = "fan_in") -> None:
    pass


NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def init_model(model: nn.Module, name: str, nonlinearity: str = "relu", mode: str = "fan_in",
               param: float | None = None) -> nn.Module:
    """Initialize every Linear/Conv weight with scheme `name`, zero their biases, and set
    normalization layers to weight 1, bias 0. `name="default"` changes nothing.

    `nonlinearity` (and its slope/alpha `param`) sets the gain; `mode` picks fan_in
    (keeps forward variance) or fan_out (keeps backward variance). Returns `model`.

    Example:
        >>> net = init_model(nn.Conv2d(3, 8, 3), "he_normal")   # Var[w] = 2 / (3*3*3)
    """
    fn = INITS.get(name)
    check(mode in MODES, f"init mode={mode!r} must be one of: {', '.join(MODES)}")
    g = gain(nonlinearity, param)
    if name == "default":
        return model
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)):
                fn(m.weight, gain=g, mode=mode)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, NORM_TYPES):
                if getattr(m, "weight", None) is not None:
                    m.weight.fill_(1.0)
                if getattr(m, "bias", None) is not None:
                    m.bias.zero_()
    return model


__all__ = ["INITS", "init_model", "gain", "fans"]
