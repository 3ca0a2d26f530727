"""The CLI: bad input gives one line naming the input and the fix, exit code 2, nothing overwritten."""
import subprocess
import sys

import pytest

from trainlab.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, words", [
    (["train", "missing.yaml"], "not found"),
    (["train", "--set", "lr=-1"], "'lr'"),
    (["train", "--set", "lrr=1"], "unknown key 'lrr'"),
    (["train", "--set", "optimizer=adamm", "--set", "dataset=digits"], "unknown optimizer"),
    (["train", "--set", "dataset=nope", "--set", "model=mlp"], "nope"),
    (["resume", "no/such/run"], "not found"),
    (["evaluate", "no/such/run"], "not found"),
    (["list", "gizmos"], "unknown kind"),
])
def test_bad_input_is_one_line_exit_2(capsys, tmp_path, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and words in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_not_a_run_folder(capsys, tmp_path):
    (tmp_path / "keep.txt").write_text("precious")
    code, _, err = run_cli(capsys, "resume", str(tmp_path))
    assert code == 2 and "not a trainlab run" in err
    assert (tmp_path / "keep.txt").read_text() == "precious"


def test_train_then_runs_evaluate_and_resume_finished(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "train", "--quiet", "--name", "cli", "--set", "dataset=digits",
                           "--set", "model=mlp", "--set", "epochs=2", "--set", "threads=1")
    assert code == 0
    code, out, _ = run_cli(capsys, "runs")
    assert code == 0 and "cli" in out and "finished" in out
    code, out, _ = run_cli(capsys, "evaluate", "runs/cli")
    assert code == 0 and "accuracy" in out and "confusion_test.png" in out
    before = (tmp_path / "runs" / "cli" / "metrics.jsonl").read_bytes()
    code, _, err = run_cli(capsys, "resume", "runs/cli")
    assert code == 2 and "already ended (finished)" in err
    assert (tmp_path / "runs" / "cli" / "metrics.jsonl").read_bytes() == before


def test_list_every_kind(capsys):
    from trainlab.commands.list import KINDS

    for kind in KINDS:
        code, out, _ = run_cli(capsys, "list", kind)
        assert code == 0 and out.strip(), kind


def test_console_script_has_no_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "trainlab.cli", "train", str(tmp_path / "x.yaml")],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "Traceback" not in out.stderr
