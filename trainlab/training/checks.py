"""The checks that come before anything loads or trains: a config whose names are unknown, whose
hyperparameters are out of range, or whose options would silently do nothing is refused in one
line with the fix; what passes is resolved to what will run (a recipe's default weight decay, a
chain's own lr), so the saved config is the truth. Checks that need the data or the model
(the task, one forward pass, the loop's periods) come once those are built.
"""
from __future__ import annotations

import difflib
import importlib.util
import inspect

import torch
import yaml
from torch import nn

from .. import runs as rf
from ..config import METRICS, Config, check_needs, make_config
from ..data import Dataset, Preprocessor, build_augmentation, to_float
from ..data.augment import check_box_ops
from ..data.preprocess import PREPROCESSING
from ..errors import TrainlabError
from ..models import MODELS, is_detector, list_models
from ..nn.activations import check_activation
from ..nn.init import INITS
from ..nn.layers import NORMS
from ..optim.penalties import PENALTIES
from ..optim.recipes import OPTIMIZERS
from ..registry import accepted_kwargs
from .loggers import PACKAGES
from .losses import check_loss, check_loss_fits
from .optimizer import make_optimizer
from .tta import check_tta

OWN_KEYS = ("lr", "weight_decay", "clip_norm", "clip_value")  # recipe arguments that are config keys of their own
PEAK_KEYS = ("lr", "lr0", "lr_max")  # the rate a schedule starts from or peaks at is the config's lr (lr0, lr_max: old names)


# ============================================================== checks before anything loads
def check_config(cfg: Config) -> Config:
    """Refuse unknown names, bad hyperparameters and options that would do nothing; return the
    config resolved to what will run (weight_decay's recipe default, a chain's own lr). `lr: find`
    stays: trainlab.train runs the lr finder and sets the lr before it builds the run."""
    MODELS.get(cfg.model)
    check_needs(cfg)
    check_loggers(cfg.loggers)
    check_loss(cfg.loss)
    PREPROCESSING.get(cfg.preprocessing)
    INITS.get(cfg.init)
    if cfg.activation is not None:
        check_activation(cfg.activation)
    if cfg.norm is not None:
        NORMS.get(cfg.norm)
    if cfg.penalty is not None:
        PENALTIES.get(cfg.penalty)
    if (cfg.penalty is None) != (cfg.penalty_strength == 0):
        raise TrainlabError(f"penalty: {cfg.penalty} with penalty_strength: {cfg.penalty_strength} does nothing; "
                            "set both (e.g. penalty: l2 and penalty_strength: 1e-4) or neither")
    if cfg.monitor not in METRICS:
        raise TrainlabError(f"monitor {cfg.monitor!r} is not a metric trainlab logs; choose one of: {', '.join(METRICS)}")
    build_augmentation(cfg.augment)
    check_tta(cfg.tta)
    if cfg.tta and cfg.loss != "cross_entropy":
        raise TrainlabError(f"tta averages class probabilities, which loss: {cfg.loss} does not produce; use "
                            "loss: cross_entropy with tta, or remove tta")
    cfg = resolve_optimizer(cfg)
    probe = [nn.Parameter(torch.zeros(2, 2))]  # a throwaway parameter checks the optimizer and schedule
    opt, _ = make_optimizer(cfg.model_copy(update={"lr": 1.0}) if cfg.lr == "find" else cfg, probe, steps_per_epoch=1)
    if cfg.ema and opt.has_evaluation_point:
        raise TrainlabError(f"ema: {cfg.ema} with optimizer {cfg.optimizer!r}: the optimizer keeps an average of its own "
                            "and is evaluated at it (schedule-free); remove ema")
    if cfg.swa is not None:
        check_swa(cfg, opt.has_evaluation_point)
    return cfg


def check_loggers(loggers: list[str]) -> None:
    """A logger whose package is not installed is refused here, before any data loads, with its install command."""
    for name in loggers:
        if importlib.util.find_spec(PACKAGES[name]) is None:
            raise TrainlabError(f"loggers: [{name}] needs the {PACKAGES[name]} package, which is not installed: "
                                f"pip install -e '.[{name}]' in the trainlab folder (or pip install {PACKAGES[name]})")


def check_swa(cfg: Config, optimizer_averages: bool) -> None:
    """swa must be able to act: an average to take (start_epoch within the run), a schedule it can
    hold at swa.lr, and no other average of the weights scored in its place."""
    swa = cfg.swa
    if swa.start_epoch > cfg.epochs:
        raise TrainlabError(f"swa.start_epoch: {swa.start_epoch} is after the last epoch (epochs: {cfg.epochs}), so "
                            f"nothing would be averaged; use a start_epoch from 1 to {cfg.epochs}")
    if cfg.ema:
        raise TrainlabError(f"swa with ema: {cfg.ema}: both replace the weights that are scored, saved and tested by "
                            "an average of their own (ema: exponential, after every step; swa: equal weights, once an "
                            "epoch from start_epoch), and only one can be the answer; remove ema or swa")
    if optimizer_averages:
        raise TrainlabError(f"swa with optimizer {cfg.optimizer!r}: the optimizer keeps an average of its own and is "
                            "evaluated at it (schedule-free); remove swa or use another optimizer")
    if cfg.early_stopping:
        raise TrainlabError("swa with early_stopping: SWA's answer is its average at the end of the run, which "
                            "stopping early would cut short; remove early_stopping (or swa)")


def resolve_optimizer(cfg: Config) -> Config:
    """Refuse optimizer settings that would be ignored; fill weight_decay (the recipe's default) and a
    chain's own lr into the config, so the saved config says what runs."""

    peak = [k for k in PEAK_KEYS if k in cfg.schedule_options]
    if peak:  # the schedule's peak is the config's lr: a second value here would run while config.yaml says lr
        raise TrainlabError(f"schedule_options.{peak[0]}: a schedule starts from (or peaks at) the run's lr; set lr: "
                            f"{cfg.schedule_options[peak[0]]} instead and remove {peak[0]}")
    if isinstance(cfg.optimizer, list):  # a chain spelled out carries its own clipping and decay
        ignored = [k for k in ("clip_norm", "clip_value", "weight_decay") if getattr(cfg, k)]
        ignored += ["optimizer_options"] if cfg.optimizer_options else []
        if ignored:
            raise TrainlabError(f"{', '.join(ignored)} would be ignored: the optimizer is a chain of links; put "
                                "clipping and decay in the chain (clip_by_global_norm, clip_by_value, add_l2, "
                                "add_decayed_weights) and link options in the links")
        own_lr = [link for link in cfg.optimizer if isinstance(link, dict) and "lr" in (link.get("scale_by_lr") or {})]
        if own_lr and cfg.swa is not None:
            raise TrainlabError("swa.lr would be ignored: the chain's scale_by_lr gives its own lr, which no "
                                "schedule drives; drop lr from scale_by_lr to use the config's lr, schedule and swa")
        if own_lr and (cfg.schedule != "constant" or cfg.warmup_epochs or cfg.schedule_options):
            raise TrainlabError("the chain's scale_by_lr gives its own lr, so schedule, schedule_options and "
                                "warmup_epochs would be ignored; drop lr from scale_by_lr to use them")
        update = {"weight_decay": cfg.weight_decay or 0.0}
        if own_lr:  # the chain's own lr is what runs: the saved config says so
            chain_lr = own_lr[-1]["scale_by_lr"]["lr"]
            if "lr" in cfg.model_fields_set and cfg.lr != chain_lr:
                raise TrainlabError(f"lr: {cfg.lr} would be ignored: the chain's scale_by_lr sets lr {chain_lr}; "
                                    "remove one of them (drop lr from scale_by_lr to use the config's lr and schedule)")
            update["lr"] = chain_lr
        return cfg.model_copy(update=update)
    update = {}
    own = [k for k in OWN_KEYS if k in cfg.optimizer_options]
    if own:
        raise TrainlabError(f"optimizer_options.{own[0]}: set {own[0]} as a key of its own (--set {own[0]}=...), "
                            "not in optimizer_options")
    fn = OPTIMIZERS.get(cfg.optimizer)
    options = [k for k in accepted_kwargs(fn) if k not in OWN_KEYS]
    bad = [k for k in cfg.optimizer_options if k not in options]
    if bad:
        close = difflib.get_close_matches(bad[0], options, n=1)
        raise TrainlabError(f"optimizer_options.{bad[0]} is not an option of optimizer {cfg.optimizer!r}"
                            + (f" (did you mean {close[0]!r}?)" if close else "")
                            + f"; its options: {', '.join(options) or '(none)'}")
    if cfg.weight_decay is None:  # the recipe's own default (adamw: 0.01), written into the saved config
        param = inspect.signature(fn).parameters.get("weight_decay")
        update["weight_decay"] = float(param.default) if param is not None else 0.0
    return cfg.model_copy(update=update) if update else cfg


def run_config(run: rf.Run) -> Config:
    """A saved run's config; keys that later versions removed are dropped with a notice, not an error."""
    try:
        values = run.config
    except yaml.YAMLError:
        raise TrainlabError(f"{str(run.path / 'config.yaml')!r} is not valid YAML; pass another run") from None
    if not isinstance(values, dict):
        raise TrainlabError(f"{str(run.path / 'config.yaml')!r} is not a mapping of key: value; pass another run")
    gone = [k for k in values if k not in Config.model_fields]
    if gone:
        print(f"trainlab: ignoring keys no longer used in {run.path / 'config.yaml'}: {', '.join(gone)}")
    return make_config({k: v for k, v in values.items() if k not in gone}, source=str(run.path / "config.yaml"))


def check_task(cfg: Config, data: Dataset) -> None:
    """The model, the loss, the monitored metric and mixing augmentations (mixup, cutmix: classification
    only) must fit the data's task: one line with the fix when not."""
    m, task = cfg.monitor, data.task
    mixing = [op.name for op in build_augmentation(cfg.augment).ops if op.mixes]
    if mixing and task != "classification":
        raise TrainlabError(f"augment: {mixing[0]} mixes images and their class labels; {cfg.dataset!r} is a {task} "
                            f"task, whose {'masks' if task == 'segmentation' else 'targets'} are not class labels: "
                            f"remove {mixing[0]}")
    if task == "detection" or is_detector(cfg.model):
        return check_detection(cfg, data)
    check_loss_fits(cfg.loss, data.task, cfg.dataset)
    if m in ("val_map50", "val_map"):
        raise TrainlabError(f"monitor {m} needs a detection dataset (shapes-boxes, coco:PATH, yolo:PATH) and "
                            f"model; {cfg.dataset!r} is {task}: use val_loss")
    if m == "val_miou" and task != "segmentation":
        raise TrainlabError(f"monitor val_miou needs a segmentation dataset; {cfg.dataset!r} is {task}: "
                            f"use val_loss{' or val_acc' if task == 'classification' else ''}")
    if m in ("train_acc", "val_acc") and task == "regression":
        raise TrainlabError(f"monitor {m} needs class labels; {cfg.dataset!r} is a regression task, which logs "
                            "losses only: use val_loss")
    if m == "val_top5" and (task != "classification" or data.num_classes <= 5):
        what = f"has {data.num_classes} classes" if task == "classification" else f"is {task}"
        raise TrainlabError(f"monitor val_top5 needs a classification dataset with more than 5 classes; "
                            f"{cfg.dataset!r} {what}: use val_acc or val_loss")


def check_detection(cfg: Config, data: Dataset) -> None:
    """A detection run: a detector on detection data, its own losses (loss and label_smoothing would do
    nothing), a monitor it logs, augmentation that keeps boxes valid, instance masks for mask_rcnn."""
    detectors = ", ".join(list_models("detection"))
    if data.task != "detection":
        raise TrainlabError(f"model {cfg.model!r} is a detector, but dataset {cfg.dataset!r} is {data.task}; train "
                            f"it on detection data (shapes-boxes, coco:PATH, yolo:PATH) or pick another model")
    if not is_detector(cfg.model):
        raise TrainlabError(f"dataset {cfg.dataset!r} is a detection task (boxes); model {cfg.model!r} outputs "
                            f"class scores: use a detector ({detectors})")
    if cfg.loss != "cross_entropy" or cfg.label_smoothing:
        key = "loss" if cfg.loss != "cross_entropy" else "label_smoothing"
        raise TrainlabError(f"{key}: {getattr(cfg, key)} does nothing for detection: {cfg.model} computes its own "
                            f"named losses; remove {key}")
    if cfg.monitor in ("train_acc", "val_acc", "val_top5", "val_miou"):
        raise TrainlabError(f"monitor {cfg.monitor} is not logged by a detection run; use val_map50 (mAP@0.5), "
                            "val_map (mAP@[.5:.95]) or val_loss")
    check_box_ops(build_augmentation(cfg.augment))
    if cfg.model == "mask_rcnn" and data.train.y.shape[-1] <= 5:
        raise TrainlabError(f"mask_rcnn needs instance masks, which {cfg.dataset!r} does not carry here; use "
                            "dataset shapes-boxes with dataset_options: {masks: true}, or faster_rcnn")
    if cfg.model != "mask_rcnn" and data.train.y.shape[-1] > 5:
        raise TrainlabError(f"dataset_options masks: true does nothing for {cfg.model}: only mask_rcnn reads instance "
                            "masks (and they take 4 bytes a pixel); remove masks or use mask_rcnn")
    if cfg.backbone_lr_mult != 1 and cfg.model != "yolo":
        raise TrainlabError(f"backbone_lr_mult: {cfg.backbone_lr_mult} scales every layer but the `head`, and "
                            f"{cfg.model} has no single head (RPN and box head); remove backbone_lr_mult")


def check_periods(cfg: Config, steps_per_epoch: int) -> None:
    """log_every and keep_every must be able to act: one line with the fix when they cannot."""
    eval_every = cfg.eval_every or steps_per_epoch
    ckpt_every = cfg.checkpoint_every or eval_every
    if cfg.log_every > eval_every:
        raise TrainlabError(f"log_every: {cfg.log_every} steps is longer than the evaluation period ({eval_every} "
                            "steps), which logs a row anyway; use a smaller log_every or leave it 0")
    if cfg.keep_every and cfg.keep_every % ckpt_every:
        raise TrainlabError(f"keep_every: {cfg.keep_every} is not a multiple of the checkpoint period "
                            f"({ckpt_every} steps), so some of those steps would have no checkpoint to keep; "
                            f"use a multiple such as {ckpt_every * max(1, round(cfg.keep_every / ckpt_every))}")


def check_fits(model: nn.Module, data: Dataset, preprocess: Preprocessor, device: torch.device,
               cfg: Config) -> None:
    """One forward pass on two examples: a model that does not fit the data fails here, clearly."""
    x = preprocess(to_float(data.train.x[:2]).to(device))
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    except (RuntimeError, ValueError) as e:
        raise TrainlabError(f"model {cfg.model!r} does not fit dataset {cfg.dataset!r} with input shape "
                            f"{tuple(data.input_shape)} ({str(e).splitlines()[0][:120]}); pick a model made for "
                            "this input, see `trainlab list models`") from None
    finally:
        model.train(was)
    if data.task == "detection":  # a list of per-image detections (check_detection matched model and data)
        return
    # classes: (B, K) scores; segmentation: (B, K, H, W); regression: (B, T) predictions, T targets (`classes`)
    want = (2, data.num_classes) + (tuple(data.input_shape[1:]) if data.task == "segmentation" else ())
    if tuple(out.shape) != want:
        raise TrainlabError(f"model {cfg.model!r} outputs shape {tuple(out.shape[1:])} per example but dataset "
                            f"{cfg.dataset!r} needs {want[1:]}; use a {data.task} model")
