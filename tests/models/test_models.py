"""The model zoo, driven by the registry: every registered model is built, run and checked.

Parameter counts are checked against formulas written from each architecture's definition
(and the ResNet paper's 0.27M for resnet20), never against numbers copied from a run.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from trainlab.errors import TrainlabError
from trainlab.models import MODELS, create_model, is_detector, layer_names, list_models, replace_head
from trainlab.models.blocks import ConvNormAct, Dense
from trainlab.models.resnet import PadShortcut
from trainlab.models.summary import count_parameters
from trainlab.registry import accepted_kwargs

SHAPES = [(1, 28, 28), (3, 32, 32), (1, 8, 8)]  # Fashion-MNIST, CIFAR, digits
# the zoo of scores per class (per pixel): detectors, with their own contract, are tested in test_detectors.py
ZOO = [n for n in list_models() if not is_detector(n)]
K = 5  # classes
B = 3  # batch; > 1 so batch norm has statistics even at 1x1 spatial size


def build(name, shape, **kw):
    torch.manual_seed(0)
    return create_model(name, in_shape=shape, num_classes=K, **kw)


def is_segmentation(model):
    return isinstance(model.head, nn.Conv2d)


def expected_shape(model, shape):
    return (B, K, *shape[1:]) if is_segmentation(model) else (B, K)


def loss_of(out):
    # cross-entropy against fixed targets: per image for classifiers, per pixel for segmentation
    target = torch.arange(out.numel() // out.shape[1]).reshape(out.shape[:1] + out.shape[2:]) % K
    return F.cross_entropy(out, target)


# ---------------------------------------------------------------- every model, every input size


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", ZOO)
def test_forward_backward(name, shape):
    try:
        model = build(name, shape)
    except TrainlabError as e:  # only a too-small input may refuse, with the minimum in one line
        assert shape == (1, 8, 8) and f"model {name!r} needs inputs of at least" in str(e) and "got 8x8" in str(e)
        assert "\n" not in str(e)
        return
    out = model(torch.randn(B, *shape))
    assert out.shape == expected_shape(model, shape)
    assert torch.isfinite(out).all()
    loss_of(out).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: no gradient for {pname}"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient for {pname}"


def taking(option):
    """The registered models that take `option` (polyfit, a linear model on powers, takes neither norm nor dropout)."""
    return [n for n in ZOO if option in accepted_kwargs(MODELS.get(n))]


def test_every_model_takes_norm_and_dropout_but_polyfit():
    assert set(ZOO) - set(taking("norm")) == set(ZOO) - set(taking("dropout")) == {"polyfit"}
    for option in ("norm", "dropout"):  # refused in one line, naming what it accepts
        with pytest.raises(TrainlabError, match=rf"^unknown hyperparameter '{option}' for model 'polyfit'; accepted: degree$"):
            build("polyfit", (1,), **{option: "batch" if option == "norm" else 0.5})


@pytest.mark.parametrize("name", taking("norm"))
def test_batch_norm_train_vs_eval(name):
    model = build(name, (1, 28, 28), norm="batch", dropout=0.0)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert bns, f"{name} has no batch norm with norm='batch'"
    x = torch.randn(B, 1, 28, 28)
    before = [m.running_mean.clone() for m in bns]
    model.train()(x)
    assert all(not torch.equal(b, m.running_mean) for b, m in zip(before, bns)), "train must update running stats"
    model.eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        y1, y2 = model(x), model(x)
    assert torch.equal(y1, y2)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items()), "eval must not change buffers"
    with torch.no_grad():  # eval uses running stats: an image's output does not depend on its batch mates
        assert torch.allclose(model(x[:1]), y1[:1], atol=1e-5)


@pytest.mark.parametrize("name", taking("dropout"))
def test_dropout_train_vs_eval(name):
    model = build(name, (1, 28, 28), dropout=0.3)
    x = torch.randn(B, 1, 28, 28)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x)), "eval must be deterministic"
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(x), model(x)), "dropout=0.3 must make training forwards random"


@pytest.mark.parametrize("name", ZOO)
def test_children_run_in_listed_order_and_head_is_last(name):
    model = build(name, (1, 28, 28))
    called = []
    for n, child in model.named_children():
        child.register_forward_pre_hook(lambda m, i, n=n: called.append(n))
    model.eval()(torch.zeros(1, 1, 28, 28))
    assert called == layer_names(model)
    assert layer_names(model)[-1] == "head" and isinstance(model.head, (nn.Linear, nn.Conv2d))


@pytest.mark.parametrize("name", ZOO)
def test_replace_head(name):
    model = build(name, (1, 28, 28))
    names, old_head = layer_names(model), model.head
    body = {n: p for n, p in model.named_parameters() if not n.startswith("head.")}
    assert replace_head(model, 3) is model
    assert model.head is not old_head and layer_names(model) == names
    assert all(p is body[n] for n, p in model.named_parameters() if not n.startswith("head."))
    out = model.eval()(torch.zeros(2, 1, 28, 28))
    assert out.shape[1] == 3


# ---------------------------------------------------------------- errors


def test_too_small_input_names_model_and_minimum():
    with pytest.raises(TrainlabError, match=r"model 'vgg16' needs inputs of at least 17x17, got 8x8; .*convnet"):
        create_model("vgg16", in_shape=(1, 8, 8), num_classes=10)


def test_tabular_input_for_conv_model():
    with pytest.raises(TrainlabError, match=r"model 'resnet20' needs image inputs .* use mlp"):
        create_model("resnet20", in_shape=(64,), num_classes=10)


def test_unknown_option_lists_accepted():
    with pytest.raises(TrainlabError, match=r"'widht' for model 'resnet20' \(did you mean 'width'\?\); accepted: .*width"):
        create_model("resnet20", in_shape=(3, 32, 32), num_classes=10, widht=32)


@pytest.mark.parametrize("kw, match", [
    ({"depth": 21}, r"resnet depth=21 must be 6n\+2"),
    ({"norm": "batchy"}, r"unknown norm 'batchy'"),
    ({"activation": "rleu"}, r"unknown activation 'rleu'"),
    ({"dropout": 1.5}, r"dropout p=1.5"),
    ({"width": 0}, r"resnet width=0 must be an integer >= 1"),
])
def test_bad_option_values(kw, match):
    with pytest.raises(TrainlabError, match=match):
        create_model("resnet", in_shape=(3, 32, 32), num_classes=10, **kw)


@pytest.mark.parametrize("in_shape, num_classes", [((3, 32), 10), ((3, 0, 32), 10), ("3x32x32", 10), ((3, 32, 32), 0)])
def test_bad_shape_or_classes(in_shape, num_classes):
    with pytest.raises(TrainlabError, match="in_shape|num_classes"):
        create_model("convnet", in_shape=in_shape, num_classes=num_classes)


def test_none_option_means_model_default():
    a, b = build("alexnet", (1, 28, 28), dropout=None), build("alexnet", (1, 28, 28))
    assert [m.p for m in a.modules() if hasattr(m, "p")] == [m.p for m in b.modules() if hasattr(m, "p")] == [0.5, 0.5]


# ---------------------------------------------------------------- parameter counts by hand


def conv_params(c_in, c_out, k, bias=True):
    return c_in * c_out * k * k + (c_out if bias else 0)


def test_conv_unit_counts_match_formula_and_torch():
    # batch norm makes the conv bias redundant (it subtracts the channel mean), so there is none
    assert count_parameters(ConvNormAct(3, 16, 5, norm="batch")) == (conv_params(3, 16, 5, bias=False) + 2 * 16, 2 * 16)
    assert count_parameters(ConvNormAct(3, 16, 5, norm="none")) == (conv_params(3, 16, 5), 0)
    assert count_parameters(ConvNormAct(3, 16, 5, norm="group"))[0] == conv_params(3, 16, 5) + 2 * 16
    unit, ref = ConvNormAct(3, 16, 3, stride=2, dilation=2, norm="none", activation="relu"), nn.Conv2d(3, 16, 3, 2, 2, 2)
    ref.load_state_dict(unit.conv.state_dict())
    x = torch.randn(2, 3, 9, 9)
    assert torch.allclose(unit(x), torch.relu(ref(x)))
    assert unit(x).shape[-1] == 5  # 'same' padding at stride 2: ceil(9 / 2)


def test_mlp_count():
    d_in, width, depth = 28 * 28, 64, 3
    expected = (d_in * width + width) + (depth - 1) * (width * width + width) + (width * K + K)
    assert count_parameters(build("mlp", (1, 28, 28), depth=depth, width=width)) == (expected, 0)
    # with batch norm the linear biases go and each hidden layer gains gamma, beta (+ 2 running stats)
    bn = build("mlp", (1, 28, 28), depth=depth, width=width, norm="batch")
    assert count_parameters(bn) == (expected - depth * width + depth * 2 * width, depth * 2 * width)


def resnet_cifar_params(depth, c_in, k, w=16):
    """ResNet-(6n+2) from the paper: 3x3 stem, 3 stages of n basic blocks (two 3x3 conv + BN),
    option-A (parameter-free) shortcuts, global average pool, linear head. Trainable only."""
    n, bn = (depth - 2) // 6, lambda c: 2 * c
    total, c = conv_params(c_in, w, 3, bias=False) + bn(w), w
    for stage in range(3):
        width = w * 2**stage
        for _ in range(n):
            total += conv_params(c, width, 3, False) + bn(width) + conv_params(width, width, 3, False) + bn(width)
            c = width
    return total + c * k + k


@pytest.mark.parametrize("depth", [20, 56])
def test_resnet_cifar_count(depth):
    model = create_model(f"resnet{depth}", in_shape=(3, 32, 32), num_classes=10)
    assert count_parameters(model)[0] == resnet_cifar_params(depth, 3, 10)
    if depth == 20:
        assert round(count_parameters(model)[0] / 1e6, 2) == 0.27  # the paper's Table 6


def test_plain_has_identical_layers():
    for name in [n for n in ZOO if n.startswith("resnet")]:
        res = build(name, (3, 32, 32), shortcut="pad")
        plain = build(name, (3, 32, 32), shortcut="pad", residual=False)
        assert count_parameters(res) == count_parameters(plain), name
        plain.load_state_dict(res.state_dict())  # same names and shapes: only the skips differ
        x = torch.randn(2, 3, 32, 32)
        assert not torch.allclose(res.eval()(x), plain.eval()(x)), name
    for res_name, plain_name in [("resnet20", "plain20"), ("resnet56", "plain56")]:
        assert count_parameters(build(res_name, (3, 32, 32))) == count_parameters(build(plain_name, (3, 32, 32)))


def test_resnet18_projection_shortcuts_are_the_only_extra_layers():
    res, plain = build("resnet18", (3, 32, 32)), build("plain18", (3, 32, 32))
    # stages 2-4 start with a 1x1 conv (no bias) + batch norm from c to 2c channels
    extra = sum(conv_params(c, 2 * c, 1, bias=False) + 2 * (2 * c) for c in (64, 128, 256))
    assert count_parameters(res)[0] - count_parameters(plain)[0] == extra


def test_pad_shortcut_is_subsample_plus_zero_channels():
    x = torch.randn(2, 4, 7, 7)
    y = PadShortcut(4, 8, 2)(x)
    assert y.shape == (2, 8, 4, 4)
    assert torch.equal(y[:, :4], x[:, :, ::2, ::2]) and not y[:, 4:].any()


def test_densenet_channel_growth_and_count():
    k, c_in = 4, 3
    model = build("densenet", (c_in, 16, 16), growth_rate=k, block_config=[2, 2], compression=0.5)
    # stem 2k; block1 adds 2k -> 4k; transition keeps half -> 2k; block2 adds 2k -> 4k
    c0, c1 = 2 * k, 4 * k
    layer = lambda c: 2 * c + conv_params(c, 4 * k, 1, False) + 2 * 4 * k + conv_params(4 * k, k, 3, False)
    expected = (conv_params(c_in, c0, 3, False) + layer(c0) + layer(c0 + k)
                + 2 * c1 + conv_params(c1, c1 // 2, 1, False)
                + layer(c1 // 2) + layer(c1 // 2 + k) + 2 * c1 + c1 * K + K)
    assert count_parameters(model)[0] == expected
    assert model.head.in_features == c1


def test_vgg_width_doubles_and_counts():
    model = build("vgg11", (3, 32, 32), width=0.125, hidden=32)
    widths = [8, 16, 32, 64, 64]  # 64-128-256-512-512 x 1/8
    convs = [(3, 8), (8, 16), (16, 32), (32, 32), (32, 64), (64, 64), (64, 64), (64, 64)]  # VGG-11: 1-1-2-2-2
    expected = sum(conv_params(a, b, 3, False) + 2 * b for a, b in convs) + (64 * 32 + 32) + (32 * 32 + 32) + (32 * K + K)
    assert count_parameters(model)[0] == expected
    assert [model.get_submodule(f"block{i}")[-1].__class__ for i in range(1, 6)] == [nn.MaxPool2d] * 5
    assert [model.get_submodule(f"block{i}.conv1.conv").out_channels for i in range(1, 6)] == widths


def test_googlenet_inception_concatenates_branches():
    model = build("googlenet", (3, 32, 32), width=0.25)
    block = model.inception3a
    x = torch.randn(2, block.branch1.conv.in_channels, 8, 8)
    parts = [block.branch1, block.branch3, block.branch5, block.branch_pool]
    block.eval()
    assert torch.allclose(block(x), torch.cat([p(x) for p in parts], 1))
    assert block.out_channels == (64 + 128 + 32 + 32) // 4  # Table 1's 3a: 256 channels, x 1/4


def test_convnet_options():
    x = torch.randn(2, 1, 28, 28)
    strided = build("convnet", (1, 28, 28), channels=[8, 16], stride=2, pool="none")
    pooled = build("convnet", (1, 28, 28), channels=[8, 16])
    dilated = build("convnet", (1, 28, 28), channels=[8, 16], dilation=2)
    assert strided(x).shape == pooled(x).shape == (2, K)
    # same layers and sizes (28 -> 14 -> 7) whether space shrinks by stride or by pooling
    assert count_parameters(strided) == count_parameters(pooled) == count_parameters(dilated)
    assert pooled.head.in_features == 16 * 7 * 7
    gap = build("convnet", (1, 28, 28), channels=[8, 16], global_pool=True, pool="avg")
    assert gap.head.in_features == 16 and isinstance(gap.block1.pool, nn.AvgPool2d)
    with pytest.raises(TrainlabError, match="kernel_size=4 must be odd"):
        build("convnet", (1, 28, 28), kernel_size=4)


def test_convnet_pool_first_is_conv_pool_norm_act_with_the_same_parameters():
    x = torch.randn(4, 1, 28, 28)
    late = build("convnet", (1, 28, 28), channels=[8, 16], hidden=12)
    early = build("convnet", (1, 28, 28), channels=[8, 16], hidden=12, pool_first=True)
    assert count_parameters(early) == count_parameters(late)
    early.load_state_dict(late.state_dict())  # the same names: a checkpoint moves between the two orders
    b = early.block1
    assert [n for n, _ in b.named_children()] == ["conv", "pool", "norm", "act"]
    early.train()
    want = b.act(b.norm(nn.functional.max_pool2d(b.conv(x), 2, 2, ceil_mode=True)))
    torch.testing.assert_close(b(x), want)
    # max-pooling commutes with a monotone act, not with batch norm's statistics: the orders differ in training
    assert not torch.allclose(early(x), late.train()(x))
    with pytest.raises(TrainlabError, match="pool_first=true needs a pool"):
        build("convnet", (1, 28, 28), pool="none", stride=2, pool_first=True)


def test_alexnet_lrn_and_maxout_activation():
    model = build("alexnet", (3, 32, 32), width=0.25, hidden=32, lrn=True)
    assert isinstance(model.lrn1, nn.LocalResponseNorm) and layer_names(model)[:4] == ["conv1", "lrn1", "pool1", "conv2"]
    maxout = build("convnet", (1, 28, 28), channels=[4], activation="maxout")
    # maxout with k=2 pieces as a 1x1 conv: 4 -> 2*4 channels, weight + bias
    assert count_parameters(maxout)[0] == count_parameters(build("convnet", (1, 28, 28), channels=[4]))[0] + 4 * 8 + 8


def test_segmentation_outputs_per_pixel_scores_for_odd_sizes():
    for name in ("fcn", "unet"):
        model = build(name, (1, 14, 14))  # 14 -> 7 -> 4 -> 2: crops on the way up
        assert model(torch.randn(2, 1, 14, 14)).shape == (2, K, 14, 14)
        assert replace_head(model, 2)(torch.randn(2, 1, 14, 14)).shape == (2, 2, 14, 14)


def test_registry_descriptions_and_dense_block():
    assert all(e.description for e in MODELS.entries())
    d = Dense(4, 3, norm="none", activation="tanh")
    x = torch.randn(2, 4)
    assert torch.allclose(d(x), torch.tanh(F.linear(x, d.linear.weight, d.linear.bias)))


def test_replace_head_needs_a_head():
    with pytest.raises(TrainlabError, match="no `head`"):
        replace_head(nn.Sequential(nn.Linear(2, 2)), 3)


def test_stochastic_depth_only_with_skips():
    model = build("resnet20", (1, 8, 8), drop_path=0.5).train()
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))  # whole residual branches dropped at random
        model.eval()
        assert torch.equal(model(x), model(x))
    with pytest.raises(TrainlabError, match="drop_path=0.5 needs residual=True"):
        build("plain20", (1, 8, 8), drop_path=0.5)


# ---------------------------------------------------------------- polyfit against numpy's polynomials


def test_polyfit_computes_the_polynomial_numpy_evaluates():
    theta = np.array([0.5, -1.25, 2.0, 0.75])  # theta_0 .. theta_3: f(x) = 0.5 - 1.25 x + 2 x^2 + 0.75 x^3
    model = create_model("polyfit", in_shape=(1,), num_classes=1, degree=3)
    with torch.no_grad():
        model.head.weight.copy_(torch.tensor(theta[1:]).view(1, 3))
        model.head.bias.fill_(theta[0])
    x = np.linspace(-1.5, 1.5, 7)
    got = model(torch.tensor(x, dtype=torch.float32).view(-1, 1)).detach().numpy().ravel()
    np.testing.assert_allclose(got, np.polynomial.polynomial.polyval(x, theta), rtol=1e-5, atol=1e-6)
    assert count_parameters(model) == (3 + 1, 0)  # degree weights + bias, no buffers


def test_polyfit_powers_each_feature_of_a_flattened_input():
    model = create_model("polyfit", in_shape=(1, 2, 1), num_classes=2, degree=2)
    assert model.features(model.flatten(torch.tensor([[[[2.0], [-3.0]]]]))).tolist() == [[2.0, 4.0, -3.0, 9.0]]
    assert model.head.in_features == 2 * 2 and model(torch.zeros(4, 1, 2, 1)).shape == (4, 2)
    with pytest.raises(TrainlabError, match=r"^polyfit degree=0 must be an integer >= 1$"):
        build("polyfit", (1,), degree=0)


def test_unet_without_skips_has_the_same_layers_and_ignores_the_skip_path():
    """skips=False (the claims' ablation): the same parameters; an up block's output no longer
    depends on the skip it is handed, only on what comes up from below."""
    a = create_model("unet", in_shape=(1, 16, 16), num_classes=3, depth=2).eval()
    b = create_model("unet", in_shape=(1, 16, 16), num_classes=3, depth=2, skips=False).eval()
    assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in b.parameters())
    below, s1, s2 = torch.randn(2, 32, 8, 8), torch.randn(2, 16, 16, 16), torch.randn(2, 16, 16, 16)
    with torch.no_grad():
        assert torch.equal(b.up1(below, s1), b.up1(below, s2))
        assert not torch.allclose(a.up1(below, s1), a.up1(below, s2))
        assert b(torch.randn(2, 1, 16, 16)).shape == (2, 3, 16, 16)
    with pytest.raises(TrainlabError, match="skips"):
        create_model("unet", in_shape=(1, 16, 16), num_classes=3, skips="no")
