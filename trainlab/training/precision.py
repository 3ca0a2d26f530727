"""`precision: auto`: measure, on this machine, this model and this batch, which precision trains
faster, and use it. CPUs differ: with AVX-512 bf16 a small CNN runs faster in bf16 autocast; with
AVX2 only it runs several times slower. Nothing is hard-coded: a few timed forward/backward passes
of each candidate, on a copy of the model (the run's weights and batch-norm statistics are not
touched), decide. The choice goes into the saved config and the timings into
env.json, with the CPU's vector-instruction flags.
"""
from __future__ import annotations

import copy
import statistics
import time
from typing import Any

import torch

from ..data import to_float
from .evaluation import loss_fn


def candidates(device: torch.device) -> list[str]:
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return ["fp32"]
    return ["fp32", "bf16"]


def time_precision(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device,
                   precision: str, steps: int = 5, warmup: int = 2, loss: str = "cross_entropy",
                   detect: bool = False) -> float:
    """Median seconds of one forward + backward pass of `model` (a copy) on (x, y) with the run's `loss`
    (detect: a detector, called with its targets, whose named losses are summed, as the loop does)."""
    times = []
    for i in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = model(x, y) if detect else model(x)
        (sum(out.values()) if detect else loss_fn(out, y, loss=loss)).backward()
        model.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def choose(parts, steps: int = 5) -> tuple[str, dict[str, Any]]:
    """The faster precision for this run and the measurements behind the choice."""
    cfg, dev = parts.cfg, parts.device
    b = min(cfg.batch_size, len(parts.data.train.y))
    x = parts.preprocess(to_float(parts.data.train.x[:b]).to(dev))
    if cfg.channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    y = parts.data.train.y[:b].to(dev)
    # a copy: the run's weights and batch-norm statistics stay as built (its random streams are
    # seeded afresh when the loop starts, so the probe's dropout draws do not reach them either)
    probe = copy.deepcopy(parts.model).train()
    ms = {p: 1e3 * time_precision(probe, x, y, dev, p, steps, loss=cfg.loss, detect=parts.detection)
          for p in candidates(dev)}
    chosen = min(ms, key=ms.get)
    return chosen, {"chosen": chosen, "ms_per_step": {k: round(v, 3) for k, v in ms.items()},
                    "measured": f"median of {steps} forward+backward passes, batch {b}, after 2 warm-up passes"}
