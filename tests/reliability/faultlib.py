"""The faults a user meets, as functions that inject one fault and check what trainlab did about it.

Shared by `tests/reliability/` (a lean sample of each kind, asserted) and `bench/faults.py` (the
full counts, printed as "N/N held"). Each scenario returns an `Outcome`: whether the property
held, and if not, why, so a regression shows up as a number in the bench and as a failing test.

This module holds what every kind of fault shares: the tiny run they are made on, running the
CLI, references and comparisons, forked processes, the file wrapper the write faults build on,
and repeats of one run. The faults themselves, one module per kind:
- `fault_kills`: a run SIGKILLed at a chosen event (a training step's forward, a write or fsync
  in checkpoints/, an evaluation, a write of the report) or at a random moment, then resumed;
- `fault_disk`: a full disk while a file of the run is written, a read-only runs folder;
- `fault_divergence`: a NaN in the loss, a gradient or the input, or a learning rate far too high;
- `fault_parallel`: compare, search and DDP under kills, and many workers on two cores.

What "held" means is checked against a reference, never against nothing:
- a run killed and resumed: its final and best weights hash like an uninterrupted run's, its
  metric rows (times aside) and test scores are equal, and no file it left is half-written;
- bad input: exit code 2, one line on stderr naming the input and the fix, no traceback, no
  code run (a pickle payload would create a marker file), and the folder's tree hashes the same
  before and after;
- a fault while writing (ENOSPC): one line, the previous checkpoint loads, and a resume once
  there is room again ends bit for bit like the reference.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]

# A tiny run with every source of randomness a resume must restore: data order, dropout,
# augmentation, Adam's moments, early stopping's counters. 40 steps an epoch, 120 in all, a
# checkpoint every 7 steps (kept: the divergence and disk tests compare against a given step).
SETTINGS: dict[str, Any] = {
    "dataset": "digits", "model": "mlp", "model_options": {"depth": 1, "width": 32}, "epochs": 3,
    "batch_size": 32, "optimizer": "adam", "lr": 0.002, "threads": 1, "checkpoint_every": 7, "keep_every": 7,
    "dropout": 0.2, "augment": ["noise:p=0.5:magnitude=0.05"], "early_stopping": True, "patience": 100}
TOTAL_STEPS = 120
CKPT_EVERY = 7
VOLATILE = ("time", "images_per_s", "elapsed")  # wall-clock columns of a metrics row


@dataclass
class Outcome:
    held: bool
    what: str  # the case, e.g. "kill at checkpoint event 12"
    detail: str = ""  # why it did not hold

    def __str__(self) -> str:
        return f"{'held' if self.held else 'FAILED'}: {self.what}" + (f": {self.detail}" if self.detail else "")


def sets(values: dict[str, Any]) -> list[str]:
    """--set key=value for each entry, values as JSON (which YAML reads back as the same value)."""
    return [a for k, v in values.items() for a in ("--set", f"{k}={json.dumps(v)}")]


def console_script() -> list[str]:
    """The installed `trainlab` command (next to this Python), else `python -m trainlab`."""
    exe = Path(sys.executable).parent / "trainlab"
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "trainlab"]


def warm() -> None:
    """Import what runs need before forking, so that every forked child starts at once."""
    import matplotlib.pyplot  # noqa: F401 - reports
    import optuna  # noqa: F401 - search
    import sklearn.datasets  # noqa: F401 - the digits

    import trainlab.cli  # noqa: F401
    import trainlab.experiments.compare  # noqa: F401
    import trainlab.experiments.search  # noqa: F401
    import trainlab.training.run  # noqa: F401


# ================================================================ running the CLI
def call(argv: list[str]) -> tuple[int, str, str]:
    """`trainlab ARGV` in this process: (exit code, stdout, stderr). An exception other than the
    CLI's own exits propagates (it would be a traceback for a user)."""
    from trainlab.cli import main

    out, err = io.StringIO(), io.StringIO()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)}
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:  # argparse's errors and --help
            code = e.code if isinstance(e.code, int) else 1
        finally:  # `--nproc`'s launcher (torchrun's agent) takes these over and leaves them so
            for s, h in handlers.items():
                signal.signal(s, h)
    return code, out.getvalue(), err.getvalue()


def run_script(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
               timeout: float = 300) -> tuple[int, str, str]:
    """`trainlab ARGV` as a user runs it: a new process of the console script."""
    p = subprocess.run(console_script() + [str(a) for a in argv], cwd=cwd, capture_output=True, text=True,
                       timeout=timeout, env={**os.environ, **(env or {})})
    return p.returncode, p.stdout, p.stderr


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# ================================================================ references and comparisons
def digest(tensors: dict) -> str:
    """SHA-256 over names, dtypes, shapes and bytes: equal digests are equal weights, bit for bit."""
    h = hashlib.sha256()
    for k in sorted(tensors):
        t = tensors[k].contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(-1).view(__import__("torch").uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def strip(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]


def fingerprint(run_dir: Path) -> dict[str, Any]:
    """What must equal between a resumed run and an uninterrupted one."""
    from safetensors.torch import load_file

    from trainlab.runs import load_run

    run = load_run(run_dir)
    weights, _ = run.latest_checkpoint()
    best = run.ckpt_dir / "best.safetensors"
    s = run.summary
    return {"final": digest(load_file(weights)), "best": digest(load_file(best)) if best.is_file() else None,
            "rows": strip(run.metrics), "test": s.get("test"), "best_row": s.get("best"), "status": s.get("status"),
            "step": json.loads((run.ckpt_dir / "latest.json").read_text())["step"]}


def differences(got: dict[str, Any], want: dict[str, Any]) -> str:
    bad = [k for k in want if got.get(k) != want[k]]
    return "" if not bad else "differs from the uninterrupted run in " + ", ".join(
        f"{k} ({got.get(k)!r:.60} vs {want[k]!r:.60})" for k in bad)


def checkpoint_digest(run_dir: Path, step: int) -> str:
    from safetensors.torch import load_file

    return digest(load_file(run_dir / "checkpoints" / f"ckpt-{step:08d}.safetensors"))


def reference_run(folder: Path, name: str = "reference", **extra: Any) -> Path:
    """The uninterrupted run every kill, divergence and disk fault is compared with."""
    import trainlab

    return trainlab.train({**SETTINGS, **extra, "runs_dir": str(folder), "name": name}, quiet=True,
                          report=False).path


def damaged_files(run_dir: Path) -> list[str]:
    """Files a reader would choke on. Temporary files of an interrupted atomic write (hidden,
    `.NAME.*.tmp`) are not the run's files and are left out; every other file must be whole."""
    import torch
    import yaml
    from PIL import Image
    from safetensors.torch import load_file

    bad = []
    for f in sorted(p for p in run_dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
        try:
            if f.suffix == ".json":
                json.loads(f.read_text())
            elif f.suffix == ".jsonl":
                [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
            elif f.suffix == ".yaml":
                yaml.safe_load(f.read_text())
            elif f.suffix == ".safetensors":
                load_file(f)
            elif f.suffix == ".pt":
                torch.load(f, weights_only=True)
            elif f.suffix == ".png":
                with Image.open(f) as im:
                    im.load()
            elif f.suffix == ".html":
                assert f.read_text().rstrip().endswith("</html>")
        except Exception as e:  # noqa: BLE001 - any failure to read is the finding
            bad.append(f"{f.relative_to(run_dir)} ({type(e).__name__})")
    return bad


def tree_hash(folder: Path) -> dict[str, str]:
    """{relative path: sha256 and mode} of every file and folder below `folder` (new files count too)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_dir():
            out[rel] = f"dir:{p.stat().st_mode:o}"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() + f":{p.stat().st_mode:o}"
    return out


def tree_changes(before: dict[str, str], after: dict[str, str]) -> str:
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")


# ================================================================ processes
def fork(fn: Callable[[], Any], log: Path) -> int:
    """Run fn() in a forked child (its own process group, output to `log`); the child's pid.
    A fork starts in milliseconds with trainlab and torch already imported: the kill lands in a
    real process, without paying two seconds of imports per kill."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.setpgid(0, 0)
        import torch

        torch.set_num_threads(1)  # the runs use one thread; a pool the parent started is not the child's
        f = open(log, "w", buffering=1)  # noqa: SIM115 - the child's stdout and stderr until it exits
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        sys.stdout = sys.stderr = f
        code = int(fn() or 0)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 - reported through the log, the parent reads the exit code
        traceback.print_exc()
    finally:
        os._exit(code)


def wait(pid: int, timeout: float = 120) -> int | None:
    """The child's wait status, or None after killing it at the timeout."""
    deadline = time.time() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.time() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.005)


def killed_by_sigkill(status: int | None) -> bool:
    return status is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def how_it_ended(status: int | None, log: Path) -> str:
    if status is None:
        return "it hung (killed at the timeout)"
    tail = lines(log.read_text(errors="replace"))[-3:] if log.is_file() else []
    if os.WIFSIGNALED(status):
        return f"it died of signal {os.WTERMSIG(status)}"
    said = f" ({' | '.join(tail)[-300:]})" if tail else ""
    return f"it exited with code {os.WEXITSTATUS(status)} before the kill{said}"


# ================================================================ file wrappers
def fd_path(fd: int) -> str:
    """The path of open file descriptor `fd` (from /proc), or "" when it cannot be read."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


class Wrapped:
    """A file object whose `write` a subclass replaces; everything else is the file's own (the
    torn write of fault_kills and the full disk of fault_disk)."""

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._f.__exit__(*exc)


# ================================================================ determinism
def repeat_identical(folder: Path, want: dict[str, Any], n: int, *, script: bool = False) -> list[Outcome]:
    """The same config and seed trained n more times (in this process, or each in a fresh process
    of the console script): every run equal to the first, metrics and weights, bit for bit."""
    import trainlab

    out = []
    for i in range(n):
        name = f"again-{i}-{'script' if script else 'api'}"
        if script:
            argv = ["train", "--quiet", "--name", name, *sets({**SETTINGS, "runs_dir": str(folder)})]
            code, _, err = run_script(argv)
            if code != 0:
                out.append(Outcome(False, name, f"exit {code}: {err[-300:]}"))
                continue
        else:
            trainlab.train({**SETTINGS, "runs_dir": str(folder), "name": name}, quiet=True, report=False)
        out.append(Outcome(not (d := differences(fingerprint(folder / name), want)),
                           f"same config and seed, {'a fresh process' if script else 'this process'}, run {i + 1}", d))
    return out
