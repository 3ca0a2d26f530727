"""Activations against torch.nn and the lecture formulas; Maxout against a hand computation."""
import math

import pytest
import torch

from torch import nn

from trainlab.errors import TrainlabError
from trainlab.models import create_model
from trainlab.nn.activations import ACTIVATIONS, Maxout, check_activation, create_activation, parse_activation

X = torch.linspace(-4, 4, 101, dtype=torch.float64)

# name -> (kwargs, formula). Every registry entry needs one (checked below).
FORMULAS = {
    "sigmoid": ({}, lambda x: 1 / (1 + torch.exp(-x))),
    "tanh": ({}, lambda x: (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x))),
    "relu": ({}, lambda x: torch.maximum(torch.zeros_like(x), x)),
    "leaky_relu": ({"negative_slope": 0.1}, lambda x: torch.maximum(0.1 * x, x)),  # deck 002: max(0.1x, x)
    "prelu": ({}, lambda x: torch.maximum(0.25 * x, x)),  # at its initial a = 0.25
    "elu": ({"alpha": 0.7}, lambda x: torch.where(x >= 0, x, 0.7 * (torch.exp(x) - 1))),
    "gelu": ({}, lambda x: x * 0.5 * (1 + torch.erf(x / math.sqrt(2)))),
    "silu": ({}, lambda x: x / (1 + torch.exp(-x))),
    "step": ({}, lambda x: torch.where(x > 0, 1.0, 0.0).double()),  # deck 004: g(y) = 1 if y > 0 else 0
}
ZERO_GRADIENT = {"step"}  # derivative 0 almost everywhere: gradient descent cannot train through it


def test_every_entry_has_a_reference():
    assert set(ACTIVATIONS.list()) == set(FORMULAS) | {"maxout"}


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_matches_formula(name):
    kw, f = FORMULAS[name]
    act = create_activation(name, channels=4, **kw).double()
    torch.testing.assert_close(act(X), f(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS.list()))
def test_gradient_flows_through_every_activation_but_step(name):
    x = X.clone().requires_grad_(True)
    act = create_activation(name, channels=len(X)).double()
    act(x[None]).sum().backward()
    if name in ZERO_GRADIENT:
        assert x.grad is not None and torch.equal(x.grad, torch.zeros_like(X))  # exact zeros, not None
    else:
        assert x.grad.abs().max() > 0.1


def test_step_values_and_exactly_zero_gradient():
    x = torch.tensor([-3.0, -1e-30, 0.0, 1e-30, 2.0, float("inf"), float("-inf")], requires_grad=True)
    y = create_activation("step")(x)
    assert y.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0] and y.dtype == x.dtype
    (y * torch.arange(7.0)).sum().backward()
    assert x.grad.tolist() == [0.0] * 7


def test_layers_below_a_step_get_zero_gradient():
    """The lecture's point: with step activations only the layer after the last step learns."""
    torch.manual_seed(0)
    net = create_model("mlp", in_shape=(6,), num_classes=3, depth=2, width=8, activation="step")
    assert any(type(m).__name__ == "Step" for m in net.modules())
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    torch.nn.functional.cross_entropy(net(x), y).backward()
    below = {n: p.grad for n, p in net.named_parameters() if not n.startswith("head")}
    assert below and all(g is not None and torch.equal(g, torch.zeros_like(g)) for g in below.values())
    assert net.head.weight.grad.abs().sum() > 0
    relu = create_model("mlp", in_shape=(6,), num_classes=3, depth=2, width=8, activation="relu")
    torch.nn.functional.cross_entropy(relu(x), y).backward()
    assert relu.fc1.linear.weight.grad.abs().sum() > 0  # the same net with ReLU: every layer gets gradient


def test_step_init_gain():
    from trainlab.nn.init import gain

    assert gain("step") == pytest.approx(math.sqrt(2))  # 1 / sqrt(E[step(z)^2]), E = P(z > 0) = 1/2


def test_leaky_relu_default_slope():
    torch.testing.assert_close(create_activation("leaky_relu")(X), torch.maximum(0.01 * X, X))


def test_prelu_per_channel_has_one_slope_per_channel():
    act = create_activation("prelu", channels=6, num_parameters=-1)
    assert act.weight.shape == (6,)


def test_maxout_linear_matches_hand_computation():
    torch.manual_seed(0)
    m = create_activation("maxout", channels=5, k=3).double()
    x = torch.randn(7, 5, dtype=torch.float64)
    W, b = m.pieces.weight, m.pieces.bias  # (k*5, 5), (k*5,)
    pieces = [x @ W[j * 5:(j + 1) * 5].T + b[j * 5:(j + 1) * 5] for j in range(3)]  # max(w_j^T x + b_j)
    expected = torch.stack(pieces).amax(0)
    torch.testing.assert_close(m(x), expected)
    assert m(x).shape == (7, 5)


def test_maxout_conv_is_per_pixel_linear_maxout():
    torch.manual_seed(0)
    m = create_activation("maxout", channels=4, conv=True, k=2).double()
    x = torch.randn(2, 4, 3, 5, dtype=torch.float64)
    y = m(x)
    # same weights as a Linear over the channel vector at each pixel
    lin = Maxout(4, 4, 2).double()
    lin.pieces.weight.data = m.pieces.weight.data.flatten(1)
    lin.pieces.bias.data = m.pieces.bias.data
    expected = lin(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    torch.testing.assert_close(y, expected)
    assert y.shape == x.shape


def test_maxout_with_different_out_features():
    assert Maxout(6, 3, k=4)(torch.randn(2, 6)).shape == (2, 3)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: create_activation("relux"), "did you mean 'relu'"),
        (lambda: create_activation("elu", alpah=1.0), "accepted: alpha"),
        (lambda: create_activation("maxout"), "channels"),
        (lambda: create_activation("maxout", channels=4, k=0), "k=0"),
        (lambda: create_activation("leaky_relu", a=-0.1), "a=-0.1"),
        (lambda: create_activation("leaky_relu", negative_slope=-0.1), "negative_slope=-0.1"),
        (lambda: create_activation("prelu", num_parameters=-1), "channels"),
        (lambda: create_activation("gelu", approximate="fast"), "approximate"),
    ],
)
def test_bad_input_raises_one_line(call, match):
    with pytest.raises(TrainlabError, match=match) as e:
        call()
    assert "\n" not in str(e.value)


# ---- specs: 'name:key=value:...' strings, so configs reach every hyperparameter


@pytest.mark.parametrize("spec, kw", [
    ("leaky_relu:negative_slope=0.1", {"negative_slope": 0.1}),
    ("leaky_relu:a=0.1", {"a": 0.1}),  # the lecture's name, kept as an alias
    ("elu:alpha=0.5", {"alpha": 0.5}),
    ("prelu:init=0.1", {"init": 0.1}),
    ("gelu:approximate=tanh", {"approximate": "tanh"}),
    ("maxout:k=3", {"k": 3}),
    ("relu", {}),
])
def test_spec_equals_keyword_arguments(spec, kw):
    name = spec.split(":")[0]
    assert parse_activation(spec) == (name, kw)
    torch.manual_seed(0)
    a = create_activation(spec, channels=4).double()
    torch.manual_seed(0)
    b = create_activation(name, channels=4, **kw).double()
    x = torch.randn(5, 4, dtype=torch.float64)
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)
    assert repr(a) == repr(b)


def test_spec_values_reach_the_modules():
    assert create_activation("leaky_relu:negative_slope=0.1").negative_slope == 0.1
    assert create_activation("leaky_relu:a=0.2").negative_slope == 0.2
    assert create_activation("elu:alpha=0.5").alpha == 0.5
    assert create_activation("maxout:k=3", channels=8).k == 3
    assert create_activation("prelu:num_parameters=per_channel", channels=6, conv=True).weight.shape == (6,)
    assert create_activation("prelu:num_parameters=-1", channels=6).weight.shape == (6,)  # older spelling
    assert create_activation("prelu", channels=6).weight.shape == (1,)
    assert create_activation("elu:alpha=0.5", alpha=0.7).alpha == 0.7  # keywords override the spec


@pytest.mark.parametrize("model, kw", [("convnet", {"channels": [4, 8], "hidden": 6}), ("mlp", {"depth": 2, "width": 8}),
                                       ("resnet20", {})])
def test_specs_flow_through_models(model, kw):
    shape = (1, 16, 16)
    net = create_model(model, in_shape=shape, num_classes=3, activation="leaky_relu:negative_slope=0.1", **kw)
    acts = [m for m in net.modules() if isinstance(m, nn.LeakyReLU)]
    assert acts and all(m.negative_slope == 0.1 for m in acts)
    assert not any(isinstance(m, nn.ReLU) for m in net.modules())
    net(torch.zeros(2, *shape))
    net = create_model(model, in_shape=shape, num_classes=3, activation="prelu:num_parameters=per_channel", **kw)
    prelus = [m for m in net.modules() if isinstance(m, nn.PReLU)]
    assert prelus and all(m.num_parameters > 1 for m in prelus)
    net(torch.zeros(2, *shape))
    net = create_model(model, in_shape=shape, num_classes=3, activation="maxout:k=3", **kw)
    assert all(m.k == 3 for m in net.modules() if isinstance(m, Maxout))
    net(torch.zeros(2, *shape))


def test_model_init_uses_the_specs_slope():
    """A model's He init takes its gain from the activation spec (slope 0.5 -> gain^2 = 2 / 1.25)."""
    torch.manual_seed(0)
    net = create_model("mlp", in_shape=(200,), num_classes=3, depth=2, width=300, activation="leaky_relu:negative_slope=0.5")
    w = net.fc2.linear.weight.detach().double()
    expected = nn.init.calculate_gain("leaky_relu", 0.5) ** 2 / 300
    assert abs(float(w.var()) / expected - 1) < 5 * math.sqrt(2 / w.numel())


@pytest.mark.parametrize("spec", ["relu", "leaky_relu:negative_slope=0.1", "elu:alpha=0.5", "maxout:k=3",
                                  "prelu:num_parameters=per_channel", "gelu:approximate=tanh", " tanh "])
def test_check_activation_accepts_valid_specs(spec):
    assert check_activation(spec) is None


@pytest.mark.parametrize("spec, match", [
    ("relux", "unknown activation 'relux' \\(did you mean 'relu'\\?\\)"),
    ("leaky_relu:slope=0.1", "unknown hyperparameter 'slope' for activation 'leaky_relu:slope=0.1'.*"
                             "accepted: negative_slope, a; write e.g. 'leaky_relu:negative_slope=0.01'"),
    ("leaky_relu:negative_slope=abc", "activation 'leaky_relu:negative_slope=abc': .*must be a number"),
    ("leaky_relu:negative_slope=1.5", "negative_slope=1.5 must be a number in \\[0.0, 1.0\\)"),
    ("leaky_relu:0.1", "'0.1' is not key=value; write e.g. 'leaky_relu:negative_slope=0.01'"),
    ("elu:alpha=-1", "activation 'elu:alpha=-1': elu alpha=-1"),
    ("maxout:k=0", "activation 'maxout:k=0': maxout k=0.*write e.g. 'maxout:k=2'"),
    ("maxout:k=2.5", "k=2.5"),
    ("prelu:num_parameters=per_chanel", "per_channel"),
    ("relu:inplace=true", "for activation 'relu:inplace=true'; accepted: \\(none\\); write 'relu'"),
    ("", "must be a name"),
])
def test_bad_specs_raise_one_line_naming_activation_and_fix(spec, match):
    for call in (lambda: check_activation(spec), lambda: create_activation(spec, channels=4)):
        with pytest.raises(TrainlabError, match=match) as e:
            call()
        assert "\n" not in str(e.value)


def test_prelu_numeric_num_parameters_must_match_channels():
    assert create_activation("prelu:num_parameters=6", channels=6).weight.shape == (6,)
    with pytest.raises(TrainlabError, match="channel count 6"):
        create_activation("prelu:num_parameters=4", channels=6)
