"""Receptive fields: how many input pixels one output unit of each layer sees, and its jump.

The recurrence (Araujo et al. 2019, "Computing receptive fields of CNNs"), per spatial axis,
starting from the input with r = 1, j = 1:

    r_out = r_in + (k - 1) * dilation * j_in      # receptive field, input pixels
    j_out = j_in * stride                         # jump: input pixels between neighbouring units

for every convolution and pooling window (padding moves the field, it does not change its
size). Deck 004's point falls out: a 3x3 conv with dilation 2 has the parameters of a 3x3
conv and the field of a 5x5 one.

    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3))
    >>> [(f["name"], f["rf"], f["jump"]) for f in receptive_fields(net, (1, 16, 16))]
    [('0', 3, 1), ('1', 4, 2), ('2', 8, 2)]

How: one forward pass of a zero image that requires grad, then a walk of the autograd graph
from each layer's output back to the image. Graph nodes of convolutions (also transposed and
functional ones), max/average pooling and upsampling apply the recurrence, read from the
arguments autograd saved; every other node (activations, norms, adding a skip connection,
concatenating branches) keeps the field of its inputs, the largest one where branches meet.
So residual, Inception, DenseNet and U-Net graphs come out right without per-model code.
Reductions over space (global pooling, flatten into a linear layer) see the whole image:
rf "all". Upsampling by f divides the jump by f, so fields after it can be fractional.
"""
from __future__ import annotations

from fractions import Fraction
from math import ceil, floor
from typing import Any, Sequence

import torch
from torch import nn

ALL = "all"  # the field of a unit that sees the whole input (after global pooling or a flatten)
# autograd node name -> taps of the interpolation along an axis (nearest: 1, linear: 2, cubic: 4)
UPSAMPLE_TAPS = {"NearestExact": 1, "Nearest": 1, "Linear": 2, "Bilinear": 2, "Trilinear": 2, "Bicubic": 4}
REDUCTIONS = ("MeanBackward", "SumBackward", "AmaxBackward", "AminBackward", "MaxBackward", "MinBackward")


def window_kind(name: str) -> str | None:
    """'conv', 'maxpool', 'avgpool', 'upsample' for autograd nodes that apply the recurrence, else None."""
    if name.startswith("ConvolutionBackward"):
        return "conv"  # Conv1d/2d/3d, transposed or not, module or functional
    if name.startswith(("MaxPool2DWithIndicesBackward", "MaxPool3DWithIndicesBackward")):
        return "maxpool"
    if name.startswith(("AvgPool2DBackward", "AvgPool3DBackward")):
        return "avgpool"
    if name.lstrip("_").startswith("Upsample"):
        return "upsample"
    return None


class Field(tuple):
    """(r, j): receptive field and jump per spatial axis, tuples of Fractions."""

    @property
    def r(self) -> tuple:
        return self[0]

    @property
    def j(self) -> tuple:
        return self[1]


def _join(values: list) -> Field | str | None:
    """Where branches meet, a unit sees the union of their fields: the largest r and j per axis."""
    values = [v for v in values if v is not None]
    if not values:
        return None  # does not depend on the input (e.g. a parameter)
    if ALL in values:
        return ALL
    return Field((tuple(map(max, zip(*(v.r for v in values)))), tuple(map(max, zip(*(v.j for v in values))))))


def _window(v: Field, kernel, stride, dilation) -> Field:
    """The recurrence for a conv or pooling window (per-axis tuples; stride () means stride = kernel)."""
    d = len(v.r)
    kernel, stride, dilation = (_axes(kernel, d), _axes(stride or kernel, d), _axes(dilation or 1, d))
    r = tuple(r + (k - 1) * dil * j for r, k, dil, j in zip(v.r, kernel, dilation, v.j))
    return Field((r, tuple(j * s for j, s in zip(v.j, stride))))


def _transposed(v: Field, kernel, stride, dilation) -> Field:
    """A transposed conv: output units are stride times denser; each sees the input units its taps land on."""
    d = len(v.r)
    r, j = [], []
    for r_in, j_in, k, s, dil in zip(v.r, v.j, _axes(kernel, d), _axes(stride, d), _axes(dilation, d)):
        # output o = i * s + t * dil (up to padding): the inputs i behind one output, over the s phases of o
        spans = [[(c - t * dil) // s for t in range(k) if (c - t * dil) % s == 0] for c in range(s)]
        extra = max((max(i) - min(i) for i in spans if i), default=0)
        r.append(r_in + extra * j_in)
        j.append(j_in / s)
    return Field((tuple(r), tuple(j)))


def _axes(x, d: int) -> tuple:
    """An int or a tuple -> a tuple of d ints."""
    x = tuple(x) if isinstance(x, (tuple, list, torch.Size)) else (x,)
    return x * d if len(x) == 1 else x


class _Walker:
    """Fields of autograd nodes, memoized by node, walked back to the input image `x`."""

    def __init__(self, x: torch.Tensor):
        self.x = x
        self.d = x.dim() - 2
        self.base = Field(((Fraction(1),) * self.d, (Fraction(1),) * self.d))
        self.memo: dict[int, tuple[Any, Any]] = {}  # id(node) -> (node, field); the node is kept so ids stay unique
        self.windows = 0  # conv / pooling / upsampling nodes met: is the model convolutional?

    def field(self, t: torch.Tensor) -> Field | str | None:
        if t is self.x:
            return self.base
        if t.grad_fn is None:
            return None
        self._walk(t.grad_fn)
        return self.memo[id(t.grad_fn)][1]

    def set(self, t: torch.Tensor, value) -> None:
        if t.grad_fn is not None:
            self.memo[id(t.grad_fn)] = (t.grad_fn, value)

    def _walk(self, node) -> None:
        stack = [node]  # iterative post-order: deep graphs (resnet110) would pass Python's recursion limit
        while stack:
            n = stack[-1]
            if id(n) in self.memo:
                stack.pop()
                continue
            todo = [c for c, _ in n.next_functions if c is not None and id(c) not in self.memo]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            inputs = [self.memo[id(c)][1] if c is not None else None for c, _ in n.next_functions]
            self.memo[id(n)] = (n, self._rule(n, inputs))

    def _rule(self, n, inputs: list):
        name = n.name()
        if name == "torch::autograd::AccumulateGrad":
            return self.base if getattr(n, "variable", None) is self.x else None  # the image, or a parameter
        v = inputs[0] if inputs else None
        kind = window_kind(name)
        if kind is not None and isinstance(v, Field):
            self.windows += 1
        if kind is None or not isinstance(v, Field):
            return ALL if name.startswith(REDUCTIONS) and self._over_space(n) else _join(inputs)
        if kind == "conv":
            kernel = n._saved_weight.shape[2:]
            if n._saved_transposed:
                return _transposed(v, kernel, n._saved_stride, n._saved_dilation)
            return _window(v, kernel, n._saved_stride, n._saved_dilation)
        if kind == "maxpool":
            return _window(v, n._saved_kernel_size, n._saved_stride, n._saved_dilation)
        if kind == "avgpool":
            return _window(v, n._saved_kernel_size, n._saved_stride, 1)
        taps = next((t for key, t in UPSAMPLE_TAPS.items() if name.lstrip("_").startswith("Upsample" + key)), 2)
        sizes_in, sizes_out = n._saved_self_sym_sizes[2:], n._saved_output_size
        r = tuple(r + (taps - 1) * j for r, j in zip(v.r, v.j))
        return Field((r, tuple(j * Fraction(a, b) for j, a, b in zip(v.j, sizes_in, sizes_out))))

    def _over_space(self, n) -> bool:
        """Does a reduction node (mean, sum, max ...) reduce over a spatial axis of a (B, C, *space) tensor?"""
        sizes = getattr(n, "_saved_self_sym_sizes", None)
        if sizes is None and isinstance(getattr(n, "_saved_self", None), torch.Tensor):
            sizes = n._saved_self.shape
        dims = getattr(n, "_saved_dim", None)
        if sizes is None or len(sizes) != self.d + 2:
            return False
        if dims is None or dims == ():
            return True  # a reduction over everything
        dims = dims if isinstance(dims, (tuple, list)) else (dims,)
        # dims arrive as unsigned 64-bit ints: -1 is 2**64 - 1
        return any(((d - 2**64 if d >= 2**63 else d) % len(sizes)) >= 2 for d in dims)


def _adaptive(v, n_in: Sequence[int], n_out: Sequence[int]):
    """Adaptive pooling: window = the widest bin, stride = n_in / n_out; output 1 everywhere = global pooling."""
    if all(m == 1 for m in n_out):
        return ALL
    if not isinstance(v, Field):
        return v
    kernel = [max(ceil((i + 1) * n / m) - floor(i * n / m) for i in range(m)) for n, m in zip(n_in, n_out)]
    r = tuple(r + (k - 1) * j for r, k, j in zip(v.r, kernel, v.j))
    return Field((r, tuple(j * Fraction(n, m) for j, n, m in zip(v.j, n_in, n_out))))


ADAPTIVE = (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)


def field_map(model: nn.Module, in_shape: Sequence[int]) -> tuple[dict[str, Any], bool]:
    """({module name: field of its output}, convolutional?) from one forward pass of a zero image.

    Fields are Field((r, j)), ALL (sees the whole input) or None (never called, does not depend
    on the input, or an unknown layer that resizes). Tabular inputs (D,) give ({}, False).
    The model's train/eval flags and the random state are left as they were.
    """
    if len(in_shape) < 2:
        return {}, False
    names = {m: n for n, m in model.named_modules()}
    p = next(model.parameters(), None)
    x = torch.zeros(1, *in_shape, device=p.device if p is not None else "cpu",
                    dtype=p.dtype if p is not None else torch.float32, requires_grad=True)
    walker = _Walker(x)
    fields: dict[str, Any] = {}

    def hook(m, inputs, output):
        if not isinstance(output, torch.Tensor):
            return  # tuple outputs: not tracked
        t_in = next((t for t in inputs if isinstance(t, torch.Tensor)), None)
        value = walker.field(output)
        node = output.grad_fn.name() if output.grad_fn is not None else ""
        if isinstance(m, ADAPTIVE) and t_in is not None:
            value = _adaptive(walker.field(t_in), t_in.shape[2:], output.shape[2:])
        elif output.dim() < walker.d + 2 and value is not None:
            value = ALL  # space flattened away (Flatten, a Linear after it)
        elif (next(m.children(), None) is None and t_in is not None and t_in.dim() == output.dim()
              and t_in.shape[2:] != output.shape[2:] and window_kind(node) is None):
            value = None  # a leaf that resizes by a rule this module does not know: no guess
        walker.set(output, value)
        fields[names[m]] = value

    flags = {m: m.training for m in model.modules()}
    handles = [m.register_forward_hook(hook) for m in names]
    try:
        model.eval()
        with torch.enable_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        for m, flag in flags.items():
            m.training = flag
    return fields, walker.windows > 0


def _number(x: Fraction) -> int | float:
    return int(x) if x.denominator == 1 else float(x)


def display(value) -> tuple[Any, Any]:
    """A field as (rf, jump) for tables and JSON: ints (per-axis lists when the axes differ), 'all', or None."""
    if value is None or value == ALL:
        return value, None
    r, j = ([_number(a) for a in axes] for axes in value)
    return (r[0] if len(set(r)) == 1 else r), (j[0] if len(set(j)) == 1 else j)


__all__ = ["ALL", "field_map", "display"]
