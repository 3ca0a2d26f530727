"""Files of a run folder, written so that a kill at any moment leaves the old or the new
version, never half of one: atomic writes (temporary file, fsync, rename), safetensors for
weights, `torch.load(weights_only=True)` for state (nothing is unpickled), metrics logs.
"""
from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import TrainlabError
from ..version import __version__


# ---------------------------------------------------------------- atomic writes
def _atomic(path: Path, write) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise unwritable(path, e) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise unwritable(path, e) from None
        raise


def unwritable(path: Path, e: BaseException) -> TrainlabError:
    """One line for a write the disk refused (full, read-only, not a folder): the file, why, and
    what to do; the file it would have replaced is intact, and so is the run's last checkpoint."""
    code = getattr(e, "errno", None)
    if code is None:  # safetensors' error from Rust: "... I/O error: No space left on device (os error 28)"
        found = re.search(r"os error (\d+)", str(e))
        code = int(found.group(1)) if found else None
    why = os.strerror(code) if code else str(e).strip().splitlines()[0]
    full = code in (errno.ENOSPC, errno.EDQUOT)
    fix = "free some space" if full else "make it writable or set runs_dir to a writable folder"
    run = next((p for p in Path(path).parents if (p / "config.yaml").is_file()), None)
    if run is not None and (Path(path).parent.name == "plots" or Path(path).name == "report.html"):
        fix += f", then `trainlab report {run}` draws the report"
    elif run is not None and (run / "checkpoints" / "latest.json").is_file():
        fix += f", then `trainlab resume {run}` continues from its last complete checkpoint"
    return TrainlabError(f"cannot write {str(path)!r}: {why}; {fix}")


def write_bytes(path: Path, data: bytes) -> None:
    _atomic(Path(path), lambda f: f.write(data))


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: Path, obj: Any) -> None:
    """Valid JSON (RFC 8259, which has no NaN or Infinity): a non-finite number is written as null."""
    write_text(path, json.dumps(_finite(obj), indent=2, default=_json_default, allow_nan=False) + "\n")


def _finite(o: Any) -> Any:
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o


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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as e:
        raise unwritable(path, e) from None
    try:
        save_file(flat, tmp, metadata=metadata)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) or isinstance(e, SafetensorError) and "os error" in str(e):
            raise unwritable(path, e) from None
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
    buf = io.BytesIO()
    torch.save(state, buf)
    write_bytes(Path(path), buf.getvalue())


def load_state(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise TrainlabError(f"checkpoint state {str(path)!r} not found; the run has no complete checkpoint")

    try:
        with warnings.catch_warnings():  # a foreign pickle's protocol warning would print lines before ours
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several kinds for corrupt or unsafe files
        raise TrainlabError(f"checkpoint state {str(path)!r} is corrupt or unsafe to load "
                            f"({type(e).__name__}); re-run training from an earlier checkpoint") from None


def read_json_object(path: Path, fix: str) -> dict[str, Any]:
    """A JSON object from `path` (a file people may edit by hand): one line naming the file and
    `fix` when it is not valid JSON or not an object."""
    try:
        value = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise TrainlabError(f"{str(path)!r} is not valid JSON ({e.msg} at line {e.lineno}); {fix}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise TrainlabError(f"cannot read {str(path)!r} ({getattr(e, 'strerror', None) or e}); {fix}") from None
    if not isinstance(value, dict):
        raise TrainlabError(f"{str(path)!r} is not a JSON object ({{...}}) but a {type(value).__name__}; {fix}")
    return value


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

    def __init__(self, run_dir: Path | None, name: str = "metrics", rows: list[dict[str, Any]] | None = None):
        """run_dir None keeps the rows in memory only (the ranks of a distributed run other than 0)."""
        self.jsonl = run_dir / f"{name}.jsonl" if run_dir is not None else None
        self.csv = run_dir / f"{name}.csv" if name == "metrics" and run_dir is not None else None
        self.rows: list[dict[str, Any]] = list(rows or [])

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.flush()

    def truncate(self, n: int) -> None:
        self.rows = self.rows[:n]
        self.flush()

    def flush(self) -> None:
        if self.jsonl is None:
            return
        write_text(self.jsonl, "".join(json.dumps(r, default=_json_default) + "\n" for r in self.rows))
        if self.csv is not None:
            cols: list[str] = []
            for r in self.rows:
                cols += [k for k in r if k not in cols and not isinstance(r[k], (dict, list))]
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            w.writerows(self.rows)
            write_text(self.csv, buf.getvalue())


CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile", "fma")


def cpu_flags() -> list[str]:
    """The vector-instruction flags of this CPU that matter for low precision (Linux /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [fl for fl in CPU_FLAGS if fl in have]
    except OSError:
        pass
    return []


def git_hash() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(seed: int, device: str, threads: int) -> dict[str, Any]:
    return {
        "trainlab": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git": git_hash(),
        "seed": seed,
        "device": device,
        "cuda": torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
        "threads": threads,
        "cpu_flags": cpu_flags(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
