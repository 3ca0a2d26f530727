"""The queue every experiment's runs go through when a storage is given: Optuna's RDB storage
(SQLite on one machine, PostgreSQL for many), the engine searches already use.

An experiment is a study; each of its runs is a trial. A compare, a claim or an ensemble enqueues
one WAITING trial per (arm, seed), carrying the run's config in its user attributes; a search
enqueues one empty WAITING trial per trial of its budget, whose parameters the study's sampler
fills when a worker takes it. A worker takes a waiting trial by setting it RUNNING, which the
storage grants to one worker only (a row lock on PostgreSQL; on SQLite every transaction takes
the database's write lock when it begins, see `serialize_sqlite`), keeps its heartbeat while it
trains, and writes the run's summary (status, best and test scores, the validation curve, arm
hash, seed, host) into the storage before marking the trial COMPLETE, so the analysis needs no
shared folder. A worker killed mid-run stops beating; the next worker to look fails that trial and
enqueues a copy, which resumes from the run's last checkpoint when the runs folder is shared (a
copy whose first attempt still lives waits for its folder: `pool.held`). A run that fails for a
reason of its own is marked FAIL with its message and is not taken again.

When the storage cannot be reached for a while (a server restart, the network), every call waits
and retries with a bounded back-off, saying so once; training in progress goes on meanwhile.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import torch

from ..config import Config
from ..errors import TrainlabError
from ..version import __version__
from .optuna import optuna, sqlalchemy

T = TypeVar("T")
KINDS = ("runs", "search")  # a study of queued runs (compare, claims, ensembles), or a search
State = optuna.trial.TrialState
ENDED_STATES = (State.COMPLETE, State.PRUNED)
HEARTBEAT_S, GRACE_S = 10, 60  # a running trial beats every 10 s; one silent for 60 s is taken again
PATIENCE_S = 600  # how long calls wait for a storage that went away before giving up


def masked(url: str) -> str:
    """The URL with its password replaced by ***, for messages."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def schema() -> str:
    """12 hex digits naming the run config's schema: workers refuse runs enqueued under another."""
    text = json.dumps(Config.model_json_schema(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _why(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
    return text


def open_storage(url: str, heartbeat: int = HEARTBEAT_S, grace: int = GRACE_S) -> Any:
    """Optuna's RDB storage at `url`, with heartbeats and the copy of a stale trial enqueued again;
    one line naming the fix when the driver is missing, the server cannot be reached or refuses."""
    kw = {"connect_args": {"timeout": 300}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):  # SQLite makes the file, not its folder
        with contextlib.suppress(OSError):  # an unwritable place is said below, by the storage
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(10):
        try:
            storage = optuna.storages.RDBStorage(
                url, engine_kwargs=kw, heartbeat_interval=heartbeat, grace_period=grace,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3))
            break
        except Exception as e:  # sqlalchemy's errors, ImportError of a driver, bad URLs
            if attempt < 9 and _made_meanwhile(e):
                time.sleep(0.1 * (attempt + 1))
                continue
            raise TrainlabError(storage_error(url, e)) from None
    if storage.engine.name == "sqlite":
        serialize_sqlite(storage.engine)
    return storage


def _made_meanwhile(e: BaseException) -> bool:
    """Whether opening a new storage failed because another process created its tables at the same
    moment (Optuna checks, then creates): opening it again finds them. Measured on SQLite before
    this: 6 processes opening one new file at once, 2 tries in 5 had one fail ("table studies
    already exists", "UNIQUE constraint failed: alembic_version.version_num")."""
    text = str(e).lower()
    return "already exists" in text or "unique constraint failed: alembic_version" in text or \
        "duplicate key value" in text and "alembic_version" in text


def serialize_sqlite(engine: Any) -> None:
    """Make each transaction on this SQLite engine take the write lock when it begins (BEGIN
    IMMEDIATE). Python's sqlite3 module begins a transaction only before its first write, so the
    read half of a read-then-write (Optuna's "take this trial if it is still WAITING", "fail this
    trial if it is still RUNNING") ran outside any transaction: measured before this, 8 workers
    taking 200 waiting trials from one file were granted 232-243 trials, some the same trial 3 or 4
    times (tests/experiments/test_queue.py has the check). A transaction that waits for the lock
    waits under the connection's timeout (300 s), as any write already did."""
    @sqlalchemy.event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # sqlite3 leaves BEGIN to us (below)

    @sqlalchemy.event.listens_for(engine, "begin")
    def _begin_immediate(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened while Optuna set the storage up are made again with the hooks


def storage_error(url: str, e: BaseException) -> str:
    why = _why(e)
    low = why.lower()
    if isinstance(e, ImportError) or "no module named" in low or "import" in low and "dbapi" in low:
        return (f"storage {masked(url)!r} needs its database driver ({why}); for PostgreSQL: pip install "
                "'psycopg[binary]' (bash scripts/setup.sh installs it with trainlab[search])")
    if "password authentication failed" in low or "authentication failed" in low:
        return (f"storage {masked(url)!r} refused the login ({why}); fix the user or password in the URL, "
                "e.g. postgresql://user:password@host:5432/db")
    if "does not exist" in low and "database" in low:
        return f"storage {masked(url)!r}: {why}; create the database first (createdb) or name an existing one"
    return (f"storage {masked(url)!r} cannot be reached ({why}); start the server or fix the URL, e.g. "
            "postgresql://user:password@host:5432/db or sqlite:///path/study.db")


def _transient(e: BaseException) -> bool:
    """An error of a storage that went away (retry), not of a wrong request (raise)."""
    if isinstance(e, optuna.exceptions.StorageInternalError):
        return True
    name = type(e).__name__
    return name in ("OperationalError", "InterfaceError", "DisconnectionError") or "connection" in str(e).lower()


class Patient:
    """Calls that wait for a storage that went away: retried with a back-off that grows to at most
    30 s, for at most PATIENCE_S in all; the first wait is said once, and so is the return."""

    def __init__(self, url: str, say: Callable[[str], None] = print, patience: float = PATIENCE_S):
        self.url, self.say, self.patience = url, say, patience
        self.waiting = False

    def __call__(self, fn: Callable[[], T], what: str) -> T:
        start, delay = time.monotonic(), 1.0
        while True:
            try:
                out = fn()
            except Exception as e:  # noqa: BLE001 - sorted below: transient errors wait, others raise
                if not _transient(e):
                    raise
                if time.monotonic() - start > self.patience:
                    raise TrainlabError(f"storage {masked(self.url)!r} was unreachable for {self.patience:.0f} s "
                                        f"while {what} ({_why(e)}); start it again, then run the command again: "
                                        "nothing finished is lost") from None
                if not self.waiting:
                    self.say(f"trainlab: storage {masked(self.url)} unreachable while {what} ({_why(e)}); "
                             "waiting for it, retrying with a back-off up to 30 s")
                    self.waiting = True
                time.sleep(delay)
                delay = min(30.0, delay * 2)
                continue
            if self.waiting:
                self.say(f"trainlab: storage {masked(self.url)} is back")
                self.waiting = False
            return out


@dataclass
class Experiment:
    """A study of the queue: its name, kind and spec, as the enqueuer stored them."""

    study: Any
    kind: str
    spec: dict[str, Any]


class Queue:
    """The storage at `url` as a queue of runs (and search trials)."""

    def __init__(self, url: str, say: Callable[[str], None] = print, heartbeat: int = HEARTBEAT_S):
        """heartbeat: seconds between a running trial's beats; one silent for 6 beats (at least
        GRACE_S... or 3 beats when beats are faster than 10 s) is taken again."""
        self.url, self.heartbeat = url, heartbeat
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeats, stale trials
        self.patient = Patient(url, say)
        grace = GRACE_S if heartbeat >= HEARTBEAT_S else 3 * heartbeat
        # not patient here: a storage that cannot be reached at the start is a wrong URL or a server that is
        # not up, said at once; patience is for a storage that goes away once work has begun
        self.storage = open_storage(url, heartbeat, grace)

    # ------------------------------------------------------------ experiments
    def names(self) -> list[str]:
        return [s.study_name for s in self.patient(lambda: optuna.get_all_study_summaries(self.storage,
                                                                                         include_best_trial=False),
                                                   "listing experiments")]

    def experiment(self, name: str, sampler: Any = None) -> Experiment:
        """An experiment already in the storage; one line when there is none of that name."""
        if name not in self.names():
            have = ", ".join(self.names()) or "none"
            raise TrainlabError(f"no experiment {name!r} in storage {masked(self.url)} (it holds: {have}); "
                                "enqueue it first, e.g. `trainlab compare SPEC --storage URL --enqueue-only`")
        study = self.patient(lambda: optuna.load_study(study_name=name, storage=self.storage, sampler=sampler),
                             "opening an experiment")
        attrs = study.user_attrs
        return Experiment(study, attrs.get("kind", "search"), attrs.get("spec", {}))

    def create(self, name: str, kind: str, spec: dict[str, Any], direction: str = "minimize",
               sampler: Any = None, pruner: Any = None) -> Experiment:
        """The experiment `name`, created with `spec` (JSON), or found with the same spec; another spec
        under the same name, or one enqueued by another trainlab version or config schema, is refused."""
        spec = json.loads(json.dumps(spec, default=str))
        study = self.patient(lambda: optuna.create_study(study_name=name, storage=self.storage, sampler=sampler,
                                                         pruner=pruner, direction=direction, load_if_exists=True),
                             "creating an experiment")
        attrs = study.user_attrs
        if "kind" not in attrs:
            for key, value in {"kind": kind, "spec": spec, "trainlab": __version__, "schema": schema()}.items():
                self.patient(lambda: study.set_user_attr(key, value), "creating an experiment")
            return Experiment(study, kind, spec)
        check_versions(name, attrs)
        if attrs["kind"] != kind or attrs["spec"] != spec:
            raise TrainlabError(f"experiment {name!r} in {masked(self.url)} was enqueued with another spec "
                                f"({first_difference(attrs.get('spec'), spec)}); use another --name, or the same "
                                "spec to continue it")
        return Experiment(study, kind, spec)

    def enqueue(self, exp: Experiment, runs: list[dict[str, Any]], key: Callable[[dict], str]) -> int:
        """Add a WAITING trial for each run (its user attribute "run") not already in the experiment
        in any state but a failed one that was retried; how many were added."""
        have = {key(t.user_attrs["run"]) for t in self.trials(exp) if "run" in t.user_attrs}
        added = 0
        for run in runs:
            if key(run) in have:
                continue
            trial = optuna.trial.create_trial(state=State.WAITING, user_attrs={"run": run})
            self.patient(lambda: exp.study.add_trial(trial), "enqueuing runs")
            added += 1
        return added

    def enqueue_slots(self, exp: Experiment, total: int) -> int:
        """Empty WAITING trials (a search's budget) until the study holds `total` that are waiting,
        running or ended; a stale one's retry replaces it, so `total` is exact."""
        live = [t for t in self.trials(exp) if not (t.state == State.FAIL and "error" not in t.user_attrs)]
        added = max(0, total - len(live))
        for _ in range(added):
            self.patient(lambda: exp.study.add_trial(optuna.trial.create_trial(state=State.WAITING)), "enqueuing")
        return added

    def trials(self, exp: Experiment) -> list[Any]:
        return self.patient(lambda: exp.study.get_trials(deepcopy=False), "reading trials")

    # ------------------------------------------------------------ workers
    def take(self, exp: Experiment) -> int | None:
        """A waiting trial of `exp`, set RUNNING for this worker (the storage grants it to one worker
        only), or None when none is waiting. Stale trials of dead workers are failed (and their runs
        enqueued again) first."""
        self.patient(lambda: optuna.storages.fail_stale_trials(exp.study), "looking for dead workers")
        for t in self.patient(lambda: exp.study.get_trials(deepcopy=False, states=(State.WAITING,)), "taking a run"):
            try:
                granted = self.patient(lambda: self.storage.set_trial_state_values(t._trial_id, state=State.RUNNING),
                                       "taking a run")
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
            if granted:
                self.patient(lambda: self.storage.set_trial_user_attr(t._trial_id, "worker", worker_id()),
                             "taking a run")
                self.patient(lambda: self.storage.record_heartbeat(t._trial_id), "taking a run")
                return t._trial_id
        return None

    def beat(self, trial_id: int) -> None:
        """One heartbeat; a storage that went away is waited for by the next call, not this one."""
        try:
            self.storage.record_heartbeat(trial_id)
        except Exception as e:  # noqa: BLE001 - the heartbeat thread must outlive an outage
            if not _transient(e):
                raise

    def finish(self, exp: Experiment, trial_id: int, summary: dict[str, Any] | None = None, value: float = 0.0,
               error: str | None = None, pruned: bool = False) -> None:
        """Record a run's summary (or its error) and end its trial."""
        trial = self.patient(lambda: self.storage.get_trial(trial_id), "reporting a run")
        if summary is not None:
            self.patient(lambda: self.storage.set_trial_user_attr(trial_id, "summary", summary), "reporting a run")
        if error is not None:
            self.patient(lambda: self.storage.set_trial_user_attr(trial_id, "error", error), "reporting a run")
        state = State.FAIL if error is not None else State.PRUNED if pruned else State.COMPLETE
        values = [value] if state == State.COMPLETE else None
        try:
            self.patient(lambda: exp.study.tell(trial.number, values, state=state, skip_if_finished=True),
                         "reporting a run")
        except ValueError as e:  # another worker failed it as stale meanwhile: its copy will find our run done
            raise TrainlabError(f"trial {trial.number} of {exp.study.study_name!r} was taken from this worker "
                                f"({_why(e)}); its run folder holds the finished run") from None


def check_versions(name: str, attrs: dict[str, Any]) -> None:
    if attrs.get("trainlab") != __version__ or attrs.get("schema") != schema():
        raise TrainlabError(f"experiment {name!r} was enqueued by trainlab {attrs.get('trainlab')} (config schema "
                            f"{attrs.get('schema')}), this is trainlab {__version__} (schema {schema()}); run it "
                            "with workers of the version that enqueued it")


def first_difference(old: Any, new: Any, where: str = "") -> str:
    """Where two JSON values first differ, in words: "base.epochs: 2 then, 3 now"."""
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new)):
            if old.get(k) != new.get(k):
                return first_difference(old.get(k), new.get(k), f"{where}.{k}" if where else str(k))
    return f"{where or 'spec'}: {old!r} then, {new!r} now"


# ---------------------------------------------------------------- the worker's loop
Runner = Callable[["Queue", Experiment, int, str | None], None]  # runs trial `id` of an experiment, then finishes it


@contextmanager
def heartbeat(q: Queue, trial_id: int, every: float = HEARTBEAT_S) -> Iterator[None]:
    """Beat for trial `trial_id` every `every` s while the block runs (a thread)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            q.beat(trial_id)

    th = threading.Thread(target=beat, daemon=True)
    th.start()
    try:
        yield
    finally:
        stop.set()
        th.join()


def serve(url: str, names: list[str] | None, runners: dict[str, Runner], runs_dir: str | None = None,
          wait: bool = False, threads: int = 1, device: str | None = None, poll: float = 2.0,
          say: Callable[[str], None] = print, until: float | None = None, heartbeat_s: int = HEARTBEAT_S) -> int:
    """One worker: take waiting runs of the experiments `names` (None: every experiment in the
    storage) and run each with the runner of its kind, until none is waiting (or, with `wait`,
    forever). One torch thread per run unless told otherwise, so numbers do not depend on the
    machine's load; `device` "cuda:K" pins this worker to GPU K; after `until` (time.monotonic())
    no new run is taken. How many runs it ran."""
    if device and device.startswith("cuda:"):
        os.environ["CUDA_VISIBLE_DEVICES"] = device.split(":", 1)[1]  # before torch touches CUDA in this process
    torch.set_num_threads(threads)
    q = Queue(url, say, heartbeat_s)
    ran, refused = 0, set()
    while until is None or time.monotonic() < until:
        took = False
        for name in names or q.names():
            exp = q.experiment(name)
            if exp.kind not in runners or name in refused:
                continue
            try:
                check_versions(name, exp.study.user_attrs)
            except TrainlabError as e:
                if names:  # asked for by name: say why not, and stop
                    raise
                say(f"trainlab worker: skipping {name}: {e}")
                refused.add(name)
                continue
            trial_id = q.take(exp)
            if trial_id is None:
                continue
            with heartbeat(q, trial_id, heartbeat_s):
                runners[exp.kind](q, exp, trial_id, runs_dir)
            ran, took = ran + 1, True
            break  # look again from the first experiment: a run may have been enqueued meanwhile
        if not took:
            if not wait and not held_elsewhere(q, names or q.names(), runners):
                return ran  # nothing waits, and no run is held that could come back (its worker dead)
            time.sleep(poll)
    return ran


def held_elsewhere(q: Queue, names: list[str], runners: dict[str, Runner]) -> bool:
    """Whether some run of these experiments is held by a worker: if that worker died, the run comes
    back as waiting once its heartbeat is stale, so a worker with nothing to do waits for it."""
    for name in names:
        exp = q.experiment(name)
        if exp.kind in runners and q.patient(lambda: exp.study.get_trials(deepcopy=False, states=(State.RUNNING,)),
                                             "looking at running runs"):
            return True
    return False
