"""Claims measured on training runs: arms as config overrides, run by `trainlab.compare` across
seeds, and the quantities read back from each run folder.

    run = arms_run({"dataset": "digits", "model": "mlp"}, {"none": {}, "dropout": {"dropout": 0.5}},
                   {"gap": gap(), "val_acc": best("val_acc")}, curve="val_acc")
    data = run({"seeds": 3, "set": {"epochs": 5}}, ctx)   # data["arms"]["dropout"]["gap"] -> [per seed]
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

from ...data import to_float
from ...runs import Run, load_run
from ...runs.files import load_tensors
from ...training.evaluation import inference_time
from ...training.saved import load_saved
from ..compare import compare
from .base import Claim, Context, paired_rule, swap_arms
from .plots import dots_and_curves

Quantity = Callable[[Run], float]
FASHION = {"dataset": "fashion-mnist", "fallback_dataset": None}  # full mode: the real data, never a stand-in


def best(key: str) -> Quantity:
    """The best epoch's validation metric (what a choice is made on), e.g. best("val_acc")."""
    return lambda run: float((run.summary.get("best") or {}).get(key, math.nan))


def test(key: str) -> Quantity:
    """A test metric from the summary, e.g. test("acc")."""
    return lambda run: float((run.summary.get("test") or {}).get(key, math.nan))


def last(key: str) -> Quantity:
    """The value of `key` in the last row that has it (e.g. last("train_loss"))."""
    def get(run: Run) -> float:
        rows = [r for r in run.metrics if r.get(key) is not None]
        return float(rows[-1][key]) if rows else math.nan
    return get


def at_epoch(key: str, epoch: float) -> Quantity:
    """`key` in the first row at or after `epoch` (e.g. validation accuracy after 1 epoch)."""
    def get(run: Run) -> float:
        rows = [r for r in run.metrics if r.get(key) is not None and r["epoch"] >= epoch - 1e-9]
        return float(rows[0][key]) if rows else math.nan
    return get


def gap(kind: str = "acc") -> Quantity:
    """Generalisation gap at the end: train accuracy minus validation accuracy (or validation loss
    minus train loss), from the last row (the running train metrics of the last period)."""
    def get(run: Run) -> float:
        row = [r for r in run.metrics if f"val_{kind}" in r and f"train_{kind}" in r][-1]
        return row[f"train_{kind}"] - row[f"val_{kind}"] if kind == "acc" else row["val_loss"] - row["train_loss"]
    return get


def weight_norm() -> Quantity:
    """L2 norm of the final weights of every weight matrix and kernel (biases and norm layers out)."""
    def get(run: Run) -> float:
        w = load_tensors(run.latest_checkpoint()[0])
        return float(math.sqrt(sum(float((t.double() ** 2).sum()) for k, t in w.items()
                                   if k.endswith("weight") and t.dim() > 1)))
    return get


def score(chance: float = 0.1) -> Quantity:
    """The best validation accuracy; a run that diverged scores `chance` (its best row came before
    the blow-up and would flatter it)."""
    def get(run: Run) -> float:
        if run.summary.get("status") == "diverged":
            return chance
        return float((run.summary.get("best") or {}).get("val_acc", chance))
    return get


def diverged() -> Quantity:
    """1 if the run diverged (non-finite loss or gradient), else 0."""
    return lambda run: float(run.summary.get("status") == "diverged")


def configured(base: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """A claim's training config: its base, the mode's overrides (settings["set"]), one thread and fp32,
    so a run gives the same numbers with 1 or 2 jobs and on AVX2 or AVX-512 CPUs alike (`precision:
    auto` would pick bf16 on some machines)."""
    return {**base, **settings.get("set", {}), "threads": 1, "precision": "fp32"}


def inference_ms(batch: int, images: int = 128, repeats: int = 3) -> Quantity:
    """Milliseconds per image of the run's best model on its first `images` validation images, `batch` at a
    time, on one thread (the fastest of `repeats` passes: trainlab.training.evaluation.inference_time)."""
    def get(run: Run) -> float:
        p = load_saved(run)
        x = p.preprocess(to_float(p.data.val.x[:images]))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return 1e3 * inference_time(p.model, x, batch, repeats)
        finally:
            torch.set_num_threads(threads)
    return get


def arms_run(base: dict[str, Any], arms: dict[str, dict[str, Any]], quantities: dict[str, Quantity],
             curve: str | None = None) -> Callable[[dict[str, Any], Context], dict[str, Any]]:
    """A claim's experiment: `base` plus settings["set"], each arm's overrides, settings["seeds"] seeds;
    returns {"arms": {arm: {quantity: [per seed]}}, "curves": {arm: [[epoch, value], ...] per seed}}."""
    def run(settings: dict[str, Any], ctx: Context, paths: bool = False) -> dict[str, Any]:
        values = configured(base, settings)
        c = compare(values, arms, seeds=int(settings["seeds"]), jobs=ctx.jobs, name=ctx.experiment(),
                    runs_dir=str(ctx.folder), quiet=ctx.quiet, storage=ctx.storage, enqueue_only=ctx.enqueue_only)
        if c is None:  # enqueued only: the numbers come when workers have run them
            return None
        data: dict[str, Any] = {"arms": {}, "curves": {}, "curve": curve}
        if paths:  # for claims that load the trained models themselves
            data["paths"] = {arm: [str(r["path"]) for _, r in sorted(seeds.items())] for arm, seeds in c.runs.items()}
        for arm, seeds in c.runs.items():
            runs = [load_run(r["path"]) for _, r in sorted(seeds.items())]
            data["arms"][arm] = {q: [_finite(fn(r)) for r in runs] for q, fn in quantities.items()}
            if curve:
                data["curves"][arm] = [[[row["epoch"], row[curve]] for row in r.metrics if row.get(curve) is not None]
                                       for r in runs]
        return data

    return run


def _finite(v: float) -> float:
    return float(v) if v is not None and math.isfinite(v) else math.nan


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def paired_claim(*, id: str, deck: str, topic: str, text: str, measures: str, why: str, caveat: str,
                 base: dict[str, Any], arms: dict[str, dict[str, Any]], quantities: dict[str, Quantity],
                 arm: str, against: str, quantity: str, direction: str, curve: str | None = "val_acc",
                 title: str = "", qlabel: str | None = None, log: bool = False, min_effect: float = 0.0,
                 quick: dict[str, Any] | None = None, full: dict[str, Any] | None = None, version: int = 1,
                 worst: float | None = None, **notes: str):
    """The common claim: `arm` beats `against` on `quantity` in `direction`, paired by seed; the
    picture is seeds as dots beside the curves; the swap exchanges the two arms. `worst` is what a
    diverged seed counts as (see paired_rule); `notes` are full_why and quick_note."""
    return Claim(id=id, deck=deck, topic=topic, text=text, measures=measures, why=why, caveat=caveat,
                 run=arms_run(base, arms, quantities, curve=curve),
                 judge=lambda d: paired_rule(d, arm, against, quantity, direction, min_effect, worst=worst),  # log: the picture only
                 plot=lambda d, p: dots_and_curves(d, quantity, p, title or id, qlabel=qlabel, log=log),
                 swap=swap_arms(arm, against), quick=quick or {"seeds": 5}, full=full or {"seeds": 10},
                 version=version, **notes)
