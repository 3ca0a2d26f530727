"""Weight initialization schemes and `init_model`, which applies one to a whole network.

Var[w] for a layer with n_in = fan_in, n_out = fan_out (a k x k conv over c input channels
has fan_in = k*k*c, one output unit sees that many inputs):
  lecun_normal    1 / n_in                  (lecture deck 002's "Xavier": randn(fan_in, fan_out) / sqrt(fan_in))
  xavier_normal   2 / (n_in + n_out)        (Glorot & Bengio; uniform variant has the same variance)
  he_normal       gain^2 / n_fan, gain from the activation (relu: 2 / n_in)   (deck 003)
  orthogonal      gain * a (semi-)orthogonal matrix
  torch           torch's own default for every layer: U(-1/sqrt(n_in), 1/sqrt(n_in)), Var = 1 / (3 n_in),
                  biases too (kaiming_uniform with a = sqrt(5), what nn.Linear / nn.Conv2d do when built)
  default         keep the model's own initialization. Every trainlab model initializes itself
                  (models/common.py `finish`): He normal, Var = gain^2 / n_in with the gain of the
                  model's activation (relu: 2 / n_in), on every conv and linear layer, zero biases,
                  norms at weight 1 / bias 0, and torch's default on the classifier `head`.
                  A module built with torch.nn directly keeps torch's default.
The activation gain is applied by the schemes designed around it (He, orthogonal); Xavier and
LeCun are the paper definitions (gain 1, derived for linear/tanh-like units). The nonlinearity
may be an activation spec: "leaky_relu:negative_slope=0.1" gives the gain for slope 0.1.

    >>> from torch import nn
    >>> net = init_model(nn.Sequential(nn.Linear(10, 20), nn.ReLU()), "he_normal")
    >>> net = init_model(nn.Linear(10, 20), "he_normal", nonlinearity="leaky_relu:negative_slope=0.1")
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import check
from ..registry import Registry
from .activations import ACTIVATIONS, check_activation, parse_activation

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


def _spec_param(name: str, kw: dict) -> float | None:
    """The slope / alpha an activation spec sets, the number its gain depends on."""
    keys = {"leaky_relu": ("negative_slope", "a"), "prelu": ("init",), "elu": ("alpha",)}.get(name, ())
    return next((float(kw[k]) for k in keys if k in kw), None)


def gain(nonlinearity: str, param: float | None = None) -> float:
    """Std multiplier for the activation that follows the layer.

    `nonlinearity` is a name or an activation spec ("leaky_relu:negative_slope=0.1"), checked
    like the activation itself. torch.nn.init.calculate_gain where torch has one; leaky_relu
    /prelu use their slope (the spec's negative_slope / init, or `param`; 0.01 / 0.25 by
    default); maxout is a max of linear pieces -> 1; step -> sqrt(2) (E[step(z)^2] = 1/2);
    elu/gelu/silu use the second-moment gain above. An explicit `param` wins over the spec's value.

    Example:
        >>> round(gain("relu") ** 2, 6)
        2.0
        >>> gain("leaky_relu:negative_slope=0.1") == nn.init.calculate_gain("leaky_relu", 0.1)
        True
    """

    check(isinstance(nonlinearity, str) and nonlinearity.strip() != "",
          f"init nonlinearity={nonlinearity!r} must be an activation name or spec, e.g. 'relu'")
    if ":" in nonlinearity:
        name, kw = parse_activation(nonlinearity)
        if name in ACTIVATIONS:
            check_activation(nonlinearity)  # unknown keys and bad values: one line naming the activation
        else:
            check(not kw, f"init nonlinearity {nonlinearity!r}: {name!r} takes no hyperparameters")
        param = param if param is not None else _spec_param(name, kw)
        if name == "gelu" and kw.get("approximate") == "tanh":
            return _second_moment_gain(lambda z: torch.nn.functional.gelu(z, approximate="tanh"))
        nonlinearity = name
    torch_names = ("linear", "identity", "sigmoid", "tanh", "relu", "selu", "conv1d", "conv2d", "conv3d")
    if nonlinearity in torch_names:
        return nn.init.calculate_gain(nonlinearity)
    if nonlinearity in ("leaky_relu", "prelu"):
        slope = param if param is not None else (0.01 if nonlinearity == "leaky_relu" else 0.25)
        return nn.init.calculate_gain("leaky_relu", slope)
    if nonlinearity == "maxout":
        return 1.0
    if nonlinearity == "step":
        return math.sqrt(2.0)  # E[step(z)^2] = P(z > 0) = 1/2 exactly; a Riemann sum blurs the jump at 0
    computed = {"elu": lambda z: torch.nn.functional.elu(z, param if param is not None else 1.0),
                "gelu": torch.nn.functional.gelu, "silu": torch.nn.functional.silu}
    check(nonlinearity in computed, f"unknown nonlinearity {nonlinearity!r} for init; choose one of: "
          f"{', '.join(torch_names + ('leaky_relu', 'prelu', 'maxout', 'step') + tuple(computed))}")
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


@INITS.register("torch", description="torch's default for every layer: U(-1/sqrt(n_in), 1/sqrt(n_in)), Var = 1 / (3 n_in); "
                                      "biases U(-1/sqrt(n_in), 1/sqrt(n_in)) (each layer's reset_parameters)")
def torch_default(w: torch.Tensor, gain: float = 1.0, mode: str = "fan_in") -> None:
    # the weight part of torch's Linear/Conv reset_parameters; init_model calls the layers' own
    # reset_parameters instead, so biases and other layers get torch's defaults too
    nn.init.kaiming_uniform_(w, a=math.sqrt(5))


@INITS.register("default", description="keep the model's own init: trainlab models use He normal N(0, gain^2 / n_in) "
                                       "(gain of the model's activation; relu: 2 / n_in) on convs and linears, zero "
                                       "biases, torch's default on the head; plain torch modules keep torch's default")
def default(w: torch.Tensor, gain: float = 1.0, mode: str = "fan_in") -> None:
    pass  # init_model returns the model untouched


NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def init_model(model: nn.Module, name: str, nonlinearity: str = "relu", mode: str = "fan_in",
               param: float | None = None) -> nn.Module:
    """Initialize every Linear/Conv weight with scheme `name`, zero their biases, and set
    normalization layers to weight 1, bias 0. `name="default"` changes nothing (the model
    keeps its own init); `name="torch"` resets every layer to torch's default.

    `nonlinearity` (an activation name or spec like "leaky_relu:negative_slope=0.1", or its
    slope/alpha as `param`) sets the gain; `mode` picks fan_in (keeps forward variance) or
    fan_out (keeps backward variance). Returns `model`.

    Example:
        >>> net = init_model(nn.Conv2d(3, 8, 3), "he_normal")   # Var[w] = 2 / (3*3*3)
    """
    fn = INITS.get(name)
    check(mode in MODES, f"init mode={mode!r} must be one of: {', '.join(MODES)}")
    g = gain(nonlinearity, param)
    if name == "default":
        return model
    if name == "torch":
        for m in model.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
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


__all__ = ["INITS", "init_model", "gain", "fans", "torch_default"]
