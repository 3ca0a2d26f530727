"""Every number agrees everywhere (issue 21): a saved run scored again, a schedule's preview, a model's
parameter count, an ensemble's figures and the runs table's columns each equal the number another
command recorded or printed for the same thing."""
import json
import math
import re

import pytest

import trainlab
from trainlab.cli import main
from trainlab.experiments.ensemble import ensemble

BASE = {"dataset": "digits", "model": "convnet", "model_options": {"channels": [8, 16], "hidden": 32},
        "epochs": 1, "batch_size": 64, "threads": 1}


@pytest.fixture(scope="module")
def tta_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("agree")
    return [trainlab.train({**BASE, "seed": s, "tta": ["shift"], "runs_dir": str(root), "group": "tta",
                            "name": f"seed-{s}"}, quiet=True, report=False) for s in range(2)]


def test_evaluate_uses_the_runs_own_tta_and_says_so(tta_runs, capsys):
    run = tta_runs[0]
    again = trainlab.evaluate(run.path, split="test", device="cpu")
    assert again["tta"] == ["shift"] and again["acc"] == run.summary["test"]["acc"]
    assert again["loss"] == pytest.approx(run.summary["test"]["loss"], rel=1e-6)
    plain = trainlab.evaluate(run.path, split="test", device="cpu", tta=[])
    assert plain["tta"] == [] and plain["loss"] != again["loss"]
    assert main(["evaluate", str(run.path)]) == 0
    out = capsys.readouterr().out
    assert f"accuracy {run.summary['test']['acc']:.4f}" in out and "shift, from the run's tta" in out
    assert main(["evaluate", str(run.path), "--tta", "none"]) == 0
    assert "no test-time augmentation" in capsys.readouterr().out


def test_ensemble_members_are_scored_as_their_runs_recorded_them(tta_runs):
    res = ensemble([r.path for r in tta_runs])
    assert [m["test_acc"] for m in res["members"]] == [r.summary["test"]["acc"] for r in tta_runs]
    assert res["mean_member"]["acc"] == pytest.approx(sum(r.summary["test"]["acc"] for r in tta_runs) / 2)


def test_a_two_member_ensemble_has_a_finite_ci_around_its_gain_and_valid_json(tta_runs, tmp_path, capsys):
    out = tmp_path / "ens"
    assert main(["ensemble", *map(str, (r.path for r in tta_runs)), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    res = json.loads((out / "ensemble.json").read_text(), parse_constant=lambda c: pytest.fail(f"bare {c}"))
    lo, hi = res["gain"]["ci"]
    assert math.isfinite(lo) and math.isfinite(hi) and lo <= res["gain"]["acc"] <= hi
    assert not re.search(r"\bnan\b", printed) and "best on validation tta/seed-" in printed  # the member's arm folder, not "seed-0" alone


def test_a_vote_reports_no_loss_of_its_own(tta_runs, tmp_path, capsys):
    res = ensemble([r.path for r in tta_runs], vote=True)
    assert res["ensemble"]["loss"] is None
    assert main(["ensemble", *map(str, (r.path for r in tta_runs)), "--vote", "--out", str(tmp_path)]) == 0
    assert "no loss (a vote gives classes, not probabilities)" in capsys.readouterr().out


@pytest.mark.parametrize("schedule, options", [("cosine", {}), ("onecycle", {}), ("step", {"every": 1}),
                                               ("exponential", {"k": 0.5})])
def test_the_schedule_preview_draws_the_rates_a_run_uses(tmp_path, schedule, options):
    run = trainlab.train({**BASE, "model": "mlp", "model_options": {}, "epochs": 3, "lr": 0.1, "log_every": 1, "schedule": schedule,
                          "schedule_options": options, "warmup_epochs": 0.5, "runs_dir": str(tmp_path)},
                         quiet=True, report=False)
    from trainlab.training.preview import preview_schedule

    f, cfg = preview_schedule(schedule, options, lr=0.1, epochs=3, warmup_epochs=0.5)
    spe = run.summary["last"]["step"] // 3
    rows = [r for r in run.metrics if "train_loss" in r]
    assert len(rows) == 3 * spe  # one row per step: the lr each step used
    assert [r["lr"] for r in rows] == [f((r["step"] - 1) / spe) for r in rows]


def test_the_schedule_command_fills_total_from_epochs(tmp_path, capsys):
    assert main(["schedule", "cosine", "--lr", "0.1", "--epochs", "30", "--out", str(tmp_path / "c.png")]) == 0
    assert "to 0\n" in capsys.readouterr().out  # cosine ends at 0 after 30 epochs, not at 0.0794 (total=100)
    assert main(["schedule", "onecycle", "--lr", "0.1", "--epochs", "6", "--out", str(tmp_path / "o.png")]) == 0
    assert "max 0.1," in capsys.readouterr().out  # reaches its peak within the 6 epochs


@pytest.mark.parametrize("model, shape", [("resnet20", "1x28x28"), ("convnet", "1x28x28")])
def test_summary_and_train_agree_on_the_parameters(model, shape, capsys):
    from trainlab.models import create_model

    assert main(["summary", model, "--input", shape]) == 0
    out = capsys.readouterr().out
    net = create_model(model, in_shape=(1, 28, 28), num_classes=10)
    n = sum(p.numel() for p in net.parameters())
    buffers = sum(b.numel() for b in net.buffers() if b.is_floating_point())
    assert f"Trainable params: {n:,}\n" in out and f"Total params: {n + buffers:,}\n" in out
    line = next(l for l in out.splitlines() if l.startswith("Non-trainable params"))  # one line, not wrapped
    assert f"{buffers:,} batch-norm statistics" in line and f"counts parameters alone: {n:,}" in line


def test_train_prints_the_trainable_parameter_count(tmp_path, capsys):
    run = trainlab.train({**BASE, "runs_dir": str(tmp_path)}, report=False)
    out = capsys.readouterr().out
    assert f"{run.summary['parameters']:,} trainable parameters" in out


def test_the_runs_table_names_the_rule_behind_its_val_column(tmp_path, capsys):
    run = trainlab.train({**BASE, "model": "mlp", "model_options": {}, "epochs": 3, "schedule": "cosine", "eval_every": 10,
                          "runs_dir": str(tmp_path)}, quiet=True, report=False)
    vals = [r for r in run.metrics if "val_acc" in r]
    at_best_loss = min(vals, key=lambda r: r["val_loss"])["val_acc"]
    assert main(["runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "best evaluation by its monitor (val_loss)" in out and "best validation accuracy" not in out
    assert f"{at_best_loss:.4f}" in out.splitlines()[-1]  # the value the caption describes
    rows = trainlab.load_runs(tmp_path, as_frame=False)
    assert rows[0]["val_acc"] == at_best_loss  # the same rule as the table and compare (summary's best)
