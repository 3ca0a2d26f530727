"""Every option takes effect or is refused with one line, before any data loads; the saved config
is the truth of what ran."""
import re

import pytest
import torch
from safetensors.torch import load_file

import trainlab
from trainlab.cli import main
from trainlab.errors import TrainlabError

BASE = {"dataset": "digits", "model": "mlp", "epochs": 1, "batch_size": 64, "threads": 1}
NO_DATA = {"dataset": "no-such-dataset"}  # a refusal must come before the data is looked up


def cfg(tmp_path, **kw):
    return {**BASE, "runs_dir": str(tmp_path / "runs"), **kw}


@pytest.mark.parametrize("kw, words", [
    ({"penalty": "l2"}, "penalty: l2 with penalty_strength: 0.0 does nothing"),
    ({"penalty_strength": 1e-4}, "penalty: None with penalty_strength: 0.0001 does nothing"),
    ({"optimizer": ["scale_by_adam", "scale_by_lr"], "clip_norm": 1.0}, "clip_norm would be ignored"),
    ({"optimizer": ["scale_by_adam", "scale_by_lr"], "weight_decay": 0.1}, "weight_decay would be ignored"),
    ({"optimizer": ["scale_by_adam", "scale_by_lr"], "optimizer_options": {"eps": 1e-3}}, "optimizer_options would"),
    ({"optimizer": ["scale_by_adam", {"scale_by_lr": {"lr": 0.1}}], "schedule": "cosine"}, "its own lr"),
    ({"schedule": "piecewise", "lr": 0.3, "schedule_options": {"boundaries": [1], "values": [0.1, 0.01]}},
     "lr: 0.3 would be ignored"),
    ({"monitor": "val_accuracy"}, "monitor"),
    ({"optimizer_options": {"weight_decay": 0.1}}, "weight_decay as a key of its own"),
])
def test_options_that_would_do_nothing_are_refused_before_data_loads(tmp_path, kw, words):
    with pytest.raises(TrainlabError, match=words.replace("(", r"\(")) as e:
        trainlab.train(cfg(tmp_path, **NO_DATA, **kw), quiet=True)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "runs").exists()


def test_monitor_miou_on_a_classification_dataset_is_refused_before_any_run_folder(tmp_path):
    with pytest.raises(TrainlabError, match="val_miou needs a segmentation dataset"):
        trainlab.train(cfg(tmp_path, monitor="val_miou"), quiet=True)
    assert not (tmp_path / "runs").exists()


def test_adamw_weight_decay_zero_is_zero_and_default_is_written_out(tmp_path):
    w0 = trainlab.train(cfg(tmp_path, name="w0", optimizer="adamw", weight_decay=0.0, lr=0.01), quiet=True,
                        report=False)
    adam = trainlab.train(cfg(tmp_path, name="adam", optimizer="adam", lr=0.01), quiet=True, report=False)
    dflt = trainlab.train(cfg(tmp_path, name="dflt", optimizer="adamw", lr=0.01), quiet=True, report=False)
    assert w0.config["weight_decay"] == 0.0 and dflt.config["weight_decay"] == 0.01
    a, b, c = (load_file(r.latest_checkpoint()[0]) for r in (w0, adam, dflt))
    assert all(torch.equal(a[k], b[k]) for k in a)  # AdamW without decay is Adam, step for step
    assert any(not torch.equal(a[k], c[k]) for k in a)  # the default 0.01 really decays


def test_piecewise_lr_is_its_first_rate_in_the_saved_config(tmp_path):
    run = trainlab.train(cfg(tmp_path, epochs=2, schedule="piecewise",
                             schedule_options={"boundaries": [1], "values": [0.2, 0.02]}), quiet=True, report=False)
    assert run.config["lr"] == 0.2
    assert [r["lr"] for r in run.metrics] == [0.2, 0.02]


def test_set_reads_scientific_notation_as_numbers(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["train", "--quiet", "--name", "eps", "--set", "dataset=digits", "--set", "model=mlp",
                 "--set", "epochs=1", "--set", "threads=1", "--set", "optimizer=adam",
                 "--set", "optimizer_options.eps=1e-8", "--set", "lr=2e-3"])
    assert code == 0, capsys.readouterr().err
    run = trainlab.load_run(tmp_path / "runs" / "eps")
    assert run.config["optimizer_options"] == {"eps": 1e-8} and run.config["lr"] == 0.002


def test_config_file_reads_scientific_notation(tmp_path):
    from trainlab.config import load_config

    p = tmp_path / "c.yaml"
    p.write_text("optimizer: adam\noptimizer_options: {eps: 1e-7, betas: [9e-1, 0.99]}\nlr: 1e-3\n")
    c = load_config(p)
    assert c.optimizer_options == {"eps": 1e-7, "betas": [0.9, 0.99]} and c.lr == 1e-3


def test_classic_dropout_mode_takes_effect_or_is_refused(tmp_path):
    from trainlab.nn.layers import Dropout

    run = trainlab.train(cfg(tmp_path, dropout=0.5, dropout_mode="classic"), quiet=True, report=False)
    model = run.load_model()
    modes = [m.mode for m in model.modules() if isinstance(m, Dropout)]
    assert modes and set(modes) == {"classic"}
    with pytest.raises(TrainlabError, match="dropout_mode: classic does nothing"):
        trainlab.train(cfg(tmp_path, dropout=0.0, dropout_mode="classic"), quiet=True)


def test_train_warns_about_label_changing_augmentation(tmp_path, capsys):
    trainlab.train(cfg(tmp_path, model="convnet", augment=["vflip"]), quiet=True, report=False)
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if "warning" in l]
    assert len(lines) == 1 and "vflip" in lines[0] and "6" in lines[0] and "9" in lines[0]
    trainlab.train(cfg(tmp_path, model="convnet", augment=["noise"]), quiet=True, report=False)
    assert "warning" not in capsys.readouterr().err


def test_activation_options_reach_the_model_and_bad_ones_refuse(tmp_path):
    run = trainlab.train(cfg(tmp_path, activation="leaky_relu:negative_slope=0.1"), quiet=True, report=False)
    slopes = {m.negative_slope for m in run.load_model().modules() if isinstance(m, torch.nn.LeakyReLU)}
    assert slopes == {0.1}
    with pytest.raises(TrainlabError, match="leaky_relu"):
        trainlab.train(cfg(tmp_path, **NO_DATA, activation="leaky_relu:slope=0.1"), quiet=True)
    assert len(list((tmp_path / "runs").iterdir())) == 1  # the refused config made no folder


def test_precision_auto_measures_keeps_the_faster_and_changes_nothing_else(tmp_path):
    import json

    auto = trainlab.train(cfg(tmp_path, name="auto", model="convnet", dropout=0.3, precision="auto"), quiet=True,
                          report=False)
    env = json.loads((auto.path / "env.json").read_text())
    ms = env["precision"]["ms_per_step"]
    assert set(ms) == {"fp32", "bf16"} and env["precision"]["chosen"] == min(ms, key=ms.get)
    assert auto.config["precision"] == env["precision"]["chosen"]  # the saved config says what ran
    assert isinstance(env["cpu_flags"], list)
    # the measurement used a copy and restored the random stream: the same run with the chosen precision
    # set by hand gives the same numbers, and the same arm as any other `precision: auto` run
    same = trainlab.train(cfg(tmp_path, name="same", model="convnet", dropout=0.3,
                              precision=auto.config["precision"]), quiet=True, report=False)
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("time", "images_per_s", "elapsed")} for r in rows]  # noqa: E731
    assert strip(auto.metrics) == strip(same.metrics)
    again = trainlab.train(cfg(tmp_path, name="again", model="convnet", dropout=0.3, precision="auto", seed=1),
                           quiet=True, report=False)
    assert again.summary["arm"] == auto.summary["arm"] != same.summary["arm"]


@pytest.mark.parametrize("kw, words", [
    ({"log_every": 50}, "log_every: 50 steps is longer than the evaluation period (20 steps)"),
    ({"keep_every": 30}, "keep_every: 30 is not a multiple of the checkpoint period (20 steps)"),
    ({"keep_every": 30, "checkpoint_every": 10}, None),  # 30 is a multiple of 10: accepted
])
def test_loop_periods_that_could_not_act_are_refused(tmp_path, kw, words):
    # digits: 1293 training examples / 64 = 20 steps per epoch, one evaluation per epoch
    if words is None:
        run = trainlab.train(cfg(tmp_path, epochs=3, **kw), quiet=True, report=False)
        assert run.checkpoints.steps() == [30, 60]
        return
    with pytest.raises(TrainlabError, match=re.escape(words)):
        trainlab.train(cfg(tmp_path, **kw), quiet=True)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("argv, words", [
    (["runs", "--reverse"], "--reverse reverses a --sort"),
    (["compare", "--from", "x", "--seeds", "3"], "drop --seeds"),
    (["ensemble", "r1", "r2", "--members", "3"], "give --train CONFIG with them"),
    (["ensemble", "r1", "r2", "--samples", "5"], "give --mc-dropout RUN"),
    (["ensemble", "--mc-dropout", "r", "--vote"], "--vote does not apply"),
])
def test_flags_that_would_be_ignored_are_refused(tmp_path, capsys, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1
