"""Disk faults: the disk fills up while a checkpoint is written (ENOSPC: /dev/full for files
written from Python, safetensors' own failure for weights), and runs folders that cannot be
written or cannot exist. The run must end with one line naming the file and the fix; the
previous checkpoint must load and equal the reference's at its step; with room again, resume
must end bit for bit like the uninterrupted run. A runs folder that cannot be written is refused
in one line before any training."""
from __future__ import annotations

import pytest

from fault_disk import full_disk_then_resume, read_only
from faultlib import call, lines, tree_hash


@pytest.mark.parametrize("which, nth", [
    ("checkpoint", 1),  # the weights of the second checkpoint (safetensors fails half-way)
    ("checkpoint", 3),  # latest.json, the switch to the second (the kernel answers ENOSPC)
    ("metrics", 3),     # metrics.jsonl at the second row: it holds the first
])
def test_a_full_disk_ends_the_run_in_one_line_and_resume_finishes_it(tmp_path, reference, which, nth):
    outcome = full_disk_then_resume(tmp_path, reference[1], reference[0], which, nth)
    assert outcome.held, str(outcome)


def _refused_before_training(monkeypatch, argv: list[str], folder, words: list[str]) -> None:
    import trainlab.training.run as T

    steps = []
    monkeypatch.setattr(T, "fit", lambda *a, **k: steps.append(1))  # reached only if nothing refused
    before = tree_hash(folder)
    code, out, err = call(argv)
    said = lines(err)
    assert code == 2 and len(said) == 1 and not lines(out) and "Traceback" not in err, (code, out, err)
    assert all(w in said[0] for w in words), said[0]
    assert not steps and tree_hash(folder) == before


COMMANDS = {
    "train": lambda runs: ["train", "--set", "dataset=digits", "--set", "model=mlp", "--set", f"runs_dir={runs}"],
    "compare": lambda runs: ["compare", "base.yaml", "--set", f"runs_dir={runs}", "--arm", "a:", "--arm", "b:",
                             "dropout=0.3", "--seeds", "1", "--jobs", "1"],
    "search": lambda runs: ["search", "base.yaml", "space.yaml", "--set", f"runs_dir={runs}", "--trials", "2"],
}


@pytest.fixture
def inputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.yaml").write_text("dataset: digits\nmodel: mlp\nepochs: 1\n")
    (tmp_path / "space.yaml").write_text("lr: {log_uniform: [0.01, 0.3]}\n")
    return tmp_path


@pytest.mark.parametrize("command", COMMANDS)
def test_a_read_only_runs_folder_is_refused_before_training(inputs, monkeypatch, command):
    runs = inputs / "runs"
    runs.mkdir()
    with read_only(runs):
        _refused_before_training(monkeypatch, COMMANDS[command](runs), inputs, [str(runs), "writable"])


@pytest.mark.parametrize("command", COMMANDS)
def test_a_runs_folder_that_cannot_exist_is_refused_before_training(inputs, monkeypatch, command):
    (inputs / "afile").write_text("a file where the runs folder should go")
    runs = inputs / "afile" / "runs"
    _refused_before_training(monkeypatch, COMMANDS[command](runs), inputs, [str(runs), "writable"])
