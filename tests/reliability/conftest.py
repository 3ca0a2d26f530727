"""The reliability suite's shared references: one uninterrupted run and one uninterrupted compare
per session, which every kill, divergence, disk fault and repeat is compared with."""
from __future__ import annotations

import json

import pytest

from fault_parallel import COMPARE_ARMS, compare_argv, compare_prints
from faultlib import SETTINGS, call, fingerprint, reference_run


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """(run folder, fingerprint) of SETTINGS trained without interruption."""
    path = reference_run(tmp_path_factory.mktemp("reference"))
    return path, fingerprint(path)


@pytest.fixture(scope="session")
def compare_reference(tmp_path_factory):
    """Fingerprints of every run of a 2-arm x 2-seed compare run by one worker, without interruption."""
    folder = tmp_path_factory.mktemp("compare-reference")
    code, _, err = call(compare_argv(folder, "ref", seeds=2, jobs=1))
    assert code == 0, err
    prints = compare_prints(folder / "ref")
    assert len(prints) == 2 * len(COMPARE_ARMS)
    return prints


@pytest.fixture(scope="session")
def interrupted_run(tmp_path_factory):
    """A run folder as a kill leaves it (summary 'running', checkpoints on disk): bad-input cases
    damage copies of it."""
    import trainlab

    run = trainlab.train({**SETTINGS, "epochs": 1, "runs_dir": str(tmp_path_factory.mktemp("interrupted")),
                          "name": "r"}, quiet=True, report=False)
    s = json.loads((run.path / "summary.json").read_text())
    (run.path / "summary.json").write_text(json.dumps({**s, "status": "running"}))
    return run.path
