"""The frozen feature network: a copy of a trained conv net that returns chosen layers' activations
(average pooling, mirrored borders), and the default (Gatys et al.) choice of content and style layers."""
from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn

from ..errors import TrainlabError, check
from ..nn.activations import Maxout

ACTIVATION_TYPES = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid)


def _is_activation(name: str, m: nn.Module) -> bool:
    return isinstance(m, ACTIVATION_TYPES + (Maxout,)) or name.rsplit(".", 1)[-1] == "act"


class FeatureNet(nn.Module):
    """A frozen copy of a trained net that returns the activations of chosen layers.

    Runs the model's top-level children in order (the zoo's convention), through the one that
    holds the deepest requested layer, and stops there: the classifier never runs, so any image
    size works. `preprocess` (the run's fitted preprocessing) is applied first; a net with one
    input channel gets each RGB channel as a gray image ((B, 3, H, W) -> (3B, 1, H, W)).
    """

    def __init__(self, model: nn.Module, preprocess=None, layers: Sequence[str] = (), pool: str = "avg",
                 padding: str = "reflect"):
        super().__init__()
        check(pool in ("avg", "max"), f"pool={pool!r} must be avg or max")
        check(padding in ("reflect", "zeros"), f"padding={padding!r} must be reflect or zeros")
        model = copy.deepcopy(model).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        if pool == "avg":  # Gatys et al.: average pooling gives smoother gradients to the image
            _swap_pools(model)
        if padding == "reflect":  # zero padding paints a dark frame around the result; mirrored borders do not
            for m in model.modules():
                if isinstance(m, nn.Conv2d) and isinstance(m.padding, tuple) and any(p > 0 for p in m.padding):
                    m.padding_mode = "reflect"
        self.model, self.preprocess = model, preprocess
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        check(bool(convs), f"model {type(model).__name__} has no conv layer; style transfer needs a conv net")
        self.in_channels = convs[0].in_channels
        check(self.in_channels in (1, 3), f"the style network takes {self.in_channels}-channel images; "
                                          "use a net trained on gray (1) or RGB (3) images")
        self.names = [n for n, _ in model.named_children()]
        self._out: dict[str, torch.Tensor] = {}
        self._hooks: list = []
        self._stop = len(self.names)
        self.set_layers(layers)

    def set_layers(self, layers: Sequence[str]) -> None:
        """Collect these (dotted) module names; the forward stops after the deepest one's top-level child."""
        for h in self._hooks:
            h.remove()
        modules = dict(self.model.named_modules())
        self._hooks = []
        for name in layers:
            if name not in modules:
                raise TrainlabError(f"layer {name!r} is not in the style network; choose from: "
                                    f"{', '.join(n for n, _ in self.candidates())}")
            self._hooks.append(modules[name].register_forward_hook(self._hook(name)))
        self.layers = list(layers)
        tops = [self.names.index(n.split(".")[0]) for n in layers]
        self._stop = max(tops) + 1 if tops else len(self.names)

    def _hook(self, name: str):
        def hook(module, inputs, output):
            self._out[name] = output
        return hook

    def candidates(self) -> list[tuple[str, nn.Module]]:
        return [(n, m) for n, m in self.model.named_modules() if n and _is_activation(n, m)]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        # x: (B, 3, H, W) RGB in [0, 1]
        if self.in_channels == 1:
            x = x.reshape(-1, 1, *x.shape[-2:])  # (3B, 1, H, W): each colour channel as a gray image
        if self.preprocess is not None:
            x = self.preprocess(x)
        self._out = {}
        for name in self.names[: self._stop]:
            x = getattr(self.model, name)(x)
        out, self._out = self._out, {}
        return out

    @torch.no_grad()
    def probe(self, size: tuple[int, int]) -> list[tuple[str, tuple[int, int, int]]]:
        """(name, (C, H, W)) of every activation layer that yields a feature map for an image of `size`,
        in forward order, running the children until the output stops being (B, C, H, W)."""
        shapes: dict[str, tuple] = {}

        def record(name):
            def hook(module, inputs, output):  # returns None: the output is left alone
                shapes.setdefault(name, tuple(output.shape[1:]))
            return hook

        hooks = [m.register_forward_hook(record(n)) for n, m in self.candidates()]
        x = torch.rand(1, 3, *size)
        if self.in_channels == 1:
            x = x[:, :1]
        try:
            if self.preprocess is not None:
                x = self.preprocess(x)
            for name in self.names:
                try:
                    x = getattr(self.model, name)(x)
                except (RuntimeError, ValueError):
                    break  # e.g. a classifier built for another input size: features end here
                if x.dim() != 4:
                    break
        except (RuntimeError, ValueError) as e:
            raise TrainlabError(f"the style network cannot take a {size[0]}x{size[1]} image "
                                f"({str(e).splitlines()[0][:100]}); use another --size or network") from None
        finally:
            for h in hooks:
                h.remove()
        return [(n, s) for n, s in shapes.items() if len(s) == 3]


def _swap_pools(model: nn.Module) -> None:
    for name, m in list(model.named_children()):
        if isinstance(m, nn.MaxPool2d):
            setattr(model, name, nn.AvgPool2d(m.kernel_size, m.stride, m.padding, ceil_mode=m.ceil_mode,
                                              count_include_pad=False))
        else:
            _swap_pools(m)


def default_layers(shapes: list[tuple[str, tuple[int, int, int]]]) -> tuple[str, list[str]]:
    """(content layer, style layers) from probed (name, (C, H, W)): Gatys et al.'s conv4_2 and conv1_1..conv5_1.

    Levels are the distinct resolutions in forward order; style = the first activation of each of the
    first 5 levels, content = the last activation of level 4 (or of the deepest level when fewer).
    """
    check(bool(shapes), "the style network yields no feature maps; use a conv net")
    levels: list[list[str]] = []
    last = None
    for name, (_, h, w) in shapes:
        if (h, w) != last:
            levels.append([])
            last = (h, w)
        levels[-1].append(name)
    style = [lv[0] for lv in levels[:5]]
    content = levels[min(3, len(levels) - 1)][-1]
    return content, style


def resolve_layer(name: str, shapes: list[tuple[str, tuple]]) -> str:
    """A layer name, or a module that contains layers (e.g. 'block3' -> its last activation)."""
    names = [n for n, _ in shapes]
    if name in names:
        return name
    inside = [n for n in names if n.startswith(name + ".")]
    if inside:
        return inside[-1]
    raise TrainlabError(f"layer {name!r} is not a feature layer of the style network; choose from: {', '.join(names)}")
