"""`train(config) -> Run`: the training loop, read top to bottom.

setup (data, preprocessing, model, loss, penalty, optimizer, schedule) -> one loop:
slice a batch, augment, preprocess, forward, loss + penalty, backward, step (the
optimizer chain clips and records the gradient norm), evaluate, early-stop check,
checkpoint, log. Everything a resumed run needs (weights, optimizer, RNG, data order,
augmentation and early-stopping state) is in the checkpoint, so a run killed at any
point and resumed ends with the same weights, bit for bit, on CPU.

    >>> run = trainlab.train({"dataset": "digits", "model": "mlp", "epochs": 3})  # doctest: +SKIP
    >>> run.summary["test"]["acc"]                                              # doctest: +SKIP
"""
from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
import yaml
from torch import nn

from . import runs as rf
from .config import Config, load_config, make_config
from .errors import TrainlabError


# ============================================================== setup
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


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainlabError("device 'cuda' requested but no CUDA GPU is visible; use device: cpu or auto")
    return torch.device(name)


def check_names(cfg: Config) -> None:
    """Fail on unknown names and bad hyperparameters before loading data or training."""
    from .data.augment import build_augmentation
    from .data.preprocess import PREPROCESSING
    from .models import MODELS
    from .nn.activations import ACTIVATIONS
    from .nn.init import INITS
    from .nn.layers import NORMS
    from .optim.penalties import PENALTIES

    MODELS.get(cfg.model)
    PREPROCESSING.get(cfg.preprocessing)
    INITS.get(cfg.init)
    if cfg.activation is not None:
        ACTIVATIONS.get(cfg.activation)
    if cfg.norm is not None:
        NORMS.get(cfg.norm)
    if cfg.penalty is not None:
        PENALTIES.get(cfg.penalty)
    build_augmentation(cfg.augment)
    # a throwaway parameter checks optimizer, clipping and schedule hyperparameters
    probe = [nn.Parameter(torch.zeros(2, 2))]
    make_optimizer(cfg, probe, steps_per_epoch=1)


def make_schedule(cfg: Config) -> Callable[[float], float]:
    """lr as a pure function of time in epochs, from `schedule`, `lr` and `schedule_options`."""
    from .optim.schedules import SCHEDULES, create_schedule

    hp = dict(cfg.schedule_options)
    params = inspect.signature(SCHEDULES.get(cfg.schedule)).parameters
    for key in ("lr0", "lr_max", "lr"):
        if key in params and key not in hp:
            hp[key] = cfg.lr
            break
    if "total" in params and "total" not in hp:
        hp["total"] = cfg.epochs
    if cfg.warmup_epochs > 0:
        hp["warmup"] = cfg.warmup_epochs
    return create_schedule(cfg.schedule, **hp)


def make_optimizer(cfg: Config, params, steps_per_epoch: int):
    from .optim.recipes import create_optimizer

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
    if cfg.weight_decay:
        hp["weight_decay"] = cfg.weight_decay
    if cfg.clip_norm is not None:
        hp["clip_norm"] = cfg.clip_norm
    if cfg.clip_value is not None:
        hp["clip_value"] = cfg.clip_value
    return create_optimizer(cfg.optimizer, params, lr=lr_at_step, **hp), sched


def make_model(cfg: Config, in_shape: tuple, num_classes: int) -> nn.Module:
    from .models import create_model
    from .nn.init import init_model

    kw = dict(cfg.model_options)
    for key in ("activation", "norm", "dropout"):
        if getattr(cfg, key) is not None:
            kw[key] = getattr(cfg, key)
    model = create_model(cfg.model, in_shape=tuple(in_shape), num_classes=num_classes, **kw)
    if cfg.init != "default":
        init_model(model, cfg.init, nonlinearity=cfg.activation or "relu")
    return model


def load_data(cfg: Config):
    from .data.datasets import load_dataset

    data = load_dataset(cfg.dataset, val_fraction=cfg.val_fraction, seed=cfg.data_seed, **cfg.dataset_options)
    Split = type(data.train)
    if cfg.classes is not None:
        if data.task != "classification":
            raise TrainlabError(f"classes: {cfg.classes} selects classes of a classification dataset; "
                                f"{cfg.dataset!r} is {data.task}")
        bad = [c for c in cfg.classes if not 0 <= c < data.num_classes]
        if bad or len(set(cfg.classes)) != len(cfg.classes) or len(cfg.classes) < 2:
            raise TrainlabError(f"classes: {cfg.classes} must be two or more distinct ids in 0..{data.num_classes - 1}")
        lut = torch.full((data.num_classes,), -1, dtype=torch.int64)
        lut[torch.tensor(cfg.classes)] = torch.arange(len(cfg.classes))
        for split in ("train", "val", "test"):
            s = getattr(data, split)
            keep = lut[s.y] >= 0
            setattr(data, split, Split(s.x[keep], lut[s.y[keep]]))
        data.classes = [data.classes[c] for c in cfg.classes]
    g = torch.Generator().manual_seed(cfg.data_seed)
    if cfg.train_per_class is not None and data.task == "classification":
        order = torch.randperm(len(data.train.y), generator=g)
        y = data.train.y[order]
        # rank of each example within its class, in the seeded order: keep the first train_per_class
        onehot = F.one_hot(y, data.num_classes)
        rank = (onehot.cumsum(0) * onehot).sum(1) - 1
        keep = order[rank < cfg.train_per_class].sort().values
        data.train = Split(data.train.x[keep], data.train.y[keep])
    if cfg.train_subset is not None and cfg.train_subset < len(data.train.y):
        keep = torch.randperm(len(data.train.y), generator=g)[: cfg.train_subset].sort().values
        data.train = Split(data.train.x[keep], data.train.y[keep])
    return data


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
        return load_data(cfg), cfg


def apply_transfer(cfg: Config, model: nn.Module, num_classes: int) -> list[dict[str, Any]] | None:
    """Start from a parent run's weights, freeze early layers, and group parameters for lr multipliers.

    Frozen layers get requires_grad=False and stay in eval mode even when the model is put in
    training mode, so their batch-norm running statistics do not drift on the new data.
    Returns optimizer parameter groups, or None when nothing differs from plain training.
    """
    from .models import layer_names

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
    import types

    for p in m.parameters():
        p.requires_grad_(False)
    m.train = types.MethodType(lambda self, mode=True: nn.Module.train(self, False), m)  # always eval
    m.train(False)


def build(cfg: Config, data=None) -> Parts:
    """Validate names, load data, fit preprocessing, build model and optimizer."""
    from .data.augment import build_augmentation
    from .data.datasets import to_float
    from .data.preprocess import create_preprocessing
    from .optim.penalties import create_penalty

    check_names(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    if data is None:
        data, cfg = load_data_or_fallback(cfg)
    segmentation = data.task == "segmentation"

    # preprocessing statistics come from the training split alone; a fine-tuned run reuses its parent's,
    # so the pretrained layers see inputs scaled as they were trained on (few labels give poor statistics)
    preprocess = create_preprocessing(cfg.preprocessing, **cfg.preprocessing_options)
    parent = rf.load_run(cfg.init_from) if cfg.init_from is not None else None
    if parent is not None and parent.config.get("preprocessing") == cfg.preprocessing \
            and parent.config.get("preprocessing_options", {}) == cfg.preprocessing_options:
        preprocess.load_state_dict(rf.load_tensors(parent.ckpt_dir / "preprocess.safetensors"))
    else:
        preprocess.fit(to_float(data.train.x))

    torch.manual_seed(cfg.seed)  # weights are the first draw from the seeded generator
    model = make_model(cfg, data.input_shape, data.num_classes).to(device)
    if cfg.channels_last and data.is_image:
        model = model.to(memory_format=torch.channels_last)
    check_fits(model, data, preprocess, device, cfg)

    groups = apply_transfer(cfg, model, data.num_classes)
    n = len(data.train.y)
    steps_per_epoch = max(1, n // cfg.batch_size)
    params = groups if groups is not None else [p for p in model.parameters() if p.requires_grad]
    optimizer, sched = make_optimizer(cfg, params, steps_per_epoch)
    penalty = None
    if cfg.penalty is not None and cfg.penalty_strength > 0:
        penalty = create_penalty(cfg.penalty, cfg.penalty_strength, beta=cfg.penalty_beta)
    return Parts(cfg, data, device, model, preprocess, build_augmentation(cfg.augment), penalty, optimizer,
                 sched, steps_per_epoch, segmentation)


def check_fits(model: nn.Module, data, preprocess, device, cfg: Config) -> None:
    """One forward pass on two examples: a model that does not fit the data fails here, clearly."""
    from .data.datasets import to_float

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
    want = (2, data.num_classes) + (tuple(data.input_shape[1:]) if data.task == "segmentation" else ())
    if tuple(out.shape) != want:
        raise TrainlabError(f"model {cfg.model!r} outputs shape {tuple(out.shape[1:])} per example but dataset "
                            f"{cfg.dataset!r} needs {want[1:]}; use a {'segmentation' if data.task == 'segmentation' else 'classification'} model")


# ============================================================== metrics
def loss_fn(out: torch.Tensor, y: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    # classification: out (B, K), y (B,); segmentation: out (B, K, H, W), y (B, H, W)
    return F.cross_entropy(out.float(), y, label_smoothing=label_smoothing)


@torch.no_grad()
def evaluate_split(p: Parts, x_all: torch.Tensor, y_all: torch.Tensor, collect: bool = False) -> dict[str, Any]:
    """Mean loss and accuracy (plus pixel accuracy and mean IoU for segmentation) over a split."""
    from .data.datasets import to_float

    model, cfg = p.model, p.cfg
    was = model.training
    model.eval()
    k = p.data.num_classes
    loss_sum = torch.zeros((), dtype=torch.float64, device=p.device)
    correct = torch.zeros((), dtype=torch.int64, device=p.device)
    conf = torch.zeros(k, k, dtype=torch.int64, device=p.device)  # rows: true class, columns: predicted
    count = 0
    preds = []
    for i in range(0, len(y_all), cfg.eval_batch_size):
        x = p.preprocess(to_float(x_all[i:i + cfg.eval_batch_size].to(p.device)))
        y = y_all[i:i + cfg.eval_batch_size].to(p.device)
        if cfg.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(p):
            out = model(x)
        # the training loss function (label smoothing included), so train and validation curves compare
        loss_sum += F.cross_entropy(out.float(), y, reduction="sum", label_smoothing=cfg.label_smoothing) / y[0].numel()
        pred = out.argmax(1)
        correct += (pred == y).sum()
        conf += torch.bincount((y * k + pred).flatten(), minlength=k * k).view(k, k)
        count += y.numel()
        if collect:
            preds.append(pred.cpu())
    model.train(was)
    n = len(y_all)
    res: dict[str, Any] = {"loss": float(loss_sum) / max(1, n), "acc": float(correct) / max(1, count)}
    if p.segmentation:
        inter = conf.diag().double()
        union = conf.sum(0).double() + conf.sum(1).double() - inter
        present = union > 0
        res["miou"] = float((inter[present] / union[present]).mean()) if present.any() else 0.0
    if collect:
        res["confusion"] = conf.cpu()
        res["pred"] = torch.cat(preds) if preds else torch.empty(0)
    return res


def autocast(p: Parts):
    return torch.autocast(p.device.type, dtype=torch.bfloat16, enabled=p.cfg.precision == "bf16")


class EarlyStopping:
    """Tracks the best value of the monitored metric; `bad` counts evaluations without improvement."""

    def __init__(self, monitor: str, patience: int, min_delta: float):
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.mode = "min" if monitor.endswith("loss") else "max"
        self.best: float | None = None
        self.best_epoch: float | None = None
        self.best_step = 0
        self.bad = 0

    def update(self, value: float, epoch: float, step: int) -> bool:
        """Record one evaluation; True if it is the new best."""
        better = self.best is None or (
            value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta)
        if better:
            self.best, self.best_epoch, self.best_step, self.bad = value, epoch, step, 0
        else:
            self.bad += 1
        return better

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "best_step": self.best_step, "bad": self.bad}

    def load(self, s: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.best_step, self.bad = s["best"], s["best_epoch"], s["best_step"], s["bad"]


# ============================================================== the run
def train(config: Config | dict | str | Path, *, quiet: bool = False, overrides: list[str] | None = None,
          data=None) -> rf.Run:
    """Train from a config (a Config, a dict, or a YAML path) and return the finished Run.

    >>> run = train({"dataset": "digits", "model": "mlp", "epochs": 2}, quiet=True)  # doctest: +SKIP
    """
    if isinstance(config, (str, Path)):
        cfg = load_config(config, overrides)
    elif isinstance(config, dict):
        cfg = load_config(None, overrides, **config)
    else:
        cfg = load_config(None, overrides, **config.model_dump()) if overrides else config
    parts = build(cfg, data=data)
    cfg = parts.cfg  # the dataset may have fallen back
    name = cfg.name or f"{cfg.model}-{cfg.dataset.split(':')[-1].split('/')[-1]}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = rf.new_run_dir(cfg.runs_dir, name)
    resolved = cfg.resolved()
    resolved["name"] = run_dir.name
    rf.write_text(run_dir / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))
    rf.write_json(run_dir / "env.json", rf.environment(cfg.seed, str(parts.device), torch.get_num_threads()))
    rf.save_tensors(run_dir / "checkpoints" / "preprocess.safetensors", parts.preprocess.state_dict())
    return fit(parts, rf.Run(run_dir), resume_state=None, quiet=quiet)


def resume(run_path: str | Path, *, quiet: bool = False) -> rf.Run:
    """Continue an interrupted run from its newest checkpoint."""
    run = rf.load_run(run_path)
    status = run.summary.get("status")
    if status in ("finished", "early_stopped"):
        raise TrainlabError(f"run {str(run.path)!r} already finished ({status}); start a new run with `trainlab train`")
    weights_path, state_path = run.latest_checkpoint()
    try:
        cfg = run_config(run)
    except yaml.YAMLError:
        raise TrainlabError(f"{str(run.path / 'config.yaml')!r} is not valid YAML; the run cannot be resumed") from None
    parts = build(cfg)
    parts.preprocess.load_state_dict(rf.load_tensors(run.ckpt_dir / "preprocess.safetensors"))
    load_weights(parts.model, rf.load_tensors(weights_path), str(weights_path))
    state = rf.load_state(state_path)
    try:
        parts.optimizer.load_state_dict(state["optimizer"])
    except (KeyError, ValueError, RuntimeError) as e:
        raise TrainlabError(f"checkpoint state {str(state_path)!r} does not match the optimizer ({e}); "
                            "the run's config changed since the checkpoint was written") from None
    return fit(parts, run, resume_state=state, quiet=quiet)


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


def fit(p: Parts, run: rf.Run, resume_state: dict[str, Any] | None, quiet: bool) -> rf.Run:
    from .data.datasets import to_float
    from .diagnostics import Diagnostics
    from .report.progress import Progress

    cfg, model, opt, dev = p.cfg, p.model, p.optimizer, p.device
    ckpt_dir = run.ckpt_dir
    train_x, train_y = p.data.train.x.to(dev), p.data.train.y.to(dev)  # uint8 images stay small in memory
    n, bsz, spe = len(train_y), min(cfg.batch_size, len(train_y)), p.steps_per_epoch
    total_steps = cfg.epochs * spe
    eval_every = cfg.eval_every or spe
    ckpt_every = cfg.checkpoint_every or eval_every

    # ---- state a checkpoint restores
    step, batch_in_epoch = 0, 0
    order_gen = torch.Generator().manual_seed(cfg.seed)  # data order
    aug_gen = torch.Generator().manual_seed(cfg.seed + 1_000_003)  # augmentation draws
    epoch_order_state = order_gen.get_state()
    es = EarlyStopping(cfg.monitor, cfg.patience, cfg.min_delta)
    sums = {"loss": 0.0, "correct": 0, "count": 0, "examples": 0, "gnorm": 0.0, "steps": 0, "time": 0.0}
    log = rf.MetricsLog(run.path)
    diag = Diagnostics(model, p, run.path) if cfg.diagnostics else None
    elapsed = 0.0
    stopped = ""  # set to a status when the loop ends before total_steps (early stop)
    perm = None
    torch.manual_seed(cfg.seed)  # dropout masks
    if resume_state is not None:
        s = resume_state
        step, batch_in_epoch = int(s["step"]), int(s["batch_in_epoch"])
        epoch_order_state = s["order_gen"]
        order_gen.set_state(epoch_order_state)
        aug_gen.set_state(s["aug_gen"])
        torch.set_rng_state(s["torch_rng"])
        if dev.type == "cuda" and "cuda_rng" in s:
            torch.cuda.set_rng_state(s["cuda_rng"], dev)
        es.load(s["early_stopping"])
        sums = dict(s["sums"])
        elapsed = float(s["elapsed"])
        log = rf.MetricsLog(run.path, rows=run.metrics[: int(s["metrics_rows"])])
        log.flush()
        if diag is not None:
            diag.truncate(int(s.get("diagnostics_rows", 0)))
        stopped = s.get("stopped", "")
        # replay this epoch's permutation: the generator ends where it stood when the run was killed
        perm = torch.randperm(n, generator=order_gen).to(dev)

    def save_checkpoint() -> None:
        state = {
            "step": step, "batch_in_epoch": batch_in_epoch, "order_gen": epoch_order_state,
            "aug_gen": aug_gen.get_state(), "torch_rng": torch.get_rng_state(),
            "optimizer": opt.state_dict(), "early_stopping": es.state(), "sums": dict(sums),
            "elapsed": elapsed, "metrics_rows": len(log.rows),
            "diagnostics_rows": diag.rows if diag is not None else 0, "stopped": stopped,
        }
        if dev.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(dev)
        name = f"ckpt-{step:08d}"
        rf.save_tensors(ckpt_dir / f"{name}.safetensors", model.state_dict(), {"step": str(step)})
        rf.save_state(ckpt_dir / f"{name}.pt", state)
        rf.write_json(ckpt_dir / "latest.json", {"step": step})  # the switch: both files are complete
        for old in ckpt_dir.glob("ckpt-*"):  # keep only the newest pair
            if not old.name.startswith(name):
                old.unlink(missing_ok=True)

    rf.write_json(run.path / "summary.json", {**run.summary, "status": "running"})
    if not quiet:
        d = p.data
        n_params = sum(t.numel() for t in model.parameters())
        print(f"{cfg.model} on {cfg.dataset} ({len(d.train.y):,} train / {len(d.val.y):,} val / {len(d.test.y):,} test), "
              f"{n_params:,} parameters, {cfg.epochs} epochs of {spe} steps, {dev.type}, "
              f"{torch.get_num_threads()} threads" + (f", resuming at step {step}" if step else "")
              + f"\nrun folder: {run.path}", flush=True)
    status, message = stopped or "finished", ""
    progress = Progress(total_steps, spe, quiet=quiet, start_step=step, batch_size=bsz)
    model.train()
    tick = time.perf_counter()
    with progress:
        while step < total_steps and not stopped:
            # ---- batch: slice, augment, preprocess (all on whole tensors)
            if batch_in_epoch == 0:
                epoch_order_state = order_gen.get_state()
                perm = torch.randperm(n, generator=order_gen).to(dev)
            idx = perm[batch_in_epoch * bsz:(batch_in_epoch + 1) * bsz]
            x, y = to_float(train_x[idx]), train_y[idx]
            if p.augment:
                x, m = p.augment(x, aug_gen, mask=y if p.segmentation else None)
                y = m if p.segmentation else y
            x = p.preprocess(x)
            if cfg.channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)

            # ---- forward, loss + penalty, backward, step
            with autocast(p):
                out = model(x)
            loss = loss_fn(out, y, cfg.label_smoothing)
            total = loss + p.penalty(model) if p.penalty is not None else loss
            if not torch.isfinite(total):
                status = "diverged"
                message = (f"loss became {float(total.detach())} at step {step + 1} (epoch {step / spe + 1:.2f}); "
                           f"the learning rate ({opt.stats.get('lr', cfg.lr):.3g}) is likely too high for "
                           "this model: lower lr, add warmup_epochs or clip_norm")
                break
            opt.zero_grad(set_to_none=True)
            total.backward()
            diag_now = diag is not None and ((step + 1) % eval_every == 0 or step + 1 == total_steps)
            if diag_now:
                diag.before_step()
            opt.step()
            gnorm = float(opt.stats["grad_norm"])
            if not math.isfinite(gnorm):
                status = "diverged"
                message = (f"gradient norm became {gnorm} at step {step + 1}; the learning rate is likely "
                           "too high: lower lr, add warmup_epochs or clip_norm")
                break
            if diag_now:
                diag.after_step()
            step += 1
            batch_in_epoch = 0 if batch_in_epoch + 1 == spe else batch_in_epoch + 1

            # ---- running train metrics for this evaluation period
            with torch.no_grad():
                sums["loss"] += float(loss) * len(y)
                sums["correct"] += int((out.argmax(1) == y).sum())
            sums["count"] += y.numel()
            sums["examples"] += len(y)
            sums["gnorm"] += gnorm
            sums["steps"] += 1
            progress.update(step, loss=sums["loss"] / sums["examples"], acc=sums["correct"] / sums["count"])

            # ---- evaluate, early-stop check, checkpoint
            if step % eval_every == 0 or step == total_steps:
                now = time.perf_counter()
                sums["time"] += now - tick
                elapsed += now - tick
                val = evaluate_split(p, p.data.val.x, p.data.val.y)
                row = {
                    "epoch": round(step / spe, 4), "step": step,
                    "train_loss": sums["loss"] / sums["examples"], "train_acc": sums["correct"] / sums["count"],
                    **{f"val_{k}": v for k, v in val.items()},
                    "lr": float(opt.stats["lr"]), "grad_norm": sums["gnorm"] / sums["steps"],
                    "time": sums["time"], "images_per_s": sums["examples"] / max(sums["time"], 1e-9),
                    "elapsed": elapsed,
                }
                if row.get(cfg.monitor) is None:
                    raise TrainlabError(f"monitor {cfg.monitor!r} is not a metric of this run; "
                                        f"choose one of: {', '.join(k for k in row if k[:4] in ('val_', 'trai'))}")
                log.append(row)
                if diag is not None:
                    diag.record(step, row["epoch"])
                if es.update(row[cfg.monitor], row["epoch"], step):
                    rf.save_tensors(ckpt_dir / "best.safetensors", model.state_dict(), {"step": str(step)})
                progress.log_eval(row, cfg.epochs)
                sums = {k: 0 if isinstance(v, int) else 0.0 for k, v in sums.items()}
                if cfg.early_stopping and es.bad > cfg.patience:
                    status = stopped = "early_stopped"
                tick = time.perf_counter()
            if step % ckpt_every == 0 or step == total_steps or stopped:
                save_checkpoint()
                tick = time.perf_counter()

    return finish(p, run, log, es, status, message, quiet)


def finish(p: Parts, run: rf.Run, log: rf.MetricsLog, es: EarlyStopping, status: str, message: str,
           quiet: bool) -> rf.Run:
    """Restore the best weights, score the test split, write summary, plots and report."""
    best_path = run.ckpt_dir / "best.safetensors"
    if best_path.is_file():
        load_weights(p.model, rf.load_tensors(best_path), str(best_path))
    summary: dict[str, Any] = {
        "status": status, "message": message, "monitor": p.cfg.monitor,
        "best": {"epoch": es.best_epoch, "step": es.best_step, p.cfg.monitor: es.best},
        "epochs_run": log.rows[-1]["epoch"] if log.rows else 0,
        "train_time_s": log.rows[-1]["elapsed"] if log.rows else 0.0,
        "parameters": sum(t.numel() for t in p.model.parameters()),
        "last": log.rows[-1] if log.rows else {},
    }
    if best_path.is_file():
        best_row = next((r for r in log.rows if r["step"] == es.best_step), {})
        summary["best"].update({k: v for k, v in best_row.items() if k.startswith("val_")})
        test = evaluate_split(p, p.data.test.x, p.data.test.y)
        summary["test"] = test
    rf.write_json(run.path / "summary.json", summary)
    if p.segmentation:
        plot_predicted_masks(p, run.path / "plots" / "masks.png")
    if status == "diverged":
        print(f"trainlab: run diverged: {message}")
    from .report import write_report

    write_report(run)
    if not quiet:
        t = summary.get("test", {})
        line = f"test acc {t['acc']:.4f}  test loss {t['loss']:.4f}" if t else "no test score"
        print(f"{status}: {line}  (best {p.cfg.monitor} {es.best} at epoch {es.best_epoch})")
        print(f"run folder: {run.path}\nreport: {run.report}")
    return run


@torch.no_grad()
def plot_predicted_masks(p: Parts, path: Path, n: int = 8) -> None:
    from .data.datasets import to_float
    from .report.plots import plot_masks

    x = to_float(p.data.val.x[:n])
    p.model.eval()
    pred = p.model(p.preprocess(x.to(p.device))).argmax(1).cpu()
    plot_masks(x, p.data.val.y[:n], pred, p.data.num_classes, path)


# ============================================================== evaluation of a saved run
def load_saved(run: rf.Run, device: str = "cpu", weights: str = "best") -> Parts:
    """A saved run, rebuilt for inference: config, data, its fitted preprocessing, the model with
    its best (or last) weights in eval mode. No optimizer."""
    from .data.preprocess import create_preprocessing

    cfg = run_config(run).model_copy(update={"device": device})
    dev = resolve_device(cfg.device)
    data = load_data(cfg)
    pre = create_preprocessing(cfg.preprocessing, **cfg.preprocessing_options)
    pre.load_state_dict(rf.load_tensors(run.ckpt_dir / "preprocess.safetensors"))
    torch.manual_seed(cfg.seed)
    model = make_model(cfg, data.input_shape, data.num_classes)
    tensors = run.best_weights() if weights == "best" else rf.load_tensors(run.latest_checkpoint()[0])
    load_weights(model, tensors, str(run.ckpt_dir))
    model.to(dev).eval()
    return Parts(cfg, data, dev, model, pre, None, None, None, lambda t: cfg.lr, 1, data.task == "segmentation")


def build_model_for_run(run: rf.Run, device: str = "cpu", weights: str = "best"):
    return load_saved(run, device, weights).model


def evaluate(run_path: str | Path, split: str = "test", device: str = "auto") -> dict[str, Any]:
    """Score a saved run's best weights on a split; writes plots/confusion_<split>.png.

    >>> trainlab.evaluate("runs/mlp-digits", split="test")["acc"]  # doctest: +SKIP
    """
    run = rf.load_run(run_path)
    if split not in ("train", "val", "test"):
        raise TrainlabError(f"split {split!r} is not one of train, val, test")
    p = load_saved(run, device)
    data = p.data
    s = getattr(data, split)
    res = evaluate_split(p, s.x, s.y, collect=True)
    from .report.plots import plot_confusion

    out = run.path / "plots" / f"confusion_{split}.png"
    plot_confusion(res["confusion"], data.classes, out, title=f"{run.name}: {split} (acc {res['acc']:.4f})")
    res["confusion_png"] = str(out)
    return res
