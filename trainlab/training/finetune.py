"""`trainlab.finetune`: a trained run's model, trained again on new data or classes as a new run
(transfer learning, deck 004). What is inherited and what is not: trainlab.training.transfer.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import runs as rf
from .run import train
from .transfer import finetune_config, parent_run


def finetune(run: str | Path | rf.Run, *, quiet: bool = False, **kw: Any) -> rf.Run:
    """Fine-tune parent run `run` as a new run; keyword arguments as in `finetune_config`.

    Returns the new Run; its config.yaml records `init_from: <parent>`.

    Example:
        >>> child = finetune("runs/mlp-digits", dataset="digits", classes=[5, 6, 7, 8, 9],
        ...                  freeze="fc1", epochs=5)                      # doctest: +SKIP
    """
    parent = parent_run(run)
    cfg = finetune_config(parent, **kw)
    if not quiet:
        what = [f"dataset {cfg['dataset']}"]
        if cfg["classes"] is not None:
            what.append(f"classes {cfg['classes']}")
        if cfg["train_per_class"] is not None:
            what.append(f"{cfg['train_per_class']} per class")
        what.append(f"freeze {cfg['freeze'] or 'nothing'}")
        what.append(f"backbone lr x{cfg['backbone_lr_mult']:g}")
        print(f"parent: {parent.path}  ({parent.config.get('model')} on {parent.config.get('dataset')}, "
              f"test acc {parent.summary.get('test', {}).get('acc', float('nan')):.4f})")
        print(f"fine-tune: {', '.join(what)}, {cfg['epochs']} epochs", flush=True)
    return train(cfg, quiet=quiet)
