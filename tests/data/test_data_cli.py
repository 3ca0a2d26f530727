"""`trainlab augment`: writes a preview grid; bad arguments are one-line errors (exit code 2)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from trainlab.cli import main
from trainlab.report.previews import mix_title, pick_examples
from trainlab.values import parse_pairs


@pytest.mark.parametrize("argv", [
    ["--dataset", "digits", "--ops", "rotate:p=1:magnitude=30,noise", "--n", "5", "--versions", "2"],
    ["--dataset", "shapes", "--op", "rotate:p=1", "--op", "shear:p=1", "--n", "4", "--versions", "2",
     "--option", "n=50"],
    ["--dataset", "digits", "--ops", "mixup:magnitude=0.4,cutmix,random_erasing", "--n", "5", "--versions", "2"],
])
def test_augment_writes_a_png(tmp_path, capsys, argv):
    out = tmp_path / "grid.png"
    assert main(["augment", *argv, "--out", str(out)]) == 0
    img = np.asarray(Image.open(out))
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300
    assert img[..., :3].std() > 10  # not a blank canvas
    assert str(out) in capsys.readouterr().out


@pytest.mark.parametrize("argv, match", [
    (["--dataset", "digits"], "at least one op"),
    (["--dataset", "digits", "--ops", "spin"], "unknown augmentation 'spin'"),
    (["--dataset", "moons", "--ops", "hflip"], "tabular"),
    (["--dataset", "digits", "--ops", "hflip", "--n", "0"], "--n 0"),
    (["--dataset", "shapes", "--ops", "hflip", "--option", "channels"], "key=value"),
    (["--dataset", "shapes", "--ops", "color_jitter", "--option", "n=20"], "RGB"),
    (["--dataset", "shapes", "--ops", "cutmix", "--option", "n=20"], "mix class labels, which its masks are not"),
])
def test_augment_bad_arguments(tmp_path, capsys, argv, match):
    assert main(["augment", *argv, "--out", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1
    assert not (tmp_path / "g.png").exists()


def test_mixed_images_are_titled_with_their_label_weights():
    import torch

    classes = ["T-shirt/top", "Trouser", "Pullover"]
    assert mix_title(torch.tensor([0.25, 0.0, 0.75]), classes) == "0.75 Pullover\n0.25 T-shirt/t"
    assert mix_title(torch.tensor([0.998, 0.002, 0.0]), classes) == "1.00 T-shirt/t"  # 0.00 is left out


def test_pick_cycles_through_classes():
    import torch

    y = torch.tensor([2, 2, 0, 1, 0, 2, 1])
    idx = pick_examples(y, 5, segmentation=False)
    assert y[idx].tolist() == [0, 1, 2, 0, 1]


def test_options_use_the_project_value_parser():
    assert parse_pairs(["channels=3", "noise=1e-2", "name=a"], flag="--option") == {"channels": 3, "noise": 0.01, "name": "a"}
