"""`trainlab runs` and `trainlab.load_runs`: nested groups, filters, sorting, a table that reads at 80 columns."""
import pytest

import trainlab
from trainlab.cli import main
from trainlab.console import fmt_epochs, fmt_time

BASE = {"dataset": "digits", "model": "mlp", "epochs": 1, "batch_size": 64, "threads": 1}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("table") / "runs"
    for seed in (0, 1):
        for arm, kw in (("none", {}), ("dropout", {"dropout": 0.5})):
            trainlab.train({**BASE, **kw, "seed": seed, "runs_dir": str(root), "group": f"cmp/{arm}",
                            "name": f"seed-{seed}"}, quiet=True, report=False)
    trainlab.train({**BASE, "runs_dir": str(root), "name": "a-rather-long-run-name-that-must-never-be-cut-x",
                    "tags": ["solo"]}, quiet=True, report=False)
    return root


def test_load_runs_walks_groups_and_filters(runs):
    rows = trainlab.load_runs(runs, as_frame=False)
    assert len(rows) == 5
    assert {r["run"] for r in rows if r["group"] == "cmp/none"} == {"cmp/none/seed-0", "cmp/none/seed-1"}
    assert len(trainlab.load_runs(runs, group="cmp", as_frame=False)) == 4
    assert len(trainlab.load_runs(runs, group="cmp/dropout", as_frame=False)) == 2
    assert [r["seed"] for r in trainlab.load_runs(runs, group="cmp", dropout=0.5, seed=1, as_frame=False)] == [1]
    assert [r["run"] for r in trainlab.load_runs(runs, tags="solo", as_frame=False)][0].startswith("a-rather")
    assert trainlab.load_runs(runs, status="diverged", as_frame=False) == []
    # the arm hash groups seeds of one arm
    arms = {r["arm"] for r in trainlab.load_runs(runs, group="cmp/none", as_frame=False)}
    assert len(arms) == 1


def test_sort_is_best_first_for_scores(runs):
    accs = [r["val_acc"] for r in trainlab.load_runs(runs, sort="val_acc", as_frame=False)]
    assert accs == sorted(accs, reverse=True)
    losses = [r["val_loss"] for r in trainlab.load_runs(runs, sort="val_loss", as_frame=False)]
    assert losses == sorted(losses)


def test_load_runs_frame_when_pandas_is_there(runs, monkeypatch):
    import sys
    import types

    from trainlab.errors import TrainlabError

    # pandas is optional: a stand-in module shows which path load_runs takes, with or without it
    monkeypatch.setitem(sys.modules, "pandas", None)  # "not installed"
    assert isinstance(trainlab.load_runs(runs), list)
    with pytest.raises(TrainlabError, match="needs pandas"):
        trainlab.load_runs(runs, as_frame=True)
    fake = types.ModuleType("pandas")
    fake.DataFrame = lambda rows: ("frame", rows)
    monkeypatch.setitem(sys.modules, "pandas", fake)
    kind, rows = trainlab.load_runs(runs)
    assert kind == "frame" and len(rows) == 5 and all("config" not in r and "val_acc" in r for r in rows)


def test_runs_table_at_80_columns(runs, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["runs", str(runs), "--sort", "val_acc"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(l.rstrip()) for l in lines) <= 80
    assert any("a-rather-long-run-name-that-must-never-be-cut-x" in l for l in lines)
    row = next(l for l in lines if l.startswith("cmp/none/seed-0"))
    assert " 1 " in row and "1.0" not in row.split()[2]  # epochs as an integer
    # shared values said once, not repeated per row (the header wraps at 80 where the tmp path is long)
    assert "model mlp, dataset digits" in " ".join(out.split())


def test_runs_where_and_bad_sort(runs, capsys):
    assert main(["runs", str(runs), "--where", "dropout=0.5"]) == 0
    out = capsys.readouterr().out
    assert "cmp/dropout/seed-0" in out and "cmp/none" not in out
    assert main(["runs", str(runs), "--sort", "val_accuracy"]) == 2
    err = capsys.readouterr().err
    assert "--sort 'val_accuracy' is not a column" in err and len(err.strip().splitlines()) == 1


def test_unreadable_run_is_listed_not_fatal(runs, capsys):
    bad = runs / "broken"
    bad.mkdir()
    (bad / "config.yaml").write_text(": : not yaml [")
    try:
        assert main(["runs", str(runs)]) == 0
        assert "unreadable" in capsys.readouterr().out
    finally:
        (bad / "config.yaml").unlink()
        bad.rmdir()


def test_time_and_epoch_formats():
    assert (fmt_time(9.31), fmt_time(168.2), fmt_time(3725), fmt_time(None)) == ("9.3s", "2m48s", "1h02m", "")
    assert (fmt_epochs(8.0), fmt_epochs(2.5), fmt_epochs(None)) == ("8", "2.5", "")
