"""A saved run, reopened: for inference (`load_saved`), scoring (`evaluate`) and its report
(`write_run_report`), all from the run folder's files.

    >>> trainlab.evaluate("runs/mlp-digits", split="test")["acc"]  # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from .. import runs as rf
from ..data import create_preprocessing, to_float
from ..data.detection import Targets
from ..errors import TrainlabError
from ..models import is_detector, load_weights
from ..nn.layers import batch_norms, recompute_bn_stats
from ..report import write_report
from ..report.plots import plot_boxes, plot_confusion, plot_masks
from .build import Inference, load_data, make_model, resolve_device, select
from .checks import run_config
from .evaluation import batches, evaluate_split
from .tta import check_tta


def load_saved(run: rf.Run, device: str = "cpu", weights: str = "best") -> Inference:
    """A saved run, rebuilt for inference: config, its selected data, its fitted preprocessing,
    the model with its best (or last) weights in eval mode. No optimizer."""
    cfg = run_config(run).model_copy(update={"device": device})
    dev = resolve_device(cfg.device)
    data = select(cfg, load_data(cfg))
    pre = create_preprocessing(cfg.preprocessing, **cfg.preprocessing_options)
    pre.load_state_dict(rf.load_tensors(run.ckpt_dir / "preprocess.safetensors"))
    torch.manual_seed(cfg.seed)
    model = make_model(cfg, data.input_shape, data.num_classes)
    tensors = run.best_weights() if weights == "best" else rf.load_tensors(run.latest_checkpoint()[0])
    load_weights(model, tensors, str(run.ckpt_dir))
    model.to(dev).eval()
    return Inference(cfg, data, dev, model, pre)


def load_model(run: str | Path | rf.Run, device: str = "cpu", weights: str = "best") -> torch.nn.Module:
    """A saved run's model with its best (or last) weights, in eval mode.

    >>> model = trainlab.load_model("runs/mlp-digits")   # doctest: +SKIP
    """
    return load_saved(run if isinstance(run, rf.Run) else rf.load_run(run), device=device, weights=weights).model


BN_STATS = ("running", "full")  # batch-norm statistics at evaluation: torch's running averages, or the training set's


def evaluate(run_path: str | Path, split: str = "test", device: str = "auto",
             bn_stats: str = "running", tta: Sequence[str] | None = None) -> dict[str, Any]:
    """Score a saved run's best weights on a split; writes plots/confusion_<split>.png.

    bn_stats="running" scores with the running averages batch norm kept during training;
    "full" first sets every batch norm's mean and variance to those over the whole training split
    (deck 000; see trainlab.nn.layers.recompute_bn_stats), in batches of the run's batch_size, and
    writes plots/confusion_<split>_bn-full.png. A model without batch norm refuses "full".
    tta: test-time augmentation ops (e.g. ["hflip", "shift"], `trainlab list tta`): the mean
    softmax over the views is scored; classification only. None (the default) uses the run's
    own `tta`, so the score matches the one the run recorded; [] scores the image alone.
    The result says which in "tta".

    >>> trainlab.evaluate("runs/mlp-digits", split="test")["acc"]  # doctest: +SKIP
    """
    run = rf.load_run(run_path)
    if split not in ("train", "val", "test"):
        raise TrainlabError(f"split {split!r} is not one of train, val, test")
    if bn_stats not in BN_STATS:
        raise TrainlabError(f"--bn-stats {bn_stats!r} is not one of {', '.join(BN_STATS)}")
    p = load_saved(run, device)
    if bn_stats == "full":
        if not batch_norms(p.model):
            raise TrainlabError(f"--bn-stats full: run {run.name!r} has no batch norm (model {p.cfg.model!r}, "
                                f"norm {p.cfg.norm!r}); evaluate it with --bn-stats running, "
                                "or train with --set norm=batch")
        recompute_bn_stats(p.model, batches(p, p.data.train.x, p.cfg.batch_size))
    s = getattr(p.data, split)
    tta = list(p.cfg.tta if tta is None else tta)
    if tta:
        check_tta(tta, image=p.data.is_image)
        if p.data.task != "classification":
            raise TrainlabError(f"--tta: run {run.name!r} is {p.data.task}; test-time augmentation here averages "
                                "class probabilities of whole images: use it on a classification run")
    res = evaluate_split(p, s.x, s.y, collect=True, tta=tuple(tta))
    if p.detection:  # per-class AP in res; the boxes of the split's first images as a picture
        out = run.path / "plots" / f"boxes_{split}.png"
        plot_boxes(to_float(s.x[:16]), Targets.from_tensor(s.y[:16], tuple(s.x.shape[-2:])).per_image(),
                   res.pop("detections")[:16], p.data.classes, out,
                   title=f"{run.name}: {split} (mAP@0.5 {res['map50']:.3f}, mAP@[.5:.95] {res['map']:.3f})")
        res["boxes_png"] = str(out)
    if "confusion" in res:  # class labels; a regression run has its loss alone
        out = run.path / "plots" / f"confusion_{split}{'_bn-full' if bn_stats == 'full' else ''}.png"
        title = f"{run.name}: {split}{', BN over the training set' if bn_stats == 'full' else ''} (acc {res['acc']:.4f})"
        plot_confusion(res["confusion"], p.data.classes, out, title=title)
        res["confusion_png"] = str(out)
    res["bn_stats"] = bn_stats
    res["tta"] = tta
    return res


def write_run_report(run: rf.Run, parts: Inference | None = None) -> Path:
    """Every plot of a run and its report.html, from the run folder. A segmentation run also gets
    predicted masks, a detection run predicted boxes on validation images, from `parts` when the
    caller has the model at hand, else reloaded."""
    model = run.config.get("model")
    dense = model in ("fcn", "unet") or is_detector(model) or (parts is not None and parts.data.task != "classification")
    if dense and ((run.ckpt_dir / "best.safetensors").is_file() or (run.ckpt_dir / "latest.json").is_file()):
        p = parts or load_saved(run)
        if p.detection:
            plot_predicted_boxes(p, run.path / "plots" / "boxes.png", run.name)
        else:
            plot_predicted_masks(p, run.path / "plots" / "masks.png")
    return write_report(run)


@torch.no_grad()
def plot_predicted_masks(p: Inference, path: Path, n: int = 8) -> None:
    if not p.segmentation:
        return
    x = to_float(p.data.val.x[:n])
    was = p.model.training
    p.model.eval()
    pred = p.model(p.preprocess(x.to(p.device))).argmax(1).cpu()
    p.model.train(was)
    plot_masks(x, p.data.val.y[:n], pred, p.data.num_classes, path)


@torch.no_grad()
def plot_predicted_boxes(p: Inference, path: Path, name: str = "", n: int = 16) -> None:
    """The first n validation images with the model's detections over the true boxes."""
    x = to_float(p.data.val.x[:n])
    was = p.model.training
    p.model.eval()
    found = p.model(p.preprocess(x.to(p.device)))
    p.model.train(was)
    truths = Targets.from_tensor(p.data.val.y[:n], tuple(x.shape[-2:])).per_image()
    plot_boxes(x, truths, [{k: v.cpu() for k, v in d.items()} for d in found], p.data.classes, path,
               title=f"{name}: validation images, best weights")
