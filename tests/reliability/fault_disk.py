"""Disk faults: the disk fills up while a file of the run is written (ENOSPC, injected into the
writers), and a runs folder that cannot be written."""
from __future__ import annotations

import builtins
import contextlib
import errno
import io
import os
from pathlib import Path
from typing import Any, Callable

from faultlib import (SETTINGS, Outcome, Wrapped, call, checkpoint_digest, damaged_files, differences, fd_path,
                      fingerprint, lines, sets)


# ================================================================ disk faults
def _destination(path: str) -> Path:
    """The file a write is meant for: NAME for an atomic writer's temporary `.NAME.xxxx.tmp`."""
    p = Path(path)
    if p.name.startswith(".") and p.name.endswith(".tmp"):
        return p.with_name(p.name[1:].rsplit(".", 2)[0])
    return p


class _Full(Wrapped):
    """A file on a full disk: the write that finds no room puts what fits, then fails with ENOSPC."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        self._f.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@contextlib.contextmanager
def disk_full(match: Callable[[Path], bool], nth: int = 1):
    """Every file opened for writing whose destination matches fails, from the nth such file on,
    as on a full disk: its first write puts half the bytes, then raises ENOSPC. This holds
    whatever the writer (atomic or not), so a writer that is not atomic shows. safetensors writes
    from Rust; its writer does what it does on a full tmpfs (measured): half the bytes, then
    SafetensorError "I/O error: No space left on device (os error 28)". Yields [files failed]."""
    import safetensors
    from safetensors.torch import save as to_bytes

    import trainlab.runs.files as F

    real_open, real_save = io.open, F.save_file
    seen = [0]

    def due(path: str) -> bool:
        if not match(_destination(path)):
            return False
        seen[0] += 1
        return seen[0] >= nth

    def open_(file, mode="r", *a, **k):
        writing = any(c in mode for c in "wax+")  # decided before opening, which may create the file
        hit = writing and due(fd_path(file) if isinstance(file, int) else os.path.abspath(file))
        f = real_open(file, mode, *a, **k)
        return _Full(f) if hit else f

    def save_file(tensors, filename, metadata=None):
        if not due(os.path.abspath(filename)):
            return real_save(tensors, filename, metadata=metadata)
        data = to_bytes(tensors, metadata=metadata)
        with real_open(filename, "wb") as f:
            f.write(data[: len(data) // 2])
        raise safetensors.SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    io.open = builtins.open = open_
    F.save_file = save_file
    try:
        yield seen
    finally:
        io.open = builtins.open = real_open
        F.save_file = real_save


def full_disk_then_resume(folder: Path, want: dict[str, Any], ref_dir: Path, which: str, nth: int) -> Outcome:
    """The disk fills up at the nth write of `which` (checkpoint, metrics, summary, report) after the
    first checkpoint: the run must end with one line naming the file and the fix, its previous
    checkpoint must load and equal the reference's at that step, and a resume once there is room
    must end bit for bit like the reference."""
    what = f"ENOSPC at write {nth} of the {which} files, then trainlab resume"
    folder.mkdir(parents=True, exist_ok=True)
    run_dir = folder / "full"
    first = run_dir / "checkpoints" / "latest.json"
    names = {"checkpoint": lambda d: d.parent.name == "checkpoints" and d.name != "preprocess.safetensors",
             "metrics": lambda d: d.name.startswith("metrics."), "summary": lambda d: d.name == "summary.json",
             "report": lambda d: d.parent.name == "plots" or d.name == "report.html"}[which]
    with disk_full(lambda d: first.exists() and names(d) and run_dir in d.parents, nth) as seen:
        code, out, err = call(["train", "--quiet", "--name", "full", *sets({**SETTINGS, "runs_dir": str(folder)})])
    if seen[0] < nth:
        return Outcome(False, what, f"only {seen[0]} such writes happened")
    errs = lines(err)
    if code != 2 or len(errs) != 1 or "no space left on device" not in errs[0].lower() or "Traceback" in err:
        return Outcome(False, what, f"exit {code}, stderr {err.strip()[-400:]!r}")
    torn = damaged_files(run_dir)
    if torn:
        return Outcome(False, what, "half-written files after the failed write: " + ", ".join(torn))
    from trainlab.runs.files import load_state, load_tensors
    from trainlab.runs import load_run

    try:
        weights, state = load_run(run_dir).latest_checkpoint()
        step = load_state(state)["step"]
        load_tensors(weights)
    except Exception as e:  # noqa: BLE001
        return Outcome(False, what, f"the previous checkpoint does not load: {e}")
    if checkpoint_digest(run_dir, step) != checkpoint_digest(ref_dir, step):
        return Outcome(False, what, f"the checkpoint at step {step} differs from the reference's")
    if which == "report":  # the training had ended: its report is drawn again once there is room
        code, out, err = call(["report", str(run_dir)])
    else:
        code, out, err = call(["resume", str(run_dir), "--quiet"])
    if code != 0:
        return Outcome(False, what, f"resume with room again: exit {code}: {err.strip()[-300:]}")
    return Outcome(not (diff := differences(fingerprint(run_dir), want)), what + f" (said: ...{errs[0][-100:]})",
                   diff)


@contextlib.contextmanager
def read_only(folder: Path):
    """`folder` cannot be written. Unprivileged: its mode says so. As root (which ignores modes):
    creating anything below it fails with EROFS, as on a read-only mount."""
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(mode)
        return
    real_mkdir, real_open = os.mkdir, os.open
    inside = lambda p: str(Path(os.fspath(p)).absolute()).startswith(str(folder.absolute()) + os.sep)  # noqa: E731

    def mkdir(path, mode=0o777, *, dir_fd=None):
        if inside(path) and not os.path.isdir(path):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
        return real_mkdir(path, mode, dir_fd=dir_fd)

    def open_(path, flags, mode=0o777, *, dir_fd=None):
        if inside(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
        return real_open(path, flags, mode, dir_fd=dir_fd)

    os.mkdir, os.open = mkdir, open_
    try:
        yield
    finally:
        os.mkdir, os.open = real_mkdir, real_open
