"""Model summaries: per-layer output shapes, parameter counts and MACs (a Keras `model.summary()`).

Parameters are counted as Keras does: trainable = parameters with requires_grad; non-trainable
= frozen parameters + floating-point buffers (batch norm's running_mean and running_var, not
its integer num_batches_tracked). A BatchNorm over 64 channels: 256 params, 128 non-trainable.

MACs (multiply-accumulates) per image are counted for Conv2d (groups, stride and dilation
included, through the output size), ConvTranspose2d and Linear; every other layer counts 0
(norms, activations, pooling are a few ops per element, small next to the convs). One
Convention: FLOPs ~ 2 x MACs (one multiply and one add each).

Convolutional models also get each layer's receptive field and jump in input pixels (RF and
Jump columns; computed in receptive.py): three 3x3 convs see 7x7 pixels.

    >>> from trainlab.models import create_model
    >>> s = summarize(create_model("resnet20", in_shape=(3, 32, 32), num_classes=10), (3, 32, 32))
    >>> s.trainable, round(s.macs / 1e6, 1)
    (269722, 40.6)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch
from rich.console import Group
from rich.table import Table
from rich.text import Text
from torch import nn

from ..errors import TrainlabError
from .receptive import display, field_map

# ---------------------------------------------------------------- parameter counts


def count_parameters(module: nn.Module, recurse: bool = True) -> tuple[int, int]:
    """(trainable, non_trainable) element counts of `module`, Keras style (see the module docstring).

    Example:
        >>> count_parameters(nn.BatchNorm2d(64))
        (128, 128)
    """
    trainable = sum(p.numel() for p in module.parameters(recurse) if p.requires_grad)
    frozen = sum(p.numel() for p in module.parameters(recurse) if not p.requires_grad)
    buffers = sum(b.numel() for b in module.buffers(recurse) if b.is_floating_point())
    return trainable, frozen + buffers


def _select(model: nn.Module, depth: int | None) -> list[tuple[str, nn.Module, bool]]:
    """Modules that get a row: (name, module, recurse).

    depth=None: every leaf. depth=d: modules d levels down, and shallower leaves. A module
    with parameters of its own AND children also gets a row for its own (recurse=False)
    parameters when its subtree is expanded, so the rows always add up to the total.
    """
    rows = []
    for name, m in model.named_modules():
        level = 0 if name == "" else name.count(".") + 1
        leaf = next(m.children(), None) is None
        if (depth is None and leaf) or (depth is not None and (level == depth or (leaf and level < depth))):
            rows.append((name or type(model).__name__, m, True))
        elif (depth is None or level < depth) and not leaf and sum(count_parameters(m, recurse=False)) > 0:
            rows.append((name or type(model).__name__, m, False))
    return rows


def parameter_table(model: nn.Module, depth: int | None = None) -> list[dict[str, Any]]:
    """One dict per layer (leaves by default): name, type, trainable, non_trainable, in module order.

    Example:
        >>> parameter_table(nn.Sequential(nn.Linear(3, 2)))
        [{'name': '0', 'type': 'Linear', 'trainable': 8, 'non_trainable': 0}]
    """
    out = []
    for name, m, recurse in _select(model, depth):
        t, nt = count_parameters(m, recurse)
        out.append({"name": name, "type": type(m).__name__, "trainable": t, "non_trainable": nt})
    return out


# ---------------------------------------------------------------- MACs


def layer_macs(module: nn.Module, inputs: tuple, output: Any) -> int:
    """MACs of one call of `module` for the whole batch (0 for layer types not counted)."""
    if isinstance(module, nn.Conv2d):
        # each output element: (C_in / groups) * kh * kw products
        k = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        return output.numel() * k
    if isinstance(module, nn.ConvTranspose2d):
        # each INPUT element is scattered into (C_out / groups) * kh * kw outputs
        k = module.out_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        return inputs[0].numel() * k
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


# ---------------------------------------------------------------- summary


@dataclass
class Row:
    name: str  # dotted module path, e.g. "stage1.0.conv1.conv"
    type: str  # class name, e.g. "Conv2d"
    output_shape: tuple | list | None  # per image (batch dim dropped); a list for several outputs; None if not run
    trainable: int
    non_trainable: int
    macs: int  # multiply-accumulates per image
    rf: Any = None  # receptive field, input pixels ("all" after global pooling; None: not convolutional)
    jump: Any = None  # input pixels between neighbouring output units (cumulative stride)

    @property
    def params(self) -> int:
        return self.trainable + self.non_trainable


@dataclass
class Summary:
    in_shape: tuple
    output_shape: tuple | list | None
    rows: list[Row] = field(default_factory=list)
    trainable: int = 0
    non_trainable: int = 0
    macs: int = 0  # per image
    convolutional: bool = False  # has convolutions or pooling: rows carry receptive fields
    buffers: int = 0  # of non_trainable: floating-point buffers (batch-norm statistics), not parameters

    @property
    def parameters(self) -> int:
        """What `model.parameters()` holds (trainable and frozen): the count `trainlab train` prints."""
        return self.params - self.buffers

    @property
    def params(self) -> int:
        return self.trainable + self.non_trainable

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for summary.json)."""
        return {**asdict(self), "params": self.params}


def _shape(x: Any) -> tuple | list | None:
    """Shape of a tensor output without the batch dim; lists for tuple/list outputs."""
    if isinstance(x, torch.Tensor):
        return tuple(x.shape[1:])
    if isinstance(x, (tuple, list)):
        return [_shape(v) for v in x]
    return None


@torch.no_grad()
def summarize(model: nn.Module, in_shape: Sequence[int], device: str | torch.device | None = None,
              depth: int | None = None, receptive: bool = True) -> Summary:
    """Run one all-zeros image through `model` (eval mode) and tabulate every layer.

    Zeros, not random numbers: a summary must not move the random state a run is seeded with.
    The model's train/eval flags are restored afterwards and it is not moved: the input is
    made on `device` (default: where the model's parameters are). `depth` groups rows (see _select).
    `receptive`: also give each row its receptive field and jump (a second pass; see receptive.py).

    Example:
        >>> s = summarize(nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten()), (3, 5, 5))
        >>> s.rows[0].output_shape, s.macs  # 8*3*3 outputs x 3*3*3 MACs each
        ((8, 3, 3), 1944)
    """
    selected = _select(model, depth)
    names = {m: n for n, m in model.named_modules()}
    order: dict[str, int] = {}  # first-call order of each module
    shapes: dict[str, Any] = {}
    macs: dict[str, int] = {}

    def pre_hook(m, inputs):
        order.setdefault(names[m], len(order))

    def hook(m, inputs, output):
        shapes[names[m]] = _shape(output)
        macs[names[m]] = macs.get(names[m], 0) + layer_macs(m, inputs, output)

    flags = {m: m.training for m in model.modules()}
    handles = [h for m in names for h in (m.register_forward_pre_hook(pre_hook), m.register_forward_hook(hook))]
    try:
        model.eval()
        p = next(model.parameters(), None)
        device = device if device is not None else (p.device if p is not None else "cpu")
        x = torch.zeros(1, *in_shape, device=device, dtype=p.dtype if p is not None else torch.float32)
        out = model(x)
    finally:
        for h in handles:
            h.remove()
        for m, flag in flags.items():
            m.training = flag

    fields, convolutional = field_map(model, in_shape) if receptive else ({}, False)
    rows = []
    for name, m, recurse in selected:
        key = names[m]
        inside = [n for n in macs if key == "" or n == key or n.startswith(key + ".")] if recurse else []
        t, nt = count_parameters(m, recurse)
        rf, jump = display(fields.get(key)) if convolutional else (None, None)
        row = Row(name, type(m).__name__, shapes.get(key), t, nt, sum(macs[n] for n in inside), rf, jump)
        rows.append((order.get(key, len(order)), row))
    rows = [r for _, r in sorted(rows, key=lambda kr: kr[0])]  # forward order, as Keras; never-called modules last
    t, nt = count_parameters(model)
    buffers = sum(b.numel() for b in model.buffers() if b.is_floating_point())
    return Summary(tuple(in_shape), _shape(out), rows, t, nt, sum(macs.values()), convolutional, buffers)


# ---------------------------------------------------------------- display


def human(n: float) -> str:
    """12_345_678 -> '12.35M'."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return str(int(n))


def _fmt_shape(s: Any) -> str:
    if s is None:
        return "-"
    if isinstance(s, list):
        return ", ".join(_fmt_shape(v) for v in s)
    return "(" + ", ".join(["B", *map(str, s)]) + ")"


def _fmt_field(v: Any) -> str:
    """7 -> '7'; [7, 5] -> '7x5' (height x width); 'all' stays; None -> ''; 3.5 -> '3.5'."""
    if v is None:
        return ""
    if isinstance(v, list):
        return "x".join(_fmt_field(a) for a in v)
    return v if isinstance(v, str) else f"{v:g}"


def format_summary(summary: Summary, title: str = "Model"):
    """A rich Table in the look of Keras's model.summary(), then the totals (lines of their own, so a
    pipe gets each as one line).

    Example:
        >>> from rich.console import Console
        >>> Console().print(format_summary(summarize(nn.Linear(3, 2), (3,))))  # doctest: +SKIP
    """
    table = Table(title=title, show_lines=False)
    table.add_column("Layer (type)", style="cyan", no_wrap=True)
    table.add_column("Output Shape")
    table.add_column("Param #", justify="right")
    table.add_column("Non-trainable", justify="right")
    table.add_column("MACs", justify="right")
    if summary.convolutional:  # receptive field and jump, in input pixels
        table.add_column("RF", justify="right")
        table.add_column("Jump", justify="right")
    for r in summary.rows:
        cells = [f"{r.name} ({r.type})", _fmt_shape(r.output_shape), f"{r.params:,}",
                 f"{r.non_trainable:,}" if r.non_trainable else "", human(r.macs) if r.macs else ""]
        if summary.convolutional:
            cells += [_fmt_field(r.rf), _fmt_field(r.jump)]
        table.add_row(*cells)
    frozen = summary.non_trainable - summary.buffers
    totals = (f"Total params: {summary.params:,}\n"
                     f"Trainable params: {summary.trainable:,}\n"
                     f"Non-trainable params: {summary.non_trainable:,}"
                     + (f" ({frozen:,} frozen parameters + {summary.buffers:,} batch-norm statistics: buffers, counted "
                        f"here as Keras does; `trainlab train` counts parameters alone: {summary.parameters:,})"
                        if summary.buffers else "") + "\n"
                     f"MACs per image: {summary.macs:,} ({human(summary.macs)}; FLOPs ~ 2 x MACs)\n"
                     f"Input: {_fmt_shape(summary.in_shape)} -> output: {_fmt_shape(summary.output_shape)}")
    return Group(table, Text(totals))


def receptive_fields(model: nn.Module, in_shape: Sequence[int], depth: int | None = None) -> list[dict[str, Any]]:
    """One dict per layer of the summary table (leaves by default, in forward order): name, type,
    rf (input pixels), jump (input pixels between neighbouring units). rf is "all" after global
    pooling or a flatten, None for layers it cannot tell (see field_map).

    Example:
        >>> dilated = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3, dilation=2))
        >>> [f["rf"] for f in receptive_fields(dilated, (1, 16, 16))]
        [3, 7]
    """
    s = summarize(model, in_shape, depth=depth)
    if not s.convolutional:
        raise TrainlabError(f"receptive fields: {type(model).__name__} on inputs {tuple(in_shape)} has no convolution "
                            "or pooling layer; use a convolutional model on (C, H, W) inputs")
    return [{"name": r.name, "type": r.type, "rf": r.rf, "jump": r.jump} for r in s.rows]
