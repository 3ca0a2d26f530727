"""The models layer, the zoo: one registry (MODELS), `create_model`, summaries and receptive fields,
and the transfer-learning helpers. Imports nn and the ground floor.

Every model takes `in_shape` ((C, H, W) images or (D,) tabular rows) and `num_classes`;
common options are `activation`, `norm` ("none" | "batch" | "layer" | "group") and
`dropout` (drop probability). Convention for transfer learning: a model's top-level
children run in the order they are listed, and the last one, `head`, is the classifier
(an nn.Linear; a 1x1 nn.Conv2d for segmentation nets, which output (B, K, H, W)).

    >>> from trainlab.models import create_model, layer_names, replace_head
    >>> net = create_model("resnet20", in_shape=(3, 32, 32), num_classes=10)
    >>> layer_names(net)
    ['stem', 'stage1', 'stage2', 'stage3', 'pool', 'flatten', 'dropout', 'head']
    >>> replace_head(net, 2).head
    Linear(in_features=64, out_features=2, bias=True)
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from ..errors import TrainlabError, check
from ..registry import check_kwargs
from . import alexnet, convnet, densenet, inception, mlp, polyfit, rcnn, resnet, segmentation, vgg, yolo  # noqa: F401
from .common import MODELS, InputTooSmall, ShapeError, load_weights
from .detector import DETECTION

__all__ = ["MODELS", "create_model", "list_models", "is_detector", "load_weights", "replace_head", "layer_names"]


def _check_in_shape(in_shape: Any) -> tuple[int, ...]:
    ok = (isinstance(in_shape, (tuple, list)) and len(in_shape) in (1, 3)
          and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in in_shape))
    check(ok, f"in_shape={in_shape!r} must be (C, H, W) for images, e.g. (3, 32, 32), or (D,) for tabular data")
    return tuple(in_shape)


def _models_that_fit(in_shape: tuple[int, ...], like: str) -> list[str]:
    """Up to 3 registered models that build for `in_shape`: `like`'s family first, then small general ones.

    Models are built on the meta device (no memory, no init cost).
    """
    def fits(name: str) -> bool:
        try:
            with torch.device("meta"):
                MODELS.create(name, in_shape, 2)
            return True
        except TrainlabError:
            return False

    family = [n for n in list_models("detection" if is_detector(like) else None) if n[:3] == like[:3] and n != like]
    candidates = dict.fromkeys(family + ["convnet", "resnet20", "mlp"])
    return [n for n in candidates if n in MODELS and fits(n)][:3]


def create_model(name: str, *, in_shape: Sequence[int], num_classes: int, **kw: Any) -> nn.Module:
    """Build registered model `name` for inputs of `in_shape` and `num_classes` outputs.

    Options set to None mean "the model's default". Unknown options, bad values and inputs
    too small for the model's downsampling raise a one-line TrainlabError.

    Example:
        >>> net = create_model("convnet", in_shape=(1, 28, 28), num_classes=10, pool="avg", dropout=0.2)
        >>> net(torch.zeros(4, 1, 28, 28)).shape
        torch.Size([4, 10])
    """
    fn = MODELS.get(name)
    shape = _check_in_shape(in_shape)
    check(isinstance(num_classes, int) and not isinstance(num_classes, bool) and num_classes >= 1,
          f"num_classes={num_classes!r} must be an integer >= 1")
    check_kwargs(f"model {name!r}", fn, kw, skip=("in_shape", "num_classes"))
    kw = {k: v for k, v in kw.items() if v is not None}
    try:
        return fn(shape, num_classes, **kw)
    except InputTooSmall as e:
        others = ", ".join(_models_that_fit(shape, name)) or "mlp"
        raise TrainlabError(f"model {name!r} {e}; use a dataset with larger images or one of: {others}") from None
    except ShapeError as e:
        raise TrainlabError(f"model {name!r} {e}") from None


def list_models(task: str | None = None) -> list[str]:
    """Names of the registered models, sorted. task="detection": the detectors (forward(images, targets)
    gives named losses, forward(images) boxes; see trainlab.models.detector); any other task
    ("classification", "segmentation", "regression"): the rest of the zoo, whose output is scores
    per class (per pixel for fcn and unet) or values; None: all.

    Example:
        >>> list_models("detection")
        ['faster_rcnn', 'mask_rcnn', 'yolo']
    """
    if task is None:
        return MODELS.list()
    detectors = MODELS.list(DETECTION)
    return detectors if task == "detection" else [n for n in MODELS.list() if n not in detectors]


def is_detector(name: str) -> bool:
    """Whether registered model `name` is a detector (tagged "detection" in MODELS)."""
    return name in MODELS.list(DETECTION)


def layer_names(model: nn.Module) -> list[str]:
    """Top-level child names in forward order (what `--freeze UP_TO_LAYER` accepts).

    Example:
        >>> layer_names(create_model("mlp", in_shape=(4,), num_classes=3, depth=1))
        ['flatten', 'fc1', 'head']
    """
    return [n for n, _ in model.named_children()]


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Swap `model.head` for a freshly initialised one with `num_classes` outputs; returns `model`.

    The new head keeps the old one's position (still the last child), input size, device and dtype.

    Example:
        >>> net = replace_head(create_model("mlp", in_shape=(4,), num_classes=3), 5)
        >>> net.head.out_features
        5
    """
    check(isinstance(num_classes, int) and not isinstance(num_classes, bool) and num_classes >= 1,
          f"num_classes={num_classes!r} must be an integer >= 1")
    head = getattr(model, "head", None)
    if isinstance(head, nn.Linear):
        new: nn.Module = nn.Linear(head.in_features, num_classes, bias=head.bias is not None)
    elif isinstance(head, nn.Conv2d) and head.kernel_size == (1, 1) and head.groups == 1:
        new = nn.Conv2d(head.in_channels, num_classes, 1, bias=head.bias is not None)
    else:
        raise TrainlabError(f"model {type(model).__name__} has no `head` child (nn.Linear or 1x1 nn.Conv2d) to "
                            "replace; build it with trainlab.create_model")
    model.head = new.to(device=head.weight.device, dtype=head.weight.dtype)  # same slot in _modules: order kept
    return model
