"""Numbers before and after a change, bit for bit: the same configs trained by two versions of
trainlab in one run, their metrics rows and weights compared exactly.

    .venv/bin/python bench/bit_identical.py                 # this tree against BEFORE (the commit
                                                            # before the core was untangled, issue 22)
    .venv/bin/python bench/bit_identical.py --before HEAD~3 --only mlp-dropout,chain

The other version is checked out with `git worktree` into a temporary folder; both are run through
their own command line (`python -m trainlab train CONFIG --set ...`), one case at a time, one thread,
each in its own runs folder. A case holds when every metrics row is equal (timings left out: they
are measured, not computed) and every tensor of every checkpoint, of best.safetensors and of
preprocess.safetensors is equal, bit for bit. Exit code 1 when a case differs.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "0394c62"  # issue 21's last commit: the core before it was untangled
TIMED = {"time", "images_per_s", "elapsed"}  # wall-clock measurements, not results

# (name, config file, overrides): every config path the issue names, small enough for minutes
CASES = [
    ("fast-recipe-1-epoch", "configs/fast.yaml", ["epochs=1", "precision=PRECISION"]),
    ("convnet-augment-adam-clip-cosine", "configs/default.yaml",
     ["optimizer=adam", "lr=0.002", "clip_norm=1.0", "schedule=cosine", "epochs=1", "train_subset=6000",
      "augment=[hflip,crop:magnitude=2,rotate:magnitude=10]"]),
    ("mlp-dropout-eval-every", "configs/mlp-digits.yaml", ["dropout=0.3", "eval_every=7", "epochs=3"]),
    ("chain-optimizer", "configs/mlp-digits.yaml",
     ["epochs=3", "optimizer=[{clip_by_global_norm: {max_norm: 1.0}}, scale_by_adam, "
      "{add_decayed_weights: {weight_decay: 0.01}}, scale_by_lr]", "lr=0.003"]),
    ("nesterov-l2-groups-onecycle", "configs/mlp-digits.yaml",
     ["epochs=2", "optimizer=nesterov", "weight_decay=0.001", "schedule=onecycle", "warmup_epochs=0.5",
      "backbone_lr_mult=0.5"]),
    ("adamw-step-decay", "configs/mlp-digits.yaml",
     ["epochs=3", "optimizer=adamw", "lr=0.003", "schedule=step", "schedule_options={every: 1, gamma: 0.5}"]),
    ("unet", "configs/unet-shapes.yaml", ["epochs=1", "dataset_options={n: 400}"]),
    ("ddp-2-processes", "configs/mlp-digits.yaml", ["epochs=2", "NPROC=2"]),
]


def precision() -> str:
    """The fast recipe's `precision: auto` times fp32 against bf16, so two runs could pick differently:
    both sides get what auto would pick on a CPU like this one (bf16 with AVX-512 bf16, else fp32)."""
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    return "bf16" if "avx512_bf16" in flags else "fp32"


def checkout(ref: str, folder: Path) -> Path:
    tree = folder / "before"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), ref], check=True)
    return tree


def train(tree: Path, case: tuple[str, str, list[str]], runs: Path) -> Path:
    """Train one case with the trainlab in `tree`; the run folder."""
    name, config, sets = case
    nproc = [s.split("=")[1] for s in sets if s.startswith("NPROC=")]
    sets = [s.replace("PRECISION", precision()) for s in sets if not s.startswith("NPROC=")]
    argv = [sys.executable, "-m", "trainlab", "train", str(ROOT / config), "--quiet",
            *[a for s in sets + ["threads=1", f"runs_dir={runs}", f"name={name}"] for a in ("--set", s)]]
    argv += ["--nproc", nproc[0]] if nproc else []
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed with the trainlab in {tree}:\n{done.stderr[-2000:]}")
    return runs / name


def rows(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k not in TIMED}
            for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def tensors(run: Path) -> dict[str, dict]:
    ckpt = run / "checkpoints"
    return {p.name: load_file(str(p)) for p in sorted(ckpt.glob("*.safetensors"))}


def compare(a: Path, b: Path) -> list[str]:
    """What differs between run folders a and b (empty: bit for bit the same)."""
    out = []
    ra, rb = rows(a), rows(b)
    if len(ra) != len(rb):
        out.append(f"{len(ra)} metrics rows against {len(rb)}")
    for i, (x, y) in enumerate(zip(ra, rb)):
        if x != y:
            keys = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
            out.append(f"row {i} differs in {', '.join(keys)}")
            break
    ta, tb = tensors(a), tensors(b)
    if set(ta) != set(tb):
        out.append(f"checkpoint files {sorted(ta)} against {sorted(tb)}")
    for f in sorted(set(ta) & set(tb)):
        bad = [k for k in ta[f] if k not in tb[f] or not bool((ta[f][k] == tb[f][k]).all())
               or ta[f][k].dtype != tb[f][k].dtype or ta[f][k].shape != tb[f][k].shape]
        if bad or set(ta[f]) != set(tb[f]):
            out.append(f"{f}: {len(bad)} tensors differ (first: {bad[0] if bad else 'key sets'})")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default=BEFORE, help=f"the other version, a git ref (default {BEFORE})")
    ap.add_argument("--only", default="", help="comma-separated case names (default: every case)")
    args = ap.parse_args()
    cases = [c for c in CASES if not args.only or c[0] in args.only.split(",")]
    with tempfile.TemporaryDirectory(prefix="bit-identical-") as tmp:
        tmp = Path(tmp)
        before = checkout(args.before, tmp)
        try:
            failed = 0
            print(f"{len(cases)} cases, trainlab at {args.before} against this tree ({ROOT}); precision "
                  f"{precision()} for the fast recipe", flush=True)
            for case in cases:
                t0 = time.perf_counter()
                a = train(before, case, tmp / "runs-before")
                b = train(ROOT, case, tmp / "runs-after")
                diff = compare(a, b)
                n_rows, n_files = len(rows(a)), len(tensors(a))
                print(f"{'identical' if not diff else 'DIFFERENT'}  {case[0]}: {n_rows} metrics rows, "
                      f"{n_files} weight files ({time.perf_counter() - t0:.0f} s)"
                      + "".join(f"\n    {d}" for d in diff), flush=True)
                failed += bool(diff)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], check=False)
    print(f"{len(cases) - failed}/{len(cases)} cases bit for bit identical")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
