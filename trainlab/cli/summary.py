"""Print a model's layers, output shapes, parameter counts and MACs per image (like Keras's model.summary()),
and for convolutional models each layer's receptive field and jump in input pixels (RF, Jump).

    trainlab summary resnet20
    trainlab summary convnet --set dilation=2   # same parameters, larger RF
    trainlab summary vgg11 --input 1x28x28 --set width=0.5 --set norm=none
    trainlab summary resnet56 --depth 2          # one row per residual block
"""
from __future__ import annotations

from ..console import make_console
from ..errors import TrainlabError
from ..models import create_model
from ..models.summary import format_summary, summarize
from ..values import parse_pairs


def parse_input(text: str) -> tuple[int, ...]:
    """'3x32x32' -> (3, 32, 32); '64' -> (64,) for tabular models.

    Example:
        >>> parse_input("1x28x28")
        (1, 28, 28)
    """
    parts = text.lower().replace(" ", "").split("x")
    if len(parts) not in (1, 3) or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise TrainlabError(f"--input {text!r}: expected CxHxW such as 3x32x32 (or D such as 64 for tabular data)")
    return tuple(int(p) for p in parts)


def parse_options(items: list[str]) -> dict:
    """['width=0.5', 'channels=[16,32]'] -> {'width': 0.5, 'channels': [16, 32]} (see trainlab.values)."""
    return parse_pairs(items, "--set", "width=0.5")


def add_arguments(p) -> None:
    p.add_argument("model", help="a registered model (see `trainlab list models`)")
    p.add_argument("--input", default="3x32x32", metavar="CxHxW", help="input shape, e.g. 1x28x28 (default 3x32x32)")
    p.add_argument("--classes", type=int, default=10, help="number of classes (default 10)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="model option, e.g. --set width=0.5 (repeatable)")
    p.add_argument("--depth", type=int, default=None,
                   help="group rows at this nesting depth (1 = top-level layers); default: every leaf layer")


def run(args) -> int:
    if args.depth is not None and args.depth < 1:
        raise TrainlabError(f"--depth {args.depth}: must be >= 1 (1 = top-level layers)")
    in_shape = parse_input(args.input)
    model = create_model(args.model, in_shape=in_shape, num_classes=args.classes, **parse_options(args.set))
    summary = summarize(model, in_shape, depth=args.depth)
    make_console().print(format_summary(summary, title=f"{args.model} on {args.input} inputs, {args.classes} classes"))
    return 0
