"""The queue: every experiment's runs through Optuna's RDB storage (SQLite, and a real PostgreSQL
server), taken by workers in processes of their own as if on other machines; a worker killed
mid-run, a server gone for a while, searches drawing distinct parameters, bad input."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy.exc
import yaml

import trainlab
from trainlab.cli import main
from trainlab.errors import TrainlabError
from trainlab.experiments import queue
from trainlab.experiments.compare import Comparison, compare, run_experiment
from trainlab.experiments.optuna import optuna
from trainlab.experiments.pool import held, run_queued
from trainlab.experiments.queue import Queue, State
from trainlab.experiments.search import search
from trainlab.experiments.spec import Experiment
from trainlab.experiments.worker import work
from trainlab.runs import load_run

BASE = {"dataset": "digits", "model": "mlp", "model_options": {"depth": 1, "width": 32}, "batch_size": 32,
        "epochs": 6, "eval_every": 10}
ARMS = {"none": {}, "drop": {"dropout": 0.3}}
SPACE = {"lr": {"log_uniform": [0.001, 1.0]}, "dropout": {"uniform": [0.0, 0.5]}}


def experiment(tmp_path, name="q", seeds=2, arms=ARMS) -> Experiment:
    return Experiment(name=name, base=dict(BASE), arms=dict(arms), seeds=seeds, runs_dir=str(tmp_path / "enqueuer"))


def worker(url: str, folder: Path, *extra: str, quiet: bool = True) -> subprocess.Popen:
    """`trainlab worker` in a process and a folder of its own, as on another machine."""
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "trainlab", "worker", "--storage", url, "--heartbeat", "1",
                             "--runs-dir", str(folder), *(["--quiet"] if quiet else []), *extra], cwd=folder,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def trials(url: str, name: str) -> list:
    return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)


def ended_once(url: str, name: str) -> dict[str, int]:
    """How many trials of each run ended complete (each run must end exactly once)."""
    counts: dict[str, int] = {}
    for t in trials(url, name):
        run = t.user_attrs.get("run")
        if t.state == State.COMPLETE:
            key = f"{run['arm']}/{run['seed']}"
            counts[key] = counts.get(key, 0) + 1
    return counts


def kill_a_running_worker(url: str, name: str, workers: list[subprocess.Popen], folder_of=None,
                          timeout: float = 120) -> tuple[int, dict]:
    """SIGKILL a worker while it holds a run (after that run's first checkpoint when `folder_of`
    gives the run's folder); the killed worker's pid and the run it held."""
    by_pid = {p.pid: p for p in workers}
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        for t in trials(url, name):
            pid = int(str(t.user_attrs.get("worker", ":0")).split(":")[-1])
            if t.state == State.RUNNING and pid in by_pid:
                run = t.user_attrs["run"]
                if folder_of is None or (folder_of(run) / "checkpoints" / "latest.json").is_file():
                    os.kill(pid, signal.SIGKILL)
                    by_pid[pid].wait()
                    return pid, run
        time.sleep(0.05)
    raise AssertionError("no worker was seen holding a run")


def finish(workers: list[subprocess.Popen], timeout: float = 300) -> list[str]:
    """Wait for the workers; what each printed."""
    said = []
    for p in workers:
        out, err = p.communicate(timeout=timeout)
        assert p.returncode in (0, -signal.SIGKILL), err
        said.append(out + err)
    return said


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same experiment, compared in one process without a queue: the statistics to match."""
    root = tmp_path_factory.mktemp("ref")
    return compare(BASE, ARMS, seeds=2, jobs=1, name="q", runs_dir=str(root))


def same_numbers(c: Comparison, ref: Comparison) -> None:
    for arm in ref.runs:
        for seed, r in ref.runs[arm].items():
            assert c.runs[arm][seed]["metrics"] == r["metrics"], (arm, seed)
    assert c.table() == ref.table() and c.paired() == ref.paired()


def test_three_workers_on_postgres_one_killed_every_run_ends_once(tmp_path, postgres, reference):
    url = postgres.url
    exp = experiment(tmp_path, name="pg3")
    assert run_experiment(exp, storage=url, enqueue_only=True, quiet=True) is None
    workers = [worker(url, tmp_path / f"machine-{i}") for i in range(3)]
    killed, run = kill_a_running_worker(url, "pg3", workers)
    finish([p for p in workers if p.pid != killed])
    assert ended_once(url, "pg3") == {f"{a}/{s}": 1 for a in ARMS for s in range(2)}
    stale = [t for t in trials(url, "pg3") if t.state == State.FAIL]
    assert len(stale) == 1 and stale[0].user_attrs["run"] == run  # the killed run, failed, then taken again
    again = [t for t in trials(url, "pg3") if t.system_attrs.get("failed_trial") == stale[0].number]
    assert again[0].state == State.COMPLETE and not again[0].user_attrs["summary"]["resumed"]  # another folder
    same_numbers(Comparison.from_queue(url, "pg3", folder=tmp_path / "report"), reference)


def test_a_shared_runs_folder_lets_the_killed_run_resume_from_its_checkpoint(tmp_path, postgres, reference):
    url, shared = postgres.url, tmp_path / "shared"
    exp = Experiment(name="pgshared", base={**BASE, "epochs": 12}, arms={"none": {}}, seeds=2,
                     runs_dir=str(shared))
    run_experiment(exp, storage=url, enqueue_only=True, quiet=True)
    workers = [worker(url, shared) for _ in range(2)]
    killed, run = kill_a_running_worker(url, "pgshared", workers, folder_of=lambda r: shared / r["folder"])
    finish([p for p in workers if p.pid != killed])
    assert ended_once(url, "pgshared") == {"none/0": 1, "none/1": 1}
    again = next(t for t in trials(url, "pgshared") if t.state == State.COMPLETE and t.user_attrs["run"] == run)
    assert again.user_attrs["summary"]["resumed"]  # it went on from the killed worker's checkpoint
    local = compare({**BASE, "epochs": 12}, {"none": {}}, seeds=2, jobs=1, name="pgshared",
                    runs_dir=str(tmp_path / "local"))
    same_numbers(Comparison.from_queue(url, "pgshared", folder=tmp_path / "report"), local)


def test_two_workers_on_sqlite_and_the_enqueuer_gathers(tmp_path, reference, capsys):
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    exp = experiment(tmp_path, name="lite")
    run_experiment(exp, storage=url, enqueue_only=True, quiet=True)
    workers = [worker(url, tmp_path / f"machine-{i}") for i in range(2)]
    finish(workers)
    assert ended_once(url, "lite") == {f"{a}/{s}": 1 for a in ARMS for s in range(2)}
    assert main(["queue", "--storage", url]) == 0
    assert "lite" in capsys.readouterr().out
    assert main(["compare", "--from-storage", url, "--name", "lite"]) == 0  # no run folder here: the storage's
    same_numbers(Comparison.from_queue(url, "lite", folder=tmp_path / "report"), reference)
    # the same compare again: nothing is enqueued twice, nothing trains, the same analysis
    again = run_experiment(experiment(tmp_path, name="lite"), storage=url, jobs=1, quiet=True)
    assert len(trials(url, "lite")) == 4
    same_numbers(again, reference)


@pytest.mark.slow
def test_the_server_gone_for_20_s_mid_experiment(tmp_path, postgres):
    url = postgres.url
    exp = Experiment(name="outage", base={**BASE, "epochs": 8}, arms={"none": {}, "drop": {"dropout": 0.3}},
                     seeds=2, runs_dir=str(tmp_path / "enqueuer"))
    run_experiment(exp, storage=url, enqueue_only=True, quiet=True)
    workers = [worker(url, tmp_path / f"machine-{i}", quiet=False) for i in range(2)]
    while not any(t.state == State.COMPLETE for t in trials(url, "outage")):
        time.sleep(0.2)
    postgres.stop()
    time.sleep(20)
    postgres.start()
    said = finish(workers, timeout=600)
    waits = [s.count("unreachable while") for s in said]
    assert sum(waits) >= 1 and max(waits) == 1, said  # said once by a worker that met the outage
    assert all(s.count("is back") == w for s, w in zip(said, waits)), said
    assert ended_once(url, "outage") == {f"{a}/{s}": 1 for a in ("none", "drop") for s in range(2)}
    assert not [t for t in trials(url, "outage") if t.state == State.FAIL]  # nobody was taken for dead


@pytest.mark.parametrize("where, sampler", [("sqlite", "random"), ("postgres", "tpe")])
def test_four_search_workers_draw_distinct_parameters_exactly_n_trials(tmp_path, request, where, sampler):
    url = request.getfixturevalue("postgres").url if where == "postgres" else None
    base = {**BASE, "epochs": 1, "runs_dir": str(tmp_path)}
    r = search(base, SPACE, sampler=sampler, trials=8, jobs=4, name=f"s-{where}-{sampler}", pruner="none",
               storage=url)
    done = r.trials()
    params = [tuple(sorted(t["params"].items())) for t in done]
    assert len(done) == 8 and [t["state"] for t in done] == ["COMPLETE"] * 8
    assert len(set(params)) == 8  # TPE's 8 trials are all start-up (random) trials: distinct too


@pytest.mark.parametrize("argv, words", [
    (["worker", "--storage", "URL", "--name", "nope"], "no experiment 'nope' in storage"),
    (["compare", "--from-storage", "URL", "--name", "nope"], "no experiment 'nope' in storage"),
    (["worker", "--storage", "postgresql://nobody:s3cret@127.0.0.1:9/none"], "cannot be reached"),
    (["worker", "--storage", "mysql://nobody:s3cret@127.0.0.1/none"], "needs its database driver"),
    (["worker", "--storage", "URL", "--device", "gpu0"], "--device 'gpu0'"),
])
def test_bad_input_is_one_line(tmp_path, capsys, argv, words):
    url = f"sqlite:///{tmp_path / 'q.db'}"
    Queue(url)
    code = main([a.replace("URL", url) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1 and "s3cret" not in err, err


def test_another_spec_under_the_same_name_and_another_version_are_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'q.db'}"
    run_experiment(experiment(tmp_path, name="x"), storage=url, enqueue_only=True, quiet=True)
    with pytest.raises(TrainlabError, match=r"was enqueued with another spec \(arms.drop.dropout: 0.3 then, 0.5 now\)"):
        run_experiment(experiment(tmp_path, name="x", arms={"none": {}, "drop": {"dropout": 0.5}}), storage=url,
                       enqueue_only=True, quiet=True)
    study = optuna.load_study(study_name="x", storage=url)
    study.set_user_attr("trainlab", "0.0.1")  # as if an older trainlab had enqueued it
    with pytest.raises(TrainlabError, match=r"enqueued by trainlab 0.0.1 .* this is trainlab 0.1.0"):
        work(url, names=["x"], quiet=True)


def test_an_ensembles_members_through_the_queue_need_their_folders_here(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'q.db'}"
    config = tmp_path / "mlp.yaml"
    config.write_text("dataset: digits\nmodel: mlp\nmodel_options: {depth: 1, width: 32}\nepochs: 2\n"
                      f"runs_dir: {tmp_path / 'here'}\n")
    assert main(["ensemble", "--train", str(config), "--members", "2", "--storage", url, "--jobs", "1",
                 "--out", str(tmp_path / "out")]) == 0  # trained here, through the queue
    assert (tmp_path / "out" / "ensemble.json").is_file()
    capsys.readouterr()
    other = tmp_path / "other.yaml"  # another experiment, trained by a worker in a folder not shared with us
    other.write_text(config.read_text().replace("epochs: 2", "epochs: 1"))
    run_experiment(Experiment(name="ensemble-other", base=yaml.safe_load(other.read_text()),
                              arms={"members": {}}, seeds=2, runs_dir=str(tmp_path / "here")),
                   storage=url, enqueue_only=True, quiet=True)
    finish([worker(url, tmp_path / "elsewhere")])
    assert main(["ensemble", "--train", str(other), "--members", "2", "--storage", url]) == 2
    err = capsys.readouterr().err
    assert "an ensemble needs its members' weights here" in err and len(err.strip().splitlines()) == 1


TAKE_ALL = """
import json, sys
from trainlab.experiments.queue import Queue
q = Queue(sys.argv[1], say=lambda s: None)
exp = q.experiment(sys.argv[2])
got = []
while (t := q.take(exp)) is not None:
    got.append(t)
print(json.dumps(got))
"""


def test_four_workers_taking_at_once_from_sqlite_are_each_granted_distinct_runs(tmp_path):
    """Each waiting run is granted to one worker only. On SQLite this needs transactions that take the
    lock at BEGIN (PostgreSQL has its row lock): without them 4 workers taking 120 runs were granted
    134. (The other tests here with workers on PostgreSQL check every run ended once.)"""
    url, n = f"sqlite:///{tmp_path}/q.db", 120
    q = Queue(url, say=lambda s: None)
    q.enqueue(q.create("take", "runs", {}), [{"i": i} for i in range(n)], key=lambda r: str(r["i"]))
    procs = [subprocess.Popen([sys.executable, "-c", TAKE_ALL, url, "take"], stdout=subprocess.PIPE, text=True)
             for _ in range(4)]
    taken = [yaml.safe_load(p.communicate(timeout=300)[0]) for p in procs]
    every = sorted(t for got in taken for t in got)
    assert all(p.returncode == 0 for p in procs)
    assert len(every) == n and len(set(every)) == n, f"granted {len(every)} runs, {len(set(every))} distinct"
    assert min(len(got) for got in taken) > 0  # all four took part, so they did race


def test_a_copy_of_a_run_whose_worker_still_lives_waits_for_it_then_finds_it_done(tmp_path):
    """A worker taken for dead (no heartbeat for a minute) may still be training: the copy of its run
    must neither delete nor resume that folder under it. Here the first attempt holds the folder (as
    `run_queued` does) and trains; the copy, started a second before, waits, then reports the first
    attempt's run without training. Without the folder's lock the copy trains into the same folder."""
    url = f"sqlite:///{tmp_path / 'q.db'}"
    run_experiment(experiment(tmp_path, name="alive", seeds=1, arms={"none": {}}), storage=url,
                   enqueue_only=True, quiet=True)
    q = Queue(url, say=lambda s: None)
    exp = q.experiment("alive")
    trial_id = q.take(exp)
    spec = q.storage.get_trial(trial_id).user_attrs["run"]
    path = Path(spec["config"]["runs_dir"]) / spec["folder"]
    copy = threading.Thread(target=run_queued, args=(q, exp, trial_id, None))
    with held(path):  # the first attempt, alive
        copy.start()
        time.sleep(1.0)
        first = trainlab.train({**spec["config"], "threads": 1}, quiet=True, report=False)
        assert copy.is_alive()  # still waiting for the folder
    copy.join(timeout=120)
    steps = [r["step"] for r in load_run(path).metrics]
    assert Path(first.path) == path and steps == sorted(set(steps))
    done = q.storage.get_trial(trial_id)
    assert done.state == State.COMPLETE and done.user_attrs["summary"]["resumed"] is False
    assert load_run(path).summary["status"] == first.summary["status"] == "finished"


def test_a_storage_whose_tables_another_process_is_creating_is_opened_again(tmp_path, monkeypatch):
    """Optuna checks for its tables, then creates them: a process opening a new SQLite file while
    another creates it failed with "table studies already exists" (measured: 6 processes opening one
    new file at once, 2 tries in 5). Such a failure is met by opening it again; any other is one line."""
    real, calls = optuna.storages.RDBStorage, []

    def racing(*a, **k):
        calls.append(1)
        if len(calls) == 1:
            raise sqlalchemy.exc.OperationalError("CREATE TABLE studies", {}, Exception("table studies already exists"))
        return real(*a, **k)

    monkeypatch.setattr(queue.optuna.storages, "RDBStorage", racing)
    storage = queue.open_storage(f"sqlite:///{tmp_path / 'new.db'}")
    assert len(calls) == 2 and storage.get_all_studies() == []

    def refusing(*a, **k):
        calls.append(1)
        raise sqlalchemy.exc.OperationalError("connect", {}, Exception("unable to open database file"))

    monkeypatch.setattr(queue.optuna.storages, "RDBStorage", refusing)
    with pytest.raises(TrainlabError, match="cannot be reached"):
        queue.open_storage(f"sqlite:///{tmp_path / 'other.db'}")
    assert len(calls) == 3  # not retried
