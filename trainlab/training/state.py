"""What a checkpoint restores, as one object: `TrainState`, saved and loaded in one place.

Model weights go to their own safetensors file; everything else a resumed run needs to
continue bit for bit is here: the step, the position in the epoch's permutation (through
the data-order generator's state at the epoch's start), the augmentation generator, the
torch RNG (dropout masks), the optimizer, early stopping, the running train sums of the
current log period, the weight EMA and the SWA average (when on), the elapsed training time, how
many metric and diagnostic rows belong to the run so far, and the status once the loop has ended.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


class EarlyStopping:
    """Tracks the best value of the monitored metric; `bad` counts evaluations without improvement.

    Stops like Keras and Lightning: after `patience` evaluations in a row without an improvement
    of more than `min_delta`.

        >>> es = EarlyStopping("val_loss", patience=2, min_delta=0.0)
        >>> [es.update(v, e, e) for e, v in enumerate([1.0, 0.5, 0.6, 0.7])], es.should_stop()
        ([True, True, False, False], True)
    """

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

    def should_stop(self) -> bool:
        return self.bad >= max(1, self.patience)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "best_step": self.best_step, "bad": self.bad}

    def load_state_dict(self, s: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.best_step, self.bad = s["best"], s["best_epoch"], s["best_step"], s["bad"]


def new_sums(device: torch.device) -> dict[str, Any]:
    """Running train metrics of one log period. Loss, hits and gradient norms stay tensors on the
    device (read only when a row is logged: no host synchronisation per step); float64 sums
    give the same numbers as adding Python floats. "correct" is float64 too: a mixed example
    (mixup, cutmix) counts a fraction (trainlab.training.batch.hits); whole counts stay exact."""
    z = lambda dtype: torch.zeros((), dtype=dtype, device=device)  # noqa: E731
    return {"loss": z(torch.float64), "correct": z(torch.float64), "gnorm": z(torch.float64),
            "parts": z(torch.float64),  # a detector's named losses: becomes (P,) at the first step
            "count": 0, "examples": 0, "steps": 0, "time": 0.0, "skipped": 0}


RANK_STREAM = 7_919  # rank r's augmentation and dropout streams start at seed + r * RANK_STREAM


def rank_seed(seed: int, rank: int) -> int:
    """Rank 0 draws exactly as a single process does; the other ranks draw their own seeded streams."""
    return seed + rank * RANK_STREAM


@dataclass
class TrainState:
    """The loop's state; `state_dict()` is what a checkpoint's .pt file holds."""

    seed: int
    optimizer: Any
    device: torch.device
    early: EarlyStopping
    step: int = 0
    batch_in_epoch: int = 0
    elapsed: float = 0.0  # seconds of training, evaluation excluded
    metrics_rows: int = 0
    diagnostics_rows: int = 0
    status: str = ""  # "" while running; then finished | early_stopped | stopped | diverged
    sums: dict[str, Any] = field(default_factory=dict)
    rank: int = 0  # this process's rank in a distributed run
    scaler: Any = None  # torch.amp.GradScaler of `precision: fp16`
    ema: Any = None  # trainlab.ema.WeightEMA of `ema > 0`
    swa: Any = None  # trainlab.training.swa.WeightAverage of `swa`

    def __post_init__(self) -> None:
        self.order_gen = torch.Generator().manual_seed(self.seed)  # data order: one stream for every rank
        self.epoch_order_state = self.order_gen.get_state()  # where this epoch's permutation was drawn
        self.sums = new_sums(self.device)
        self.seed_rank_streams(rank_seed(self.seed, self.rank))

    def seed_rank_streams(self, seed: int) -> None:
        self.aug_gen = torch.Generator().manual_seed(seed + 1_000_003)  # augmentation draws
        torch.manual_seed(seed)  # dropout masks

    def rank_state(self) -> dict[str, torch.Tensor]:
        """This rank's own random streams (a checkpoint keeps one such dict per rank)."""
        s = {"aug_gen": self.aug_gen.get_state(), "torch_rng": torch.get_rng_state()}
        if self.device.type == "cuda":
            s["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return s

    def state_dict(self, world=None) -> dict[str, Any] | None:
        """The checkpoint's state; in a distributed run every rank must call it (the random streams
        are gathered) and rank 0 gets the dict, the others None."""
        own = self.rank_state()
        ranks = world.gather(own) if world is not None and world.distributed else [own]
        if ranks is None:
            return None
        s = {
            "step": self.step, "batch_in_epoch": self.batch_in_epoch, "order_gen": self.epoch_order_state,
            **ranks[0], "ranks": ranks,
            "optimizer": self.optimizer.state_dict(), "early_stopping": self.early.state_dict(),
            "sums": {k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in self.sums.items()},
            "elapsed": self.elapsed, "metrics_rows": self.metrics_rows,
            "diagnostics_rows": self.diagnostics_rows, "stopped": self.status,
        }
        if self.scaler is not None:
            s["scaler"] = self.scaler.state_dict()
        if self.ema is not None:
            s["ema"] = self.ema.state_dict()
        if self.swa is not None:
            s["swa"] = self.swa.state_dict()
        return s

    def load_state_dict(self, s: dict[str, Any]) -> None:
        """Restore everything but the permutation, which `replay_order()` draws again.

        A rank the checkpoint has no streams for (the run resumes on more processes than it was
        written by) seeds fresh ones from (seed, rank, step): correct, not bit-exact."""
        self.step, self.batch_in_epoch = int(s["step"]), int(s["batch_in_epoch"])
        self.epoch_order_state = s["order_gen"]
        self.order_gen.set_state(self.epoch_order_state)
        ranks = s.get("ranks") or [{k: s[k] for k in ("aug_gen", "torch_rng", "cuda_rng") if k in s}]
        if self.rank < len(ranks):
            own = ranks[self.rank]
            self.aug_gen.set_state(own["aug_gen"])
            torch.set_rng_state(own["torch_rng"])
            if self.device.type == "cuda" and "cuda_rng" in own:
                torch.cuda.set_rng_state(own["cuda_rng"], self.device)
        else:
            self.seed_rank_streams(rank_seed(self.seed, self.rank) + 104_729 * self.step)
        if self.scaler is not None and "scaler" in s:
            self.scaler.load_state_dict(s["scaler"])
        self.optimizer.load_state_dict(s["optimizer"])
        if self.ema is not None:
            self.ema.load_state_dict(s["ema"])  # a KeyError: the checkpoint was written without ema
        if self.swa is not None:
            self.swa.load_state_dict(s["swa"])
        self.early.load_state_dict(s["early_stopping"])
        fresh = new_sums(self.device)  # older checkpoints hold Python numbers (and may lack "parts": zero)
        self.sums = {k: torch.as_tensor(s["sums"].get(k, v), dtype=v.dtype).to(self.device)
                     if isinstance(v, torch.Tensor)
                     else type(v)(s["sums"].get(k, v)) for k, v in fresh.items()}
        self.elapsed = float(s["elapsed"])
        self.metrics_rows = int(s["metrics_rows"])
        self.diagnostics_rows = int(s.get("diagnostics_rows", 0))
        self.status = s.get("stopped", "")

    def next_order(self, n: int, device: torch.device) -> torch.Tensor:
        """A new epoch's permutation of n examples (remembering where it was drawn from)."""
        self.epoch_order_state = self.order_gen.get_state()
        return torch.randperm(n, generator=self.order_gen).to(device)

    def replay_order(self, n: int, device: torch.device) -> torch.Tensor:
        """The current epoch's permutation again, after a resume; the generator ends where it stood."""
        self.order_gen.set_state(self.epoch_order_state)
        return torch.randperm(n, generator=self.order_gen).to(device)
