"""The run config: one flat, validated set of fields with every default in one place.

A config comes from a YAML file, a dict, or both, plus `--set key=value` overrides:

    >>> from trainlab.config import load_config
    >>> cfg = load_config(None, ["model=mlp", "dataset=digits", "lr=0.05"])
    >>> cfg.lr
    0.05

Unknown keys and wrong types are errors (one line, naming the key). The resolved
config, every default written out, is saved with each run as `config.yaml`.
Names (model, optimizer, schedule, ...) are checked against their registries by
`trainlab.training.checks` before any data is loaded or any step is taken.
"""
from __future__ import annotations

import difflib
import inspect
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, field_validator

from .errors import TrainlabError
from .values import load_yaml, split_pair

METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "val_top5", "val_miou",  # what `monitor` can watch
           "val_map50", "val_map")  # detection: mAP@0.5 and COCO's mAP@[.5:.95] of the validation boxes
OpSpec = Union[str, dict[str, Any]]


def _lr(v: Any) -> float | str:
    """`lr`: a number > 0, or "find" (the lr finder chooses it before the run is built)."""
    if v == "find":
        return v
    try:
        lr = float(v) if not isinstance(v, bool) else math.nan
    except (TypeError, ValueError):
        lr = math.nan
    if math.isnan(lr):
        raise ValueError("input should be a valid number greater than 0, or find (the lr finder chooses it)")
    if not 0 < lr < math.inf:
        raise ValueError("input should be greater than 0 and finite")
    return lr


class SWA(BaseModel):
    """`swa: {start_epoch: E, lr: L}`: stochastic weight averaging (trainlab.training.swa)."""

    model_config = ConfigDict(extra="forbid")

    start_epoch: int = Field(ge=1)  # the first epoch (1-based, metrics' epoch column) run at lr and averaged at its end
    lr: float = Field(gt=0)  # the learning rate held from the start of start_epoch to the end


class Config(BaseModel):
    """Every knob of a run. Units are in the comments; defaults train a small CNN on Fashion-MNIST."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # --- run ---
    name: str | None = None  # run folder name under runs_dir; default "<model>-<dataset>-<time>"
    runs_dir: str = "runs"  # where run folders go (relative to the working directory)
    group: str | None = None  # runs of one experiment go to runs_dir/<group>/<name> (may be nested: a/b)
    tags: list[str] = []  # free labels, recorded in summary.json and filterable in `trainlab runs`
    seed: int = 0  # seeds weights, data order, dropout and augmentation
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto = cuda when available
    threads: int = Field(0, ge=0)  # torch intra-op threads; 0 = torch's default (all cores)
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "fp32"  # bf16/fp16 = autocast (fp16 with a GradScaler); auto = measure fp32 and bf16, keep the faster
    compile: bool = False  # torch.compile the model for training (first steps are slow while it compiles)
    dist_backend: Literal["auto", "gloo", "nccl"] = "auto"  # distributed runs (--nproc/torchrun): auto = nccl on CUDA, gloo on CPU
    sync_bn: bool = False  # distributed runs: batch norm over the global batch instead of each rank's slice
    channels_last: bool = False  # memory format for conv nets
    loggers: list[Literal["tensorboard", "mlflow"]] = []  # copies of each metrics row for these tools (the run folder is always written): tensorboard = event files in the run's tb/; mlflow = $MLFLOW_TRACKING_URI, default sqlite:///<runs_dir>/mlflow.db

    # --- data ---
    dataset: str = "fashion-mnist"  # a registered name, or npz:PATH, csv:PATH, folder:PATH
    dataset_options: dict[str, Any] = {}  # passed to load_dataset (e.g. n for spirals)
    fallback_dataset: str | None = None  # trained on instead, with a notice, when `dataset` cannot be had
    val_fraction: float = Field(0.1, gt=0, lt=1)  # fraction of train held out for validation
    data_seed: int = 0  # seed of the validation split; fixed so the split does not move with `seed`
    train_subset: int | None = Field(None, gt=0)  # use only this many training examples (a seeded random subset)
    classes: list[int] | None = None  # keep only these class ids, relabelled 0..k-1 in this order (e.g. [5, 6, 7, 8, 9])
    train_per_class: int | None = Field(None, gt=0)  # keep this many training examples per class (few-label runs)
    preprocessing: str = "standardize"  # none | minmax | standardize | standardize_channel | gcn | lcn | zca
    preprocessing_options: dict[str, Any] = {}
    augment: list[OpSpec] = []  # e.g. ["hflip", "crop:magnitude=2", {"name": "rotate", "p": 0.5, "magnitude": 10}]; mixup and cutmix also mix the labels (classification only)

    # --- model ---
    model: str = "convnet"  # see `trainlab list models`
    model_options: dict[str, Any] = {}  # model-specific, e.g. {depth: 3, width: 256} for mlp
    activation: str | None = None  # None = the model's default; see `trainlab list activations`
    norm: str | None = None  # None = the model's default; none | batch | layer | group
    dropout: float | None = Field(None, ge=0, lt=1)  # drop probability; None = the model's default
    dropout_mode: Literal["inverted", "classic"] = "inverted"  # inverted: scale by 1/(1-p) in training; classic: by (1-p) at test
    init: str = "default"  # weight initialization; see `trainlab list inits`
    init_from: str | None = None  # a run folder: start from its best weights, new head if classes differ
    freeze: str | None = None  # freeze top-level layers up to and including this one (batch-norm statistics too)
    backbone_lr_mult: float = Field(1.0, ge=0)  # lr multiplier for every layer but the head (fine-tuning)

    # --- loss ---
    loss: str = "cross_entropy"  # cross_entropy | hinge (multiclass SVM) for classes, mse for regression
    label_smoothing: float = Field(0.0, ge=0, lt=1, json_schema_extra={"needs": "loss=cross_entropy"})  # target = (1 - eps) one-hot + eps / K
    penalty: str | None = None  # l1 | l2 | elastic_net, added to the loss
    penalty_strength: float = Field(0.0, ge=0)  # lambda in L + lambda * R(W)
    penalty_beta: float = Field(1.0, ge=0, json_schema_extra={"needs": "penalty=elastic_net"})  # elastic net: R = sum beta * w^2 + |w|

    # --- optimizer ---
    optimizer: str | list[OpSpec] = "momentum"  # a recipe name or a chain of links (see `trainlab list transforms`)
    optimizer_options: dict[str, Any] = {}  # recipe hyperparameters, e.g. {momentum: 0.9} or {betas: [0.9, 0.999]}
    lr: Annotated[Union[float, Literal["find"]], PlainValidator(_lr)] = 0.05  # base learning rate (peak for onecycle); find = run the lr finder first and train at its valley suggestion (trainlab.training.lr_find), the value written into the saved config
    weight_decay: float | None = Field(None, ge=0)  # coupled L2 or decoupled, as the recipe defines (`trainlab list optimizers`); None = the recipe's default (adamw 0.01, else 0)
    clip_norm: float | None = Field(None, gt=0)  # clip the global gradient norm to this
    clip_value: float | None = Field(None, gt=0)  # clip each gradient entry to [-v, v]
    schedule: str = "constant"  # constant | step | exponential | inverse_time | cosine | onecycle | piecewise
    schedule_options: dict[str, Any] = {}  # e.g. {gamma: 0.5, every: 5}; time unit is epochs
    warmup_epochs: float = Field(0.0, ge=0)  # linear warmup, composable with any schedule
    ema: float = Field(0.0, ge=0, lt=1)  # weight EMA decay per update (e.g. 0.99); evaluation, best weights and test use the average; 0 = off
    ema_every: int = Field(1, ge=1, json_schema_extra={"needs": "ema"})  # optimizer steps between EMA updates
    ema_warmup: bool = Field(False, json_schema_extra={"needs": "ema"})  # the n-th EMA update uses min(ema, (1 + n) / (10 + n)): short runs forget the initial weights
    swa: SWA | None = None  # {start_epoch: E, lr: L}: from epoch E the lr is L and the weights at each epoch's end are averaged (equal weights); the last validation row, best.safetensors and test score are the average's, batch-norm statistics recomputed on the training set; None = off
    tta: list[str] = []  # test-time augmentation for validation and test scores, e.g. [hflip, shift]; see `trainlab list tta`

    # --- loop ---
    epochs: int = Field(10, gt=0)
    batch_size: int = Field(128, gt=0)
    eval_batch_size: int = Field(1024, gt=0)
    eval_every: int = Field(0, ge=0)  # steps between evaluations; 0 = once per epoch
    log_every: int = Field(0, ge=0)  # steps between rows of train metrics; 0 = at each evaluation
    eval_at_start: bool = False  # also evaluate before the first step (initial loss near ln K)
    checkpoint_every: int = Field(0, ge=0)  # steps between checkpoints; 0 = at each evaluation
    keep_checkpoints: int = Field(1, ge=1)  # newest checkpoints kept (weights + state pairs)
    keep_every: int = Field(0, ge=0)  # also keep every checkpoint whose step is a multiple of this; 0 = none
    early_stopping: bool = False
    monitor: str = "val_loss"  # metric watched by early stopping and best-weights selection
    patience: int = Field(5, ge=1, json_schema_extra={"needs": "early_stopping"})  # stop after this many evaluations in a row without improvement
    min_delta: float = Field(0.0, ge=0)  # smallest change that counts as an improvement
    diagnostics: bool = False  # per-layer activations, dead/saturated units, grad norms, update/weight ratios
    diagnostics_batch: int = Field(256, gt=0, json_schema_extra={"needs": "diagnostics"})  # fixed validation examples used for activation statistics

    @field_validator("dataset", "model", "preprocessing", "init", "schedule", "loss")
    @classmethod
    def _not_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("monitor")
    @classmethod
    def _monitor(cls, v: str) -> str:
        if v not in METRICS:
            close = difflib.get_close_matches(v, METRICS, n=1)
            raise ValueError(f"must be one of {', '.join(METRICS)}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        return v

    def resolved(self) -> dict[str, Any]:
        """Every field with its value, defaults included (what `config.yaml` holds)."""
        return self.model_dump(mode="json")


EXAMPLES = {"ema": "ema: 0.99", "early_stopping": "early_stopping: true", "diagnostics": "diagnostics: true"}


def _yaml(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def check_needs(cfg: Config) -> None:
    """One rule for every key that acts only with another (`needs` in the field's schema): set away
    from its default while the key it needs is off (or has another value), it would do nothing,
    so it is refused with the fix. `trainlab train --help-config` lists each key's need."""
    for key, field in Config.model_fields.items():
        need = (field.json_schema_extra or {}).get("needs")
        value = getattr(cfg, key)
        if need is None or value == field.default:
            continue
        other, _, want = need.partition("=")
        have = getattr(cfg, other)
        if want and str(have) != want:
            raise TrainlabError(f"{key}: {_yaml(value)} does nothing unless {other}: {want} (it is "
                                f"{_yaml(have)}); remove {key} or set {other}: {want}")
        if not want and not have:
            raise TrainlabError(f"{key}: {_yaml(value)} does nothing without {other}; set {other} (e.g. "
                                f"{EXAMPLES.get(other, other)}) or remove {key}")


def _format_validation_error(err: ValidationError, source: str, sources: dict[str, str] | None = None) -> str:
    e = err.errors()[0]
    key = ".".join(str(p) for p in e["loc"]) or "?"
    source = (sources or {}).get(str(e["loc"][0]) if e["loc"] else "", source)  # a --set value names its --set
    if e["type"] == "extra_forbidden":
        close = difflib.get_close_matches(key, list(Config.model_fields), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{source}: unknown key {key!r}{hint}; see `trainlab train --help-config` for the keys"
    got = e.get("input")
    hint = ""
    if e["type"] == "list_type" and isinstance(got, str):  # augment=hflip,crop: a list needs its brackets
        hint = f"; write a list in brackets: {key}=[{got}]" if source.startswith("--set") else \
            f"; write a list in brackets: {key}: [{got}]"
    msg = e["msg"].lower().removeprefix("value error, ")
    return f"{source}: key {key!r}: {msg} (got {got!r}){hint}"


def make_config(values: dict[str, Any], source: str = "config", sources: dict[str, str] | None = None) -> Config:
    """Validate a dict into a Config, turning pydantic's report into one line. `sources` names the
    input of some keys (key -> "--set 'lr=0.1'"), which the line then names instead of `source`."""
    if not isinstance(values, dict):
        raise TrainlabError(f"{source}: expected a mapping of key: value, got {type(values).__name__}")
    try:
        return Config(**values)
    except ValidationError as err:
        raise TrainlabError(_format_validation_error(err, source, sources)) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise TrainlabError(f"config file {str(p)!r} not found; pass a YAML file such as configs/default.yaml")
    try:
        text = p.read_text()
        data = load_yaml(text)
    except Exception as e:  # yaml.YAMLError, or bytes that are not text
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        what = f" ({e.problem})" if getattr(e, "problem", None) else ""
        raise TrainlabError(f"config file {str(p)!r} is not valid YAML{where}{what}; fix it") from None
    if not text.strip():  # a truncated or never-written file, not a wish for every default
        raise TrainlabError(f"config file {str(p)!r} is empty; write the keys to change (e.g. dataset: digits), "
                            "or leave the file out to train the defaults")
    if data is None:  # comments only: the defaults, on purpose
        return {}
    if not isinstance(data, dict):
        raise TrainlabError(f"config file {str(p)!r} must be a mapping of key: value, got {type(data).__name__}")
    return data


def set_key(values: dict[str, Any], key: str, value: Any, what: str) -> dict[str, Any]:
    """values with `key` set; a dotted key reaches into a dict field (`optimizer_options.momentum`).
    `what` names the input in the error (e.g. "--set 'lrr=1'")."""
    head, _, rest = key.strip().partition(".")
    if head not in Config.model_fields:
        close = difflib.get_close_matches(head, list(Config.model_fields), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TrainlabError(f"{what}: unknown key {head!r}{hint}")
    out = dict(values)
    if rest:
        sub = out.get(head) or {}
        if not isinstance(sub, dict):
            raise TrainlabError(f"{what}: {head!r} is not a mapping, set it without a dot")
        out[head] = {**sub, rest: value}
    else:
        out[head] = value
    return out


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `key=value` strings; values are parsed by `trainlab.values` (numbers, 1e-8, bools, lists).

    Dotted keys reach into dict fields: `optimizer_options.momentum=0.95`.
    """
    out = dict(values)
    for item in overrides:
        key, value = split_pair(item, "--set")
        out = set_key(out, key, value, f"--set {item!r}")
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None, **values: Any) -> Config:
    """Read a YAML config (optional), apply keyword values then `key=value` overrides, validate."""
    data = read_yaml(path) if path is not None else {}
    data.update(values)
    data = apply_overrides(data, overrides or [])
    given = {split_pair(item, "--set")[0].strip().split(".")[0]: f"--set {item!r}" for item in overrides or []}
    return make_config(data, source=str(path) if path is not None else "config", sources=given)


def as_config(config: "Config | dict[str, Any] | str | Path", overrides: list[str] | None = None) -> Config:
    """A Config from what `trainlab.train` and its kin accept: a Config, a dict of values or a YAML
    path, with `key=value` overrides applied (a Config without overrides comes back as it is)."""
    if isinstance(config, (str, Path)):
        return load_config(config, overrides)
    if isinstance(config, dict):
        return load_config(None, overrides, **config)
    return load_config(None, overrides, **config.model_dump(exclude_unset=True)) if overrides else config


def config_help() -> str:
    """One line per key: name, default and the comment from this file (for `--help-config`)."""
    src = inspect.getsource(Config)
    lines = []
    for name, field in Config.model_fields.items():
        m = re.search(rf"^\s+{name}:.*?(?:#\s*(.*))?$", src, re.M)
        comment = m.group(1) if m and m.group(1) else ""
        need = (field.json_schema_extra or {}).get("needs")
        comment += f" (acts only with {need.replace('=', ': ')})" if need else ""
        lines.append(f"  {name:<22} = {field.default!r:<16} {comment}")
    return "\n".join(lines)
