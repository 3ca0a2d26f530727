"""List the names registered for one kind, each with its formula or definition."""
from __future__ import annotations

import importlib

from ..errors import TrainlabError

NAME = "list"
HELP = "list datasets, models, augmentations, activations, inits, optimizers, schedules, ..."
ORDER = 50

# kind -> (module, registry attribute). Each module owns its registry.
KINDS = {
    "datasets": ("trainlab.data.datasets", "DATASETS"),
    "preprocessing": ("trainlab.data.preprocess", "PREPROCESSING"),
    "augmentations": ("trainlab.data.augment", "AUGMENTATIONS"),
    "activations": ("trainlab.nn.activations", "ACTIVATIONS"),
    "inits": ("trainlab.nn.init", "INITS"),
    "norms": ("trainlab.nn.layers", "NORMS"),
    "models": ("trainlab.models", "MODELS"),
    "optimizers": ("trainlab.optim.recipes", "OPTIMIZERS"),
    "transforms": ("trainlab.optim.transforms", "TRANSFORMS"),
    "schedules": ("trainlab.optim.schedules", "SCHEDULES"),
    "penalties": ("trainlab.optim.penalties", "PENALTIES"),
}


def registry(kind: str):
    if kind not in KINDS:
        raise TrainlabError(f"unknown kind {kind!r} for `trainlab list`; choose one of: {', '.join(KINDS)}")
    module, attr = KINDS[kind]
    return getattr(importlib.import_module(module), attr)


def add_arguments(p) -> None:
    p.add_argument("kind", help=f"one of: {', '.join(KINDS)}")


def run(args) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    reg = registry(args.kind)
    table = Table(title=f"{args.kind} ({len(reg)})", show_lines=False)
    table.add_column("name", style="bold cyan", no_wrap=True)
    table.add_column("definition")
    for e in reg.entries():
        table.add_row(e.name, escape(e.description))  # descriptions hold [ ] that rich would read as markup
    Console().print(table)
    return 0
