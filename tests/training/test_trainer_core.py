"""The trainer as experiments use it: groups and arm hashes, checkpoint retention, log and eval
periods, the on_eval hook, report=False, selection on passed-in data, and the final line."""
import math
import re

import pytest
import torch
from safetensors.torch import load_file

import trainlab
from helpers import untimed
from trainlab.errors import TrainlabError
from trainlab.runs import Checkpoints
from trainlab.training.loop import final_line
from trainlab.training.run import resume

BASE = {"dataset": "digits", "model": "mlp", "epochs": 2, "batch_size": 64, "lr": 0.05, "threads": 1}


def cfg(tmp_path, **kw):
    return {**BASE, "runs_dir": str(tmp_path / "runs"), **kw}


def test_group_folder_tags_and_arm_hash(tmp_path):
    a0 = trainlab.train(cfg(tmp_path, group="exp/none", name="seed-0", tags=["x"]), quiet=True, report=False)
    a1 = trainlab.train(cfg(tmp_path, group="exp/none", name="seed-1", seed=1), quiet=True, report=False)
    b0 = trainlab.train(cfg(tmp_path, group="exp/drop", name="seed-0", dropout=0.5), quiet=True, report=False)
    assert a0.path == tmp_path / "runs" / "exp" / "none" / "seed-0"
    assert a0.summary["arm"] == a1.summary["arm"] != b0.summary["arm"]  # same arm, another seed; another arm
    assert a0.summary["group"] == "exp/none" and a0.summary["tags"] == ["x"]
    assert len(a0.summary["arm"]) == 12 and a0.summary["status"] == "finished"


def test_checkpoint_retention_last_n_and_every_k(tmp_path):
    # digits: 1293 train examples / 64 = 20 steps per epoch; a checkpoint every 5 steps, 40 steps in all
    run = trainlab.train(cfg(tmp_path, checkpoint_every=5, keep_checkpoints=2, keep_every=20), quiet=True,
                         report=False)
    assert Checkpoints(run.ckpt_dir).steps() == [20, 35, 40]
    plain = trainlab.train(cfg(tmp_path, checkpoint_every=5), quiet=True, report=False)
    assert Checkpoints(plain.ckpt_dir).steps() == [40]
    w = load_file(run.ckpt_dir / "ckpt-00000020.safetensors")  # a kept snapshot differs from the last
    last = load_file(run.latest_checkpoint()[0])
    assert any(not torch.equal(w[k], last[k]) for k in w)


def test_log_every_eval_every_and_eval_at_start(tmp_path):
    run = trainlab.train(cfg(tmp_path, log_every=5, eval_every=10, eval_at_start=True), quiet=True, report=False)
    rows = run.metrics
    assert [r["step"] for r in rows] == [0, 5, 10, 15, 20, 25, 30, 35, 40]
    assert [r["step"] for r in rows if "val_loss" in r] == [0, 10, 20, 30, 40]
    assert all("train_loss" in r for r in rows[1:]) and "train_loss" not in rows[0]
    # an untrained 10-class net predicts near uniform: the initial loss is near ln 10 (a lecture check)
    assert abs(rows[0]["val_loss"] - math.log(10)) < 0.5
    assert run.summary["best"]["step"] > 0  # the untrained model is never the "best"


def test_on_eval_stops_the_run_and_sees_every_row(tmp_path):
    seen = []
    run = trainlab.train(cfg(tmp_path, epochs=5), quiet=True, report=False,
                         on_eval=lambda row: seen.append(row["step"]) or len(seen) == 2)
    assert seen == [20, 40]
    assert run.summary["status"] == "stopped" and len(run.metrics) == 2
    with pytest.raises(TrainlabError, match="already ended"):
        resume(run.path)


def test_interrupted_in_on_eval_then_resumed_is_bit_identical(tmp_path, kill_and_resume):
    settings = cfg(tmp_path, epochs=3, dropout=0.2, log_every=3, eval_every=7, eval_at_start=True,
                   augment=["noise:p=0.5:magnitude=0.05"])
    ref = trainlab.train({**settings, "name": "ref"}, quiet=True, report=False)
    done = kill_and_resume(settings, at_step=14)  # after the step-7 checkpoint, before step 14's
    assert untimed(done.metrics) == untimed(ref.metrics)
    a, b = load_file(ref.latest_checkpoint()[0]), load_file(done.latest_checkpoint()[0])
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_report_false_then_trainlab_report(tmp_path, capsys):
    from trainlab.cli import main

    run = trainlab.train(cfg(tmp_path), quiet=True, report=False)
    assert not run.report.exists() and not (run.path / "plots").exists()
    assert main(["report", str(run.path)]) == 0
    assert run.report.is_file() and (run.path / "plots" / "curves.png").is_file()
    assert str(run.report) in capsys.readouterr().out


def test_selection_applies_to_passed_in_data(tmp_path):
    data = trainlab.load_dataset("digits")
    run = trainlab.train(cfg(tmp_path, classes=[3, 8], train_per_class=20, batch_size=8, epochs=5), data=data,
                         quiet=True, report=False)
    assert run.metrics[0]["step"] == 40 // 8  # 2 classes x 20 examples: 5 steps per epoch
    assert run.summary["test"]["acc"] > 0.8  # two classes, relabelled 0 and 1: chance is 0.5
    assert len(data.classes) == 10  # the caller's dataset is not changed


def test_final_line_formats_numbers():
    s = {"status": "finished", "test": {"acc": 0.91234, "loss": 0.25},
         "best": {"epoch": 8.0, "val_loss": 0.204123456789}}
    assert final_line(s, "val_loss") == "finished: test acc 0.9123  test loss 0.2500  (best val_loss 0.2041 at epoch 8)"
    seg = {"status": "finished", "test": {"acc": 0.9, "loss": 0.3, "miou": 0.71}, "best": {"epoch": 2.5, "val_miou": 0.7}}
    assert final_line(seg, "val_miou").endswith("test mean IoU 0.7100  (best val_miou 0.7000 at epoch 2.5)")


def test_final_line_printed(tmp_path, capsys):
    trainlab.train(cfg(tmp_path), report=False)
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("finished:"))
    assert re.search(r"\(best val_loss \d\.\d{4} at epoch [12]\)$", line), line
