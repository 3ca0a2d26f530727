"""Shared test setup: keep every test away from the user's home and data folders."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from fixtures_data import _Handler
from helpers import Killed

from trainlab.data import download

# Two cores on CI: one intra-op thread per test process keeps timings stable and results reproducible.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _one_thread():
    """Every test starts on one intra-op thread again. A test that trains in this process with
    `threads: 2`, or a search with one worker (it takes the usable cores), leaves torch on two;
    the tests after it then ran their small ops on two spinning OpenMP threads, several times
    slower on two busy cores (the style tests after test_search.py: 1 s alone, 22 s after it)."""
    torch.set_num_threads(1)


# Tests that start several training processes of their own (workers, ranks, kills): pytest-xdist
# (`-n auto`, pyproject.toml) runs them one after another on one of its workers, so at most one of them
# shares the cores with the rest of the suite at a time, as on a quiet 2-core machine.
PROCESSES = ("tests/reliability/", "tests/distributed/", "tests/experiments/test_queue.py",
             "tests/experiments/test_search.py")


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = item.nodeid.replace("\\", "/")
        if path.startswith(PROCESSES):
            item.add_marker(pytest.mark.xdist_group("processes"))


@pytest.fixture(autouse=True)
def _no_columns(monkeypatch):
    """No COLUMNS from outside: pytest-xdist's workers inherit COLUMNS=80, which makes every console
    wrap at 80 as on a terminal; tests that want a width set it themselves."""
    monkeypatch.delenv("COLUMNS", raising=False)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """The user cache goes to a per-session temporary folder (datasets cache decoded arrays there)."""
    cache = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("MPLBACKEND", "Agg")


@pytest.fixture
def data_env(tmp_path, monkeypatch):
    """Isolated data folders: $TRAINLAB_DATA, cache and the system folder all under tmp_path."""
    monkeypatch.setenv("TRAINLAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("TRAINLAB_CACHE", raising=False)
    monkeypatch.delenv("TRAINLAB_MIRROR", raising=False)
    monkeypatch.setattr(download, "SYSTEM_DIR", tmp_path / "system")
    return tmp_path


@pytest.fixture
def http_server():
    """A threaded HTTP server on 127.0.0.1: set `.files` {path: bytes} and `.truncate`; `.url` is the base."""
    handler = type("Handler", (_Handler,), {"files": {}, "truncate": set()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield handler
    server.shutdown()
    server.server_close()


# ---------------------------------------------------------------- helpers shared by the layers' tests
@pytest.fixture
def kill_and_resume():
    """kill_and_resume(settings, at_step, name="cut"): train `settings` as run `name`, kill it at the
    evaluation of step `at_step` (after the previous checkpoint, before that step's), check it is
    left `running`, then `trainlab.resume` it; the resumed Run."""
    import trainlab
    from trainlab.training.run import resume

    def run(settings: dict, at_step: int, name: str = "cut"):
        def kill(row):
            if row["step"] == at_step:
                raise Killed
        with pytest.raises(Killed):
            trainlab.train({**settings, "name": name}, quiet=True, report=False, on_eval=kill)
        cut = trainlab.load_run(f"{settings['runs_dir']}/{name}")
        assert cut.summary["status"] == "running"
        return resume(cut.path, quiet=True, report=False)

    return run


# ---------------------------------------------------------------- a real PostgreSQL server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """A throwaway PostgreSQL server (Debian's package): `url`, and `stop()` / `start()` to take it
    away for a while, as a restart or a network outage would."""

    def __init__(self, bindir: Path, folder: str, port: int, as_user: list[str]):
        self.bindir, self.folder, self.port, self.as_user = bindir, folder, port, as_user
        self.url = f"postgresql://trainlab@127.0.0.1:{port}/postgres"

    def ctl(self, *args: str) -> None:
        subprocess.run(self.as_user + [str(self.bindir / "pg_ctl"), "-D", f"{self.folder}/data", *args],
                       check=True, capture_output=True)

    def start(self) -> None:
        self.ctl("-l", f"{self.folder}/log", "-w", "-o",
                 f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        self.ctl("-m", "fast", "-w", "stop")


@pytest.fixture(scope="session")
def postgres():
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        pytest.skip("PostgreSQL is not installed here: `bash scripts/setup.sh --test` installs Debian's postgresql")
    pytest.importorskip("psycopg", reason="psycopg is missing: `bash scripts/setup.sh --test` installs it")
    bindir = Path(bins[-1]).parent
    d = tempfile.mkdtemp(prefix="trainlab-pg-")
    as_user = []
    if os.geteuid() == 0:  # the server refuses to run as root: run it as the postgres user
        pw = pwd.getpwnam("postgres")
        os.chown(d, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run(as_user + [str(bindir / "initdb"), "-D", f"{d}/data", "-A", "trust", "-U", "trainlab", "--no-sync"],
                   check=True, capture_output=True)
    server = Postgres(bindir, d, _free_port(), as_user)
    server.start()
    try:
        yield server
    finally:
        subprocess.run(as_user + [str(bindir / "pg_ctl"), "-D", f"{d}/data", "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(d, ignore_errors=True)
