"""`trainlab train CONFIG --nproc N` (and `trainlab resume RUN --nproc N`): torchrun for users who
do not want to learn it. The job goes through `torch.distributed.run`, PyTorch's elastic launcher,
exactly as `torchrun --standalone --nproc-per-node N -m trainlab ...` would start it; this module
only checks the input first, picks the threads per process, and turns a failed job into one line.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
from pathlib import Path

from ..errors import TrainlabError

ERROR_DIR = "TRAINLAB_ERROR_DIR"  # ranks that refuse their input write the line here; the launcher prints it
RUN_FILE = "TRAINLAB_RUN_FILE"  # set by the launcher: rank 0 writes the run folder's path there


def threads_per_process(nproc: int) -> int:
    """The cores split evenly among the processes (torchrun alone would give each one thread)."""
    return max(1, (os.cpu_count() or 1) // nproc)


def launch(nproc: int, argv: list[str], run: str | None = None) -> int:
    """Run `python -m trainlab *argv` on `nproc` local processes; the exit code of the job.

    run: the run folder when it is known beforehand (resume); otherwise rank 0 reports it.
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError  # lazy: torchrun's elastic
    from torch.distributed import run as torchrun  # lazy: the elastic agent and its logging, only to launch

    if nproc < 1:
        raise TrainlabError(f"--nproc {nproc}: the number of processes must be at least 1; use --nproc 2 "
                            "to train on two")
    os.environ.setdefault("OMP_NUM_THREADS", str(threads_per_process(nproc)))
    for name in list(logging.Logger.manager.loggerDict):  # the failure is said once, below
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="trainlab-launch-") as tmp:
        note = Path(tmp) / "run"
        os.environ[RUN_FILE] = str(note)
        os.environ[ERROR_DIR] = tmp
        try:
            torchrun.run(torchrun.parse_args(["--standalone", "--nproc-per-node", str(nproc), "--max-restarts", "0",
                                 "--module", "trainlab", *argv]))
            return 0
        except ChildFailedError as e:
            refused = sorted(Path(tmp).glob("rank-*"), key=lambda p: int(p.name.split("-")[1]))
            crashed = sorted(Path(tmp).glob("crash-*"), key=lambda p: int(p.name.split("-")[1]))
            if refused:  # bad input: every rank refused it the same way; say it once
                print(refused[0].read_text(), file=sys.stderr)
                return 2
            folder = run or (note.read_text() if note.is_file() else None)
            return failed(e, nproc, argv[0], folder, crashed[0].read_text() if crashed else "")
        finally:
            os.environ.pop(RUN_FILE, None)
            os.environ.pop(ERROR_DIR, None)


def failed(e, nproc: int, command: str, folder: str | None, traceback: str) -> int:
    """One line for a job a rank's death ended (with the traceback of a rank that crashed on its own); 1.

    A rank killed by a signal other than the launcher's SIGTERM is the cause; the others then fail
    in their next collective, which is only a consequence and is not shown."""
    killed = [(r, f) for r, f in sorted(e.failures.items()) if f.exitcode < 0 and f.exitcode != -signal.SIGTERM]
    if not killed and traceback:
        print(traceback, file=sys.stderr, end="")
    rank, f = (killed or sorted(e.failures.items()))[0]
    if f.exitcode < 0:
        try:
            how = f"was killed by {signal.Signals(-f.exitcode).name}"
        except ValueError:
            how = f"was killed by signal {-f.exitcode}"
    else:
        how = f"exited with code {f.exitcode}"
    where = (f"its last checkpoint in {folder} is intact: continue with `trainlab resume {folder} --nproc {nproc}`"
             if folder else "no run folder was written")
    print(f"trainlab {command}: error: rank {rank} (pid {f.pid}) {how}, which ended the {nproc}-process job; "
          f"{where}", file=sys.stderr)
    return 1
