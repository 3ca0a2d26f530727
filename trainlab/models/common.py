"""The model registry and the checks every model builder shares.

A builder is `fn(in_shape, num_classes, **options) -> nn.Module`, registered in MODELS;
variants are one-liners: `MODELS.register("resnet20", fn=partial(resnet, blocks=(3, 3, 3)))`.

Every downsampling step in the zoo rounds UP (2x2/2 pooling with ceil_mode, 3x3/2 pooling
with padding 1, stride-2 convs with 'same' padding), so a side n becomes ceil(n / 2):
28 -> 14 -> 7 -> 4 -> 2 -> 1. Fashion-MNIST's 28x28 therefore runs through every model
without padding or resizing.

    >>> halve(28, 3), min_size(5)
    (4, 17)
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from ..errors import TrainlabError, check
from ..nn.init import init_model
from ..registry import Registry

MODELS = Registry("model")


class ShapeError(TrainlabError):
    """An input shape a builder cannot take; `create_model` prefixes the model name."""


class InputTooSmall(ShapeError):
    """The image side is below the smallest one the model's downsampling allows."""

    def __init__(self, need: int, got: tuple[int, int]):
        self.need, self.got = need, got
        super().__init__(f"needs inputs of at least {need}x{need}, got {got[0]}x{got[1]}")


def image_shape(in_shape: Sequence[int]) -> tuple[int, int, int]:
    """(C, H, W) from `in_shape`, or ShapeError for a tabular (D,) shape."""
    if len(in_shape) != 3:
        raise ShapeError(f"needs image inputs (C, H, W), got {tuple(in_shape)}; use mlp for tabular data")
    return tuple(in_shape)  # type: ignore[return-value]


def halve(size: int, times: int = 1) -> int:
    """Side length after `times` ceil-mode halvings: ceil(size / 2**times)."""
    return -(-size // 2**times)


def min_size(halvings: int) -> int:
    """Smallest side for which the last of `halvings` downsamplings still sees >= 2 pixels."""
    return 2 ** (halvings - 1) + 1 if halvings > 0 else 1


def require_size(in_shape: Sequence[int], halvings: int) -> tuple[int, int, int]:
    """(C, H, W), checked to survive `halvings` downsamplings (raises InputTooSmall)."""
    c, h, w = image_shape(in_shape)
    if min(h, w) < min_size(halvings):
        raise InputTooSmall(min_size(halvings), (h, w))
    return c, h, w


def check_int(what: str, value: Any, lo: int = 1) -> int:
    """`value` as an int >= lo, or a one-line TrainlabError naming `what`."""
    check(isinstance(value, int) and not isinstance(value, bool) and value >= lo,
          f"{what}={value!r} must be an integer >= {lo}")
    return value


def check_float(what: str, value: Any, lo: float = 0.0) -> float:
    check(isinstance(value, (int, float)) and not isinstance(value, bool) and value > lo,
          f"{what}={value!r} must be a number > {lo}")
    return float(value)


def check_choice(what: str, value: Any, choices: Sequence[str]) -> str:
    check(value in choices, f"{what}={value!r} must be one of: {', '.join(map(str, choices))}")
    return value


def int_tuple(what: str, value: Any, lo: int = 1) -> tuple[int, ...]:
    """A non-empty list/tuple of ints >= lo (YAML gives lists: `--set channels=[16,32]`)."""
    check(isinstance(value, (list, tuple)) and len(value) > 0,
          f"{what}={value!r} must be a non-empty list of integers, e.g. [32, 64]")
    return tuple(check_int(what, v, lo) for v in value)


def scaled(channels: int, width: float) -> int:
    """Channel count times a width multiplier, at least 1."""
    return max(1, int(round(channels * width)))


def finish(model: nn.Module, activation: str) -> nn.Module:
    """He-initialize conv/linear weights for `activation` (zero biases, norms at 1/0).

    This is every model's own initialization, what `init: default` keeps (see trainlab/nn/init.py).
    `activation` may be a spec: "leaky_relu:negative_slope=0.1" uses the gain for slope 0.1.
    The head keeps torch's default Linear/Conv init, the same one `replace_head` gives a
    new head, so a fresh model and a re-headed one start their classifier alike.
    """
    init_model(model, "he_normal", nonlinearity=activation)
    model.head.reset_parameters()
    return model


def load_weights(model: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Load `tensors` (a state dict read from `source`) into `model`; one clear line when a key is
    missing or a shape differs (the checkpoint of another config)."""
    own = model.state_dict()
    missing = [k for k in own if k not in tensors]
    wrong = [k for k in own if k in tensors and tuple(tensors[k].shape) != tuple(own[k].shape)]
    if missing or wrong:
        k = (wrong or missing)[0]
        what = (f"shape {tuple(tensors[k].shape)} where the model has {tuple(own[k].shape)}" if wrong
                else "no entry")
        raise TrainlabError(f"checkpoint {source!r} does not fit the model: {k!r} has {what}; "
                            "use the config the checkpoint was trained with")
    model.load_state_dict({k: tensors[k] for k in own})
