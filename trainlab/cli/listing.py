"""List the names registered for one kind, each with its formula or definition.

`trainlab list` alone lists the kinds; `trainlab list KIND` (singular works too: `list model`)
shows that kind's names and definitions.
"""
from __future__ import annotations

import difflib
import importlib

from rich.markup import escape
from rich.table import Table

from ..console import make_console
from ..errors import TrainlabError

# kind -> (module, registry attributes, what the kind is). Each module owns its registries;
# a kind with two registries (dropouts: variants and modes) shows two tables.
KINDS = {
    "datasets": ("trainlab.data.datasets", ("DATASETS",), "datasets to train on (dataset:)"),
    "preprocessing": ("trainlab.data.preprocess", ("PREPROCESSING",),
                      "input scaling fitted on the training split (preprocessing:)"),
    "augmentations": ("trainlab.data.augment", ("AUGMENTATIONS",),
                      "batched image augmentations (augment: ['name:p=0.5:magnitude=15'])"),
    "models": ("trainlab.models", ("MODELS",), "network architectures (model:)"),
    "activations": ("trainlab.nn.activations", ("ACTIVATIONS",),
                    "activation functions (activation: 'leaky_relu:negative_slope=0.1')"),
    "inits": ("trainlab.nn.init", ("INITS",), "weight initializations (init:)"),
    "norms": ("trainlab.nn.layers", ("NORMS",), "normalization layers (norm:)"),
    "dropouts": ("trainlab.nn.layers", ("DROPOUTS", "DROPOUT_MODES"),
                 "dropout variants and scaling modes (dropout:, dropout_mode:)"),
    "optimizers": ("trainlab.optim.recipes", ("OPTIMIZERS",), "optimizer recipes (optimizer:)"),
    "transforms": ("trainlab.optim.transforms", ("TRANSFORMS",), "links of an optimizer chain (optimizer: [...])"),
    "schedules": ("trainlab.optim.schedules", ("SCHEDULES",), "learning-rate schedules (schedule:)"),
    "penalties": ("trainlab.optim.penalties", ("PENALTIES",), "weight penalties added to the loss (penalty:)"),
    "losses": ("trainlab.training.losses", ("LOSSES",), "data losses, per task (loss:)"),
    "tta": ("trainlab.training.tta", ("TTA",), "test-time augmentation ops (trainlab evaluate --tta hflip,shift)"),
    "techniques": ("trainlab.training.techniques", ("TECHNIQUES",),
                   "training techniques, each a config key (ema:, swa:, lr: find, tta:, augment: mixup / cutmix, "
                   "model_options: whiten / pool_first)"),
    "functions": ("trainlab.optim.trajectory", ("FUNCTIONS",),
                  "2-D test functions for optimizer paths (trainlab trajectories --function)"),
}


def _singular(kind: str) -> str:
    return kind[:-3] + "y" if kind.endswith("ies") else kind[:-1] if kind.endswith("s") else kind


ALIASES = {_singular(k): k for k in KINDS if _singular(k) != k}  # `list model` = `list models`


def kind_name(kind: str) -> str:
    """The kind `kind` names (plural or singular), or a one-line TrainlabError."""
    kind = ALIASES.get(kind, kind)
    if kind not in KINDS:
        close = difflib.get_close_matches(str(kind), list(KINDS) + list(ALIASES), n=1)
        hint = f" (did you mean {ALIASES.get(close[0], close[0])!r}?)" if close else ""
        raise TrainlabError(f"unknown kind {kind!r} for `trainlab list`{hint}; choose one of: {', '.join(KINDS)}")
    return kind


def registries(kind: str) -> list:
    """The registries behind `kind` (one for most kinds; dropouts has variants and modes)."""
    module, attrs, _ = KINDS[kind_name(kind)]
    mod = importlib.import_module(module)
    return [getattr(mod, a) for a in attrs]


def registry(kind: str):
    """The (first) registry behind `kind`."""
    return registries(kind)[0]


def add_arguments(p) -> None:
    p.add_argument("kind", nargs="?", help=f"one of: {', '.join(KINDS)} (none: list the kinds)")


def list_kinds() -> int:
    # plain lines, one per kind, so the list reads the same at any terminal width
    width = max(map(len, KINDS))
    print("trainlab list KIND, where KIND is one of:")
    for kind, (_, _, what) in KINDS.items():
        print(f"  {kind:<{width}}  {what}")
    return 0


def run(args) -> int:
    if args.kind is None:
        return list_kinds()

    kind = kind_name(args.kind)
    console = make_console()
    for reg in registries(kind):
        title = kind if len(KINDS[kind][1]) == 1 else f"{reg.kind}s"
        table = Table(title=f"{title} ({len(reg)})", show_lines=False)
        table.add_column("name", style="bold cyan", no_wrap=True)
        table.add_column("definition")
        for e in reg.entries():
            table.add_row(e.name, escape(e.description))  # descriptions hold [ ] that rich would read as markup
        console.print(table)
    return 0
