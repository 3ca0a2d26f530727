"""Everything built from a config before the first step, as typed bundles.

`build(cfg)` checks the config (trainlab.training.checks), loads and selects the data, fits the
preprocessing on the training split, builds the model (transfer learning applied) and the
optimizer with its schedule, and returns a `Training` bundle whose config is resolved to what
will really run (the saved config is the truth). Reopening a saved run for inference gives the
smaller `Inference` bundle (trainlab.training.saved).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import torch
from torch import nn

from ..config import Config
from ..data import Augmentation, Dataset, Preprocessor, build_augmentation, label_risk_warnings, load_dataset, to_float
from ..data.subset import subset
from ..distributed import SINGLE, World, device_for, sync_batchnorm, wrap
from ..errors import TrainlabError
from ..models import create_model
from ..nn.init import init_model
from ..nn.layers import set_dropout_mode
from ..nn.whitening import fit_whitening, whitening_layers
from ..optim.optimizer import ChainOptimizer
from ..optim.penalties import Penalty, create_penalty
from ..optim.schedules import Schedule
from .checks import check_config, check_fits, check_periods, check_task
from .optimizer import make_optimizer
from .transfer import apply_transfer, make_preprocessing
from .tta import ASSUMES


@dataclass
class Inference:
    """What a model needs to predict: the resolved config, the selected data, the device, the model,
    and the preprocessing fitted on the training split. Reopening a saved run gives this."""

    cfg: Config
    data: Dataset
    device: torch.device
    model: nn.Module
    preprocess: Preprocessor

    @property
    def segmentation(self) -> bool:
        return self.data.task == "segmentation"

    @property
    def detection(self) -> bool:
        return self.data.task == "detection"


@dataclass
class Training(Inference):
    """What the loop needs besides: augmentation, the penalty, the optimizer and its schedule, this
    process's place in a distributed run, and `net`, what the loop calls (the model, wrapped in DDP
    and/or torch.compile when asked)."""

    augment: Augmentation
    penalty: Penalty | None
    optimizer: ChainOptimizer
    lr_at: Schedule  # epochs (float) -> lr
    steps_per_epoch: int
    world: World
    net: nn.Module


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainlabError("device 'cuda' requested but no CUDA GPU is visible; use device: cpu or auto")
    return torch.device(name)


def make_model(cfg: Config, in_shape: tuple, num_classes: int) -> nn.Module:
    kw = dict(cfg.model_options)
    for key in ("activation", "norm", "dropout"):
        if getattr(cfg, key) is not None:
            kw[key] = getattr(cfg, key)
    model = create_model(cfg.model, in_shape=tuple(in_shape), num_classes=num_classes, **kw)
    if cfg.init != "default":
        init_model(model, cfg.init, nonlinearity=cfg.activation or "relu")
    if cfg.dropout_mode != "inverted" and set_dropout_mode(model, cfg.dropout_mode) == 0:
        raise TrainlabError(f"dropout_mode: {cfg.dropout_mode} does nothing: {cfg.model!r} has no dropout "
                            "layer here; set dropout (e.g. 0.5) or remove dropout_mode")
    return model


# ============================================================== data
def load_data(cfg: Config) -> Dataset:
    return load_dataset(cfg.dataset, val_fraction=cfg.val_fraction, seed=cfg.data_seed, **cfg.dataset_options)


def load_data_or_fallback(cfg: Config) -> tuple[Dataset, Config]:
    """Load `dataset`; if it cannot be had and `fallback_dataset` is set, say why and use that instead."""
    try:
        return load_data(cfg), cfg
    except TrainlabError as e:
        if not cfg.fallback_dataset or cfg.fallback_dataset == cfg.dataset:
            raise
        print(f"trainlab: {cfg.dataset} is not available here ({e}).\n"
              f"trainlab: training on {cfg.fallback_dataset!r} instead (fallback_dataset).", flush=True)
        cfg = cfg.model_copy(update={"dataset": cfg.fallback_dataset, "dataset_options": {}, "fallback_dataset": None})
        data = load_data(cfg)
        if cfg.train_subset is not None and cfg.train_subset > len(data.train.y):  # sized for the other dataset
            print(f"trainlab: train_subset {cfg.train_subset} dropped: {cfg.dataset!r} has {len(data.train.y):,} "
                  "training examples in all", flush=True)
            cfg = cfg.model_copy(update={"train_subset": None})
        return data, cfg


def select(cfg: Config, data: Dataset) -> Dataset:
    """The config's selection (classes, train_per_class, train_subset) applied to `data`."""
    return subset(data, classes=cfg.classes, train_per_class=cfg.train_per_class, train_subset=cfg.train_subset,
                  seed=cfg.data_seed, name=cfg.dataset)


# ============================================================== build
def build(cfg: Config, data: Dataset | None = None, world: World | None = None, warn: bool = True) -> Training:
    """Check the config, load and select data, fit preprocessing, build model and optimizer.
    world: this process's place in a distributed run (trainlab.distributed.setup), None for one process.
    warn=False: no label-risk warnings (the lr finder's build; the run's own build says them)."""
    cfg = check_config(cfg)
    if cfg.lr == "find":
        raise TrainlabError("lr: find is set by trainlab.train, which runs the lr finder before it builds the run; "
                            "call trainlab.lr_find(config) and set lr to its suggestion")
    world = world or SINGLE
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = device_for(world, resolve_device(cfg.device))
    if data is None:
        data, cfg = load_data_or_fallback(cfg)
    data = select(cfg, data)
    check_task(cfg, data)
    if data.task == "detection" and world.distributed:
        raise TrainlabError("detection trains in one process: its mAP ranks the boxes of the whole validation split "
                            "together; remove --nproc")
    if cfg.tta and (data.task != "classification" or not data.is_image):
        raise TrainlabError(f"tta: {cfg.tta} averages class probabilities over views of whole images; {cfg.dataset!r} "
                            f"is {data.task}{'' if data.is_image else ' without (C, H, W) images'}: remove tta")
    augment = build_augmentation(cfg.augment)
    tta_assumes = [(op, ASSUMES[op]) for op in cfg.tta if op in ASSUMES]
    # deck 000: augmentations (and tta views) that can change labels, one warning line each
    for line in label_risk_warnings(augment, cfg.dataset, data.classes, tta_assumes) if world.main and warn else ():
        print(f"trainlab: {line}", file=sys.stderr, flush=True)
    preprocess = make_preprocessing(cfg, lambda: to_float(data.train.x))

    torch.manual_seed(cfg.seed)  # weights are the first draw from the seeded generator
    model = make_model(cfg, data.input_shape, data.num_classes).to(device)
    if cfg.channels_last and data.is_image:
        model = model.to(memory_format=torch.channels_last)
    if whitening_layers(model):  # fixed layers fitted on (up to 10,000) preprocessed training images
        fit_whitening(model, preprocess(to_float(data.train.x[:10_000]).to(device)))
    check_fits(model, data, preprocess, device, cfg)
    if cfg.sync_bn and sync_batchnorm(model, device) == 0:
        raise TrainlabError(f"sync_bn: true does nothing: {cfg.model!r} has no batch norm here; remove sync_bn "
                            "or set norm: batch")

    groups = apply_transfer(cfg, model)
    steps_per_epoch = max(1, len(data.train.y) // cfg.batch_size)
    check_periods(cfg, steps_per_epoch)
    params = groups if groups is not None else [p for p in model.parameters() if p.requires_grad]
    optimizer, sched = make_optimizer(cfg, params, steps_per_epoch)
    penalty = create_penalty(cfg.penalty, cfg.penalty_strength, beta=cfg.penalty_beta) if cfg.penalty else None
    net = wrap(model, world, device)
    if cfg.compile:
        net = torch.compile(net)
    return Training(cfg, data, device, model, preprocess, augment, penalty, optimizer, sched, steps_per_epoch, world,
                    net)
