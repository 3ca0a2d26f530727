"""Kills at chosen points of a run, and at a random moment, each followed by `trainlab resume`.

Kills land where a test wants them: the process that dies installs a hook that sends itself
SIGKILL at the n-th event of a phase (a training step's forward, a write or fsync in
checkpoints/, an evaluation, a write of the report), counted from the first complete checkpoint.
"""
from __future__ import annotations

import builtins
import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

from faultlib import (SETTINGS, Outcome, Wrapped, call, console_script, damaged_files, differences, fd_path,
                      fingerprint, fork, how_it_ended, killed_by_sigkill, lines, run_script, sets, wait)


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
    import trainlab.training.loop as T

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
                path = fd_path(fd)
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


class _Torn(Wrapped):
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
        path = fd_path(f.fileno()) if any(c in mode for c in "wax+") else ""
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
