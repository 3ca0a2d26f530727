"""The CLI: bad input gives one line naming the input and the fix, exit code 2, nothing overwritten."""
import subprocess
import sys
from pathlib import Path

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
    from trainlab.cli.listing import KINDS

    for kind in KINDS:
        code, out, _ = run_cli(capsys, "list", kind)
        assert code == 0 and out.strip(), kind


def test_console_script_has_no_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "trainlab", "train", str(tmp_path / "x.yaml")],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "Traceback" not in out.stderr


# ---------------------------------------------------------------- issue 21: errors that point the right way
@pytest.mark.parametrize("value, words", [
    ("lr=[0.1,0.2]", "--set 'lr=[0.1,0.2]': key 'lr': input should be a valid number"),
    ("epochs=-1", "--set 'epochs=-1': key 'epochs'"),
    ("batch_size=0", "--set 'batch_size=0': key 'batch_size'"),
    ("monitor=val_accuracy", "--set 'monitor=val_accuracy': key 'monitor'"),
    ("augment=hflip,crop", "write a list in brackets: augment=[hflip,crop]"),
])
def test_a_bad_set_value_names_the_set_not_the_config_file(capsys, tmp_path, value, words):
    (tmp_path / "c.yaml").write_text("dataset: digits\nmodel: mlp\n")
    code, out, err = run_cli(capsys, "train", str(tmp_path / "c.yaml"), "--set", value)
    assert code == 2 and words in err and str(tmp_path / "c.yaml") not in err and len(err.strip().splitlines()) == 1


def test_a_bad_value_in_the_file_still_names_the_file(capsys, tmp_path):
    (tmp_path / "c.yaml").write_text("dataset: digits\nmodel: mlp\nlr: [0.1, 0.2]\n")
    code, out, err = run_cli(capsys, "train", str(tmp_path / "c.yaml"), "--set", "epochs=1")
    assert code == 2 and f"{tmp_path / 'c.yaml'}: key 'lr'" in err


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    import trainlab

    root = tmp_path_factory.mktemp("cli") / "runs"
    base = {"dataset": "digits", "epochs": 1, "batch_size": 64, "threads": 1, "runs_dir": str(root)}
    trainlab.train({**base, "model": "mlp", "model_options": {"width": 128}, "dropout": 0.5}, quiet=True, report=False)
    trainlab.train({**base, "model": "convnet", "model_options": {"channels": [8], "hidden": 16}}, quiet=True,
                   report=False)
    return root


def test_runs_where_refuses_an_unknown_key_and_reads_dotted_keys(capsys, two_models):
    code, out, err = run_cli(capsys, "runs", str(two_models), "--where", "dropuot=0.5")
    assert code == 2 and "unknown key 'dropuot' (did you mean 'dropout'?)" in err
    code, out, err = run_cli(capsys, "runs", str(two_models), "--where", "model_options.width=128")
    assert code == 0 and "1 runs in" in out and "mlp-digits" in out and "convnet-digits" not in out
    code, out, err = run_cli(capsys, "runs", str(two_models), "--where", "dropout=0.5")
    assert code == 0 and "1 runs in" in out


def test_piped_output_is_never_cut_or_wrapped(capsys, two_models):
    code, out, err = run_cli(capsys, "runs", str(two_models))  # capsys is a pipe, as `| cat` or `> log` is
    assert code == 0
    rows = [l for l in out.splitlines() if "-digits-" in l]
    assert len(rows) == 2 and all(l.rstrip().endswith(("mlp", "convnet")) for l in rows)  # the model column, whole
    caption = next(l for l in out.splitlines() if l.startswith("val:"))
    assert caption.rstrip().endswith("of those weights")  # one line, however long


def test_the_reliability_corpus_imports_without_pytest():
    """bench/faults.py runs in the environment the README's first command makes (no pytest there)."""
    root = Path(__file__).resolve().parents[1]
    code = ("import sys; sys.modules['pytest'] = None; "
            f"sys.path[:0] = [{str(root / 'reliability')!r}, {str(root)!r}]; "
            "import corpus, faultlib, fault_kills, fault_parallel, fault_disk, fault_divergence")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_commands_help_keeps_its_examples_one_per_line(capsys):
    """The module docstring is the command's --help: its example lines must not be run together."""
    with pytest.raises(SystemExit):
        main(["claims", "--help"])
    out = capsys.readouterr().out
    assert "\n    trainlab claims list\n" in out
    assert "\n    trainlab claims report                 # runs/claims/report.html and claims.json\n" in out
