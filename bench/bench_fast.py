"""Time to 93% Fashion-MNIST test accuracy: a careful plain-PyTorch recipe against a trainlab config.

The reference is written here in plain PyTorch (nothing of trainlab's training code): a small
BN CNN (conv 32-64-128, each BN-ReLU-maxpool, then a linear head), Nesterov SGD at a one-cycle
learning rate (peak 0.1, weight decay 5e-4), label smoothing 0.1, batch 128, random flips and
2-pixel crops on whole batches, and flip test-time augmentation. Both recipes train on the same
54,000 training images (trainlab's split; 6,000 held out for validation) and are scored on the
10,000 test images after every epoch. Times are wall-clock training time: evaluation is excluded
for both in the same way (the reference stops its clock; trainlab's `elapsed` excludes it).

    .venv/bin/python bench/bench_fast.py                          # reference vs configs/default.yaml
    .venv/bin/python bench/bench_fast.py --config configs/fast.yaml --epochs 10 --target 0.93

Prints each recipe's test accuracy per epoch with its training time, each one's time to the
target, and the ratio; writes bench_fast.png (test accuracy against training time, both recipes).
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
from trainlab.data.datasets import load_dataset, to_float


def reference_model() -> nn.Module:
    def block(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*block(1, 32), *block(32, 64), *block(64, 128), nn.Flatten(), nn.Linear(128 * 3 * 3, 10))


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and 2-pixel crops of a whole batch (B, 1, 28, 28)."""
    flip = torch.rand(len(x), generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    padded = F.pad(x, (2, 2, 2, 2))
    dy, dx = (int(v) for v in torch.randint(0, 5, (2,), generator=g))
    return padded[..., dy:dy + 28, dx:dx + 28]  # one shift per batch: cheap and still varied


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


def reference(data, epochs: int, seed: int) -> list[tuple[int, float, float]]:
    """(epoch, training seconds so far, test accuracy) after every epoch."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x, y = to_float(data.train.x), data.train.y
    mean, std = x.mean(), x.std()
    x, xt = (x - mean) / std, (to_float(data.test.x) - mean) / std
    model = reference_model()
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


def trainlab_recipe(config: str, epochs: int | None, seed: int) -> list[tuple[int, float, float]]:
    """The same per-epoch record for a trainlab config: every epoch's checkpoint scored on the test split."""
    from trainlab.build import load_weights
    from trainlab.evaluation import evaluate_split
    from trainlab.files import load_tensors
    from trainlab.saved import load_saved

    with tempfile.TemporaryDirectory() as d:
        from trainlab.config import load_config

        over = [f"runs_dir={d}", f"seed={seed}", "name=fast"] + ([f"epochs={epochs}"] if epochs else [])
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
            acc = evaluate_split(p, p.data.test.x, p.data.test.y)["acc"]
            out.append((round(r["step"] / spe), r["elapsed"], acc))
            print(f"  trainlab  epoch {out[-1][0]}: {r['elapsed']:6.1f} s  test acc {acc:.4f}", flush=True)
        return out


def time_to(record, target: float) -> float | None:
    return next((t for _, t, a in record if a >= target), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/default.yaml")
    ap.add_argument("--epochs", type=int, default=10, help="reference epochs (its one-cycle length)")
    ap.add_argument("--target", type=float, default=0.93)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    data = load_dataset("fashion-mnist", val_fraction=0.1, seed=0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; target {a.target:.0%} test accuracy",
          flush=True)
    ref = reference(data, a.epochs, a.seed)
    ours = trainlab_recipe(a.config, None, a.seed)
    t_ref, t_ours = time_to(ref, a.target), time_to(ours, a.target)
    fmt = lambda t: f"{t:.1f} s" if t is not None else "not reached"  # noqa: E731
    print(f"time to {a.target:.0%}: reference {fmt(t_ref)}, {a.config} {fmt(t_ours)}"
          + (f"; ratio {t_ours / t_ref:.3f} (target <= 0.125)" if t_ref and t_ours else ""))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for rec, label in ((ref, "plain PyTorch reference"), (ours, a.config)):
        ax.plot([t for _, t, _ in rec], [acc for _, _, acc in rec], marker="o", label=label)
    ax.axhline(a.target, color="gray", ls="--", lw=0.8)
    ax.set_xlabel("training time (s)"), ax.set_ylabel("test accuracy"), ax.grid(alpha=0.3), ax.legend()
    fig.tight_layout()
    fig.savefig(Path("bench_fast.png"), dpi=110)
    print("picture: bench_fast.png")


if __name__ == "__main__":
    main()
