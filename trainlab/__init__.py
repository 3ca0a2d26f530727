"""trainlab: train neural networks with the classic techniques and see what each one does.

The flat public API (names are imported lazily, so `import trainlab` stays fast):

    >>> import trainlab
    >>> ds = trainlab.load_dataset("digits")
    >>> model = trainlab.create_model("mlp", in_shape=ds.input_shape, num_classes=ds.num_classes)
    >>> opt = trainlab.create_optimizer("adam", model.parameters(), lr=1e-3)
    >>> lr = trainlab.create_schedule("exponential", lr=0.1, k=0.05)
    >>> run = trainlab.train({"dataset": "digits", "model": "mlp", "epochs": 5})
"""
from __future__ import annotations

import importlib
from typing import Any

from .version import __version__  # noqa: F401  (trainlab.__version__)

_API = {
    "load_dataset": "trainlab.data.datasets",
    "list_datasets": "trainlab.data.datasets",
    "create_model": "trainlab.models",
    "list_models": "trainlab.models",
    "receptive_fields": "trainlab.models.summary",
    "recompute_bn_stats": "trainlab.nn.layers",
    "create_optimizer": "trainlab.optim.recipes",
    "create_schedule": "trainlab.optim.schedules",
    "trajectory": "trainlab.optim.trajectory",
    "descend": "trainlab.optim.trajectory",
    "train": "trainlab.training.run",
    "lr_find": "trainlab.training.lr_find",
    "resume": "trainlab.training.run",
    "evaluate": "trainlab.training.saved",
    "load_runs": "trainlab.runs.table",
    "compare": "trainlab.experiments.compare",
    "Comparison": "trainlab.experiments.compare",
    "ensemble": "trainlab.experiments.ensemble",
    "search": "trainlab.experiments.search",
    "run_claims": "trainlab.experiments.claims.engine",
    "finetune": "trainlab.training.finetune",
    "stylize": "trainlab.style",
    "Run": "trainlab.runs",
    "load_run": "trainlab.runs",
    "Config": "trainlab.config",
    "TrainlabError": "trainlab.errors",
    "load_model": "trainlab.training.saved",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'trainlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
