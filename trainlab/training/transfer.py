"""Transfer learning (lecture deck 004): start a new run from a trained parent run.

`finetune(parent, dataset=..., classes=..., freeze=..., lr_mult=...)` (trainlab.training.finetune) copies the parent's
config (same model, model options, preprocessing, optimizer, ...), points `init_from` at
the parent, sets the new data and the transfer knobs, and trains it with `trainlab.train`
as a NEW run. The trainer's setup calls `make_preprocessing` and `apply_transfer` below:

  * init_from: the parent's best weights and preprocessing statistics are loaded; the head is
    replaced by a fresh one when the dataset or the classes differ (kept for the same task);
  * freeze: that top-level layer and all before it get requires_grad=False and stay in eval
    mode, so their weights AND batch-norm running statistics stay the parent's, bit for bit;
  * backbone_lr_mult: every non-head layer learns at lr * mult (e.g. 0.1: adapt gently).

What the parent's config contributes and what it does not: the data selection (dataset,
dataset_options, classes, train_per_class, train_subset) and the transfer knobs (init_from,
freeze, backbone_lr_mult) come from the arguments, never from the parent, whose own values
describe how IT was made. Everything else is inherited; `overrides` (`key=value`) win.

    >>> from trainlab.training.finetune import finetune
    >>> child = finetune("runs/pre", classes=[5, 6, 7, 8, 9], train_per_class=100,
    ...                  freeze="block1", lr_mult=0.1, epochs=20)      # doctest: +SKIP
    >>> child.config["init_from"], child.summary["test"]["acc"]       # doctest: +SKIP
"""
from __future__ import annotations

import types
from pathlib import Path
from typing import Any, Callable, Sequence

from torch import nn

from .. import runs as rf
from ..config import Config, apply_overrides, make_config
from ..data import Preprocessor, create_preprocessing
from ..errors import TrainlabError
from ..models import layer_names, load_weights

# keys that describe the parent's own data and its own transfer; a child never inherits them
NOT_INHERITED = ("name", "group", "tags", "dataset_options", "classes", "train_per_class", "train_subset",
                 "init_from", "freeze", "backbone_lr_mult")


def make_preprocessing(cfg: Config, train_x: Callable[[], Any]) -> Preprocessor:
    """The config's preprocessing, fitted on the training split (`train_x()`), or for a fine-tuned
    run its parent's fitted statistics, so the pretrained layers see inputs scaled as they were
    trained on (a few labels give poor statistics)."""
    preprocess = create_preprocessing(cfg.preprocessing, **cfg.preprocessing_options)
    parent = rf.load_run(cfg.init_from) if cfg.init_from is not None else None
    if parent is not None and parent.config.get("preprocessing") == cfg.preprocessing \
            and parent.config.get("preprocessing_options", {}) == cfg.preprocessing_options:
        preprocess.load_state_dict(rf.load_tensors(parent.ckpt_dir / "preprocess.safetensors"))
    else:
        preprocess.fit(train_x())
    return preprocess


def apply_transfer(cfg: Config, model: nn.Module) -> list[dict[str, Any]] | None:
    """Start from a parent run's weights, freeze early layers, and group parameters for lr multipliers.

    Frozen layers get requires_grad=False and stay in eval mode even when the model is put in
    training mode, so their batch-norm running statistics do not drift on the new data.
    Returns optimizer parameter groups, or None when nothing differs from plain training.
    """
    if cfg.init_from is not None:
        parent = rf.load_run(cfg.init_from)
        weights = parent.best_weights()
        own = model.state_dict()
        head_keys = [k for k in own if k.startswith("head.")]
        body = {k: v for k, v in weights.items() if not k.startswith("head.")}
        load_weights(model, {**body, **{k: own[k] for k in head_keys}}, str(parent.ckpt_dir / "best.safetensors"))
        pc = parent.config
        same_task = (pc.get("dataset") == cfg.dataset and pc.get("classes") == cfg.classes
                     and all(k in weights and weights[k].shape == own[k].shape for k in head_keys))
        if same_task:  # the same classes: the trained head still means something; otherwise a fresh one
            model.load_state_dict({k: weights[k] for k in head_keys}, strict=False)
    if cfg.freeze is not None:
        names = layer_names(model)
        if cfg.freeze not in names:
            raise TrainlabError(f"freeze: {cfg.freeze!r} is not a top-level layer of {cfg.model!r}; "
                                f"choose one of: {', '.join(names[:-1])}")
        if cfg.freeze == names[-1]:
            raise TrainlabError(f"freeze: {cfg.freeze!r} would freeze the head too; freeze an earlier layer")
        for name in names[: names.index(cfg.freeze) + 1]:
            freeze_module(getattr(model, name))
    if cfg.backbone_lr_mult == 1.0:
        return None
    head = [p for n, p in model.named_parameters() if n.startswith("head.") and p.requires_grad]
    body = [p for n, p in model.named_parameters() if not n.startswith("head.") and p.requires_grad]
    return [{"params": body, "lr_mult": cfg.backbone_lr_mult}, {"params": head, "lr_mult": 1.0}]


def freeze_module(m: nn.Module) -> None:
    """requires_grad=False, and eval mode that `model.train()` cannot undo (frozen BN statistics)."""
    for p in m.parameters():
        p.requires_grad_(False)
    m.train = types.MethodType(lambda self, mode=True: nn.Module.train(self, False), m)  # always eval
    m.train(False)


def parent_run(run: str | Path | rf.Run) -> rf.Run:
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
    parent = parent_run(run)
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
