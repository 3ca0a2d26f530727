"""Trainer overhead against a plain PyTorch loop, and peak memory of the default recipe.

Both loops train the same model (same init), on the same in-memory data, with the same
batch size and the same optimizer object type, in this one process, interleaved; the
figure is the ratio of time per step (target: at most 1.03). With --recipe C.yaml it also measures
a whole recipe's step (e.g. configs/fast.yaml: augmentation, channels_last, bf16 autocast, label
smoothing, weight EMA), against a plain loop that does the same work by hand, where the trainer's
few milliseconds of bookkeeping are a larger share of a small, fast step. Run:

    .venv/bin/python bench/bench_trainer.py [--steps 200] [--model convnet] [--recipe configs/fast.yaml]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

import trainlab
from trainlab.config import load_config
from trainlab.data import Dataset, Split, to_float
from trainlab.training.build import build


def synthetic(n: int, shape=(1, 28, 28), k: int = 10) -> Dataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=g)
    y = torch.randint(0, k, (n,), generator=g)
    s = Split(x, y)
    small = Split(x[:256], y[:256])
    return Dataset("synthetic", s, small, small, [str(i) for i in range(k)], "classification")


def plain_loop(parts, steps: int) -> float:
    """The loop a PyTorch user writes by hand: slice, scale, normalize, forward, backward, step."""
    model, opt, pre = parts.model, parts.optimizer, parts.preprocess
    x_all, y_all = parts.data.train.x, parts.data.train.y
    b = parts.cfg.batch_size
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(y_all), generator=g)
    model.train()
    t0 = time.perf_counter()
    for i in range(steps):
        idx = perm[(i * b) % (len(perm) - b):][:b]
        x = pre(to_float(x_all[idx]))
        loss = F.cross_entropy(model(x), y_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps


def plain_recipe_loop(parts, steps: int) -> float:
    """A recipe's step written by hand: the same augmentation, preprocessing, memory format,
    autocast, label-smoothed loss, optimizer and weight EMA as the config, none of the bookkeeping."""
    model, opt, pre, cfg = parts.model, parts.optimizer, parts.preprocess, parts.cfg
    x_all, y_all = parts.data.train.x, parts.data.train.y
    b = cfg.batch_size
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(y_all), generator=g)
    ema = [p.detach().clone() for p in model.parameters()] if cfg.ema else None
    model.train()
    t0 = time.perf_counter()
    for i in range(steps):
        idx = perm[(i * b) % (len(perm) - b):][:b]
        x, y = to_float(x_all[idx]), y_all[idx]
        if parts.augment:
            x, _ = parts.augment(x, g)
        x = pre(x)
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
            out = model(x)
        loss = F.cross_entropy(out.float(), y, label_smoothing=cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if ema is not None:
            with torch.no_grad():
                torch._foreach_lerp_(ema, [p.detach() for p in model.parameters()], 1.0 - cfg.ema)
    return (time.perf_counter() - t0) / steps


def recipe_overhead(config: str, steps: int, reps: int) -> None:
    """The trainer against plain_recipe_loop, on the recipe's own config (precision resolved once)."""
    from trainlab.training.precision import choose

    cfg0 = load_config(config, [])
    b = cfg0.batch_size
    data = synthetic(b * steps + b)
    over = ["dataset=synthetic", "epochs=1", "eval_batch_size=256", "tta=[]", "threads=0"]
    cfg = load_config(config, over)
    if cfg.precision == "auto":  # both loops run what auto picks on this machine
        cfg = load_config(config, [*over, f"precision={choose(build(cfg, data=data))[0]}"])
    ratios = []
    for r in range(reps):
        t_trainer = trainer_loop(cfg, data, steps)
        t_plain = plain_recipe_loop(build(cfg, data=data), steps)
        ratios.append(t_trainer / t_plain)
        print(f"  rep {r}: trainer {t_trainer * 1e3:.2f} ms/step, plain {t_plain * 1e3:.2f} ms/step, "
              f"ratio {t_trainer / t_plain:.3f}", flush=True)
    print(f"trainer overhead ({config}: {cfg.model}, {cfg.precision}, batch {b}, {steps} steps): median ratio "
          f"{statistics.median(ratios):.3f} (target <= 1.03)")


def trainer_loop(cfg, data, steps: int) -> float:
    """trainlab.train as users call it (run folder, checkpoint, metrics; no report)."""
    with tempfile.TemporaryDirectory() as d:
        run = trainlab.train(cfg.model_copy(update={"runs_dir": d}), data=data, quiet=True, report=False)
        rows = run.metrics
    # the trainer times its training steps apart from evaluation: time per step from its own clock
    return rows[-1]["time"] / rows[-1]["step"]


def overhead(model: str, steps: int, reps: int) -> None:
    b = 128
    data = synthetic(b * steps + b)
    cfg = load_config(None, [f"model={model}", f"batch_size={b}", "epochs=1", "optimizer=momentum", "lr=0.01",
                             "dataset=synthetic", "threads=0", "eval_batch_size=256"])
    ratios = []
    for r in range(reps):
        t_trainer = trainer_loop(cfg, data, steps)
        parts2 = build(cfg, data=data)
        t_plain = plain_loop(parts2, steps)
        ratios.append(t_trainer / t_plain)
        print(f"  rep {r}: trainer {t_trainer * 1e3:.2f} ms/step, plain {t_plain * 1e3:.2f} ms/step, "
              f"ratio {t_trainer / t_plain:.3f}", flush=True)
    print(f"trainer overhead ({model}, batch {b}, {steps} steps): median ratio {statistics.median(ratios):.3f} "
          f"(target <= 1.03)")


def step_time(model, opt, x, y, steps: int, warmup: int = 3, bf16: bool = False) -> tuple[float, float]:
    """(median seconds per training step, the first `warmup` steps left out; seconds of the first step).
    A step: forward (under bf16 autocast if asked), cross entropy, backward, optimizer step."""
    times = []
    for _ in range(warmup + steps):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
        loss = F.cross_entropy(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[warmup:]), times[0]


def formats(model: str, steps: int) -> None:
    """fp32 against bf16 autocast, NCHW against channels_last: time per training step, same process."""
    b = 128
    data = synthetic(b * 4)
    base = None
    for cl in (False, True):
        for prec in ("fp32", "bf16"):
            cfg = load_config(None, [f"model={model}", f"batch_size={b}", "dataset=synthetic", f"precision={prec}",
                                     f"channels_last={str(cl).lower()}", "optimizer=momentum", "lr=0.01"])
            p = build(cfg, data=data)
            x = p.preprocess(to_float(data.train.x[:b]))
            if cl:
                x = x.contiguous(memory_format=torch.channels_last)
            t, _ = step_time(p.model, p.optimizer, x, data.train.y[:b], steps, warmup=3, bf16=prec == "bf16")
            base = base or t
            print(f"  {model} {'channels_last' if cl else 'NCHW':>13} {prec}: {t * 1e3:7.1f} ms/step "
                  f"({base / t:.2f}x the speed of NCHW fp32)", flush=True)


def peak_memory(config: str, epochs: int) -> None:
    code = ("import resource, trainlab, tempfile; d=tempfile.mkdtemp(); "
            f"trainlab.train({config!r}, quiet=True, overrides=['epochs={epochs}', 'runs_dir='+d]); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    kb = int(out.stdout.strip().splitlines()[-1])
    print(f"peak memory (max RSS) of {config}, {epochs} epoch(s): {kb / 1024:.0f} MiB")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--model", default="convnet")
    ap.add_argument("--memory-config", default="configs/default.yaml")
    ap.add_argument("--memory-epochs", type=int, default=1)
    ap.add_argument("--recipe", default="configs/fast.yaml", help="a config whose whole step is measured too ('' = skip)")
    a = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    overhead(a.model, a.steps, a.reps)
    if a.recipe:
        recipe_overhead(a.recipe, a.steps, a.reps)
    formats(a.model, max(5, a.steps // 10))
    if a.memory_epochs > 0 and os.path.exists(a.memory_config):
        peak_memory(a.memory_config, a.memory_epochs)
