"""Initializers: empirical weight variance against the closed forms, within sampling error."""
import math

import pytest
import torch
from torch import nn

from trainlab.errors import TrainlabError
from trainlab.nn.init import INITS, fans, gain, init_model

N_IN, N_OUT = 300, 200  # Linear(300, 200): 60k weights
K, C_IN, C_OUT = 3, 32, 64  # Conv2d(32, 64, 3): fan_in = 3*3*32 = 288, fan_out = 3*3*64 = 576

# name -> (expected Var[w] as a function of (fan_in, fan_out, gain), 4th-moment ratio mu4/sigma^4)
VARIANCE = {
    "xavier_normal": (lambda fi, fo, g: 2 / (fi + fo), 3.0),
    "xavier_uniform": (lambda fi, fo, g: 2 / (fi + fo), 1.8),
    "he_normal": (lambda fi, fo, g: g * g / fi, 3.0),
    "he_uniform": (lambda fi, fo, g: g * g / fi, 1.8),
    "lecun_normal": (lambda fi, fo, g: 1 / fi, 3.0),
}


def assert_variance(w: torch.Tensor, expected: float, kurtosis: float) -> None:
    # Var of the sample variance of n iid draws = (mu4 - sigma^4) / n; allow 5 standard errors.
    w, n = w.detach(), w.numel()
    tol = 5 * expected * math.sqrt((kurtosis - 1) / n)
    assert abs(float(w.double().var()) - expected) < tol
    assert abs(float(w.double().mean())) < 5 * math.sqrt(expected / n)


def test_every_entry_has_a_check():
    assert set(INITS.list()) == set(VARIANCE) | {"orthogonal", "default"}


@pytest.mark.parametrize("name", sorted(VARIANCE))
@pytest.mark.parametrize("layer", ["linear", "conv"])
def test_variance_matches_closed_form(name, layer):
    torch.manual_seed(0)
    m = nn.Linear(N_IN, N_OUT) if layer == "linear" else nn.Conv2d(C_IN, C_OUT, K)
    fi, fo = (N_IN, N_OUT) if layer == "linear" else (K * K * C_IN, K * K * C_OUT)
    init_model(m, name, nonlinearity="relu")
    f, kurt = VARIANCE[name]
    assert_variance(m.weight, f(fi, fo, math.sqrt(2)), kurt)
    assert torch.count_nonzero(m.bias) == 0


def test_he_fan_out_and_leaky_gain():
    torch.manual_seed(1)
    m = init_model(nn.Linear(N_IN, N_OUT), "he_normal", nonlinearity="leaky_relu", mode="fan_out", param=0.1)
    assert_variance(m.weight, 2 / (1 + 0.1**2) / N_OUT, 3.0)


def test_conv_fans():
    assert fans(nn.Conv2d(C_IN, C_OUT, K).weight) == (K * K * C_IN, K * K * C_OUT)


def test_orthogonal_rows_are_orthonormal_times_gain():
    m = init_model(nn.Linear(50, 20), "orthogonal", nonlinearity="tanh")
    g = 5 / 3
    torch.testing.assert_close(m.weight @ m.weight.T, g * g * torch.eye(20), atol=1e-5, rtol=0)


def test_default_leaves_torch_init():
    torch.manual_seed(0)
    ref = nn.Linear(5, 3)  # an independent module with the same seed: torch's default init
    torch.manual_seed(0)
    m = nn.Linear(5, 3)
    before = [t.detach().clone() for t in (m.weight, m.bias)]
    assert init_model(m, "default") is m
    assert torch.equal(m.weight, ref.weight) and torch.equal(m.bias, ref.bias)
    assert torch.equal(m.weight, before[0]) and torch.equal(m.bias, before[1])
    init_model(m, "he_normal")  # a scheme that does re-initialize: the checks above can fail
    assert not torch.equal(m.weight, ref.weight) and torch.count_nonzero(m.bias) == 0


def test_norm_layers_set_to_identity_affine():
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.GroupNorm(2, 8), nn.LayerNorm(8))
    for m in net[1:]:
        nn.init.uniform_(m.weight)
        nn.init.uniform_(m.bias)
    init_model(net, "he_uniform")
    for m in net[1:]:
        assert torch.all(m.weight == 1) and torch.all(m.bias == 0)


def test_gains_match_torch_and_second_moment():
    assert gain("relu") == pytest.approx(math.sqrt(2))
    assert gain("leaky_relu", 0.2) == pytest.approx(nn.init.calculate_gain("leaky_relu", 0.2))
    assert gain("prelu") == pytest.approx(nn.init.calculate_gain("leaky_relu", 0.25))
    assert gain("maxout") == 1.0
    # computed gains keep E[f(z)^2] * gain^2 = 1: check with Monte Carlo (tolerance from n)
    z = torch.randn(400_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for name, f in [("elu", torch.nn.functional.elu), ("gelu", torch.nn.functional.gelu), ("silu", torch.nn.functional.silu)]:
        m2 = f(z).square()
        err = 5 * float(m2.std()) / math.sqrt(z.numel())
        assert abs(float(m2.mean()) - gain(name) ** -2) < err


def test_same_seed_same_weights():
    nets = []
    for _ in range(2):
        torch.manual_seed(3)
        nets.append(init_model(nn.Linear(10, 10), "xavier_uniform").weight)
    assert torch.equal(*nets)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: init_model(nn.Linear(2, 2), "he"), "unknown init 'he'"),
        (lambda: init_model(nn.Linear(2, 2), "he_normal", mode="fan_avg"), "mode"),
        (lambda: init_model(nn.Linear(2, 2), "he_normal", nonlinearity="swish"), "nonlinearity"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(TrainlabError, match=match):
        call()
