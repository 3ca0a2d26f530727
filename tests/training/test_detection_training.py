"""Detection through the trainer: the detector's named losses logged, validation mAP rows, monitor
val_map50 choosing the best weights, a kill and resume that ends bit for bit where an uncut run ends
(augmentation moving boxes, and faster_rcnn's sampled anchors and RoIs), `evaluate` with per-class AP,
the report's boxes, and every option that would do nothing for detection refused in one line."""
from __future__ import annotations

import math

import pytest
import torch
from helpers import untimed
from safetensors.torch import load_file

import trainlab
from trainlab.errors import TrainlabError
from trainlab.training.saved import evaluate

TINY = {"dataset": "shapes-boxes", "dataset_options": {"n": 150, "size": 32}, "val_fraction": 0.2,
        "model": "yolo", "model_options": {"width": 8}, "optimizer": "adam", "lr": 0.003, "batch_size": 16,
        "epochs": 2, "threads": 1, "augment": ["hflip", "resized_crop:p=0.5:magnitude=0.2"]}


def test_a_detection_run_logs_named_losses_and_map_and_keeps_the_best_map(tmp_path):
    run = trainlab.train({**TINY, "runs_dir": str(tmp_path), "monitor": "val_map50", "eval_every": 3,
                          "name": "yolo"}, quiet=True)
    rows = run.metrics
    train = [r for r in rows if "train_loss" in r]
    for r in train:  # the training loss is the sum of the detector's named losses
        assert math.isclose(r["train_loss"], sum(r[f"train_loss_{k}"] for k in ("box", "objectness", "class")),
                            rel_tol=1e-6)  # the loss is summed in float32
    vals = [r for r in rows if "val_map50" in r]
    assert len(vals) == len(rows) and all(0 <= r["val_map"] <= r["val_map50"] <= 1 for r in vals)
    assert all(math.isclose(r["val_loss"], sum(r[f"val_loss_{k}"] for k in ("box", "objectness", "class")),
                            rel_tol=1e-6) for r in vals)
    s = run.summary
    best = max(vals, key=lambda r: r["val_map50"])  # the first of equal bests is kept
    assert s["monitor"] == "val_map50" and s["best"]["step"] == best["step"]
    assert set(s["test"]) >= {"loss", "map50", "map"}
    assert (run.path / "plots" / "boxes.png").is_file() and "map50" in (run.path / "report.html").read_text()

    res = evaluate(run.path, split="val")  # the best weights again: the score the best row recorded
    assert math.isclose(res["map50"], s["best"]["val_map50"], rel_tol=1e-9)
    assert set(res["ap50"]) == {"circle", "square", "triangle"} and (run.path / "plots" / "boxes_val.png").is_file()
    finite = [v for v in res["ap50"].values() if math.isfinite(v)]
    assert math.isclose(sum(finite) / len(finite), res["map50"], rel_tol=1e-9)  # mAP: the mean of per-class APs


def test_evaluate_command_prints_per_class_ap(tmp_path, capsys):
    from trainlab.cli import main

    run = trainlab.train({**TINY, "epochs": 1, "runs_dir": str(tmp_path), "name": "e"}, quiet=True, report=False)
    assert main(["evaluate", str(run.path)]) == 0
    out = capsys.readouterr().out
    assert "mAP@0.5" in out and "mAP@[.5:.95]" in out
    assert all(name in out for name in ("circle", "square", "triangle")) and "AP@0.5" in out


@pytest.mark.parametrize("model", ["yolo", "faster_rcnn"])
def test_a_killed_detection_run_resumes_bit_for_bit(tmp_path, kill_and_resume, model):
    settings = {**TINY, "model": model, "eval_every": 4, "epochs": 2, "runs_dir": str(tmp_path / "runs")}
    if model == "faster_rcnn":  # small sampling sizes keep the test quick
        settings["model_options"] = {"width": 8, "rpn_batch": 64, "roi_batch": 16}
    ref = trainlab.train({**settings, "name": "ref"}, quiet=True, report=False)
    done = kill_and_resume(settings, at_step=8)
    a, b = load_file(ref.latest_checkpoint()[0]), load_file(done.latest_checkpoint()[0])
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert untimed(done.metrics) == untimed(ref.metrics) and done.summary["test"] == ref.summary["test"]


@pytest.mark.parametrize("change, says", [
    ({"augment": ["hflip", "rotate"]}, "augmentation 'rotate' cannot keep boxes valid for detection"),
    ({"loss": "hinge"}, "loss: hinge does nothing for detection: yolo computes its own named losses"),
    ({"label_smoothing": 0.1}, "label_smoothing: 0.1 does nothing for detection"),
    ({"monitor": "val_acc"}, "monitor val_acc is not logged by a detection run; use val_map50"),
    ({"model": "convnet", "model_options": {}}, "is a detection task (boxes); model 'convnet' outputs class scores"),
    ({"dataset": "digits", "dataset_options": {}}, "'yolo' is a detector, but dataset 'digits' is classification"),
    ({"model": "mask_rcnn", "model_options": {}}, "mask_rcnn needs instance masks"),
    ({"dataset_options": {"n": 150, "size": 32, "masks": True}}, "masks: true does nothing for yolo"),
    ({"model": "faster_rcnn", "model_options": {}, "backbone_lr_mult": 0.1}, "faster_rcnn has no single head"),
    ({"classes": [0, 1]}, "classes: [0, 1] selects classes of a classification dataset"),
    ({"tta": ["hflip"]}, "tta: ['hflip'] averages class probabilities"),
    ({"model_options": {"width": 8, "nms": 0.5}}, "unknown hyperparameter 'nms' for model 'yolo'"),
])
def test_what_would_do_nothing_for_detection_is_refused_in_one_line(tmp_path, change, says):
    with pytest.raises(TrainlabError) as e:
        trainlab.train({**TINY, **change, "runs_dir": str(tmp_path)}, quiet=True)
    assert says in str(e.value) and "\n" not in str(e.value)
    assert not any(tmp_path.iterdir())


def test_map_monitors_need_detection(tmp_path):
    with pytest.raises(TrainlabError, match="monitor val_map50 needs a detection dataset"):
        trainlab.train({"dataset": "digits", "model": "mlp", "monitor": "val_map50", "runs_dir": str(tmp_path)})


def test_the_runs_other_options_act_for_detection_too(tmp_path):
    """precision auto (measured with the detector's own losses), channels_last, ema, diagnostics and
    eval_at_start all run with a detector; the report then has its diagnostics and boxes."""
    run = trainlab.train({**TINY, "model": "faster_rcnn", "model_options": {"width": 8, "rpn_batch": 64, "roi_batch": 16},
                          "epochs": 1, "precision": "auto", "channels_last": True, "ema": 0.9, "diagnostics": True,
                          "eval_at_start": True, "runs_dir": str(tmp_path), "name": "all"}, quiet=True)
    assert run.summary["status"] == "finished" and set(run.env["precision"]["ms_per_step"]) >= {"fp32"}
    assert run.metrics[0]["step"] == 0 and "val_map50" in run.metrics[0]
    assert {"boxes.png", "gradient_flow.png"} <= {p.name for p in (run.path / "plots").glob("*.png")}
