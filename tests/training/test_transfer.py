"""Transfer learning: `trainlab finetune` / `trainlab.transfer.finetune` on digits (8x8).

Parent: a small convnet (block1, block2, BN) trained on digits 0-5. Children: digits 6-9 (a new
4-way head). Checked against the parent's checkpoint: frozen weights AND batch-norm running
statistics bit-identical, unfrozen layers changed, backbone lr x0 leaves the body untouched,
the config records init_from, bad input gives one-line errors.
"""
from __future__ import annotations

import pytest
import torch

import trainlab
from trainlab.cli import main
from trainlab.errors import TrainlabError
from trainlab.training.finetune import finetune
from trainlab.training.transfer import finetune_config

PARENT = {"dataset": "digits", "model": "convnet", "model_options": {"channels": [6, 8]},
          "classes": [0, 1, 2, 3, 4, 5], "epochs": 2, "batch_size": 32, "lr": 0.05, "threads": 1}


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    return trainlab.train({**PARENT, "runs_dir": str(runs), "name": "parent"}, quiet=True)


def _block(weights: dict, prefix: str) -> dict:
    return {k: v for k, v in weights.items() if k.startswith(prefix + ".")}


def test_freeze_keeps_weights_and_bn_statistics_bit_identical(parent, capsys):
    rc = main(["finetune", str(parent.path), "--classes", "6", "7", "8", "9", "--freeze", "block1",
               "--epochs", "2", "--name", "child-frozen", "--set", "threads=1"])
    out = capsys.readouterr().out
    assert rc == 0
    assert f"parent: {parent.path}" in out
    child = trainlab.load_run(parent.path.parent / "child-frozen")
    assert child.config["init_from"] == str(parent.path)
    assert child.config["freeze"] == "block1" and child.config["classes"] == [6, 7, 8, 9]
    assert child.config["model_options"] == PARENT["model_options"]

    pw, cw = parent.best_weights(), child.best_weights()
    frozen = _block(pw, "block1")
    assert {"block1.norm.running_mean", "block1.norm.running_var", "block1.norm.num_batches_tracked"} <= set(frozen)
    assert frozen["block1.norm.running_mean"].abs().sum() > 0  # the parent's statistics are not the defaults
    for k, v in frozen.items():
        assert torch.equal(cw[k], v), k  # weights and BN statistics: bit for bit
    # block2 trained on the new data: weights and BN statistics moved
    assert not torch.equal(cw["block2.conv.weight"], pw["block2.conv.weight"])
    assert not torch.equal(cw["block2.norm.running_mean"], pw["block2.norm.running_mean"])
    assert int(cw["block2.norm.num_batches_tracked"]) > int(pw["block2.norm.num_batches_tracked"])
    # a new 4-way head in place of the parent's 6-way one
    assert tuple(pw["head.weight"].shape)[0] == 6 and tuple(cw["head.weight"].shape)[0] == 4
    assert child.summary["test"]["acc"] > 0.5  # 4 classes: well above chance (0.25)


def test_backbone_lr_mult_zero_leaves_the_body_untouched(parent):
    child = finetune(parent, classes=[6, 7, 8, 9], lr_mult=0.0, epochs=1, name="child-lr0",
                     overrides=["threads=1"], quiet=True)
    pw, cw = parent.best_weights(), child.best_weights()
    params = {n for n, _ in trainlab.load_model(child).named_parameters()}
    for k in params:
        if not k.startswith("head."):
            assert torch.equal(cw[k], pw[k]), k  # update scaled by 0
    assert child.config["backbone_lr_mult"] == 0.0
    # not frozen: the BN layers were in training mode, so their statistics followed the new data
    assert not torch.equal(cw["block1.norm.running_mean"], pw["block1.norm.running_mean"])


def test_same_class_count_keeps_the_head_and_same_seed_same_numbers(parent):
    a = finetune(parent, classes=[4, 5, 6, 7, 8, 9], freeze="block2", epochs=1, name="same-a",
                 overrides=["threads=1"], quiet=True)
    b = finetune(parent, classes=[4, 5, 6, 7, 8, 9], freeze="block2", epochs=1, name="same-b",
                 overrides=["threads=1"], quiet=True)
    wa, wb = a.best_weights(), b.best_weights()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert a.summary["test"] == b.summary["test"]
    # every body layer frozen: only the head moved, starting from the parent's 6-way head
    pw = parent.best_weights()
    assert all(torch.equal(wa[k], pw[k]) for k in pw if not k.startswith("head."))
    assert wa["head.weight"].shape == pw["head.weight"].shape and not torch.equal(wa["head.weight"], pw["head.weight"])


def test_config_inherits_the_model_not_the_parents_data_or_transfer(parent):
    cfg = finetune_config(parent, dataset="digits", train_per_class=20, overrides=["lr=0.01"])
    assert cfg["model"] == "convnet" and cfg["model_options"] == PARENT["model_options"]
    assert cfg["batch_size"] == PARENT["batch_size"] and cfg["lr"] == 0.01  # inherited; --set wins
    assert cfg["classes"] is None and cfg["train_per_class"] == 20  # the parent's classes are not inherited
    assert cfg["init_from"] == str(parent.path) and cfg["freeze"] is None and cfg["backbone_lr_mult"] == 1.0
    assert cfg["name"] == "parent-ft" and cfg["runs_dir"] == str(parent.path.resolve().parent)
    assert cfg["epochs"] == PARENT["epochs"]


def test_bad_inputs_are_one_line_errors(parent, tmp_path, capsys):
    with pytest.raises(TrainlabError, match="not found"):
        finetune(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainlabError, match="not a trainlab run"):
        finetune(tmp_path / "empty")
    (tmp_path / "fresh").mkdir()
    (tmp_path / "fresh" / "config.yaml").write_text("model: mlp\n")
    with pytest.raises(TrainlabError, match="no weights yet"):
        finetune(tmp_path / "fresh")
    with pytest.raises(TrainlabError, match=r"freeze: 'conv9'.*choose one of: block1, block2"):
        finetune(parent, classes=[6, 7, 8, 9], freeze="conv9", quiet=True)
    with pytest.raises(TrainlabError, match="would freeze the head"):
        finetune(parent, classes=[6, 7, 8, 9], freeze="head", quiet=True)
    with pytest.raises(TrainlabError, match="unknown key"):
        finetune_config(parent, overrides=["lrr=0.1"])
    # a checkpoint whose shapes do not fit: the gray parent's first conv on 3-channel images
    import trainlab.data.textures  # noqa: F401  (registers the 3-channel `textures` set; imported here, not at
    # collection, so other files' registry checks do not see it before datasets.py registers it itself)
    with pytest.raises(TrainlabError, match=r"does not fit the model: 'block1.conv.weight' has shape \(6, 1, 3, 3\)"):
        finetune(parent, dataset="textures", overrides=["dataset_options={n: 64, size: 8}"], quiet=True)
    capsys.readouterr()
    assert main(["finetune", str(tmp_path / "empty"), "--classes", "6", "7"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("trainlab finetune: error:") and "\n" not in err
    assert main(["finetune", str(parent.path), "--freeze", "nope", "--quiet"]) == 2
    assert "choose one of" in capsys.readouterr().err
