"""Transfer learning (lecture deck 004): start a new run from a trained parent run.

`finetune(parent, dataset=..., classes=..., freeze=..., lr_mult=...)` copies the parent's
config (same model, model options, preprocessing, optimizer, ...), points `init_from` at
the parent, sets the new data and the transfer knobs, and trains it with `trainlab.train`
as a NEW run. The trainer does the work (`apply_transfer` in trainlab/trainer.py):

  * init_from: the parent's best weights and preprocessing statistics are loaded; the head is
    replaced by a fresh one when the dataset or the classes differ (kept for the same task);
  * freeze: that top-level layer and all before it get requires_grad=False and stay in eval
    mode, so their weights AND batch-norm running statistics stay the parent's, bit for bit;
  * backbone_lr_mult: every non-head layer learns at lr * mult (e.g. 0.1: adapt gently).

What the parent's config contributes and what it does not: the data selection (dataset,
dataset_options, classes, train_per_class, train_subset) and the transfer knobs (init_from,
freeze, backbone_lr_mult) come from the arguments, never from the parent, whose own values
describe how IT was made. Everything else is inherited; `overrides` (`key=value`) win.

    >>> from trainlab.transfer import finetune
    >>> child = finetune("runs/pre", classes=[5, 6, 7, 8, 9], train_per_class=100,
    ...                  freeze="block1", lr_mult=0.1, epochs=20)      # doctest: +SKIP
    >>> child.config["init_from"], child.summary["test"]["acc"]       # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from . import runs as rf
from .config import Config, apply_overrides, make_config
from .errors import TrainlabError

# keys that describe the parent's own data and its own transfer; a child never inherits them
NOT_INHERITED = ("name", "dataset_options", "classes", "train_per_class", "train_subset",
                 "init_from", "freeze", "backbone_lr_mult")


def _parent(run: str | Path | rf.Run) -> rf.Run:
    parent = run if isinstance(run, rf.Run) else rf.load_run(run)
    has_weights = (parent.ckpt_dir / "best.safetensors").is_file() or (parent.ckpt_dir / "latest.json").is_file()
    if not has_weights:
        raise TrainlabError(f"run {str(parent.path)!r} has no weights yet (no checkpoints/best.safetensors); "
                            "fine-tune from a run that trained for at least one evaluation")
    return parent


def finetune_config(run: str | Path | rf.Run, *, dataset: str | None = None, classes: Sequence[int] | None = None,
                    train_per_class: int | None = None, freeze: str | None = None, lr_mult: float | None = None,
                    epochs: int | None = None, name: str | None = None, runs_dir: str | Path | None = None,
                    overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The child's config dict (validated): the parent's config + the new data + the transfer knobs.

    The child goes next to the parent (same runs folder) unless `runs_dir` or `--set runs_dir=` says
    otherwise; its default name is `<parent>-ft` (never reusing an existing folder).
    """
    parent = _parent(run)
    try:
        cfg = dict(parent.config)
    except Exception:  # yaml errors of several kinds
        raise TrainlabError(f"{str(parent.path / 'config.yaml')!r} is not valid YAML; "
                            "the parent cannot be used") from None
    if not isinstance(cfg, dict):
        raise TrainlabError(f"{str(parent.path / 'config.yaml')!r} is not a mapping; the parent cannot be used")
    cfg = {k: v for k, v in cfg.items() if k in Config.model_fields}  # keys an older trainlab wrote are dropped
    if dataset is not None and dataset != cfg.get("dataset"):
        cfg["dataset_options"] = {}
    for key in NOT_INHERITED:
        cfg.pop(key, None)
    cfg.update({
        "name": name or f"{parent.name}-ft",
        "runs_dir": str(runs_dir if runs_dir is not None else parent.path.resolve().parent),
        "init_from": str(parent.path),
        "classes": list(classes) if classes is not None else None,
        "train_per_class": train_per_class,
        "freeze": freeze,
        "backbone_lr_mult": 1.0 if lr_mult is None else lr_mult,
    })
    if dataset is not None:
        cfg["dataset"] = dataset
    if epochs is not None:
        cfg["epochs"] = epochs
    cfg = apply_overrides(cfg, list(overrides))
    return make_config(cfg, source="finetune").resolved()


def finetune(run: str | Path | rf.Run, *, quiet: bool = False, **kw: Any) -> rf.Run:
    """Fine-tune parent run `run` as a new run; keyword arguments as in `finetune_config`.

    Returns the new Run; its config.yaml records `init_from: <parent>`.

    Example:
        >>> child = finetune("runs/mlp-digits", dataset="digits", classes=[5, 6, 7, 8, 9],
        ...                  freeze="fc1", epochs=5)                      # doctest: +SKIP
    """
    from .trainer import train

    parent = _parent(run)
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
