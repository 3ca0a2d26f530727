"""The faults a user meets, as functions that inject one fault and check what trainlab did about it.

Shared by `tests/reliability/` (a lean sample of each kind, asserted) and `bench/faults.py` (the
full counts, printed as "N/N held"). Each scenario returns an `Outcome`: whether the property
held, and if not, why, so a regression shows up as a number in the bench and as a failing test.

What "held" means is checked against a reference, never against nothing:
- a run killed and resumed: its final and best weights hash like an uninterrupted run's, its
  metric rows (times aside) and test scores are equal, and no file it left is half-written;
- bad input: exit code 2, one line on stderr naming the input and the fix, no traceback, no
  code run (a pickle payload would create a marker file), and the folder's tree hashes the same
  before and after;
- a fault while writing (ENOSPC): one line, the previous checkpoint loads, and a resume once
  there is room again ends bit for bit like the reference.

Kills land where a test wants them: the process that dies installs a hook that sends itself
SIGKILL at the n-th event of a phase (a training step's forward, a write or fsync in
checkpoints/, an evaluation, a write of the report), counted from the first complete checkpoint.
"""
from __future__ import annotations

import builtins
import contextlib
import errno
import hashlib
import io
import json
import os
import shutil
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
    import trainlab.trainer  # noqa: F401


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


# ================================================================ kills at chosen points
PHASES = ("step", "checkpoint", "eval", "report")
PHASE_WORDS = {"step": "mid-step (after the forward, before backward and the update)",
               "checkpoint": "while writing a checkpoint (a torn write or just before an fsync)",
               "eval": "during an evaluation (validation or the final test score)",
               "report": "while writing the report (a torn plot or report.html)"}


def arm_kill(phase: str, nth: int, run_dir: Path) -> list[int]:
    """In the process that is to die: SIGKILL itself at the nth event of `phase`, counting only
    events after the run's first complete checkpoint (before it there is nothing to resume).
    nth=0 only counts; returns [events so far]."""
    import trainlab.trainer as T

    count = [0]
    latest = run_dir / "checkpoints" / "latest.json"

    def due() -> bool:
        if not latest.exists():
            return False
        count[0] += 1
        return count[0] == nth

    def die(note: str = "") -> None:  # the note says where the kill landed (read back from the log)
        os.write(2, f"\nkilled at: {phase} event {nth}{note}\n".encode())
        os.kill(os.getpid(), signal.SIGKILL)

    if phase == "step":
        loss_fn = T.loss_fn

        steps = [0]

        def counted_loss(*a, **k):
            out = loss_fn(*a, **k)
            steps[0] += 1
            if due():
                die(f", the forward of step {steps[0]}")
            return out

        T.loss_fn = counted_loss
    elif phase == "eval":
        evaluate_split = T.evaluate_split

        def counted_eval(*a, **k):
            if due():
                die(f", an evaluation of {len(a[2])} examples")
            return evaluate_split(*a, **k)

        T.evaluate_split = counted_eval
    elif phase in ("checkpoint", "report"):
        def target(path: str) -> bool:
            rel = os.path.relpath(path, run_dir)
            if rel.startswith(".."):
                return False
            if phase == "checkpoint":
                return rel.startswith("checkpoints" + os.sep)
            return rel.startswith("plots" + os.sep) or "report.html" in rel

        _tear_writes(target, due, die, run_dir)
        if phase == "checkpoint":  # safetensors writes from Rust: kill just before its fsync instead
            fsync = os.fsync

            def counted_fsync(fd):
                path = _fd_path(fd)
                if target(path) and due():
                    die(f", before the fsync of {os.path.relpath(path, run_dir)}")
                return fsync(fd)

            os.fsync = counted_fsync
    else:
        raise ValueError(f"unknown phase {phase!r}; one of {PHASES}")
    return count


def count_events(folder: Path) -> dict[str, int]:
    """How many events of each phase a run of SETTINGS has after its first checkpoint (a forked
    `trainlab train` with every counter and no kill): the range a random kill point is drawn from."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "counts.json"
    argv = ["train", "--quiet", "--name", "counted", *sets({**SETTINGS, "runs_dir": str(folder)})]

    def child():
        from trainlab.cli import main

        counts = {phase: arm_kill(phase, 0, folder / "counted") for phase in PHASES}
        code = main(argv)
        out.write_text(json.dumps({k: v[0] for k, v in counts.items()}))
        return code

    status = wait(fork(child, folder / "counted.log"))
    assert status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, how_it_ended(
        status, folder / "counted.log")
    return json.loads(out.read_text())


def _fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


class _Wrapped:
    """A file object whose `write` a subclass replaces; everything else is the file's own."""

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._f.__exit__(*exc)


class _Torn(_Wrapped):
    """A file opened for writing whose chosen write puts half its bytes on disk, then dies."""

    def __init__(self, f, due: Callable[[], bool], die: Callable[[str], None], name: str):
        self._f, self._due, self._die, self._name = f, due, die, name

    def write(self, data):
        if len(data) and self._due():
            self._f.write(data[: max(1, len(data) // 2)])
            self._f.flush()
            self._die(f", half-way through a write of {self._name}")
        return self._f.write(data)


def _tear_writes(target: Callable[[str], bool], due, die, run_dir: Path) -> None:
    real_open = io.open

    def open_(file, mode="r", *a, **k):
        f = real_open(file, mode, *a, **k)
        path = _fd_path(f.fileno()) if any(c in mode for c in "wax+") else ""
        if path and target(path):
            return _Torn(f, due, die, os.path.relpath(path, run_dir))
        return f

    io.open = builtins.open = open_  # os.fdopen (the atomic writer) and PIL (plots) both go through these


def kill_and_resume(folder: Path, want: dict[str, Any], phase: str, nth: int, *, script: bool = False) -> Outcome:
    """A run killed at the nth `phase` event, then `trainlab resume` (in this process, or the console
    script when `script`): it must end like the uninterrupted run whose fingerprint is `want`."""
    what = f"SIGKILL {PHASE_WORDS[phase].split(' (')[0]}, event {nth}, then trainlab resume"
    folder.mkdir(parents=True, exist_ok=True)
    run_dir, log = folder / "killed", folder / "killed.log"
    argv = ["train", "--quiet", "--name", "killed", *sets({**SETTINGS, "runs_dir": str(folder)})]

    def child():
        from trainlab.cli import main

        arm_kill(phase, nth, run_dir)
        return main(argv)

    status = wait(fork(child, log))
    if not killed_by_sigkill(status):
        return Outcome(False, what, "the kill did not land: " + how_it_ended(status, log))
    where = [line for line in lines(log.read_text(errors="replace")) if line.startswith("killed at: ")]
    return _resumed_like(run_dir, want, f"SIGKILL {where[-1][len('killed at: '):] if where else phase}, then resume",
                         script)


def _resumed_like(run_dir: Path, want: dict[str, Any], what: str, script: bool) -> Outcome:
    torn = damaged_files(run_dir)
    if torn:
        return Outcome(False, what, "half-written files after the kill: " + ", ".join(torn))
    ended = json.loads((run_dir / "summary.json").read_text()).get("status") == "finished"
    code, out, err = (run_script if script else call)(["resume", str(run_dir), "--quiet"])
    if ended:  # killed while drawing the report: the training was over; resume says so, report draws it
        if code != 2 or "already ended" not in err or len(lines(err)) != 1:
            return Outcome(False, what, f"resume of a finished run: exit {code}, {err.strip()[-300:]!r}")
        code, out, err = (run_script if script else call)(["report", str(run_dir)])
    if code != 0:
        return Outcome(False, what, f"exit code {code}: {(err or out).strip()[-400:]}")
    torn = damaged_files(run_dir)
    if torn or not (run_dir / "report.html").is_file():
        return Outcome(False, what, "after the resume: " + (", ".join(torn) or "no report.html"))
    return Outcome(not (diff := differences(fingerprint(run_dir), want)), what, diff)


def kill_at_random_time(folder: Path, want: dict[str, Any], rng, *, script: bool = True) -> Outcome:
    """A blind kill: the console script's run, SIGKILLed at a random moment after its first
    checkpoint, wherever that lands, then resumed."""
    folder.mkdir(parents=True, exist_ok=True)
    run_dir = folder / "blind"
    argv = console_script() + ["train", "--quiet", "--name", "blind", *sets({**SETTINGS, "runs_dir": str(folder)})]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 120
    while not (run_dir / "checkpoints" / "latest.json").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.002)
    time.sleep(rng.uniform(0.0, 0.6))  # a tiny run lasts about a second after its first checkpoint
    if proc.poll() is not None:
        return Outcome(False, "SIGKILL at a random moment", "the run ended before the kill: draw again")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return _resumed_like(run_dir, want, "SIGKILL at a random moment, then trainlab resume", script)


# ================================================================ disk faults
def _destination(path: str) -> Path:
    """The file a write is meant for: NAME for an atomic writer's temporary `.NAME.xxxx.tmp`."""
    p = Path(path)
    if p.name.startswith(".") and p.name.endswith(".tmp"):
        return p.with_name(p.name[1:].rsplit(".", 2)[0])
    return p


class _Full(_Wrapped):
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

    import trainlab.files as F

    real_open, real_save = io.open, F.save_file
    seen = [0]

    def due(path: str) -> bool:
        if not match(_destination(path)):
            return False
        seen[0] += 1
        return seen[0] >= nth

    def open_(file, mode="r", *a, **k):
        writing = any(c in mode for c in "wax+")  # decided before opening, which may create the file
        hit = writing and due(_fd_path(file) if isinstance(file, int) else os.path.abspath(file))
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
    from trainlab.files import load_state, load_tensors
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


# ================================================================ divergence
def diverge(folder: Path, ref_dir: Path, where: str, step: int) -> Outcome:
    """A NaN in the loss, in one parameter's gradient, or in the input batch at training step
    `step`: the run must stop at that step and say so, keep the last good checkpoint (equal to
    the reference's at that step), write no later one, mark summary.json `diverged`, exit 1."""
    import torch

    import trainlab.trainer as T

    what = f"NaN in the {where} at step {step}"
    folder.mkdir(parents=True, exist_ok=True)
    real_fit, real_loss = T.fit, T.loss_fn
    forwards = [0]  # training forwards so far: the step being taken

    def fit(p, *a, **k):
        def count(module, args):
            if module.training:
                forwards[0] += 1
                if where == "input" and forwards[0] == step:
                    return (args[0].clone().index_put_((torch.tensor([0]),), torch.tensor(float("nan"))),)
            return None

        hooks = [p.model.register_forward_pre_hook(count)]
        if where == "gradient":
            first = next(t for t in p.model.parameters() if t.requires_grad)
            hooks.append(first.register_hook(lambda g: g * float("nan") if forwards[0] == step else g))
        try:
            return real_fit(p, *a, **k)
        finally:
            for h in hooks:
                h.remove()

    def loss_fn(*a, **k):
        loss = real_loss(*a, **k)
        return loss * float("nan") if where == "loss" and forwards[0] == step else loss

    T.fit, T.loss_fn = fit, loss_fn
    try:
        code, out, err = call(["train", "--name", where, *sets({**SETTINGS, "runs_dir": str(folder)})])
    finally:
        T.fit, T.loss_fn = real_fit, real_loss
    named = "gradient norm became nan" if where == "gradient" else "loss became nan"  # the input's NaN: its loss
    return check_diverged(folder / where, ref_dir, what, code, out, err, step, named)


def check_diverged(run_dir: Path, ref_dir: Path | None, what: str, code: int, out: str, err: str,
                   step: int | None, named: str = "became") -> Outcome:
    from trainlab.runs import load_run

    if code != 1 or "Traceback" in out + err:
        return Outcome(False, what, f"exit {code} (1 expected): {(err or out).strip()[-300:]}")
    said = [line for line in lines(out) if "run diverged" in line]
    s = load_run(run_dir).summary
    at = f"{named} at step {step}" if step is not None else f"{named} "
    if len(said) != 1 or at not in said[0] or s.get("status") != "diverged" or at not in s.get("message", ""):
        return Outcome(False, what, f"status {s.get('status')!r}, message {s.get('message')!r}, said {said!r}")
    if step is None:  # a natural divergence: the step is whatever the message names
        step = int(s["message"].split(" at step ", 1)[1].split()[0])
    last = json.loads((run_dir / "checkpoints" / "latest.json").read_text())["step"]
    kept = sorted(int(p.stem[5:]) for p in (run_dir / "checkpoints").glob("ckpt-*.safetensors"))
    good = (step - 1) // CKPT_EVERY * CKPT_EVERY
    if last >= step or kept[-1] >= step or (ref_dir is not None and last != good):
        return Outcome(False, what, f"last checkpoint at step {last}, files up to {kept[-1]}, diverged at {step}")
    import torch
    from safetensors.torch import load_file

    w = load_file(run_dir / "checkpoints" / f"ckpt-{last:08d}.safetensors")
    if not all(torch.isfinite(t).all() for t in w.values()):
        return Outcome(False, what, f"the kept checkpoint at step {last} holds non-finite weights")
    if ref_dir is not None and checkpoint_digest(run_dir, last) != checkpoint_digest(ref_dir, last):
        return Outcome(False, what, f"the kept checkpoint at step {last} differs from the reference's")
    return Outcome(True, what + f" (kept step {last})")


def diverge_naturally(folder: Path, lr: float, seed: int) -> Outcome:
    """No injection: a learning rate far too high, as a user would set it."""
    what = f"lr {lr:g} with plain SGD, seed {seed}"
    name = f"lr{lr:.0f}-s{seed}"
    code, out, err = call(["train", "--name", name, *sets({**SETTINGS, "runs_dir": str(folder), "optimizer": "sgd",
                                                           "lr": lr, "seed": seed, "dropout": 0.0})])
    return check_diverged(folder / name, None, what, code, out, err, None)


# ================================================================ compare and search under kills
COMPARE_BASE = {"dataset": "digits", "model": "mlp", "model_options": {"depth": 1, "width": 32}, "epochs": 3,
                "batch_size": 32, "checkpoint_every": 7, "dropout": 0.2}
COMPARE_ARMS = {"a": {}, "b": {"lr": 0.1}}


def compare_argv(folder: Path, name: str, seeds: int, jobs: int) -> list[str]:
    base = folder / "base.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    if not base.is_file():
        import yaml

        base.write_text(yaml.safe_dump({**COMPARE_BASE, "runs_dir": str(folder)}))
    arms = [a for arm, o in COMPARE_ARMS.items() for a in ("--arm", f"{arm}:", *[f"{k}={v}" for k, v in o.items()])]
    return ["compare", str(base), "--name", name, "--seeds", str(seeds), "--jobs", str(jobs), "--quiet", *arms]


def compare_prints(experiment: Path) -> dict[str, dict[str, Any]]:
    return {str(p.relative_to(experiment)): fingerprint(p) for p in sorted(experiment.glob("*/seed-*"))}


def _status(summary: Path) -> str | None:
    try:
        return json.loads(summary.read_text()).get("status")
    except (OSError, ValueError):
        return None


def kill_compare(folder: Path, want: dict[str, dict[str, Any]], seeds: int, finished_first: int, jobs: int = 2,
                 script: bool = False, rerun_jobs: int | None = None) -> Outcome:
    """`trainlab compare` (parent and workers) SIGKILLed once `finished_first` runs have finished and
    another is mid-way, then the same command again: every (arm, seed) folder once, the runs that
    had finished not trained again, every run equal to the uninterrupted compare's."""
    what = f"compare SIGKILLed after {finished_first} finished runs, then run again"
    folder.mkdir(parents=True, exist_ok=True)
    exp = folder / "k"
    argv = compare_argv(folder, "k", seeds, jobs)
    pid = fork(lambda: __import__("trainlab.cli", fromlist=["main"]).main(argv), folder / "compare.log")
    deadline = time.time() + 180
    while time.time() < deadline:
        states = [_status(s) for s in exp.glob("*/seed-*/summary.json")]
        mid = [p for p in exp.glob("*/seed-*") if (p / "checkpoints" / "latest.json").exists()
               and _status(p / "summary.json") == "running"]
        if states.count("finished") >= finished_first and mid:
            break
        if os.waitpid(pid, os.WNOHANG)[0]:
            return Outcome(False, what, "the compare ended before the kill")
        time.sleep(0.003)
    os.killpg(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    time.sleep(0.1)  # the workers die with their parent (PR_SET_PDEATHSIG); let the kernel reap them
    done = {p.parent: p.stat().st_mtime_ns for p in exp.glob("*/seed-*/summary.json") if _status(p) == "finished"}
    again_argv = compare_argv(folder, "k", seeds, rerun_jobs or jobs)
    code, out, err = (run_script if script else call)(again_argv)
    if code != 0:
        return Outcome(False, what, f"the second compare: exit {code}: {err.strip()[-300:]}")
    got = compare_prints(exp)
    if sorted(got) != sorted(want):
        return Outcome(False, what, f"run folders {sorted(got)} instead of {sorted(want)}")
    again = [str(p.relative_to(exp)) for p, t in done.items() if (p / "summary.json").stat().st_mtime_ns != t]
    if again:
        return Outcome(False, what, f"finished runs trained again: {again}")
    diff = "; ".join(f"{k}: {d}" for k in want if (d := differences(got[k], want[k])))
    return Outcome(not diff, what + f" ({len(done)} were done, {len(want) - len(done)} resumed or trained)", diff)


def search_argv(folder: Path, name: str, trials: int, epochs: int, batch_size: int, jobs: int = 1,
                heartbeat: int = 10) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "space.yaml").write_text("lr: {log_uniform: [0.01, 0.3]}\n")
    (folder / "search.yaml").write_text(f"dataset: digits\nmodel: mlp\nepochs: {epochs}\nbatch_size: {batch_size}\n"
                                        f"threads: 1\nruns_dir: {folder}\n")
    return ["search", str(folder / "search.yaml"), str(folder / "space.yaml"), "--name", name, "--sampler", "random",
            "--trials", str(trials), "--pruner", "none", "--jobs", str(jobs), "--heartbeat", str(heartbeat), "--quiet"]


def study_trials(folder: Path, name: str) -> list:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=name, storage=f"sqlite:///{folder / name / 'study.db'}").get_trials(
        deepcopy=False)


def holds_trial(folder: Path, pid: int) -> bool:
    """Worker `pid` holds a RUNNING trial of study k (False while the database cannot be read)."""
    from optuna.trial import TrialState

    try:
        trials = study_trials(folder, "k")
    except Exception:  # noqa: BLE001 - locked for a moment, or not created yet
        return False
    return any(t.state == TrialState.RUNNING and t.user_attrs.get("worker", "").endswith(f":{pid}") for t in trials)


def kill_search_worker(folder: Path, trials: int = 6, epochs: int = 12, batch_size: int = 16,
                       timeout: float = 400) -> Outcome:
    """Two `trainlab search` workers on one SQLite study; worker A SIGKILLed while it holds a running
    trial and B is at work. B must finish the budget, the killed trial must be failed by the
    heartbeat (1 s, stale after 3 s) and retried once with the same parameters: no trial lost.

    Deterministic, whatever the speed of the machine: A is frozen (SIGSTOP) as soon as it holds a
    trial, B starts and takes one, then A is killed. B only sees A's trial go stale when it starts a
    trial 3 s after A's last heartbeat; on a fast machine it could finish first, so B is paused
    for those 3 s. Workers are fresh processes (`python -m trainlab search`), each on one core
    with one thread, as `search --jobs 2` shares them: forked from the test process, whose OpenMP
    pool had run, a worker hung in CI."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry
    from optuna.trial import TrialState

    what = f"search worker SIGKILLed mid-trial, {trials} trials, another worker at work"
    warm()
    folder.mkdir(parents=True, exist_ok=True)
    argv = search_argv(folder, "k", trials, epochs, batch_size, heartbeat=1)
    cores = sorted(os.sched_getaffinity(0))

    def worker(core: int, log: Path) -> int:  # a fresh process: a fork of a process whose OpenMP pool ran can hang
        with open(log, "wb") as out:
            return subprocess.Popen([sys.executable, "-m", "trainlab", *argv], stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, preexec_fn=lambda: os.sched_setaffinity(0, {core})).pid

    def until(cond: Callable[[], bool], seconds: float) -> bool:
        end = time.time() + seconds
        while time.time() < end:
            if cond():
                return True
            time.sleep(0.01)
        return False

    a = worker(cores[0], folder / "a.log")
    frozen = False
    while not frozen and until(lambda: holds_trial(folder, a), 120):
        os.kill(a, signal.SIGSTOP)
        frozen = holds_trial(folder, a)  # still its trial once frozen, or did it just end one?
        if not frozen:
            os.kill(a, signal.SIGCONT)
    if not frozen:
        done, status = os.waitpid(a, os.WNOHANG)
        if not done:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(a, signal.SIGKILL)
            os.waitpid(a, 0)
        ended = how_it_ended(status, folder / "a.log") if done else "still running after 120 s"
        return Outcome(False, what, f"worker A was never seen holding a trial ({ended}; trial states "
                                    f"{[t.state.name for t in study_trials(folder, 'k')]})")
    b = worker(cores[-1], folder / "b.log")
    b_works = until(lambda: holds_trial(folder, b), 20)  # (if A froze holding the lock, B waits for it)
    os.killpg(a, signal.SIGKILL)
    os.waitpid(a, 0)
    if b_works:
        os.kill(b, signal.SIGSTOP)
        time.sleep(3.5)  # A's last heartbeat is now older than the grace period
        os.kill(b, signal.SIGCONT)
    status = wait(b, timeout=timeout)
    said = (folder / "b.log").read_text(errors="replace")
    if status is None or not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        return Outcome(False, what, "worker B: " + how_it_ended(status, folder / "b.log"))
    ts = study_trials(folder, "k")
    states = [t.state.name for t in ts]
    failed = [t for t in ts if t.state == TrialState.FAIL]
    if states.count("COMPLETE") != trials or len(failed) != 1:
        return Outcome(False, what, f"trial states {states}")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # retried_trial_number is "experimental"
        retried = [t for t in ts if Retry.retried_trial_number(t) == failed[0].number]
    if len(retried) != 1 or retried[0].state != TrialState.COMPLETE or retried[0].params != failed[0].params:
        return Outcome(False, what, f"the killed trial {failed[0].number} was retried as {retried}")
    if "database is locked" in said or "Traceback" in said:
        return Outcome(False, what, "worker B said: " + said.strip()[-300:])
    return Outcome(True, what + ("" if b_works else " (B was waiting for the database when A died)"))


# ================================================================ DDP
DDP = {"dataset": "digits", "model": "mlp", "dropout": 0.2, "augment": ["noise"], "epochs": 3, "batch_size": 64,
       "clip_norm": 0.5, "eval_every": 5}
DDP_STEPS = 3 * 20


def ddp_reference(folder: Path) -> dict[str, Any]:
    """The uninterrupted 2-process run (launched from this process: torchrun's agent, two ranks)."""
    folder.mkdir(parents=True, exist_ok=True)
    code, out, err = call(["train", *sets({**DDP, "runs_dir": str(folder)}), "--name", "whole", "--nproc", "2",
                           "--quiet"])
    assert code == 0, err[-2000:]
    return fingerprint(folder / "whole")


def rank_pids(parent: int) -> dict[int, int]:
    """{local rank: pid} of the worker processes below `parent` (read from /proc)."""
    found = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            env = dict(kv.split("=", 1) for kv in (d / "environ").read_text(errors="replace").split("\0") if "=" in kv)
            stat = (d / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and "LOCAL_RANK" in env:
            found[int(env["LOCAL_RANK"])] = int(d.name)
    return found


def kill_ddp_rank(folder: Path, want: dict[str, Any], rank: int, after_step: int = 1, keep: Path | None = None,
                  script: bool = False) -> Outcome:
    """A 2-process DDP run with one rank SIGKILLed once its checkpoint reaches `after_step`: the job
    ends with one line naming the rank, the signal and the resume command; `trainlab resume
    --nproc 2` (the console script when `script`, else from this process) ends bit for bit like
    the uninterrupted 2-process run. `keep`: a copy of the cut run folder is left there (to resume
    it on another number of processes)."""
    what = f"DDP rank {rank} of 2 SIGKILLed at a checkpoint of step {after_step} or later, then resume --nproc 2"
    folder.mkdir(parents=True, exist_ok=True)
    cut = folder / "cut"
    proc = subprocess.Popen(console_script() + ["train", *sets({**DDP, "runs_dir": str(folder)}), "--name", "cut",
                                                "--nproc", "2", "--quiet"],
                            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    latest = cut / "checkpoints" / "latest.json"
    while time.time() < deadline and proc.poll() is None:
        try:
            if json.loads(latest.read_text())["step"] >= after_step:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.002)
    pids = rank_pids(proc.pid)
    if set(pids) != {0, 1}:
        proc.kill()
        return Outcome(False, what, f"ranks found: {pids} (the job ended before the kill?)")
    os.kill(pids[rank], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    said = lines(err)
    if proc.returncode != 1 or len(said) != 1 or f"rank {rank}" not in said[0] or "SIGKILL" not in said[0] \
            or f"trainlab resume {cut} --nproc 2" not in said[0]:
        return Outcome(False, what, f"exit {proc.returncode}, stderr {err.strip()[-500:]!r}")
    from trainlab.files import load_state
    from trainlab.runs import load_run

    run = load_run(cut)
    step = load_state(run.latest_checkpoint()[1])["step"]
    if run.summary.get("status") != "running" or not 0 < step < DDP_STEPS:
        return Outcome(False, what, f"status {run.summary.get('status')!r} at step {step}: not cut mid-run")
    torn = damaged_files(cut)
    if torn:
        return Outcome(False, what, "half-written files: " + ", ".join(torn))
    if keep is not None:
        shutil.copytree(cut, keep)
    code, out, err = (run_script if script else call)(["resume", str(cut), "--nproc", "2", "--quiet"])
    if code != 0:
        return Outcome(False, what, f"resume: exit {code}: {err.strip()[-300:]}")
    return Outcome(not (diff := differences(fingerprint(cut), want)), what + f" (cut at step {step})", diff)


# ================================================================ load: many workers on two cores
@contextlib.contextmanager
def output_of_everything(path: Path):
    """File descriptors 1 and 2 of this process, and so of every worker it starts, go to `path`."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "wb") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def search_many_workers(folder: Path, jobs: int = 4, trials: int = 8) -> Outcome:
    """`trainlab search --jobs 4` on one SQLite file: every trial ends COMPLETE or PRUNED, none
    FAIL, numbers 0..n-1 each once, each trial in its own run folder trained once, and no
    worker ever printed "database is locked"."""
    import trainlab

    what = f"search with {jobs} workers on {os.cpu_count()} cores, one SQLite file, {trials} trials"
    folder.mkdir(parents=True, exist_ok=True)
    argv = search_argv(folder, "w", trials, epochs=2, batch_size=64, jobs=jobs)
    log = folder / "search.log"
    with output_of_everything(log):
        code, out, err = call(argv[:-1] + ["--sampler", "tpe"])  # without --quiet: the workers' words too
    said = log.read_text(errors="replace") + out + err
    if code != 0:
        return Outcome(False, what, f"exit {code}: {err.strip()[-300:]}")
    if "database is locked" in said or "Traceback" in said:
        return Outcome(False, what, "a worker said: " + next(line for line in said.splitlines()
                                                             if "locked" in line or "Traceback" in line))
    ts = study_trials(folder, "w")
    numbers, states = [t.number for t in ts], [t.state.name for t in ts]
    ended = [t for t in ts if t.state.name in ("COMPLETE", "PRUNED")]
    runs = [t.user_attrs.get("run") for t in ts]
    if numbers != list(range(len(ts))) or "FAIL" in states or len(ended) < trials or len(set(runs)) != len(runs):
        return Outcome(False, what, f"trials {list(zip(numbers, states, runs))}")
    for t in ended:
        steps = [r["step"] for r in trainlab.load_run(t.user_attrs["run"]).metrics]
        if steps != sorted(set(steps)):
            return Outcome(False, what, f"trial {t.number} trained twice into one folder: steps {steps}")
    return Outcome(True, what + f": {states.count('COMPLETE')} complete, {states.count('PRUNED')} pruned")


def compare_many_workers(folder: Path, want: dict[str, dict[str, Any]], seeds: int, jobs: int) -> Outcome:
    """`trainlab compare --jobs N` (N worker processes, whatever the cores): every run there, each
    trained once, each equal bit for bit to the one-worker compare's."""
    what = f"compare with {jobs} workers on {os.cpu_count()} cores, {len(want)} runs"
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "compare.log"
    with output_of_everything(log):
        code, out, err = call(compare_argv(folder, f"j{jobs}", seeds, jobs))
    if code != 0 or "Traceback" in log.read_text(errors="replace"):
        return Outcome(False, what, f"exit {code}: {(err or log.read_text())[-300:]}")
    got = compare_prints(folder / f"j{jobs}")
    if sorted(got) != sorted(want):
        return Outcome(False, what, f"run folders {sorted(got)} instead of {sorted(want)}")
    diff = "; ".join(f"{k}: {d}" for k in want if (d := differences(got[k], want[k])))
    return Outcome(not diff, what, diff)


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
