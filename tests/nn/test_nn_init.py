"""Initializers: empirical weight variance against the closed forms, within sampling error."""
import math

import pytest
import torch
from torch import nn

from trainlab.errors import TrainlabError
from trainlab.models import create_model, list_models
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
    assert set(INITS.list()) == set(VARIANCE) | {"orthogonal", "default", "torch"}


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


def torch_fan_in(m: nn.Module) -> int:
    """Inputs per output unit, from the layer's definition (torch's convention for transposed convs)."""
    if isinstance(m, nn.Linear):
        return m.in_features
    k = math.prod(m.kernel_size)
    return (m.out_channels // m.groups if isinstance(m, nn.ConvTranspose2d) else m.in_channels // m.groups) * k


def pooled_second_moment(layers, var_of) -> tuple[float, float]:
    """mean of w^2 / Var over all weights of `layers` (1 if Var is right) and 5 standard errors for it."""
    z2 = torch.cat([(m.weight.detach().double().flatten() ** 2) / var_of(m) for m in layers])
    return float(z2.mean()), 5 * float(z2.std()) / math.sqrt(z2.numel())


def _takes_activation(name: str) -> bool:  # polyfit (linear regression) has no hidden layer to activate
    import inspect

    from trainlab.models import MODELS

    return "activation" in inspect.signature(MODELS.get(name)).parameters


@pytest.mark.parametrize("name, activation", [(n, "relu") for n in list_models() if _takes_activation(n)]
                         + [("convnet", "tanh"), ("mlp", "tanh"), ("resnet20", "tanh")])
def test_default_is_the_models_own_he_init(name, activation):
    """init "default" = what the registry entry says: He normal for the model's activation on
    convs/linears, zero biases, torch's default on the head; init_model leaves it untouched."""
    torch.manual_seed(0)
    shape = (3, 32, 32) if name != "mlp" else (3, 8, 8)
    model = create_model(name, in_shape=shape, num_classes=10, activation=activation)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert init_model(model, "default", nonlinearity=activation) is model
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())

    g2 = {"relu": 2.0, "tanh": (5 / 3) ** 2}[activation]  # calculate_gain, written out
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)) and m is not model.head]
    mean, tol = pooled_second_moment(layers, lambda m: g2 / torch_fan_in(m))
    assert abs(mean - 1) < tol, f"{name}: E[w^2] / (gain^2 / n_in) = {mean:.3f}"
    assert all(m.bias is None or torch.count_nonzero(m.bias) == 0 for m in layers)
    head = model.head  # torch's default: U(-1/sqrt(n_in), 1/sqrt(n_in)) -> Var = 1 / (3 n_in), biases too
    mean, tol = pooled_second_moment([head], lambda m: 1 / (3 * torch_fan_in(m)))
    assert abs(mean - 1) < max(tol, 0.1), f"{name} head: E[w^2] / (1 / (3 n_in)) = {mean:.3f}"
    assert float(head.bias.detach().abs().max()) <= 1 / math.sqrt(torch_fan_in(head)) and torch.count_nonzero(head.bias) > 0


def test_torch_init_is_torchs_default_for_every_layer():
    torch.manual_seed(0)
    ref = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 4))
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 4))
    init_model(net, "he_normal")
    nn.init.uniform_(net[1].weight)
    torch.manual_seed(0)
    init_model(net, "torch")  # each layer's reset_parameters, in order: the draws of building them
    for a, b in zip(net.state_dict().values(), ref.state_dict().values()):
        assert torch.equal(a, b)
    # and a model's He init becomes torch's default: Var = 1 / (3 n_in) everywhere
    torch.manual_seed(1)
    model = init_model(create_model("convnet", in_shape=(3, 32, 32), num_classes=10, channels=[32, 64]), "torch")
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    mean, tol = pooled_second_moment(layers, lambda m: 1 / (3 * torch_fan_in(m)))
    assert abs(mean - 1) < tol


@pytest.mark.parametrize("spec, slope", [("leaky_relu:negative_slope=0.1", 0.1), ("leaky_relu:a=0.2", 0.2),
                                         ("leaky_relu", 0.01), ("prelu:init=0.3", 0.3),
                                         ("prelu:num_parameters=per_channel", 0.25)])
def test_nonlinearity_spec_sets_the_gain(spec, slope):
    expected = nn.init.calculate_gain("leaky_relu", slope)
    assert gain(spec) == pytest.approx(expected, rel=1e-12)
    torch.manual_seed(2)
    m = init_model(nn.Linear(N_IN, N_OUT), "he_normal", nonlinearity=spec)
    assert_variance(m.weight, expected**2 / N_IN, 3.0)


def test_spec_gains_for_elu_and_maxout():
    assert gain("elu:alpha=0.5") == pytest.approx(gain("elu", 0.5)) and gain("elu:alpha=0.5") != gain("elu")
    assert gain("maxout:k=3") == 1.0


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
        (lambda: init_model(nn.Linear(2, 2), "he_normal", nonlinearity="leaky_relu:slope=0.1"),
         "unknown hyperparameter 'slope' for activation 'leaky_relu:slope=0.1'.*negative_slope"),
        (lambda: init_model(nn.Linear(2, 2), "default", nonlinearity="leaky_relu:negative_slope=2"),
         "negative_slope=2 must be"),
        (lambda: init_model(nn.Linear(2, 2), "he_normal", nonlinearity="tanh:alpha=1"), "accepted: \\(none\\)"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(TrainlabError, match=match) as e:
        call()
    assert "\n" not in str(e.value)
