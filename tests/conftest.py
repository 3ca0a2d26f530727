"""Shared test setup: keep every test away from the user's home and data folders."""
from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

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
