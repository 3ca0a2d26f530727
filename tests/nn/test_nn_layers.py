"""Normalization vs hand formulas / torch.nn, dropout expectations vs statistical tolerances."""
import math

import pytest
import torch
from torch import nn

from trainlab.errors import TrainlabError
from trainlab.models import create_model
from trainlab.nn.layers import (
    NORMS, DropPath, Dropout, SpatialDropout, create_dropout, create_norm, default_groups, set_dropout_mode,
)

EPS = 1e-5


def standardize(x, dims):
    mean = x.mean(dims, keepdim=True)
    var = x.var(dims, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + EPS)


@pytest.fixture
def x4():
    return torch.randn(8, 6, 5, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3 + 1


# ---- every norm against a hand formula, conv (B, C, H, W) and vector (B, C) inputs
REFERENCE = {
    "none": lambda x: x,
    "batch": lambda x: standardize(x, [0] + list(range(2, x.ndim))),  # training mode: batch stats
    "layer": lambda x: standardize(x, list(range(1, x.ndim))),
    "group": lambda x: standardize(x.unflatten(1, (default_groups(x.shape[1]), -1)),
                                   list(range(2, x.ndim + 1))).flatten(1, 2),
}


def test_every_norm_has_a_reference():
    assert set(NORMS.list()) == set(REFERENCE)


@pytest.mark.parametrize("name", sorted(REFERENCE))
@pytest.mark.parametrize("conv", [True, False])
def test_norm_matches_formula(name, conv, x4):
    x = x4 if conv else x4[:, :, 0, 0]
    norm = create_norm(name, 6, conv=conv).double().train()
    torch.testing.assert_close(norm(x), REFERENCE[name](x))


def test_batch_norm_train_vs_eval_matches_torch(x4):
    ours = create_norm("batch", 6).double()
    ref = nn.BatchNorm2d(6).double()
    for _ in range(3):  # training: batch statistics, running stats updated with the unbiased var
        torch.testing.assert_close(ours.train()(x4), ref.train()(x4))
    torch.testing.assert_close(ours.running_var, ref.running_var)
    # eval: running statistics, so a single example is normalized the same way as in a batch
    out = ours.eval()(x4)
    torch.testing.assert_close(out, ref.eval()(x4))
    expected = (x4 - ours.running_mean[None, :, None, None]) / torch.sqrt(ours.running_var[None, :, None, None] + EPS)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(ours(x4[:1]), out[:1])
    assert not torch.allclose(ours.train()(x4), out)


def test_layer_norm_conv_has_per_channel_affine():
    norm = create_norm("layer", 6)
    assert norm.weight.shape == (6,) and norm.num_groups == 1


@pytest.mark.parametrize("c, groups", [(64, 32), (48, 24), (6, 6), (5, 5), (96, 32), (1, 1)])
def test_default_groups(c, groups):
    assert default_groups(c) == groups and c % groups == 0


# ---- dropout
N = 200_000
P = 0.3


@pytest.mark.parametrize("cls, draws_per_sample", [(Dropout, None), (SpatialDropout, 50), (DropPath, 1)])
def test_both_modes_give_the_same_expected_activation(cls, draws_per_sample):
    torch.manual_seed(0)
    x = torch.ones(N // 50, 50, 1, 1, dtype=torch.float64)
    draws = N if draws_per_sample is None else x.shape[0] * draws_per_sample
    for mode in ("inverted", "classic"):
        d = cls(P, mode=mode)
        train_mean = float(d.train()(x).mean())
        eval_out = d.eval()(x)
        assert torch.all(eval_out == eval_out.flatten()[0])  # eval is deterministic
        # the train output is (0 or scale) per draw; its mean has std = scale*sqrt(p(1-p)/draws)
        scale = 1 / (1 - P) if mode == "inverted" else 1.0
        tol = 5 * scale * math.sqrt(P * (1 - P) / draws)
        assert abs(train_mean - float(eval_out.flatten()[0])) < tol
    assert float(Dropout(P, "classic").eval()(x).mean()) == pytest.approx(1 - P)  # lecture: scale by keep prob
    assert torch.equal(Dropout(P, "inverted").eval()(x), x)


def test_spatial_and_path_drop_whole_channels_and_samples():
    torch.manual_seed(0)
    x = torch.ones(16, 8, 4, 4)
    y = SpatialDropout(0.5)(x)
    per_channel = y.flatten(2)
    assert torch.all(per_channel == per_channel[..., :1])  # constant within each (sample, channel)
    assert set(per_channel[..., 0].unique().tolist()) == {0.0, 2.0}
    z = DropPath(0.5)(x).flatten(1)
    assert torch.all(z == z[:, :1])


def test_standard_dropout_masks_each_unit_and_is_seeded():
    torch.manual_seed(5)
    a = create_dropout(0.5)(torch.ones(1000))
    torch.manual_seed(5)
    b = create_dropout(0.5)(torch.ones(1000))
    assert torch.equal(a, b) and set(a.unique().tolist()) == {0.0, 2.0}


def test_create_dropout_kinds_and_zero():
    assert isinstance(create_dropout(0.0), nn.Identity)
    assert isinstance(create_dropout(0.1, kind="spatial"), SpatialDropout)
    assert isinstance(create_dropout(0.1, kind="path"), DropPath)
    assert create_dropout(0.1, mode="classic").mode == "classic"


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: create_dropout(1.0), r"p=1.0 must be in \[0, 1\)"),
        (lambda: create_dropout(-0.1), "p=-0.1"),
        (lambda: Dropout(0.5, mode="scaled"), "mode"),
        (lambda: create_dropout(0.5, kind="alpha"), "kind"),
        (lambda: create_norm("batchnorm", 4), "did you mean 'batch'"),
        (lambda: create_norm("group", 6, groups=4), "groups=4 must divide"),
        (lambda: create_norm("batch", 6, momentun=0.1), "accepted: eps, momentum"),
        (lambda: create_norm("batch", 0), "channels"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(TrainlabError, match=match) as e:
        call()
    assert "\n" not in str(e.value)


# ---- set_dropout_mode on a whole model


def dropout_outputs(model, x):
    """(input, output) of every Dropout layer in a forward pass of `model`."""
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append((i[0].detach(), o.detach())))
             for m in model.modules() if isinstance(m, Dropout)]
    out = model(x)
    for h in hooks:
        h.remove()
    return out, seen


def test_set_dropout_mode_classic_scales_at_eval_time():
    torch.manual_seed(0)
    net = create_model("convnet", in_shape=(1, 8, 8), num_classes=3, channels=[4], hidden=16, dropout=P).eval()
    x = torch.randn(5, 1, 8, 8)
    inverted_out, inverted = dropout_outputs(net, x)
    assert len(inverted) == 1 and torch.equal(inverted[0][1], inverted[0][0])  # inverted: eval is identity
    assert set_dropout_mode(net, "classic") == 1
    assert all(m.mode == "classic" for m in net.modules() if isinstance(m, Dropout))
    classic_out, classic = dropout_outputs(net, x)
    torch.testing.assert_close(classic[0][1], inverted[0][1] * (1 - P))  # the lecture's test-time scaling
    assert not torch.allclose(classic_out, inverted_out)
    net.train()  # classic training keeps survivors unscaled: each output is 0 or its input
    _, [(inp, out)] = dropout_outputs(net, x)
    assert torch.all((out == 0) | (out == inp)) and torch.any(out == 0)
    assert set_dropout_mode(net, "inverted") == 1
    _, [(inp, out)] = dropout_outputs(net, x)
    kept = out != 0
    torch.testing.assert_close(out[kept], inp[kept] / (1 - P))


def test_set_dropout_mode_reaches_every_kind_and_counts():
    net = nn.Sequential(Dropout(0.1), SpatialDropout(0.2), nn.Sequential(DropPath(0.3)), nn.Identity())
    assert set_dropout_mode(net, "classic") == 3
    assert [m.mode for m in net.modules() if isinstance(m, Dropout)] == ["classic"] * 3
    assert set_dropout_mode(create_model("mlp", in_shape=(4,), num_classes=2, dropout=0.0), "classic") == 0
    with pytest.raises(TrainlabError, match="dropout mode='scaled' must be one of: inverted, classic") as e:
        set_dropout_mode(net, "scaled")
    assert "\n" not in str(e.value)
