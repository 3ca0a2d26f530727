"""`trainlab search` on Optuna: spaces, grids, shared storage (SQLite and a real PostgreSQL),
workers that share one study, a worker killed mid-trial, bad input."""
from pathlib import Path

import pytest

import trainlab
from trainlab.cli import main
from trainlab.errors import TrainlabError
from trainlab.experiments.search import search
from trainlab.experiments.space import grid_values, parse_space

BASE = {"dataset": "digits", "model": "mlp", "epochs": 2, "batch_size": 64,
        "model_options": {"depth": 1, "width": 32}}
SPACE = {"lr": {"log_uniform": [0.01, 0.3]}, "dropout": {"uniform": [0.0, 0.5]}}


def test_grid_fills_the_budget_evenly_and_log_spaced():
    dims = parse_space({"lr": {"log_uniform": [1e-4, 1]}, "dropout": {"uniform": [0, 0.6]},
                        "optimizer": {"grid": ["sgd", "adam"]}}, {})
    g = grid_values(dims, trials=18)  # 2 fixed values -> 9 left -> 3 points per range
    assert g["lr"] == pytest.approx([1e-4, 1e-2, 1.0]) and g["dropout"] == pytest.approx([0, 0.3, 0.6])
    assert g["optimizer"] == ["sgd", "adam"]
    assert grid_values(dims, trials=50)["lr"] == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1.0])  # floor(sqrt(25))
    ints = parse_space({"model_options.depth": {"int": [1, 4]}}, {})
    assert grid_values(ints, trials=4) == {"model_options.depth": [1, 2, 3, 4]}


def _states(result):
    return [t["state"] for t in result.trials()]


def _check_each_trial_once(result, budget):
    trials = result.trials()
    numbers = [t["number"] for t in trials]
    assert numbers == list(range(len(trials)))  # every number once, none lost
    ended = [t for t in trials if t["state"] in ("COMPLETE", "PRUNED")]
    assert len(ended) >= budget
    runs = [t["run"] for t in trials if t["state"] != "FAIL"]
    assert len(runs) == len(set(runs))  # no trial shares a run folder with another
    for t in ended:  # each trial trained once, in its own folder
        run = trainlab.load_run(t["run"])
        assert run.name == f"trial-{t['number']}"
        steps = [r["step"] for r in run.metrics]
        assert steps == sorted(set(steps))


def test_search_in_process_then_continues(tmp_path):
    # one worker in this process would take every core; for runs this small one thread is faster
    base = {**BASE, "runs_dir": str(tmp_path), "threads": 1}
    r = search(base, SPACE, sampler="random", trials=4, name="s", pruner="none")
    assert _states(r).count("COMPLETE") == 4 and r.best_value == max(t["value"] for t in r.trials())
    best = trainlab.load_run(r.folder / f"trial-{r.best_trial}")
    assert "test" not in best.summary  # trials never touch the test split
    assert set(r.test) >= {"acc", "loss"}  # the best trial's, scored once at the end
    assert (r.folder / "best.yaml").is_file() and (r.folder / "plots" / "history.png").is_file()
    cfg = trainlab.config.load_config(r.folder / "best.yaml")
    assert cfg.lr == pytest.approx(best.config["lr"]) and cfg.group is None
    again = search(base, SPACE, sampler="random", trials=6, name="s", pruner="none")
    assert len(again.trials()) == 6  # two more, not six more: the study continued


def test_a_retried_trial_takes_its_first_attempts_run_as_the_same_arm(tmp_path):
    """A trial retried after its worker died rebuilds its config and meets the first attempt's folder:
    it must count as the same arm (resume, or done), not "another config" (the retry failed so when the
    killed attempt had a checkpoint: its run recorded the recipe's weight_decay filled in, the retry did not)."""
    import optuna

    from trainlab.experiments.pool import Job, plan
    from trainlab.experiments.search import Settings, checked_trial_config
    from trainlab.experiments.space import parse_space

    base = {**BASE, "runs_dir": str(tmp_path), "threads": 1}
    search(base, SPACE, sampler="random", trials=1, name="s", pruner="none")
    first = trainlab.load_run(tmp_path / "s" / "trial-0")
    settings = Settings(name="s", base=base, dims=parse_space(SPACE, base))
    retry = optuna.trial.FixedTrial({k: first.config[k] for k in SPACE}, number=1)
    cfg = checked_trial_config(settings, retry, folder_number=0)
    assert plan([Job("trial", 1, cfg, first.path)])[0].action == "done"


def test_a_grid_search_tries_exactly_its_grid(tmp_path):
    """4 trials over two ranges are the 2 x 2 grid of their ends, each point once (a worker once
    rebuilt the grid for the default budget of 50 and drew 4 of its 49 points)."""
    space = {"lr": {"log_uniform": [0.01, 0.1]}, "dropout": {"uniform": [0.0, 0.2]}}
    r = search({**BASE, "runs_dir": str(tmp_path), "threads": 1}, space, sampler="grid", trials=4, name="g",
               pruner="none")
    tried = sorted((round(t["params"]["lr"], 6), round(t["params"]["dropout"], 6)) for t in r.trials())
    assert tried == [(0.01, 0.0), (0.01, 0.2), (0.1, 0.0), (0.1, 0.2)]


def test_four_workers_on_one_postgres_study(tmp_path, postgres):
    r = search({**BASE, "runs_dir": str(tmp_path)}, SPACE, sampler="random", trials=8, jobs=4, name="pg4",
               storage=postgres.url)
    assert "FAIL" not in _states(r)
    _check_each_trial_once(r, 8)
    assert not (tmp_path / "pg4" / "study.db").exists()  # the study lives in the server


@pytest.mark.parametrize("space, argv, words", [
    ("lrr: {uniform: [0, 1]}\n", [], "unknown key 'lrr' (did you mean 'lr'?)"),
    ("lr: {uniform: [1, 0.1]}\n", [], "low 1 > high 0.1"),
    ("lr: {log_uniform: [0, 1]}\n", [], "a log range must be > 0"),
    ("optimizer: {grid: []}\n", [], "grid has 0 values"),
    ("lr: {log_uniform: [1e-3, 1]}\n", ["--storage", "postgresql://nobody:s3cret@127.0.0.1:9/none"], "cannot be reached"),
    ("lr: {log_uniform: [1e-3, 1]}\n", ["--objective", "test_acc"], "choose a validation metric"),
])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, monkeypatch, space, argv, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.yaml").write_text("dataset: digits\nmodel: mlp\nepochs: 1\n")
    (tmp_path / "space.yaml").write_text(space)
    code = main(["search", "base.yaml", "space.yaml", "--trials", "2", *argv])
    err = capsys.readouterr().err
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
    assert "s3cret" not in err and not (tmp_path / "runs").exists()  # a password is never printed


SPACES = sorted((Path(__file__).parents[2] / "experiments" / "spaces").glob("*.yaml"))


@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.stem)
def test_shipped_spaces_are_valid(path):
    from trainlab.config import read_yaml

    base = read_yaml(Path(__file__).parents[2] / "configs" / f"{path.stem}.yaml")
    dims = parse_space(read_yaml(path), base, str(path))
    assert dims and grid_values(dims, trials=27)


# ---------------------------------------------------------------- issue 21
def test_the_same_name_with_another_base_config_is_refused(tmp_path):
    base = {**BASE, "runs_dir": str(tmp_path), "threads": 1}
    search(base, SPACE, sampler="random", trials=1, name="s", pruner="none")
    with pytest.raises(TrainlabError, match=r"was enqueued with another spec \(base.epochs: 2 then, 3 now\)"):
        search({**base, "epochs": 3}, SPACE, sampler="random", trials=2, name="s", pruner="none")
    with pytest.raises(TrainlabError, match=r"another spec \(space: "):
        search(base, {"lr": {"log_uniform": [1e-3, 1e-2]}}, sampler="random", trials=2, name="s", pruner="none")
    assert len(search(base, SPACE, sampler="random", trials=2, name="s", pruner="none").trials()) == 2


def test_progress_lines_count_up_and_name_a_best_that_had_ended(capsys):
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    from trainlab.experiments.progress import watch
    from trainlab.experiments.search import Settings

    study = optuna.create_study(direction="maximize")
    s = Settings(name="w", base={}, dims=[], trials=5, objective="val_acc")
    dist = {"lr": FloatDistribution(1e-3, 1.0)}
    with watch(study, s, quiet=False, every=60):  # one poll after the block: both trials in one look
        for value in (0.5, 0.9):
            study.add_trial(create_trial(state=TrialState.COMPLETE, value=value, params={"lr": 0.1},
                                         distributions=dist))
    lines = capsys.readouterr().out.splitlines()
    assert [l.split()[0] for l in lines] == ["[1/5]", "[2/5]"]
    assert "best 0.5000 (trial 0)" in lines[0] and "best 0.9000 (trial 1)" in lines[1]


def test_a_pruned_trial_says_so_in_the_runs_table(tmp_path, capsys):
    run = trainlab.train({**BASE, "runs_dir": str(tmp_path), "threads": 1},
                         on_eval=lambda row: f"pruned at epoch {row['epoch']:g} (median pruner)", quiet=True,
                         report=False)
    assert run.summary["status"] == "stopped" and run.summary["message"] == "pruned at epoch 1 (median pruner)"
    assert main(["runs", str(tmp_path)]) == 0
    assert "stopped (pruned at epoch 1 (median pruner))" in capsys.readouterr().out
