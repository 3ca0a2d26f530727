"""End-to-end training on small data: it learns, stops early, restores the best, catches divergence."""
import json
import math

import pytest
import torch
from safetensors.torch import load_file

import trainlab
from trainlab.errors import TrainlabError
from trainlab.runs import load_run, read_jsonl
from trainlab.training.run import resume

BASE = {"dataset": "digits", "model": "mlp", "epochs": 4, "batch_size": 64, "optimizer": "momentum",
        "lr": 0.05, "threads": 1}


def cfg(tmp_path, **kw):
    return {**BASE, "runs_dir": str(tmp_path / "runs"), **kw}


def test_training_learns_and_writes_a_complete_run(tmp_path):
    run = trainlab.train(cfg(tmp_path, name="learn"), quiet=True)
    rows = run.metrics
    assert len(rows) == BASE["epochs"]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    # 10 classes: chance is 0.1; an MLP on digits gets far past it in 4 epochs
    assert run.summary["test"]["acc"] > 0.85
    assert run.summary["status"] == "finished"
    for f in ("config.yaml", "env.json", "metrics.csv", "metrics.jsonl", "summary.json", "report.html",
              "plots/curves.png", "plots/lr_gradnorm.png", "checkpoints/best.safetensors",
              "checkpoints/latest.json", "checkpoints/preprocess.safetensors"):
        assert (run.path / f).is_file(), f
    env = json.loads((run.path / "env.json").read_text())
    assert env["seed"] == 0 and env["threads"] == 1
    # metrics.csv has the same rows as metrics.jsonl
    assert len((run.path / "metrics.csv").read_text().strip().splitlines()) == len(rows) + 1
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "grad_norm", "time", "images_per_s"):
        assert all(math.isfinite(r[key]) for r in rows), key


def test_same_seed_same_numbers_and_new_folder_each_time(tmp_path):
    a = trainlab.train(cfg(tmp_path, name="same", epochs=2), quiet=True)
    b = trainlab.train(cfg(tmp_path, name="same", epochs=2), quiet=True)
    assert a.path != b.path and b.path.name == "same-2"
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("time", "images_per_s", "elapsed")} for r in rows]  # noqa: E731
    assert strip(a.metrics) == strip(b.metrics)
    wa, wb = load_file(a.ckpt_dir / "best.safetensors"), load_file(b.ckpt_dir / "best.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    c = trainlab.train(cfg(tmp_path, name="other", epochs=2, seed=1), quiet=True)
    assert strip(c.metrics) != strip(a.metrics)


def test_early_stopping_restores_best_weights(tmp_path):
    # min_delta larger than any possible change: only the first evaluation counts as an improvement
    run = trainlab.train(cfg(tmp_path, epochs=10, early_stopping=True, patience=2, min_delta=100.0), quiet=True)
    s = run.summary
    assert s["status"] == "early_stopped"
    # like Keras and Lightning: the best, then `patience` evaluations without improvement, then stop
    assert len(run.metrics) == 1 + 2
    assert s["best"]["epoch"] == 1
    # the run's final model is the best one, not the last one
    best = load_file(run.ckpt_dir / "best.safetensors")
    model = trainlab.load_model(run)
    assert all(torch.equal(model.state_dict()[k], best[k]) for k in best)
    last = load_file(run.latest_checkpoint()[0])
    assert any(not torch.equal(last[k], best[k]) for k in best)


def test_best_epoch_is_the_best_validation_row(tmp_path):
    run = trainlab.train(cfg(tmp_path, epochs=5, monitor="val_acc"), quiet=True)
    rows = run.metrics
    best = max(rows, key=lambda r: r["val_acc"])  # first maximum wins (strict improvement)
    assert run.summary["best"]["epoch"] == best["epoch"]


def test_divergence_is_caught_and_named(tmp_path):
    run = trainlab.train(cfg(tmp_path, optimizer="sgd", lr=1e8, epochs=3), quiet=True)
    s = run.summary
    assert s["status"] == "diverged"
    assert "step" in s["message"] and "learning rate" in s["message"]


def test_diagnostics_switch(tmp_path):
    run = trainlab.train(cfg(tmp_path, epochs=2, diagnostics=True, activation="relu"), quiet=True)
    rows = read_jsonl(run.path / "diagnostics.jsonl")
    assert len(rows) == 2
    last = rows[-1]
    assert last["activations"] and last["grad_norm"] and last["update_ratio"]
    n_val = len(trainlab.load_dataset("digits").val.y)
    for a in last["activations"].values():
        assert 0.0 <= a["dead"] <= 1.0
        # every activation value of the fixed batch lands in one histogram bin
        assert sum(a["hist"]) > 0 and sum(a["hist"]) % min(256, n_val) == 0
    for f in ("gradient_flow.png", "dead_saturated.png", "activation_histograms.png"):
        assert (run.path / "plots" / f).is_file()


def test_dead_units_counted_against_a_hand_count():
    from torch import nn

    from trainlab.training.diagnostics import activation_stats

    y = torch.tensor([[0.0, 1.0, 0.0, 2.0], [0.0, 0.0, 0.0, 1.0], [0.0, 3.0, 0.0, 0.0]])  # units 0 and 2 never fire
    assert activation_stats(nn.ReLU(), y)["dead"] == 0.5
    t = torch.tensor([[0.99, -0.99, 0.1, 0.5]])
    assert activation_stats(nn.Tanh(), t)["saturated"] == 0.5


def test_evaluate_writes_confusion_matrix(tmp_path):
    run = trainlab.train(cfg(tmp_path, epochs=2), quiet=True)
    res = trainlab.evaluate(run.path, split="test", device="cpu")
    assert res["acc"] == pytest.approx(run.summary["test"]["acc"])
    conf = res["confusion"]
    assert int(conf.sum()) == len(res["pred"])
    assert float(conf.diag().sum()) / float(conf.sum()) == pytest.approx(res["acc"])
    assert (run.path / "plots" / "confusion_test.png").is_file()


def test_resume_of_finished_run_and_non_runs_are_errors(tmp_path):
    run = trainlab.train(cfg(tmp_path, epochs=1), quiet=True)
    with pytest.raises(TrainlabError, match="already ended \\(finished\\)"):
        resume(run.path)
    with pytest.raises(TrainlabError, match="not a trainlab run"):
        load_run(tmp_path)
    with pytest.raises(TrainlabError, match="not found"):
        load_run(tmp_path / "missing")


def test_model_that_does_not_fit_the_data(tmp_path):
    with pytest.raises(TrainlabError) as e:
        trainlab.train(cfg(tmp_path, model="vgg16"), quiet=True)
    # vgg16 halves its input five times; digits are 8x8: the message names both and the way out
    msg = str(e.value)
    assert "'vgg16'" in msg and "17x17, got 8x8" in msg and "convnet" in msg and "\n" not in msg
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("key, value, words", [
    ("optimizer", "adamm", "unknown optimizer"),
    ("schedule", "cosin", "unknown schedule"),
    ("model", "resnet9000", "unknown model"),
    ("augment", ["flipp"], "flipp"),
    ("init", "glorot", "unknown init"),
    ("optimizer_options", {"momentum": 1.5}, "momentum"),
])
def test_bad_names_caught_before_data_loads(tmp_path, key, value, words):
    with pytest.raises(TrainlabError, match=words):
        trainlab.train(cfg(tmp_path, **{key: value, "dataset": "does-not-matter"}), quiet=True)


def test_fallback_dataset_when_data_cannot_be_had(tmp_path, monkeypatch, capsys):
    from trainlab.data import download

    monkeypatch.setattr(download, "SYSTEM_DIR", tmp_path / "no-debian")
    monkeypatch.setenv("TRAINLAB_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("TRAINLAB_MIRROR", "http://127.0.0.1:9/")  # the discard port: nothing listens
    run = trainlab.train(cfg(tmp_path, dataset="fashion-mnist", fallback_dataset="digits", epochs=1))
    out = capsys.readouterr().out
    assert "fashion-mnist is not available" in out and "'digits' instead" in out
    assert run.config["dataset"] == "digits"
    with pytest.raises(TrainlabError, match="fashion-mnist"):
        trainlab.train(cfg(tmp_path, dataset="fashion-mnist", epochs=1), quiet=True)


def test_transfer_reuses_parent_preprocessing_and_starts_a_fresh_head(tmp_path):
    parent = trainlab.train(cfg(tmp_path, name="parent", epochs=2, classes=[0, 1, 2, 3, 4]), quiet=True)
    child = trainlab.train(cfg(tmp_path, name="child", epochs=1, classes=[5, 6, 7, 8, 9], train_per_class=5,
                               init_from=str(parent.path), freeze="fc1"), quiet=True)
    pp = load_file(parent.ckpt_dir / "preprocess.safetensors")
    cp = load_file(child.ckpt_dir / "preprocess.safetensors")
    assert pp.keys() == cp.keys() and all(torch.equal(pp[k], cp[k]) for k in pp)
    torch.manual_seed(0)
    from trainlab.training.build import make_model
    from trainlab.config import load_config
    from trainlab.training.transfer import apply_transfer

    # before training: body from the parent, head fresh (the parent's class 0 is not the child's class 0)
    c = load_config(None, **{**child.config, "runs_dir": str(tmp_path)})
    model = make_model(c, (1, 8, 8), 5)
    apply_transfer(c, model)
    pw = parent.best_weights()
    sd = model.state_dict()
    assert torch.equal(sd["fc1.linear.weight"], pw["fc1.linear.weight"])
    assert not torch.equal(sd["head.weight"], pw["head.weight"])
    # same dataset and classes: the head is kept
    same = load_config(None, **{**c.model_dump(), "classes": [0, 1, 2, 3, 4]})
    model2 = make_model(same, (1, 8, 8), 5)
    apply_transfer(same, model2)
    assert torch.equal(model2.state_dict()["head.weight"], pw["head.weight"])


def test_eval_every_n_steps_with_diagnostics(tmp_path):
    run = trainlab.train(cfg(tmp_path, epochs=1, eval_every=7, diagnostics=True), quiet=True)
    steps_per_epoch = run.metrics[-1]["step"]
    assert [r["step"] for r in run.metrics] == sorted({*range(7, steps_per_epoch, 7), steps_per_epoch})
    rows = read_jsonl(run.path / "diagnostics.jsonl")
    assert len(rows) == len(run.metrics) and all(r["grad_norm"] and r["update_ratio"] for r in rows)
