"""Many processes: `compare` and `search` SIGKILLed mid-way, a DDP rank SIGKILLed, and compare and
search with more workers than cores. Each ends like its uninterrupted reference, nothing lost."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from faultlib import (Outcome, call, console_script, damaged_files, differences, fingerprint, fork, how_it_ended,
                      lines, run_script, sets, wait, warm)


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
    # the same parameters (A may have been killed before it drew them: the retry draws what A would have)
    if len(retried) != 1 or retried[0].state != TrialState.COMPLETE or failed[0].params and \
            retried[0].params != failed[0].params:
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
    from trainlab.runs.files import load_state
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
        lines = said.splitlines()
        first = next(i for i, line in enumerate(lines) if "locked" in line or "Traceback" in line)
        end = next((i for i in range(first + 1, len(lines)) if lines[i][:1] not in (" ", "")), first)
        return Outcome(False, what, "a worker said: " + " | ".join(lines[first:end + 1])[-1500:])
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
