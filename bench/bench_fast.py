"""Time to 93% Fashion-MNIST test accuracy: a careful plain-PyTorch recipe against a trainlab config.

The reference is written here in plain PyTorch (nothing of trainlab's training code): a small
BN CNN (conv w-2w-4w, w=64 by default, each BN-ReLU-maxpool, then a linear head), Nesterov SGD at
a one-cycle learning rate (peak 0.1, weight decay 5e-4), label smoothing 0.1, batch 128, random
flips and 2-pixel crops drawn per image, and flip test-time augmentation; fp32, NCHW, as plainly
written. A trainlab run that averages its weights (`ema`) is scored with the average, and with
the config's `tta` views, as the run itself scores. Both recipes train on the same
54,000 training images (trainlab's split; 6,000 held out for validation) and are scored on the
10,000 test images after every epoch. Times are wall-clock training time: evaluation is excluded
for both in the same way (the reference stops its clock; trainlab's `elapsed` excludes it).

    .venv/bin/python bench/bench_fast.py                          # reference vs configs/fast.yaml, 3 seeds
    .venv/bin/python bench/bench_fast.py --config C.yaml --set epochs=6 --seeds 0 1 2 --width 64

Prints each recipe's test accuracy per epoch with its training time, each one's time to the
target, the ratio, and a table over the trainlab recipe's seeds (mean +- sd of the final accuracy);
writes bench_fast.png (test accuracy against training time, both recipes, every seed).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import trainlab
from trainlab.data import load_dataset, to_float


def reference_model(width: int = 64) -> nn.Module:
    def block(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
    w = width
    return nn.Sequential(*block(1, w), *block(w, 2 * w), *block(2 * w, 4 * w), nn.Flatten(), nn.Linear(4 * w * 3 * 3, 10))


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and random 2-pixel crops (zero padding), drawn per image: (B, 1, 28, 28)."""
    b = len(x)
    flip = torch.rand(b, generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    padded = F.pad(x, (2, 2, 2, 2))[:, 0]  # (B, 32, 32)
    dy, dx = torch.randint(0, 5, (2, b), generator=g)
    rows = (dy[:, None] + torch.arange(28))[:, :, None]  # (B, 28, 1)
    cols = (dx[:, None] + torch.arange(28))[:, None, :]  # (B, 1, 28)
    return padded[torch.arange(b)[:, None, None], rows, cols][:, None]


@torch.no_grad()
def test_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    hits = 0
    for i in range(0, len(x), 1000):
        xb = x[i:i + 1000]
        p = model(xb).softmax(1) + model(xb.flip(-1)).softmax(1)  # flip TTA
        hits += int((p.argmax(1) == y[i:i + 1000]).sum())
    model.train()
    return hits / len(x)


def reference(data, epochs: int, seed: int, width: int = 64) -> list[tuple[int, float, float]]:
    """(epoch, training seconds so far, test accuracy) after every epoch."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x, y = to_float(data.train.x), data.train.y
    mean, std = x.mean(), x.std()
    x, xt = (x - mean) / std, (to_float(data.test.x) - mean) / std
    model = reference_model(width)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    steps = len(y) // 128
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=epochs * steps)
    out, clock = [], 0.0
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(len(y), generator=g)
        for i in range(steps):
            idx = perm[i * 128:(i + 1) * 128]
            loss = F.cross_entropy(model(augment(x[idx], g)), y[idx], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        clock += time.perf_counter() - t0
        out.append((epoch, clock, test_accuracy(model, xt, data.test.y)))
        print(f"  reference epoch {epoch}: {clock:6.1f} s  test acc {out[-1][2]:.4f}", flush=True)
    return out


def trainlab_recipe(config: str, overrides: list[str], seed: int) -> list[tuple[int, float, float]]:
    """The same per-epoch record for a trainlab config: every epoch's checkpoint scored on the test split."""
    from trainlab.runs.files import load_state, load_tensors
    from trainlab.models import load_weights
    from trainlab.training.evaluation import evaluate_split
    from trainlab.training.saved import load_saved

    with tempfile.TemporaryDirectory() as d:
        from trainlab.config import load_config

        over = [*overrides, f"runs_dir={d}", f"seed={seed}", "name=fast"]
        cfg = load_config(config, over)
        run = trainlab.train(cfg.model_copy(update={"keep_checkpoints": 1000}), quiet=True, report=False)
        rows = [r for r in run.metrics if "val_acc" in r]
        spe = rows[0]["step"] if rows else 1
        p = load_saved(run)
        out = []
        for r in rows:
            w = run.checkpoints.paths(r["step"])[0] if r["step"] in run.checkpoints.steps() else None
            if w is None:
                continue
            load_weights(p.model, load_tensors(w), str(w))
            ema = load_state(run.checkpoints.paths(r["step"])[1]).get("ema")
            if ema is not None:  # the run evaluates its weight average: score that, as the loop does
                with torch.no_grad():
                    torch._foreach_copy_(list(p.model.parameters()), ema["params"])
            acc = evaluate_split(p, p.data.test.x, p.data.test.y, tta=cfg.tta)["acc"]
            out.append((round(r["step"] / spe), r["elapsed"], acc))
            print(f"  trainlab  epoch {out[-1][0]}: {r['elapsed']:6.1f} s  test acc {acc:.4f}", flush=True)
        return out


def time_to(record, target: float) -> float | None:
    return next((t for _, t, a in record if a >= target), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/fast.yaml")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    ap.add_argument("--epochs", type=int, default=15, help="reference epochs (its one-cycle length)")
    ap.add_argument("--width", type=int, default=64, help="reference channels of the first block (x2, x4 after)")
    ap.add_argument("--target", type=float, default=0.93)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the trainlab recipe")
    ap.add_argument("--no-reference", action="store_true", help="skip the reference (exploring configs)")
    ap.add_argument("--out", default="bench_fast.png")
    a = ap.parse_args()
    data = load_dataset("fashion-mnist", val_fraction=0.1, seed=0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; target {a.target:.0%} test accuracy",
          flush=True)
    fmt = lambda t: f"{t:.1f} s" if t is not None else "not reached"  # noqa: E731
    ref = None
    if not a.no_reference:
        print(f"reference: plain PyTorch, BN CNN {a.width}-{2 * a.width}-{4 * a.width}, {a.epochs} epochs", flush=True)
        ref = reference(data, a.epochs, 0, a.width)
    runs = {}
    for seed in a.seeds:
        print(f"trainlab: {a.config} {' '.join(a.set)} seed {seed}", flush=True)
        runs[seed] = trainlab_recipe(a.config, a.set, seed)
    t_ref = time_to(ref, a.target) if ref else None
    print(f"\n| recipe | seed | time to {a.target:.0%} | final test acc | ratio to the reference |\n|---|---:|---:|---:|---:|")
    if ref:
        print(f"| plain PyTorch reference | 0 | {fmt(t_ref)} | {ref[-1][2]:.2%} | 1 |")
    for seed, rec in runs.items():
        t = time_to(rec, a.target)
        ratio = f"{t / t_ref:.3f}" if t and t_ref else "-"
        print(f"| {a.config} | {seed} | {fmt(t)} | {rec[-1][2]:.2%} | {ratio} |")
    finals = [rec[-1][2] for rec in runs.values()]
    times = [time_to(rec, a.target) for rec in runs.values()]
    if len(finals) > 1:
        import statistics as st
        print(f"\n{a.config}: final test acc {st.mean(finals):.2%} +- {st.stdev(finals):.2%} (mean +- sd, "
              f"{len(finals)} seeds); reached {a.target:.0%} in {sum(t is not None for t in times)}/{len(times)}")
    if t_ref and all(times):
        print(f"ratio of the slowest seed's time to {a.target:.0%} to the reference's: {max(times) / t_ref:.3f} "
              "(goal <= 0.125)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    if ref:
        ax.plot([t for _, t, _ in ref], [acc for _, _, acc in ref], marker="o", color="C0",
                label="plain PyTorch reference")
    for i, (seed, rec) in enumerate(runs.items()):
        ax.plot([t for _, t, _ in rec], [acc for _, _, acc in rec], marker=".", color="C1", alpha=0.8,
                label=f"trainlab {Path(a.config).stem}" + (f" ({len(runs)} seeds)" if len(runs) > 1 else "")
                if i == 0 else None)
    ax.axhline(a.target, color="gray", ls="--", lw=0.8)
    lowest = min(acc for rec in [*runs.values(), *([ref] if ref else [])] for _, _, acc in rec)
    ax.set_ylim(min(0.85, lowest - 0.01), None)  # zoom on the last points, but never cut a curve off
    ax.set_xlabel("training time (s), evaluation excluded"), ax.set_ylabel("test accuracy")
    ax.set_title(f"Fashion-MNIST: test accuracy after each epoch, {torch.get_num_threads()} threads")
    ax.grid(alpha=0.3), ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(Path(a.out), dpi=110)
    print(f"picture: {a.out}")


if __name__ == "__main__":
    main()
