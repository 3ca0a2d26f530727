"""Time to 93% Fashion-MNIST test accuracy: the shared yardstick against a trainlab config.

The reference is the shared yardstick, ../shared/yardstick/fmnist_reference.py from the repository
root, run UNCHANGED as a subprocess (`python fmnist_reference.py 32 EPOCHS`): a plain-PyTorch BN CNN
(32-64-128, two 3x3 convs per block), batch 256, fp32 channels_last, one-cycle Nesterov SGD, flip TTA,
trained on all 60,000 training images. It prints `epoch N train_time Ts test_acc A` per epoch, its
evaluation off its clock. Its time to 93% is DEFINED as 7.5 of its epochs (1755 steps of 256):
7.5 x its mean measured epoch time in this run; the first epoch it really passed 93% is printed
beside it. --reference-epochs N (default 8, the yardstick's own EPOCHS argument) may be 1 or 2 to
measure its step cost quickly: the 7.5-epoch time is then still 7.5 x the mean epoch.

The trainlab recipe trains on trainlab's 54,000 images (6,000 held out for validation); every epoch's
checkpoint is scored on the 10,000 test images as the run scores itself (its weight average when
`ema` is on, its `tta` views). Times are trainlab's `elapsed`: training only, evaluation excluded.
Both run on the same number of threads (--threads; the yardstick's follow OMP_NUM_THREADS).

    .venv/bin/python bench/bench_fast.py                          # yardstick vs configs/fast.yaml, 3 seeds
    .venv/bin/python bench/bench_fast.py --threads 1 --reference-epochs 1 --seeds 0 --set epochs=5
    .venv/bin/python bench/bench_fast.py --no-reference --config configs/fast94.yaml

Prints each recipe's test accuracy and training time per epoch, each one's time to the target, the
ratio per seed (trainlab's time to 93% / the yardstick's 7.5-epoch time; the goal is <= 0.125), and
writes bench_fast.png (test accuracy against training time, both recipes, every seed).
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from matplotlib.figure import Figure  # a Figure without pyplot: no backend, no window

import trainlab
from trainlab.config import load_config
from trainlab.models import load_weights
from trainlab.runs.files import load_state, load_tensors
from trainlab.training.evaluation import evaluate_split
from trainlab.training.saved import load_saved

ROOT = Path(__file__).resolve().parent.parent
YARDSTICK = ROOT.parent / "shared" / "yardstick" / "fmnist_reference.py"
YARDSTICK_STEPS_PER_EPOCH = 60_000 // 256  # 234: it drops the last partial batch
DEFINED_EPOCHS = 7.5  # the yardstick's time to 93% is defined as 7.5 of its epochs (1755 steps)
GOAL = 0.125
LINE = re.compile(r"epoch (\d+) train_time ([\d.]+)s test_acc ([\d.]+)")

Record = list[tuple[int, float, float]]  # (epoch, training seconds so far, test accuracy)


def yardstick(epochs: int, threads: int, width: int = 32) -> Record:
    """Run the yardstick as it is, on `threads` threads; its per-epoch lines, parsed as they come."""
    if not YARDSTICK.is_file():
        sys.exit(f"bench_fast: yardstick {YARDSTICK} not found (it is ../shared/yardstick/fmnist_reference.py from "
                 "the repository root); put the shared folder beside the repository or pass --no-reference")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, str(YARDSTICK), str(width), str(epochs)]
    out: Record = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as proc:
        for line in proc.stdout:
            m = LINE.search(line)
            if m is None:
                print(f"  yardstick: {line.rstrip()}", flush=True)
                continue
            out.append((int(m[1]), float(m[2]), float(m[3])))
            print(f"  yardstick epoch {out[-1][0]}: {out[-1][1]:7.1f} s  test acc {out[-1][2]:.4f}", flush=True)
    if proc.returncode != 0 or not out:
        sys.exit(f"bench_fast: the yardstick exited with status {proc.returncode} after {len(out)} epochs; "
                 f"run `{' '.join(cmd)}` to see why")
    return out


def trainlab_recipe(config: str, overrides: list[str], seed: int, threads: int) -> tuple[Record, int]:
    """The same per-epoch record for a trainlab config (every epoch's checkpoint scored on the test
    split, as the run scores itself), and the run's steps per epoch."""
    with tempfile.TemporaryDirectory() as d:
        over = [*overrides, f"runs_dir={d}", f"seed={seed}", "name=fast", f"threads={threads}"]
        cfg = load_config(config, over)
        run = trainlab.train(cfg.model_copy(update={"keep_checkpoints": 1000}), quiet=True, report=False)
        rows = [r for r in run.metrics if "val_acc" in r]
        spe = rows[0]["step"] if rows else 1
        p = load_saved(run)
        out: Record = []
        for r in rows:
            if r["step"] not in run.checkpoints.steps():
                continue
            weights, state = run.checkpoints.paths(r["step"])
            load_weights(p.model, load_tensors(weights), str(weights))
            ema = load_state(state).get("ema")
            if ema is not None:  # the run evaluates its weight average: score that, as the loop does
                with torch.no_grad():
                    torch._foreach_copy_(list(p.model.parameters()), ema["params"])
            acc = evaluate_split(p, p.data.test.x, p.data.test.y, tta=cfg.tta)["acc"]
            out.append((round(r["step"] / spe), r["elapsed"], acc))
            print(f"  trainlab  epoch {out[-1][0]}: {r['elapsed']:7.1f} s  test acc {acc:.4f}  "
                  f"(val acc {r['val_acc']:.4f})", flush=True)
        return out, spe


def time_to(record: Record, target: float) -> float | None:
    return next((t for _, t, a in record if a >= target), None)


def epoch_to(record: Record, target: float) -> int | None:
    return next((e for e, _, a in record if a >= target), None)


def plot(ref: Record | None, t_ref: float | None, runs: dict[int, Record], a, threads: int) -> None:
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.add_subplot()
    if ref:
        ax.plot([t for _, t, _ in ref], [acc for _, _, acc in ref], marker="o", color="C0", label="yardstick (plain PyTorch)")
    for i, rec in enumerate(runs.values()):
        label = f"trainlab {Path(a.config).stem}" + (f" ({len(runs)} seeds)" if len(runs) > 1 else "")
        ax.plot([t for _, t, _ in rec], [acc for _, _, acc in rec], marker=".", color="C1", alpha=0.8,
                label=label if i == 0 else None)
    ax.axhline(a.target, color="gray", ls="--", lw=0.8)
    if t_ref:
        ax.axvline(t_ref, color="C0", ls=":", lw=1, label=f"yardstick's time to {a.target:.0%} (7.5 epochs)")
        ax.axvline(GOAL * t_ref, color="C1", ls=":", lw=1, label=f"goal: {GOAL:g} of it")
    lowest = min(acc for rec in [*runs.values(), *([ref] if ref else [])] for _, _, acc in rec)
    ax.set_ylim(max(0.80, min(0.88, lowest - 0.005)), None)  # zoom on the approach to the target
    ax.set_xscale("log")  # the two recipes differ ~8x in time: both curves stay readable
    ax.set_xlabel("training time (s, log scale), evaluation excluded"), ax.set_ylabel("test accuracy")
    ax.set_title(f"Fashion-MNIST: test accuracy after each epoch, {threads} threads")
    ax.grid(alpha=0.3, which="both"), ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(Path(a.out), dpi=110)
    print(f"picture: {a.out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/fast.yaml")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the trainlab recipe")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(), help="threads for both recipes")
    ap.add_argument("--reference-epochs", type=int, default=8,
                    help="the yardstick's EPOCHS argument (its one-cycle length); 1-2 measure its step cost only")
    ap.add_argument("--no-reference", action="store_true", help="skip the yardstick (exploring configs)")
    ap.add_argument("--target", type=float, default=0.93)
    ap.add_argument("--out", default="bench_fast.png")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {a.threads} threads for both recipes; target {a.target:.0%} test accuracy",
          flush=True)
    fmt = lambda t: f"{t:.1f} s" if t is not None else "not reached"  # noqa: E731
    ref, t_ref = None, None
    if not a.no_reference:
        print(f"yardstick: {YARDSTICK.name} 32 {a.reference_epochs} (run unchanged)", flush=True)
        ref = yardstick(a.reference_epochs, a.threads)
        epoch_s = ref[-1][1] / len(ref)
        t_ref = DEFINED_EPOCHS * epoch_s
        first = epoch_to(ref, a.target)
        print(f"  yardstick: {epoch_s:.1f} s per epoch ({1e3 * epoch_s / YARDSTICK_STEPS_PER_EPOCH:.0f} ms per step "
              f"of 256); time to {a.target:.0%} DEFINED as 7.5 epochs: {t_ref:.1f} s; "
              + (f"it passed {a.target:.0%} at epoch {first} ({fmt(time_to(ref, a.target))})" if first else
                 f"it did not pass {a.target:.0%} in {len(ref)} epochs"), flush=True)
    runs, spes = {}, {}
    for seed in a.seeds:
        print(f"trainlab: {a.config} {' '.join(a.set)} seed {seed}", flush=True)
        runs[seed], spes[seed] = trainlab_recipe(a.config, a.set, seed, a.threads)
    rec0, spe0 = next(iter(runs.values())), next(iter(spes.values()))
    step_ms = 1e3 * rec0[-1][1] / (len(rec0) * spe0)
    print(f"\ntrainlab: {step_ms:.1f} ms per step ({spe0} steps per epoch, seed {a.seeds[0]})"
          + (f"; {step_ms / (1e3 * ref[-1][1] / (len(ref) * YARDSTICK_STEPS_PER_EPOCH)):.3f}x the yardstick's step"
             if ref else ""))
    print(f"\n| recipe | seed | time to {a.target:.0%} | epoch | final test acc | ratio to the yardstick |\n"
          "|---|---:|---:|---:|---:|---:|")
    if ref:
        print(f"| yardstick (7.5 epochs, defined) | 0 | {fmt(t_ref)} | 7.5 | {ref[-1][2]:.2%} | 1 |")
    for seed, rec in runs.items():
        t = time_to(rec, a.target)
        ratio = f"{t / t_ref:.3f}" if t and t_ref else "-"
        print(f"| {a.config} | {seed} | {fmt(t)} | {epoch_to(rec, a.target) or '-'} | {rec[-1][2]:.2%} | {ratio} |")
    finals = [rec[-1][2] for rec in runs.values()]
    times = [time_to(rec, a.target) for rec in runs.values()]
    if len(finals) > 1:
        print(f"\n{a.config}: final test acc {statistics.mean(finals):.2%} +- {statistics.stdev(finals):.2%} (mean +- "
              f"sd, {len(finals)} seeds); reached {a.target:.0%} in {sum(t is not None for t in times)}/{len(times)}")
    if t_ref and all(times):
        print(f"ratio of the slowest seed's time to {a.target:.0%} to the yardstick's: {max(times) / t_ref:.3f} "
              f"(goal <= {GOAL:g})")
    plot(ref, t_ref, runs, a, a.threads)


if __name__ == "__main__":
    main()
