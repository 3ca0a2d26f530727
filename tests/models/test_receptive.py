"""Receptive fields and jumps: hand-computed values, the gradient footprint as a reference, the table and CLI."""
from __future__ import annotations

import itertools
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from trainlab.cli import main
from trainlab.errors import TrainlabError
from trainlab.models import create_model
from trainlab.models.summary import count_parameters, format_summary, receptive_fields, summarize


def conv(k=3, **kw):
    return nn.Conv2d(1, 1, k, **kw)


def fields(model, shape=(1, 32, 32)):
    return [(f["rf"], f["jump"]) for f in receptive_fields(model, shape)]


def test_three_3x3_convs_see_7x7():
    assert fields(nn.Sequential(conv(), conv(), conv())) == [(3, 1), (5, 1), (7, 1)]


def test_pooling_doubles_the_jump():
    # r: 3; pool 2: 3 + 1*1 = 4, j 2; conv: 4 + 2*2 = 8
    assert fields(nn.Sequential(conv(), nn.MaxPool2d(2), conv())) == [(3, 1), (4, 2), (8, 2)]
    assert fields(nn.Sequential(conv(), nn.AvgPool2d(2), conv())) == [(3, 1), (4, 2), (8, 2)]


def test_strided_conv_and_padding():
    # stride 2: 3, j 2; next 3x3: 3 + 2*2 = 7. Padding changes neither.
    assert fields(nn.Sequential(conv(stride=2, padding=1), conv(padding=1))) == [(3, 2), (7, 2)]


def test_dilated_conv_after_a_3x3():
    # 3 + (3 - 1) * 2 * 1 = 7
    assert fields(nn.Sequential(conv(), conv(dilation=2))) == [(3, 1), (7, 1)]


def test_dilation_grows_the_field_at_the_same_parameter_count():
    """Deck 004: a dilated conv sees more input with the same weights."""
    plain, dilated = (nn.Sequential(conv(), conv(dilation=d), conv(dilation=d)) for d in (1, 2))
    assert count_parameters(plain) == count_parameters(dilated)
    assert fields(plain)[-1] == (7, 1) and fields(dilated)[-1] == (11, 1)  # 3 + 4 + 4
    small, wide = (create_model("convnet", in_shape=(1, 28, 28), num_classes=10, dilation=d) for d in (1, 2))
    assert count_parameters(small) == count_parameters(wide)
    rf = {d: [f["rf"] for f in receptive_fields(m, (1, 28, 28)) if f["type"] == "Conv2d"]
          for d, m in ((1, small), (2, wide))}
    # 3 blocks of conv 3x3 + maxpool 2: a conv adds (k - 1) * dil * j, a pool adds j and doubles j
    assert rf[1] == [3, (3 + 1) + 2 * 2, (8 + 2) + 2 * 4] == [3, 8, 18]
    assert rf[2] == [5, (5 + 1) + 4 * 2, (14 + 2) + 4 * 4] == [5, 14, 32]


def test_non_square_kernels_give_per_axis_fields():
    assert fields(nn.Sequential(nn.Conv2d(1, 1, (3, 5)), nn.Conv2d(1, 1, 3))) == [([3, 5], 1), ([5, 7], 1)]
    s = summarize(nn.Sequential(nn.Conv2d(1, 1, (3, 5), stride=(1, 2))), (1, 9, 9))
    assert (s.rows[0].rf, s.rows[0].jump) == ([3, 5], [1, 2])


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.shortcut = conv(padding=1), conv(padding=1), conv(1)

    def forward(self, x):
        return torch.relu(self.b(torch.relu(self.a(x))) + self.shortcut(x))  # branches meet: the larger field


class Branches(nn.Module):
    def forward(self, x):
        return torch.cat([x, F.avg_pool2d(F.conv2d(x, torch.ones(1, 1, 5, 5), padding=2), 3, 1, 1)], 1)


def test_branches_meet_with_the_larger_field():
    net = nn.Sequential(conv(), Residual())
    got = {f["name"]: f["rf"] for f in receptive_fields(net, (1, 16, 16))}
    assert got == {"0": 3, "1.a": 5, "1.b": 7, "1.shortcut": 3}
    assert {f["name"]: f["rf"] for f in receptive_fields(net, (1, 16, 16), depth=1)} == {"0": 3, "1": 7}
    # functional conv 5x5 then avg pool 3/1 inside a module, concatenated with the identity: 1 + 4 + 2
    assert fields(nn.Sequential(Branches(), nn.Conv2d(2, 1, 3))) == [(7, 1), (9, 1)]


def test_global_pooling_and_flatten_see_everything():
    net = nn.Sequential(conv(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1, 2))
    assert fields(net) == [(3, 1), ("all", None), ("all", None), ("all", None)]
    net = nn.Sequential(conv(), nn.Flatten(), nn.Linear(30 * 30, 2))
    assert fields(net)[1:] == [("all", None), ("all", None)]
    # adaptive pooling to a size that divides the input is a k = s pool: 32 -> 30 -> 10 (k = s = 3)
    assert fields(nn.Sequential(conv(), nn.AdaptiveMaxPool2d(10)))[-1] == (3 + 2, 3)


def test_upsampling_divides_the_jump():
    # transposed 2x2 / 2: each output sees one input unit: r unchanged, j / 2
    assert fields(nn.Sequential(conv(stride=2), nn.ConvTranspose2d(1, 1, 2, stride=2)))[-1] == (3, 1)
    # transposed 3x3 / 2: some outputs take taps from 2 input units: r + 1 * j_in
    assert fields(nn.Sequential(conv(stride=2), nn.ConvTranspose2d(1, 1, 3, stride=2)))[-1] == (5, 1)
    # bilinear x2 interpolates 2 neighbours (r + j), nearest copies 1 (r)
    assert fields(nn.Sequential(conv(stride=2), nn.Upsample(scale_factor=2, mode="bilinear")))[-1] == (5, 1)
    assert fields(nn.Sequential(conv(stride=2), nn.Upsample(scale_factor=2)))[-1] == (3, 1)
    assert fields(nn.Sequential(nn.Upsample(scale_factor=2), conv()))[-1] == (2, 0.5)


def test_resnet20_and_fcn_by_hand():
    # resnet20: stem 3; stage1: 6 convs at j 1 add 2 each: 15; stage2: the strided first conv adds 2 at j 1
    # and moves to j 2, five more add 4 each: 37; stage3: 37 + 4 = 41 at j 4, five more add 8 each: 81
    s = summarize(create_model("resnet20", in_shape=(3, 32, 32), num_classes=10), (3, 32, 32), depth=1)
    assert [(r.name, r.rf, r.jump) for r in s.rows][:4] == [("stem", 3, 1), ("stage1", 15, 1), ("stage2", 37, 2),
                                                            ("stage3", 81, 4)]
    # FCN: encoder 3, 5, pool 6 (j 2), 10, 14, pool 16 (j 4), 24, 32, pool 36 (j 8), middle 52;
    # bilinear up to 1/4: 52 + 8 = 60 (j 4), up to 1/2: 64 (j 2), up to full size: 66 (j 1)
    rows = {r.name: (r.rf, r.jump) for r in summarize(create_model("fcn", in_shape=(3, 32, 32), num_classes=3),
                                                       (3, 32, 32)).rows}
    assert rows["middle.0.conv"] == (52, 8) and rows["score2"] == (16, 4) and rows["head"] == (66, 1)


def footprint(model, shape, unit):
    """(height, width) of the box of input pixels that output `unit` (row, col) depends on, from the gradient."""
    x = torch.ones(1, *shape, requires_grad=True)
    y = model(x)
    y[0, 0, unit[0], unit[1]].backward()
    rows, cols = torch.nonzero(x.grad[0, 0], as_tuple=True)
    return (rows.min().item(), rows.max().item() - rows.min().item() + 1,
            cols.min().item(), cols.max().item() - cols.min().item() + 1)


@pytest.mark.parametrize("seed", range(6))
def test_matches_the_gradient_footprint_of_random_chains(seed):
    """Positive weights and average pooling: every pixel in the field gets gradient, so the box it
    spans is the field, and the box moves by the jump from one unit to the next."""
    rng = random.Random(seed)
    layers = []
    for _ in range(rng.randint(2, 4)):
        if rng.random() < 0.3:
            layers.append(nn.AvgPool2d(rng.choice([2, 3]), stride=rng.choice([1, 2])))
        else:
            layers.append(nn.Conv2d(1, 1, rng.choice([1, 2, 3, 5]), stride=rng.choice([1, 2]),
                                    dilation=rng.choice([1, 2]), bias=False))
    net = nn.Sequential(*layers)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.constant_(m.weight, 1.0)
    shape = (1, 64, 64)
    rf, jump = fields(net, shape)[-1]
    top0, h, left0, w = footprint(net, shape, (0, 0))
    top1, *_ = footprint(net, shape, (1, 0))
    assert (h, w) == (rf, rf) and top1 - top0 == jump, net


def test_summary_table_and_cli_show_rf_for_convolutional_models_only(capsys):
    from rich.console import Console

    conv_net = summarize(nn.Sequential(conv(), conv(dilation=2)), (1, 16, 16))
    mlp = summarize(create_model("mlp", in_shape=(1, 8, 8), num_classes=10, depth=1, width=16), (1, 8, 8))
    assert conv_net.convolutional and not mlp.convolutional
    assert all(r.rf is None for r in mlp.rows)
    assert conv_net.as_dict()["rows"][1]["rf"] == 7
    console = Console(width=200, record=True)
    console.print(format_summary(conv_net))
    lines = console.export_text().splitlines()
    assert lines[2].split("┃")[-3:-1] == [" RF ", " Jump "], lines[2]
    assert [line.split("│")[-3:-1] for line in lines[4:6]] == [["  3 ", "    1 "], ["  7 ", "    1 "]]
    assert main(["summary", "convnet", "--input", "1x28x28", "--set", "dilation=2"]) == 0
    assert "RF" in capsys.readouterr().out
    assert main(["summary", "mlp", "--input", "20"]) == 0
    assert "RF" not in capsys.readouterr().out


def test_non_convolutional_model_is_refused_in_one_line():
    for model, shape in ((create_model("mlp", in_shape=(20,), num_classes=3), (20,)),
                         (nn.Sequential(nn.Flatten(), nn.Linear(16, 2)), (1, 4, 4))):
        with pytest.raises(TrainlabError, match="has no convolution or pooling layer; use a convolutional model") as e:
            receptive_fields(model, shape)
        assert "\n" not in str(e.value)


def test_leaves_model_state_alone():
    net = create_model("resnet20", in_shape=(3, 32, 32), num_classes=10)
    net.train()
    rng = torch.get_rng_state()
    receptive_fields(net, (3, 32, 32))
    assert net.training and torch.equal(rng, torch.get_rng_state())
    assert all(p.grad is None for p in net.parameters())
    assert not list(itertools.chain.from_iterable(m._forward_hooks.values() for m in net.modules()))
