"""`trainlab compare`: arms x seeds, results from the run folders, resumable, bad input refused."""
import json
from pathlib import Path

import pytest

import trainlab
from trainlab.cli import main
from trainlab.experiments.compare import Comparison, compare

BASE = {"dataset": "digits", "model": "mlp", "epochs": 2, "batch_size": 64, "lr": 0.05,
        "model_options": {"depth": 1, "width": 32}}


def test_compare_runs_every_arm_and_seed_and_reanalyses(tmp_path):
    c = compare(BASE, {"none": {}, "drop": {"dropout": 0.5}}, seeds=2, jobs=1, name="exp", runs_dir=str(tmp_path))
    folder = tmp_path / "exp"
    assert sorted(str(p.relative_to(folder)) for p in folder.glob("*/seed-*")) == [
        "drop/seed-0", "drop/seed-1", "none/seed-0", "none/seed-1"]
    assert trainlab.load_run(folder / "drop" / "seed-1").config["dropout"] == 0.5
    t = c.table()
    assert t["none"]["val_acc"]["n"] == 2 and set(c.paired()) == {"drop"}
    rows = (folder / "results.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 4 and rows[0].startswith("arm,seed,status,val_acc")
    res = json.loads((folder / "results.json").read_text())
    assert res["baseline"] == "none" and res["paired"]["drop"]["val_acc"]["n"] == 2
    for f in ("report.html", "plots/dots.png", "plots/curves.png", "plots/paired.png"):
        assert (folder / f).is_file(), f
    # the table is the runs' own numbers
    vals = [trainlab.load_run(folder / "none" / f"seed-{s}").summary["best"]["val_acc"] for s in (0, 1)]
    assert t["none"]["val_acc"]["mean"] == pytest.approx(sum(vals) / 2)
    # again: nothing is retrained; --from re-analyses without training
    stamp = (folder / "none" / "seed-0" / "summary.json").stat().st_mtime_ns
    before = sorted(p for p in folder.rglob("*") if p.is_dir())
    again = compare(BASE, {"none": {}, "drop": {"dropout": 0.5}}, seeds=2, jobs=1, name="exp", runs_dir=str(tmp_path))
    assert (folder / "none" / "seed-0" / "summary.json").stat().st_mtime_ns == stamp
    assert sorted(p for p in folder.rglob("*") if p.is_dir()) == before  # no run trained again elsewhere
    assert again.table() == t
    assert Comparison.load(folder).table() == t


@pytest.mark.parametrize("argv, words", [
    (["--arm", "a:", "--arm", "b:", "dropuot=0.5"], "unknown key 'dropuot' (did you mean 'dropout'?)"),
    (["--arm", "a:", "--arm", "a:", "dropout=0.5"], "--arm 'a' is given twice"),
    (["--arm", "a", "dropout=0.5"], "write NAME: [KEY=VALUE ...]"),
    (["--arm", "a:", "--arm", "b:", "optimizer=adamm"], "arm 'b': unknown optimizer"),
    (["--arm", "a:", "--baseline", "c"], "baseline 'c' is not an arm"),
])
def test_bad_input_one_line_exit_2(tmp_path, capsys, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "base.yaml"
    cfg.write_text("dataset: digits\nmodel: mlp\nepochs: 1\n")
    code = main(["compare", str(cfg), *argv])
    err = capsys.readouterr().err
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()  # refused before anything trained


def test_experiment_file_with_duplicate_arms_is_refused(tmp_path, capsys):
    f = tmp_path / "exp.yaml"
    f.write_text("base: {dataset: digits, model: mlp}\narms:\n  a: {}\n  a: {dropout: 0.5}\n")
    assert main(["compare", str(f)]) == 2
    assert "duplicate key 'a'" in capsys.readouterr().err


def test_from_a_folder_with_two_datasets_is_refused_and_nothing_is_lost(tmp_path, capsys):
    compare(BASE, {"a": {}}, seeds=1, jobs=1, name="mix", runs_dir=str(tmp_path))
    trainlab.train({**BASE, "dataset": "moons", "runs_dir": str(tmp_path), "group": "mix/a", "name": "seed-1",
                    "seed": 1}, quiet=True, report=False)
    before = {p: p.read_bytes() for p in (tmp_path / "mix").rglob("*") if p.is_file()}
    assert main(["compare", "--from", str(tmp_path / "mix")]) == 2
    err = capsys.readouterr().err
    assert "different datasets (digits, moons)" in err and len(err.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in (tmp_path / "mix").rglob("*") if p.is_file()} == before


def test_changed_arm_in_the_same_folder_is_refused(tmp_path):
    from trainlab.errors import TrainlabError

    compare(BASE, {"a": {}}, seeds=1, jobs=1, name="x", runs_dir=str(tmp_path))
    with pytest.raises(TrainlabError, match="other arms or another base config"):
        compare(BASE, {"a": {"dropout": 0.2}}, seeds=1, jobs=1, name="x", runs_dir=str(tmp_path))


EXPERIMENTS = sorted((Path(__file__).parents[2] / "experiments").glob("*.yaml"))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_shipped_experiments_are_valid(path):
    from trainlab.experiments.spec import from_yaml

    exp = from_yaml(path)
    exp.check()  # every arm's config built and checked, names and options included
    assert len(exp.arms) >= 2 and exp.seeds >= 3 and exp.baseline in exp.arms


def test_precision_auto_arms_are_not_retrained(tmp_path):
    arms = {"a": {"precision": "auto"}}
    compare(BASE, arms, seeds=1, jobs=1, name="p", runs_dir=str(tmp_path))
    summary = tmp_path / "p" / "a" / "seed-0" / "summary.json"
    stamp = summary.stat().st_mtime_ns
    compare(BASE, arms, seeds=1, jobs=1, name="p", runs_dir=str(tmp_path))  # resolved to fp32 or bf16 on disk
    assert summary.stat().st_mtime_ns == stamp


def test_from_with_another_baseline(tmp_path, capsys):
    compare(BASE, {"a": {}, "b": {"dropout": 0.3}}, seeds=2, jobs=1, name="fb", runs_dir=str(tmp_path))
    assert main(["compare", "--from", str(tmp_path / "fb"), "--baseline", "b"]) == 0
    res = json.loads((tmp_path / "fb" / "results.json").read_text())
    assert res["baseline"] == "b" and set(res["paired"]) == {"a"}
    assert "a vs b" in capsys.readouterr().out
    assert main(["compare", "--from", str(tmp_path / "fb"), "--baseline", "c"]) == 2
    assert "baseline 'c' is not an arm" in capsys.readouterr().err


def test_plan_clears_a_folder_killed_before_its_config_and_keeps_foreign_files(tmp_path):
    """SIGKILL between a run's mkdir and its config.yaml leaves an empty folder (or a temp file of
    the atomic write): the next compare trains it in place. A folder with other files is refused."""
    from trainlab.errors import TrainlabError
    from trainlab.experiments.pool import Job, plan

    half = tmp_path / "a" / "seed-0"
    half.mkdir(parents=True)
    (half / ".config.yaml.x1.tmp").write_text("partial")
    job = Job("a", 0, {"dataset": "digits", "model": "mlp"}, half)
    assert plan([job])[0].action == "train" and not half.exists()
    foreign = tmp_path / "a" / "seed-1"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(TrainlabError, match="holds files but no config.yaml"):
        plan([Job("a", 1, {"dataset": "digits", "model": "mlp"}, foreign)])
    assert (foreign / "notes.txt").read_text() == "mine"


def test_plan_trains_again_a_run_killed_between_its_config_and_its_summary(tmp_path):
    """A worker killed after writing config.yaml (resolved: precision auto measured as fp32) and before
    summary.json (which records the arm asked for) left nothing trained: the retry trains it afresh
    instead of refusing the folder as another arm's (seen with a search worker SIGKILLed on a busy
    machine: the retried trial failed with "holds a run of another config")."""
    import yaml

    from trainlab.errors import TrainlabError
    from trainlab.experiments.pool import Job, plan

    asked = {"dataset": "digits", "model": "mlp", "precision": "auto"}
    half = tmp_path / "a" / "seed-0"
    half.mkdir(parents=True)
    (half / "config.yaml").write_text(yaml.safe_dump({**asked, "precision": "fp32"}))
    (half / "env.json").write_text("{}")
    assert plan([Job("a", 0, asked, half)])[0].action == "train" and not half.exists()
    # with a checkpoint there is something to lose: the folder is compared with the arm, and kept
    half.mkdir(parents=True)
    (half / "config.yaml").write_text(yaml.safe_dump({**asked, "model": "convnet"}))
    (half / "checkpoints").mkdir()
    (half / "checkpoints" / "latest.json").write_text("{}")
    with pytest.raises(TrainlabError, match="holds a run of another config"):
        plan([Job("a", 0, asked, half)])
    assert (half / "checkpoints" / "latest.json").is_file()


def test_rerun_with_fewer_seeds_says_the_analysis_uses_every_seed_the_folder_holds(tmp_path, capsys):
    import yaml

    (tmp_path / "base.yaml").write_text(yaml.safe_dump({**BASE, "runs_dir": str(tmp_path / "runs")}))
    argv = ["compare", str(tmp_path / "base.yaml"), "--arm", "a:", "--name", "few", "--jobs", "1"]
    assert main([*argv, "--seeds", "3"]) == 0
    capsys.readouterr()
    assert main([*argv, "--seeds", "2"]) == 0
    out = capsys.readouterr().out
    assert "the folder holds 3 seeds of each arm, and the analysis uses all 3" in out
    assert "n=3" in out and "auto at a time" not in out
    assert main(["compare", str(tmp_path / "base.yaml"), "--arm", "a:", "--name", "auto", "--seeds", "1"]) == 0
    assert "decided after timing the first run" in capsys.readouterr().out


def test_diverged_runs_are_counted_not_dropped(tmp_path):
    """A run that diverged keeps the scores of its best evaluation before it, or counts at chance
    (accuracy 1/K, loss ln K) when it diverged before any: dropping it flattered the arm."""
    import math

    def record(status, acc=None, loss=None):
        metrics = {k: v for k, v in (("val_acc", acc), ("val_loss", loss)) if v is not None}
        return {"path": tmp_path, "status": status, "metrics": metrics, "summary": {"classes": 10}, "curve": []}

    c = Comparison(tmp_path, {"name": "d", "arms": {"a": {}, "b": {}}, "baseline": "a", "seeds": 3},
                   {"a": {s: record("finished", 0.9 + s / 100, 0.3) for s in range(3)},
                    "b": {0: record("finished", 0.95, 0.2), 1: record("diverged", 0.5, 1.4), 2: record("diverged")}})
    assert c.values("b", "val_acc") == {0: 0.95, 1: 0.5, 2: 0.1}
    assert c.values("b", "val_loss") == pytest.approx({0: 0.2, 1: 1.4, 2: math.log(10)})
    t = c.table()["b"]["val_acc"]
    assert t["n"] == 3 and t["diverged"] == 2 and c.paired()["b"]["val_acc"]["n"] == 3
