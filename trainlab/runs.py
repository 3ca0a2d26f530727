"""Run folders: the record of a run on disk, and safe checkpoints.

    runs/<name>/
      config.yaml       resolved config, every default written out
      env.json          versions, git hash, seed, threads, device
      metrics.jsonl     one row per evaluation (metrics.csv holds the same rows)
      diagnostics.jsonl per-layer statistics (when diagnostics: true)
      checkpoints/      ckpt-<step>.safetensors (weights) + ckpt-<step>.pt (optimizer, RNG, loop state)
                        latest.json -> the newest complete pair; best.safetensors; preprocess.safetensors
      summary.json      final state: status, best epoch, metrics, test metrics
      plots/*.png, report.html

Every file is written atomically (temporary file, fsync, rename), so a run killed at any
moment leaves either the old or the new version, never half of one. Checkpoint state is
read with `torch.load(weights_only=True)`: nothing is unpickled.
"""
from __future__ import annotations

import csv
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import TrainlabError

CKPT_RE = re.compile(r"ckpt-(\d{8})\.safetensors$")


# ---------------------------------------------------------------- atomic writes
def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    _atomic(Path(path), lambda f: f.write(data))


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """safetensors, atomically: contiguous CPU copies, shared storage broken."""
    flat = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(flat, tmp, metadata=metadata)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise TrainlabError(f"checkpoint {str(path)!r} not found; pass a run folder that holds checkpoints/")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise TrainlabError(f"checkpoint {str(path)!r} is corrupt or not safetensors ({str(e).splitlines()[0][:80]}); "
                            "re-run training or pick another checkpoint") from None


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Optimizer/RNG/loop state: tensors, numbers, strings, lists and dicts only (weights_only-loadable)."""
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    write_bytes(Path(path), buf.getvalue())


def load_state(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise TrainlabError(f"checkpoint state {str(path)!r} not found; the run has no complete checkpoint")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several kinds for corrupt or unsafe files
        raise TrainlabError(f"checkpoint state {str(path)!r} is corrupt or unsafe to load "
                            f"({type(e).__name__}); re-run training from an earlier checkpoint") from None


# ---------------------------------------------------------------- run folders
def new_run_dir(runs_dir: str | Path, name: str) -> Path:
    """Create a fresh folder; an existing name is never reused (suffix -2, -3, ...)."""
    root = Path(runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "run"
    for i in range(1, 10_000):
        cand = root / (base if i == 1 else f"{base}-{i}")
        try:
            cand.mkdir()
            return cand
        except FileExistsError:
            continue
    raise TrainlabError(f"too many runs named {base!r} in {str(root)!r}; choose another name")


@dataclass
class Run:
    """A run folder: its config, metrics, summary and checkpoints.

    >>> run = trainlab.load_run("runs/convnet-fashion-mnist")   # doctest: +SKIP
    >>> run.summary["best"]["val_acc"], run.metrics[-1]["epoch"]  # doctest: +SKIP
    """

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config(self) -> dict[str, Any]:
        return yaml.safe_load((self.path / "config.yaml").read_text())

    @property
    def summary(self) -> dict[str, Any]:
        p = self.path / "summary.json"
        return json.loads(p.read_text()) if p.is_file() else {}

    @property
    def metrics(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path / "metrics.jsonl")

    @property
    def diagnostics(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path / "diagnostics.jsonl")

    @property
    def env(self) -> dict[str, Any]:
        p = self.path / "env.json"
        return json.loads(p.read_text()) if p.is_file() else {}

    @property
    def ckpt_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def report(self) -> Path:
        return self.path / "report.html"

    def best_weights(self) -> dict[str, torch.Tensor]:
        best = self.ckpt_dir / "best.safetensors"
        if best.is_file():
            return load_tensors(best)
        return load_tensors(self.latest_checkpoint()[0])

    def latest_checkpoint(self) -> tuple[Path, Path]:
        """(weights, state) of the newest complete checkpoint."""
        ptr = self.ckpt_dir / "latest.json"
        if not ptr.is_file():
            raise TrainlabError(f"run {str(self.path)!r} has no checkpoint yet (checkpoints/latest.json missing); "
                                "start it again with `trainlab train`")
        try:
            step = int(json.loads(ptr.read_text())["step"])
        except (ValueError, KeyError, TypeError):
            raise TrainlabError(f"{str(ptr)!r} is corrupt; remove it to fall back to training from scratch") from None
        return self.ckpt_dir / f"ckpt-{step:08d}.safetensors", self.ckpt_dir / f"ckpt-{step:08d}.pt"

    def load_model(self, device: str = "cpu", weights: str = "best"):
        """Rebuild the model from config.yaml and load its best (or last) weights; eval mode."""
        from .trainer import build_model_for_run

        return build_model_for_run(self, device=device, weights=weights)


def load_run(path: str | Path) -> Run:
    """Open an existing run folder; one clear error if it is not one."""
    p = Path(path)
    if not p.is_dir():
        raise TrainlabError(f"run folder {str(p)!r} not found; `trainlab runs` lists the runs")
    if not (p / "config.yaml").is_file():
        raise TrainlabError(f"{str(p)!r} is not a trainlab run (no config.yaml); pass a folder made by `trainlab train`")
    return Run(p)


def iter_runs(runs_dir: str | Path) -> Iterator[Run]:
    root = Path(runs_dir)
    if not root.is_dir():
        return
    for p in sorted(root.iterdir(), key=lambda q: q.stat().st_mtime):
        if (p / "config.yaml").is_file():
            yield Run(p)


# ---------------------------------------------------------------- metrics files
def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not Path(path).is_file():
        return []
    rows = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a torn last line after a crash: keep what came before
    return rows


class MetricsLog:
    """metrics.jsonl and metrics.csv, rewritten whole at each evaluation (a few KB): the
    files always match the rows up to the last checkpoint, so a resumed run appends cleanly."""

    def __init__(self, run_dir: Path, name: str = "metrics", rows: list[dict[str, Any]] | None = None):
        self.jsonl = run_dir / f"{name}.jsonl"
        self.csv = run_dir / f"{name}.csv" if name == "metrics" else None
        self.rows: list[dict[str, Any]] = list(rows or [])

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.flush()

    def truncate(self, n: int) -> None:
        self.rows = self.rows[:n]
        self.flush()

    def flush(self) -> None:
        write_text(self.jsonl, "".join(json.dumps(r, default=_json_default) + "\n" for r in self.rows))
        if self.csv is not None:
            cols: list[str] = []
            for r in self.rows:
                cols += [k for k in r if k not in cols and not isinstance(r[k], (dict, list))]
            import io

            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            w.writerows(self.rows)
            write_text(self.csv, buf.getvalue())


def git_hash() -> str | None:
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(seed: int, device: str, threads: int) -> dict[str, Any]:
    import platform
    import sys

    import numpy

    return {
        "trainlab": __import__("trainlab").__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git": git_hash(),
        "seed": seed,
        "device": device,
        "cuda": torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
        "threads": threads,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
