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
    ({"schedule": "cosine", "schedule_options": {"lr0": 0.3}}, "schedule_options.lr0: a schedule starts from"),
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


def test_piecewise_rates_are_factors_of_the_saved_lr(tmp_path):
    run = trainlab.train(cfg(tmp_path, epochs=2, lr=0.2, schedule="piecewise",
                             schedule_options={"boundaries": [1], "factors": [1, 0.1]}), quiet=True, report=False)
    assert run.config["lr"] == 0.2 and [r["lr"] for r in run.metrics] == [0.2, 0.2 * 0.1]


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
    model = trainlab.load_model(run)
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
    slopes = {m.negative_slope for m in trainlab.load_model(run).modules() if isinstance(m, torch.nn.LeakyReLU)}
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


# ---------------------------------------------------------------- issue 21: options that did nothing
def test_a_chain_with_its_own_lr_writes_that_lr_into_the_saved_config(tmp_path):
    chain = ["scale_by_adam", {"scale_by_lr": {"lr": 0.002}}]
    run = trainlab.train(cfg(tmp_path, optimizer=chain), quiet=True, report=False)
    assert run.config["lr"] == 0.002 and run.metrics[-1]["lr"] == 0.002  # what config.yaml says is what ran
    with pytest.raises(TrainlabError, match=r"lr: 0.3 would be ignored: the chain's scale_by_lr sets lr 0.5"):
        trainlab.train(cfg(tmp_path, **NO_DATA, lr=0.3, optimizer=["scale_by_adam", {"scale_by_lr": {"lr": 0.5}}]),
                       quiet=True)


@pytest.mark.parametrize("key, value", [("clip_norm", 0.1), ("clip_value", 0.1), ("lr", 0.5)])
def test_keys_of_their_own_are_refused_inside_optimizer_options(tmp_path, key, value):
    with pytest.raises(TrainlabError, match=f"optimizer_options.{key}: set {key} as a key of its own"):
        trainlab.train(cfg(tmp_path, **NO_DATA, optimizer_options={key: value}, clip_norm=5.0), quiet=True)


def test_an_unknown_optimizer_option_lists_the_options_not_the_keys_of_their_own(tmp_path):
    with pytest.raises(TrainlabError, match="did you mean 'momentum'") as e:
        trainlab.train(cfg(tmp_path, **NO_DATA, optimizer_options={"momentm": 0.5}), quiet=True)
    listed = str(e.value).split("its options: ")[1].split(", ")
    assert "momentum" in listed and not {"lr", "weight_decay", "clip_norm", "clip_value"} & set(listed)


def test_set_optimizer_options_lr_is_one_line_not_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--set", "dataset=digits", "--set", "model=mlp", "--set", "optimizer_options.lr=0.5"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "set lr as a key of its own" in err


def _needs():
    """Every key whose schema says it acts only with another, with a value away from its default."""
    from trainlab.config import Config

    values = {"patience": 3, "diagnostics_batch": 64, "ema_every": 2, "ema_warmup": True, "penalty_beta": 3.0,
              "label_smoothing": 0.1}
    needs = {k: f.json_schema_extra["needs"] for k, f in Config.model_fields.items()
             if (f.json_schema_extra or {}).get("needs")}
    assert set(needs) == set(values)  # a new dependent key gets a case here
    return [(k, values[k], needs[k]) for k in sorted(needs)]


@pytest.mark.parametrize("key, value, need", _needs())
def test_every_dependent_key_is_refused_without_what_it_needs(tmp_path, key, value, need):
    other = {"penalty": "l2", "penalty_strength": 1e-4} if key == "penalty_beta" else \
        {"loss": "hinge"} if key == "label_smoothing" else {}
    with pytest.raises(TrainlabError, match=f"{key}: .* does nothing (without|unless) {need.split('=')[0]}"):
        trainlab.train(cfg(tmp_path, **NO_DATA, **other, **{key: value}), quiet=True)
    assert not (tmp_path / "runs").exists()


def test_dependent_keys_take_effect_with_what_they_need(tmp_path):
    runs = {p: trainlab.train(cfg(tmp_path, epochs=3, early_stopping=True, patience=p, eval_every=5, lr=2.0),
                              quiet=True, report=False) for p in (1, 5)}  # a rate so high that val_loss jumps about
    assert runs[1].summary["status"] == "early_stopped" and runs[5].summary["status"] == "finished"
    beta3 = trainlab.train(cfg(tmp_path, penalty="elastic_net", penalty_strength=1e-2, penalty_beta=3.0),
                           quiet=True, report=False)
    beta1 = trainlab.train(cfg(tmp_path, penalty="elastic_net", penalty_strength=1e-2), quiet=True, report=False)
    assert beta3.metrics[-1]["train_loss"] != beta1.metrics[-1]["train_loss"]


@pytest.mark.parametrize("kw, words", [
    ({"train_subset": 3000}, "train_subset: 3000 is more than the 1,294 training examples of 'digits'"),
    ({"train_per_class": 1000}, "train_per_class: 1000 is more than the"),
    ({"classes": [0, 1], "train_subset": 300}, "train_subset: 300 is more than the 2"),
])
def test_a_selection_larger_than_the_data_is_refused(tmp_path, kw, words):
    with pytest.raises(TrainlabError, match=words):
        trainlab.train(cfg(tmp_path, **kw), quiet=True)


def test_a_fallback_dataset_drops_a_train_subset_sized_for_the_other_data(tmp_path, capsys):
    run = trainlab.train(cfg(tmp_path, dataset="no-such-dataset", fallback_dataset="digits", train_subset=3000),
                         quiet=True, report=False)
    assert run.config["dataset"] == "digits" and run.config["train_subset"] is None
    assert "train_subset 3000 dropped" in capsys.readouterr().out


def test_tta_that_assumes_a_missing_symmetry_warns_as_augment_does(tmp_path, capsys):
    trainlab.train(cfg(tmp_path, model="convnet", tta=["hflip"]), quiet=True, report=False)
    lines = [l for l in capsys.readouterr().err.splitlines() if "warning" in l]
    assert len(lines) == 1 and "tta hflip" in lines[0] and "mirror" in lines[0]
    trainlab.train(cfg(tmp_path, model="convnet", tta=["shift"]), quiet=True, report=False)
    assert "warning" not in capsys.readouterr().err
