"""Every ready recipe in configs/ is valid, names and hyperparameters included."""
from pathlib import Path

import pytest

import trainlab
from trainlab.config import load_config
from trainlab.training.checks import check_config

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("*.yaml"))


def test_there_is_a_recipe_per_topic():
    names = {p.stem for p in CONFIGS}
    assert {"default", "mlp-digits", "cnn-fashion", "cnn-fashion-bn-dropout"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_recipe_is_valid(path):
    check_config(load_config(path))


@pytest.mark.parametrize("name", ["mlp-digits", "optim-custom-chain", "lr-step-decay"])
def test_digits_recipes_run(tmp_path, name):
    path = next(p for p in CONFIGS if p.stem == name)
    run = trainlab.train(path, quiet=True, overrides=["epochs=3", f"runs_dir={tmp_path}", "threads=1"])
    assert run.summary["status"] == "finished"
    assert run.summary["test"]["acc"] > 0.5


def test_segmentation_trains_through_the_same_trainer(tmp_path):
    path = next(p for p in CONFIGS if p.stem == "unet-shapes")
    run = trainlab.train(path, quiet=True, overrides=[
        "epochs=4", f"runs_dir={tmp_path}", "threads=1", "dataset_options={n: 600}", "model_options={base: 8}"])
    rows = run.metrics
    assert "val_miou" in rows[-1] and 0.0 <= rows[-1]["val_miou"] <= 1.0
    # calling every pixel background scores the background fraction; the net must find the shapes
    test_y = trainlab.load_dataset("shapes", n=600).test.y
    background = float((test_y == 0).float().mean())
    assert run.summary["test"]["acc"] > background + 0.02
    assert (run.path / "plots" / "masks.png").is_file()
