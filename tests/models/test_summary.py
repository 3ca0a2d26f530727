"""Model summaries: Keras-style parameter counts, MACs by formula, the rich table and the CLI."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from trainlab.cli import main
from trainlab.cli.summary import parse_input
from trainlab.errors import TrainlabError
from trainlab.models import create_model, list_models
from trainlab.models.summary import count_parameters, format_summary, parameter_table, summarize


def conv_out(n, k, stride=1, pad=0, dilation=1):
    """Output side of a convolution (the formula in the torch.nn.Conv2d docs)."""
    return (n + 2 * pad - dilation * (k - 1) - 1) // stride + 1


def test_batch_norm_counts_like_keras():
    # gamma, beta trainable; running mean and variance non-trainable; num_batches_tracked not counted
    assert count_parameters(nn.BatchNorm2d(64)) == (128, 128)
    s = summarize(create_model("convnet", in_shape=(3, 32, 32), num_classes=10, channels=[64]), (3, 32, 32))
    row = next(r for r in s.rows if r.name == "block1.norm")
    assert (row.params, row.non_trainable) == (256, 128)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_lecture_keras_table():
    """Deck 002's Keras model: (conv 2x2 'same' -> BN -> pool) x 2, dense 1024, dense 10."""
    model = nn.Sequential(nn.Conv2d(3, 64, 2, padding="same"), nn.BatchNorm2d(64), nn.MaxPool2d(2),
                          nn.Conv2d(64, 64, 2, padding="same"), nn.BatchNorm2d(64), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(8 * 8 * 64, 1024), nn.Linear(1024, 10))
    s = summarize(model, (3, 32, 32))
    per_layer = [r.params for r in s.rows]
    formula = [2 * 2 * 3 * 64 + 64, 4 * 64, 0, 2 * 2 * 64 * 64 + 64, 4 * 64, 0, 0, 4096 * 1024 + 1024, 1024 * 10 + 10]
    assert per_layer == formula
    # the deck's printed totals: 4,223,370 total, 4,223,114 trainable, 256 non-trainable
    assert (s.params, s.trainable, s.non_trainable) == (4_223_370, 4_223_114, 256)
    assert [r.output_shape for r in s.rows][:3] == [(64, 32, 32), (64, 32, 32), (64, 16, 16)]


def test_frozen_parameters_are_non_trainable():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    model[0].requires_grad_(False)
    assert count_parameters(model) == (3 * 2 + 2, 4 * 3 + 3)
    assert parameter_table(model) == [{"name": "0", "type": "Linear", "trainable": 0, "non_trainable": 15},
                                      {"name": "1", "type": "Linear", "trainable": 8, "non_trainable": 0}]


@pytest.mark.parametrize("kw", [dict(), dict(stride=2), dict(dilation=2, padding=2), dict(groups=2, stride=3)])
def test_conv_macs(kw):
    conv = nn.Conv2d(4, 6, 3, **kw)
    n = conv_out(11, 3, kw.get("stride", 1), kw.get("padding", 0), kw.get("dilation", 1))
    # every output element: (C_in / groups) * k * k multiply-accumulates
    assert summarize(conv, (4, 11, 11)).macs == 6 * n * n * (4 // kw.get("groups", 1)) * 3 * 3


def test_linear_and_transposed_conv_macs():
    assert summarize(nn.Linear(7, 5), (7,)).macs == 35
    up = nn.ConvTranspose2d(4, 6, 2, stride=2)
    # stride = kernel: each output pixel receives exactly one kernel tap from each input channel
    assert summarize(up, (4, 3, 3)).macs == (6 * 6 * 6) * 4


@pytest.mark.parametrize("name", list_models("classification"))  # scores per class or pixel: detectors aside
def test_rows_add_up_and_match_torch(name):
    shape = (3, 32, 32) if name != "mlp" else (20,)
    model = create_model(name, in_shape=shape, num_classes=4)
    s = summarize(model, shape)
    torch_total = sum(p.numel() for p in model.parameters())
    assert s.trainable == torch_total and s.non_trainable == sum(
        b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    assert sum(r.trainable for r in s.rows) == s.trainable and sum(r.non_trainable for r in s.rows) == s.non_trainable
    assert sum(r.macs for r in s.rows) == s.macs > 0
    top = summarize(model, shape, depth=1)
    assert [r.name for r in top.rows] == [n for n, _ in model.named_children()]
    assert top.macs == s.macs and sum(r.macs for r in top.rows) == s.macs
    assert top.output_shape == ((4,) if name not in ("fcn", "unet") else (4, 32, 32))


def test_resnet20_macs_by_formula():
    """3x3 convs at 32x32 (stem + 6), 16x16 (6, first one strided), 8x8 (6); head 64 x 10."""
    s = summarize(create_model("resnet20", in_shape=(3, 32, 32), num_classes=10), (3, 32, 32))
    conv = lambda c_in, c_out, side: side * side * c_out * c_in * 9
    expected = (conv(3, 16, 32) + 6 * conv(16, 16, 32)
                + conv(16, 32, 16) + 5 * conv(32, 32, 16)
                + conv(32, 64, 8) + 5 * conv(64, 64, 8) + 64 * 10)
    assert s.macs == expected


def test_summary_keeps_modes_and_random_state():
    model = create_model("resnet20", in_shape=(3, 32, 32), num_classes=10)
    model.train()
    model.stem.eval()  # e.g. a frozen, eval-mode part during fine-tuning
    rng = torch.get_rng_state()
    summarize(model, (3, 32, 32))
    assert torch.equal(rng, torch.get_rng_state())
    assert model.training and not model.stem.training and model.stage1.training


def test_format_summary_table():
    from rich.console import Console

    s = summarize(create_model("mlp", in_shape=(1, 8, 8), num_classes=10, depth=1, width=16), (1, 8, 8))
    console = Console(width=200, record=True)
    console.print(format_summary(s))
    text = console.export_text()
    for expected in ("fc1.linear (Linear)", "(B, 16)", f"Total params: {s.params:,}", "MACs per image"):
        assert expected in text


def test_cli_summary(capsys):
    assert main(["summary", "resnet20", "--input", "1x28x28", "--classes", "7", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    expected = count_parameters(create_model("resnet20", in_shape=(1, 28, 28), num_classes=7))[0]
    assert f"Trainable params: {expected:,}" in out and "stage3 (Sequential)" in out
    assert main(["summary", "convnet", "--input", "1x28x28", "--set", "channels=[4, 8]", "--set", "pool=avg"]) == 0
    assert "AvgPool2d" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["summary", "resnet20", "--input", "3x32"], "--input '3x32': expected CxHxW"),
    (["summary", "vgg16", "--input", "1x8x8"], "needs inputs of at least 17x17, got 8x8"),
    (["summary", "resnet20", "--set", "widht=8"], "unknown hyperparameter 'widht'"),
    (["summary", "resnet20", "--set", "width"], "expected key=value"),
    (["summary", "resnt20"], "did you mean 'resnet20'"),
])
def test_cli_summary_errors(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_parse_input():
    assert parse_input("3x32x32") == (3, 32, 32) and parse_input("64") == (64,)
    for bad in ("3x32", "0x28x28", "axbxc", ""):
        with pytest.raises(TrainlabError, match="--input"):
            parse_input(bad)
