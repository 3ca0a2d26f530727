"""Activations against torch.nn and the lecture formulas; Maxout against a hand computation."""
import math

import pytest
import torch

from trainlab.errors import TrainlabError
from trainlab.nn.activations import ACTIVATIONS, Maxout, create_activation

X = torch.linspace(-4, 4, 101, dtype=torch.float64)

# name -> (kwargs, formula). Every registry entry needs one (checked below).
FORMULAS = {
    "sigmoid": ({}, lambda x: 1 / (1 + torch.exp(-x))),
    "tanh": ({}, lambda x: (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x))),
    "relu": ({}, lambda x: torch.maximum(torch.zeros_like(x), x)),
    "leaky_relu": ({"a": 0.1}, lambda x: torch.maximum(0.1 * x, x)),  # deck 002: max(0.1x, x)
    "prelu": ({}, lambda x: torch.maximum(0.25 * x, x)),  # at its initial a = 0.25
    "elu": ({"alpha": 0.7}, lambda x: torch.where(x >= 0, x, 0.7 * (torch.exp(x) - 1))),
    "gelu": ({}, lambda x: x * 0.5 * (1 + torch.erf(x / math.sqrt(2)))),
    "silu": ({}, lambda x: x / (1 + torch.exp(-x))),
}


def test_every_entry_has_a_reference():
    assert set(ACTIVATIONS.list()) == set(FORMULAS) | {"maxout"}


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_matches_formula(name):
    kw, f = FORMULAS[name]
    act = create_activation(name, channels=4, **kw).double()
    torch.testing.assert_close(act(X), f(X), rtol=1e-12, atol=1e-12)


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
        (lambda: create_activation("prelu", num_parameters=-1), "channels"),
        (lambda: create_activation("gelu", approximate="fast"), "approximate"),
    ],
)
def test_bad_input_raises_one_line(call, match):
    with pytest.raises(TrainlabError, match=match) as e:
        call()
    assert "\n" not in str(e.value)
