"""Everything built from a config before the first step, and the checks that come first.

`check_config` refuses bad names, bad hyperparameters and options that would silently do
nothing, before any data loads. `build` then loads and selects the data, fits the
preprocessing on the training split, builds the model (transfer learning applied) and the
optimizer with its schedule, and returns them as `Parts`, with the config resolved to what
will really run (the saved config is the truth).
"""
from __future__ import annotations

import difflib
import inspect
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from .. import runs as rf
from ..config import METRICS, Config, check_needs, make_config
from ..errors import TrainlabError

OWN_KEYS = ("lr", "weight_decay", "clip_norm", "clip_value")  # recipe arguments that are config keys of their own
PEAK_KEYS = ("lr", "lr0", "lr_max")  # the rate a schedule starts from or peaks at is the config's lr (lr0, lr_max: old names)


@dataclass
class Parts:
    """Everything built from a config before the first step."""

    cfg: Config
    data: Any  # trainlab.data.datasets.Dataset
    device: torch.device
    model: nn.Module
    preprocess: Any  # fitted Preprocessor
    augment: Any  # Augmentation (may be empty)
    penalty: Callable[[nn.Module], torch.Tensor] | None
    optimizer: Any  # ChainOptimizer
    lr_at: Callable[[float], float]  # epochs (float) -> lr
    steps_per_epoch: int
    segmentation: bool = False
    extras: dict[str, Any] = field(default_factory=dict)
    world: Any = None  # trainlab.distributed.World; None = one plain process
    net: nn.Module | None = None  # what the loop calls: `model`, wrapped in DDP and/or torch.compile

    @property
    def train_net(self) -> nn.Module:
        return self.net if self.net is not None else self.model


def run_config(run: rf.Run) -> Config:
    """A saved run's config; keys that later versions removed are dropped with a notice, not an error."""
    import yaml

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


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainlabError("device 'cuda' requested but no CUDA GPU is visible; use device: cpu or auto")
    return torch.device(name)


# ============================================================== checks before anything loads
def check_config(cfg: Config) -> Config:
    """Refuse unknown names, bad hyperparameters and options that would do nothing; return the
    config resolved to what will run (weight_decay's recipe default, a chain's own lr)."""
    from ..data.augment import build_augmentation
    from ..data.preprocess import PREPROCESSING
    from .losses import check_loss
    from ..models import MODELS
    from ..nn.activations import check_activation
    from ..nn.init import INITS
    from ..nn.layers import NORMS
    from ..optim.penalties import PENALTIES

    MODELS.get(cfg.model)
    check_needs(cfg)
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
    from .tta import check_tta

    check_tta(cfg.tta)
    if cfg.tta and cfg.loss != "cross_entropy":
        raise TrainlabError(f"tta averages class probabilities, which loss: {cfg.loss} does not produce; use "
                            "loss: cross_entropy with tta, or remove tta")
    cfg = resolve_optimizer(cfg)
    probe = [nn.Parameter(torch.zeros(2, 2))]  # a throwaway parameter checks the optimizer and schedule
    make_optimizer(cfg, probe, steps_per_epoch=1)
    return cfg


def resolve_optimizer(cfg: Config) -> Config:
    """Refuse optimizer settings that would be ignored; fill weight_decay (the recipe's default) and a
    chain's own lr into the config, so the saved config says what runs."""
    from ..registry import accepted_kwargs
    from ..optim.recipes import OPTIMIZERS

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


def make_schedule(cfg: Config) -> Callable[[float], float]:
    """lr as a pure function of time in epochs: `schedule` from `lr` over `epochs` (or
    schedule_options.total), shaped by the rest of `schedule_options`, with `warmup_epochs`."""
    from ..optim.schedules import create_schedule

    shape = dict(cfg.schedule_options)
    total = shape.pop("total", cfg.epochs)
    return create_schedule(cfg.schedule, lr=cfg.lr, total=total, warmup=cfg.warmup_epochs, **shape)


def preview_schedule(name: str, options: dict[str, Any] | None = None, *, lr: float | None = None,
                     epochs: float | None = None, warmup_epochs: float = 0.0) -> tuple[Callable[[float], float], Config]:
    """The learning rate a run with these settings would use, as a function of t in epochs, and the
    config it was built from: the same `make_schedule` training calls, so `total` comes from
    `epochs` and the peak from `lr` exactly as in a run (`trainlab schedule` draws it).

        >>> f, cfg = preview_schedule("cosine", lr=0.1, epochs=30)
        >>> f(0.0), round(f(15.0), 4), f(30.0)
        (0.1, 0.05, 0.0)
    """
    values: dict[str, Any] = {"schedule": name, "schedule_options": dict(options or {}),
                              "warmup_epochs": warmup_epochs}
    if lr is not None:
        values["lr"] = lr
    if epochs is not None:
        values["epochs"] = epochs
    cfg = resolve_optimizer(make_config(values, source="schedule"))
    return make_schedule(cfg), cfg


def make_optimizer(cfg: Config, params, steps_per_epoch: int):
    from ..optim.recipes import create_optimizer

    sched = make_schedule(cfg)
    spe = max(1, steps_per_epoch)

    def lr_at_step(step: int) -> float:  # the optimizer counts steps; schedules speak epochs
        return sched(step / spe)

    if isinstance(cfg.optimizer, list):  # a chain spelled out: inject the schedule where no lr is given
        chain = []
        for link in cfg.optimizer:
            if link == "scale_by_lr":
                link = {"scale_by_lr": {"lr": lr_at_step}}
            elif isinstance(link, dict) and "scale_by_lr" in link and "lr" not in (link["scale_by_lr"] or {}):
                link = {"scale_by_lr": {**(link["scale_by_lr"] or {}), "lr": lr_at_step}}
            chain.append(link)
        return create_optimizer(chain, params), sched
    hp: dict[str, Any] = dict(cfg.optimizer_options)
    if cfg.weight_decay is not None:
        hp["weight_decay"] = cfg.weight_decay
    if cfg.clip_norm is not None:
        hp["clip_norm"] = cfg.clip_norm
    if cfg.clip_value is not None:
        hp["clip_value"] = cfg.clip_value
    return create_optimizer(cfg.optimizer, params, lr=lr_at_step, **hp), sched


def make_model(cfg: Config, in_shape: tuple, num_classes: int) -> nn.Module:
    from ..models import create_model
    from ..nn.init import init_model
    from ..nn.layers import set_dropout_mode

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
def load_data(cfg: Config):
    from ..data.datasets import load_dataset

    return load_dataset(cfg.dataset, val_fraction=cfg.val_fraction, seed=cfg.data_seed, **cfg.dataset_options)


def load_data_or_fallback(cfg: Config):
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


def select(cfg: Config, data):
    """The config's selection (classes, train_per_class, train_subset) applied to `data`."""
    from ..data.subset import subset

    return subset(data, classes=cfg.classes, train_per_class=cfg.train_per_class, train_subset=cfg.train_subset,
                  seed=cfg.data_seed, name=cfg.dataset)


# ============================================================== build
def build(cfg: Config, data=None, world=None) -> Parts:
    """Check the config, load and select data, fit preprocessing, build model and optimizer.
    world: this process's place in a distributed run (trainlab.distributed.setup), None for one process."""
    from ..data.augment import build_augmentation, label_risk_warnings
    from ..data.datasets import to_float
    from ..distributed import SINGLE, device_for, sync_batchnorm, wrap
    from ..optim.penalties import create_penalty
    from .transfer import apply_transfer, make_preprocessing
    from .tta import ASSUMES

    cfg = check_config(cfg)
    world = world or SINGLE
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = device_for(world, resolve_device(cfg.device))
    if data is None:
        data, cfg = load_data_or_fallback(cfg)
    data = select(cfg, data)
    segmentation = data.task == "segmentation"
    check_task(cfg, data)
    if cfg.tta and (data.task != "classification" or not data.is_image):
        raise TrainlabError(f"tta: {cfg.tta} averages class probabilities over views of whole images; {cfg.dataset!r} "
                            f"is {data.task}{'' if data.is_image else ' without (C, H, W) images'}: remove tta")
    augment = build_augmentation(cfg.augment)
    tta_assumes = [(op, ASSUMES[op]) for op in cfg.tta if op in ASSUMES]
    for line in label_risk_warnings(augment, cfg.dataset, data.classes, tta_assumes) if world.main else ():  # deck 000
        print(f"trainlab: {line}", file=sys.stderr, flush=True)
    preprocess = make_preprocessing(cfg, lambda: to_float(data.train.x))

    torch.manual_seed(cfg.seed)  # weights are the first draw from the seeded generator
    model = make_model(cfg, data.input_shape, data.num_classes).to(device)
    if cfg.channels_last and data.is_image:
        model = model.to(memory_format=torch.channels_last)
    from ..nn.whitening import fit_whitening, whitening_layers

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
    return Parts(cfg, data, device, model, preprocess, augment, penalty, optimizer,
                 sched, steps_per_epoch, segmentation, world=world, net=net)


def check_task(cfg: Config, data) -> None:
    """The loss and the monitored metric must fit the data's task: one line with the fix when not."""
    from .losses import check_loss_fits

    check_loss_fits(cfg.loss, data.task, cfg.dataset)
    m, task = cfg.monitor, data.task
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


def check_fits(model: nn.Module, data, preprocess, device, cfg: Config) -> None:
    """One forward pass on two examples: a model that does not fit the data fails here, clearly."""
    from ..data.datasets import to_float

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
    # classes: (B, K) scores; segmentation: (B, K, H, W); regression: (B, T) predictions, T targets (`classes`)
    want = (2, data.num_classes) + (tuple(data.input_shape[1:]) if data.task == "segmentation" else ())
    if tuple(out.shape) != want:
        raise TrainlabError(f"model {cfg.model!r} outputs shape {tuple(out.shape[1:])} per example but dataset "
                            f"{cfg.dataset!r} needs {want[1:]}; use a {data.task} model")


def load_weights(model: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    own = model.state_dict()
    missing = [k for k in own if k not in tensors]
    wrong = [k for k in own if k in tensors and tuple(tensors[k].shape) != tuple(own[k].shape)]
    if missing or wrong:
        k = (wrong or missing)[0]
        what = (f"shape {tuple(tensors[k].shape)} where the model has {tuple(own[k].shape)}" if wrong
                else "no entry")
        raise TrainlabError(f"checkpoint {source!r} does not fit the model: {k!r} has {what}; "
                            "use the config the checkpoint was trained with")
    model.load_state_dict({k: tensors[k] for k in own})
