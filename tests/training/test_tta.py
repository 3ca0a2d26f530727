"""Test-time augmentation: the views against their definitions, the averaged prediction against a
hand computation, and `trainlab evaluate --tta`."""
import pytest
import torch

import trainlab
from trainlab.cli import main
from trainlab.training.tta import TTA, check_tta, predict, views
from trainlab.errors import TrainlabError


def test_views_are_the_image_its_mirror_and_its_one_pixel_shifts():
    x = torch.arange(2 * 1 * 3 * 4, dtype=torch.float32).view(2, 1, 3, 4)
    v = views(x, ["hflip", "shift"])
    assert len(v) == 6 and torch.equal(v[0], x)
    assert torch.equal(v[1], x[..., torch.arange(3, -1, -1)])  # mirror: column j <- column W-1-j
    up, down, left, right = v[2:]
    assert torch.equal(up[..., :-1, :], x[..., 1:, :]) and torch.all(up[..., -1, :] == 0)
    assert torch.equal(down[..., 1:, :], x[..., :-1, :]) and torch.all(down[..., 0, :] == 0)
    assert torch.equal(left[..., :, :-1], x[..., :, 1:]) and torch.all(left[..., :, -1] == 0)
    assert torch.equal(right[..., :, 1:], x[..., :, :-1]) and torch.all(right[..., :, 0] == 0)


def test_prediction_is_the_log_of_the_mean_softmax_over_the_views():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5))
    x = torch.randn(4, 1, 3, 4)
    by_hand = (model(x).softmax(1) + model(x.flip(-1)).softmax(1)) / 2
    assert torch.allclose(predict(model, x, ["hflip"]).exp(), by_hand, atol=1e-6)
    assert torch.allclose(predict(model, x, []).exp(), model(x).softmax(1), atol=1e-6)


def test_bad_ops_are_refused():
    with pytest.raises(TrainlabError, match="unknown test-time augmentation 'vflip'"):
        check_tta(["vflip"])
    with pytest.raises(TrainlabError, match="names an op twice"):
        check_tta(["hflip", "hflip"])
    assert TTA.list() == ["hflip", "shift"]


def test_evaluate_with_tta_scores_the_views(tmp_path, capsys):
    run = trainlab.train({"dataset": "digits", "model": "convnet", "epochs": 1, "batch_size": 64, "threads": 1,
                          "runs_dir": str(tmp_path)}, quiet=True, report=False)
    plain = trainlab.evaluate(run.path, split="val")
    shifted = trainlab.evaluate(run.path, split="val", tta=["shift"])
    assert shifted["loss"] != plain["loss"]  # the views were really scored
    assert main(["evaluate", str(run.path), "--split", "val", "--tta", "shift"]) == 0
    out = capsys.readouterr().out
    assert f"loss {shifted['loss']:.4f}" in out and "test-time augmentation: shift" in out
    assert main(["evaluate", str(run.path), "--tta", "spin"]) == 2
    assert "unknown test-time augmentation 'spin'" in capsys.readouterr().err


def test_tta_in_the_config_scores_validation_and_test_with_the_views(tmp_path):
    base = {"dataset": "digits", "model": "convnet", "epochs": 1, "batch_size": 64, "threads": 1,
            "runs_dir": str(tmp_path)}
    plain = trainlab.train({**base, "name": "plain"}, quiet=True, report=False)
    tta = trainlab.train({**base, "name": "tta", "tta": ["shift"]}, quiet=True, report=False)
    # the same training (tta only changes scoring): the training rows agree, the validation rows do not
    assert [r["train_loss"] for r in plain.metrics] == [r["train_loss"] for r in tta.metrics]
    assert plain.metrics[-1]["val_loss"] != tta.metrics[-1]["val_loss"]
    by_hand = trainlab.evaluate(tta.path, split="test", tta=["shift"])
    assert tta.summary["test"]["acc"] == pytest.approx(by_hand["acc"])
    assert tta.summary["test"]["loss"] == pytest.approx(by_hand["loss"])
    assert plain.summary["arm"] != tta.summary["arm"]


@pytest.mark.parametrize("kw, says", [({"tta": ["spin"]}, "unknown test-time augmentation 'spin'"),
                                       ({"tta": ["hflip"], "dataset": "poly", "model": "polyfit", "loss": "mse",
                                         "preprocessing": "none"}, "remove tta"),
                                       ({"tta": ["hflip"], "loss": "hinge"}, "use loss: cross_entropy with tta")])
def test_tta_that_cannot_act_is_refused(tmp_path, kw, says):
    with pytest.raises(TrainlabError, match=says):
        trainlab.train({"dataset": "digits", "model": "mlp", "epochs": 1, "runs_dir": str(tmp_path), **kw}, quiet=True)
    assert not any(tmp_path.iterdir())
