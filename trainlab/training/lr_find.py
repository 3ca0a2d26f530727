"""The learning-rate finder (Smith 2017's range test, as fastai's `lr_find` runs it).

From the run's initial weights (the same seeded draw the run makes), train with the run's own
optimizer, batches, augmentation, loss and penalty while the lr grows exponentially,
lr_i = start_lr (end_lr / start_lr)^(i / (steps - 1)) for steps i = 0 .. steps - 1, and record
each step's training loss. The record is smoothed as fastai does, an exponential moving average
with bias correction (beta = 0.98: s_i = a_i / (1 - beta^(i+1)), a_i = beta a_(i-1) + (1 - beta)
loss_i), and the ramp stops early once s_i passes `diverge` (4) times its lowest value so far,
or the loss is not finite. Nothing of it reaches a run: it builds its own model, draws its data
order and augmentation from generators of its own, and restores torch's global random state
(dropout) when it ends, so a run trained after it is bit for bit the run trained without it.

The suggestions read the smoothed curve without its first steps // 10 points and its last 5
(fastai's trim: the start is flat noise, the end the blow-up):
  steepest  the lr where the smoothed loss falls fastest per unit of log lr: the left end
            lr_i of the segment i, i+1 with the most negative (s_(i+1) - s_i) / ln(lr_(i+1) / lr_i)
            (fastai's `steep`);
  valley    fastai's `valley`: the longest stretch over which the smoothed loss keeps falling
            (the longest decreasing subsequence, ending at index e, of length L), and the point
            L/3 + L/6 steps into it (about half way down), an lr that is still safely below the
            blow-up. It is the rule `lr: find` uses: fastai's default, steadier than steepest,
            which a single noisy dip can move by a decade.

    >>> found = trainlab.lr_find("configs/default.yaml", out="lr_find.png")   # doctest: +SKIP
    >>> found.valley, found.steepest                                           # doctest: +SKIP
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..config import Config, as_config
from ..errors import TrainlabError
from ..optim.optimizer import GROUP_KEYS
from ..report.plots import plot_lr_find
from .batch import train_batch
from .build import build
from .checks import check_config
from .evaluation import autocast, loss_fn
from .loop import amp_step
from .optimizer import make_optimizer

RULE = "valley"  # the suggestion `lr: find` trains with (see the module docstring)
BETA = 0.98  # smoothing of the recorded loss, fastai's
SKIP_END = 5  # recorded points left out at the end (fastai's skip_end)


@dataclass
class LRFind:
    """A range test's record: the lr and loss of each step, the smoothed loss, both suggestions
    (`steepest`, `valley`; `lr` is the one `lr: find` trains with) and why the ramp stopped."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    steepest: float
    valley: float
    stopped: str
    settings: dict[str, Any] = field(default_factory=dict)
    picture: str | None = None

    @property
    def lr(self) -> float:
        """The suggestion `lr: find` uses (RULE: valley)."""
        return getattr(self, RULE)

    def summary(self) -> dict[str, Any]:
        """The suggestions and how they were found, for a run folder's summary.json."""
        return {"rule": RULE, "lr": self.lr, "steepest": self.steepest, "valley": self.valley,
                "steps": len(self.lrs), "stopped": self.stopped}

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rule": RULE, "lr": self.lr}


def ramp(start_lr: float, end_lr: float, steps: int):
    """lr at the 0-based step i: start_lr (end_lr / start_lr)^(i / (steps - 1)), start to end inclusive."""
    return lambda i: start_lr * (end_lr / start_lr) ** (min(i, steps - 1) / (steps - 1))


def smooth(losses: list[float], beta: float = BETA) -> list[float]:
    """The bias-corrected exponential moving average of `losses` (fastai's AvgSmoothLoss)."""
    out, avg = [], 0.0
    for i, x in enumerate(losses):
        avg = beta * avg + (1 - beta) * x
        out.append(avg / (1 - beta ** (i + 1)))
    return out


def steepest(lrs: list[float], losses: list[float]) -> int:
    """Index of the left end of the steepest falling segment of losses against ln(lr)."""
    slopes = [(losses[i + 1] - losses[i]) / (math.log(lrs[i + 1]) - math.log(lrs[i])) for i in range(len(lrs) - 1)]
    return min(range(len(slopes)), key=slopes.__getitem__)


def valley(losses: list[float]) -> int:
    """fastai's valley index: down[i] is the length of the longest decreasing subsequence ending at
    i; the valley ends at the first i with the largest down[i] (its start noted, as fastai notes it,
    when that i first takes the lead), and the index is start + L/3 + L/6 along it."""
    down = [1] * len(losses)
    end = start = 0
    for i in range(1, len(losses)):
        for j in range(i):
            if losses[i] < losses[j] and down[i] < down[j] + 1:
                down[i] = down[j] + 1
            if down[end] < down[i]:
                end, start = i, i - down[i]
    third = (end - start) / 3
    return start + int(third) + int(third / 2)


def lr_find(config: Config | dict | str | Path, *, overrides: list[str] | None = None, start_lr: float = 1e-7,
            end_lr: float = 10.0, steps: int = 100, diverge: float = 4.0, out: str | Path | None = None,
            data=None, quiet: bool = True) -> LRFind:
    """Run the range test for `config` (a Config, a dict or a YAML path, with `overrides`) and return
    its record and suggestions; out: a PNG of loss against lr with both suggestions marked.
    `lr` in the config is not used (it may be `find`); the weights, the data order, augmentation
    and dropout streams of a run of this config are untouched. quiet=False: a line every 10 steps.

        >>> found = lr_find({"dataset": "digits", "model": "mlp"}, steps=60)   # doctest: +SKIP
    """
    if not 0 < start_lr < end_lr:
        raise TrainlabError(f"lr finder: start_lr {start_lr:g} and end_lr {end_lr:g} must be 0 < start_lr < end_lr")
    if steps < 2 * SKIP_END + 10:
        raise TrainlabError(f"lr finder: steps {steps} is too few to suggest an lr; use at least {2 * SKIP_END + 10} "
                            "(100 is usual)")
    if diverge <= 1:
        raise TrainlabError(f"lr finder: diverge {diverge:g} must be > 1 (the ramp stops at diverge x the best loss)")
    cfg = as_config(config, overrides)
    check_config(cfg)  # refusals name the config as given (`lr: find` with a chain's own lr, ...)
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):  # dropout draws here leave the caller's global stream as it was
        lrs, losses, stopped = _range_test(cfg.model_copy(update={"lr": start_lr}), data, ramp(start_lr, end_lr, steps),
                                           steps, diverge, quiet)
    s = smooth(losses)
    lo, hi = steps // 10, len(s) - SKIP_END  # fastai's trim
    if hi - lo < 3:
        raise TrainlabError(f"lr finder: the loss diverged after {len(s)} steps (at lr {lrs[-1]:.3g}), too soon to "
                            f"suggest an lr; lower start_lr (now {start_lr:g}) or end_lr (now {end_lr:g})")
    found = LRFind(lrs, losses, s, steepest=lrs[lo + steepest(lrs[lo:hi], s[lo:hi])],
                   valley=lrs[lo + valley(s[lo:hi])], stopped=stopped,
                   settings={"start_lr": start_lr, "end_lr": end_lr, "steps": steps, "diverge": diverge, "beta": BETA,
                             "skip_start": lo, "skip_end": SKIP_END})
    if out is not None:
        found.picture = str(draw(found, out, title=f"{cfg.model} on {cfg.dataset}, {cfg.optimizer}"))
    return found


def draw(found: LRFind, out: str | Path, title: str = "") -> Path:
    """The loss against lr (log axis), raw and smoothed, with both suggestions marked, into `out`."""
    lo, hi = found.settings["skip_start"], len(found.smoothed) - found.settings["skip_end"]
    return plot_lr_find(found.lrs, found.losses, found.smoothed, {"steepest": found.steepest, "valley": found.valley},
                        RULE, (lo, hi), Path(out), title=f"{title}: {found.stopped}" if title else found.stopped)


def _range_test(cfg: Config, data, lr_of_step, steps: int, diverge: float, quiet: bool):
    """The ramp itself: (lrs, losses, why it stopped). cfg has a float lr (not used: the ramp sets it)."""
    p = build(cfg, data=data, warn=False)  # seeds torch and draws the run's initial weights
    model, dev = p.model, p.device
    groups = [{k: g[k] for k in GROUP_KEYS if k in g} for g in p.optimizer.param_groups]  # lr_mult kept (fine-tuning)
    opt, _ = make_optimizer(p.cfg, groups, p.steps_per_epoch, lr=lr_of_step)
    scaler = torch.amp.GradScaler(dev.type) if p.cfg.precision == "fp16" else None
    order = torch.Generator().manual_seed(p.cfg.seed)  # generators of its own: a run's streams stay untouched
    aug = torch.Generator().manual_seed(p.cfg.seed + 1_000_003)
    torch.manual_seed(p.cfg.seed)  # dropout (inside the caller's fork_rng)
    train_x, train_y = p.data.train.x.to(dev), p.data.train.y.to(dev)
    n, bsz = len(train_y), min(p.cfg.batch_size, len(train_y))
    spe = max(1, n // bsz)
    lrs, losses, best, avg = [], [], math.inf, 0.0
    stopped = f"ran all {steps} steps"
    model.train()
    for i in range(steps):
        if i % spe == 0:
            perm = torch.randperm(n, generator=order).to(dev)
        x, y = train_batch(p, train_x, train_y, perm[(i % spe) * bsz:(i % spe + 1) * bsz], aug)
        with autocast(p):
            out = model(x)
        loss = loss_fn(out, y, p.cfg.label_smoothing, p.cfg.loss)
        total = loss + p.penalty(model) if p.penalty is not None else loss
        opt.zero_grad(set_to_none=True)
        (scaler.scale(total) if scaler else total).backward()
        if scaler:
            scaler.unscale_(opt)
            amp_step(scaler, opt)
        else:
            opt.step()
        lrs.append(float(opt.stats["lr"]))
        losses.append(float(loss.detach()))
        avg = BETA * avg + (1 - BETA) * losses[-1]
        smoothed = avg / (1 - BETA ** (i + 1))
        best = min(best, smoothed)
        if not quiet and ((i + 1) % 10 == 0 or i + 1 == steps):
            print(f"lr-find: step {i + 1}/{steps}  lr {lrs[-1]:.3g}  loss {losses[-1]:.4f}  smoothed {smoothed:.4f}",
                  flush=True)
        if not math.isfinite(losses[-1]):  # left out of the record, as fastai drops its NaNs
            stopped = f"stopped at step {i + 1} of {steps}: the loss was not finite"
            lrs.pop()
            losses.pop()
            break
        if smoothed > diverge * best:
            stopped = (f"stopped at step {i + 1} of {steps}: smoothed loss {smoothed:.3g} > {diverge:g} x its best "
                       f"{best:.3g}")
            break
    return lrs, losses, stopped


__all__ = ["LRFind", "RULE", "lr_find", "ramp", "smooth", "steepest", "valley"]
